"""Quantized decode: tok against llama.cpp on the same GGUF files.

Usage: /usr/bin/python3 bench/decode/quant.py [--shapes 110m,tinyllama]
           [--types f16,q8_0,q4_0,q4_k_m] [--rounds 3] [--new 128] [--json OUT]
           [--fidelity]

For each shape (a 110M Llama-2 shape: dim 768, 12 layers, vocabulary
32000; the TinyLlama-1.1B shape: dim 2048, 22 layers, GQA 32/4, SwiGLU
5632), random weights are written as a Hugging Face checkpoint, converted
to an f16 GGUF (scripts/hf_to_gguf.py) and quantized by llama.cpp's own
quantizer to q8_0, q4_0 and q4_k_m (a mix of q4_k and q6_k). Both engines
then read the same file: `tok-run generate` and llama.cpp (llama-cpp-python
in bench/.venv-llama, bench/common/llama_cpp_env.py), 2 threads, a
16-token prompt and --new greedy tokens, alternating tok / llama.cpp for
--rounds rounds (paired runs). Reported per file: the median decode and
prefill tokens/s of each, their ratios (tok / llama.cpp), and whether the
greedy tokens agree (random weights make near-ties common, so disagreement
after a few tokens is expected and is not an error; the fidelity of the
kernels is a test, test/Integration/gguf_pyllama.test). With --fidelity,
also the top-1 agreement and mean KL of the trained pyllama-4m quantized by
llama.cpp (q8_0, q4_0, q4_k_m) against its f32 GGUF, teacher-forced.
"""

import argparse
import importlib.util
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "bench", "common"))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from llama_cpp_env import llama_cpp_python  # noqa: E402
import hf_to_gguf  # noqa: E402

# bench/decode/run.py's model writer (loaded by path: bench/attention has a
# run.py too).
_spec = importlib.util.spec_from_file_location("decode_run", os.path.join(ROOT, "bench", "decode", "run.py"))
_decode_run = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_decode_run)
weights, write_model = _decode_run.weights, _decode_run.write_model

SHAPES = {
    "110m": {"model_type": "llama", "hidden_size": 768, "intermediate_size": 2048,
             "num_hidden_layers": 12, "num_attention_heads": 12, "num_key_value_heads": 12,
             "vocab_size": 32000, "max_position_embeddings": 1024, "rms_norm_eps": 1e-5,
             "rope_theta": 10000.0, "tie_word_embeddings": False},
    "tinyllama": {"model_type": "llama", "hidden_size": 2048, "intermediate_size": 5632,
                  "num_hidden_layers": 22, "num_attention_heads": 32, "num_key_value_heads": 4,
                  "vocab_size": 32000, "max_position_embeddings": 2048, "rms_norm_eps": 1e-5,
                  "rope_theta": 10000.0, "tie_word_embeddings": False},
}
PEER = os.path.join(ROOT, "bench", "decode", "llama_cpp_peer.py")


def run_tok(tok_run, model, prompt, new):
    r = subprocess.run([tok_run, "generate", "--model", model, "--ids", ",".join(map(str, prompt)),
                        "--max-new-tokens", str(new), "--eos", "-1", "--print-ids"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(r.stderr[-2000:])
    d = re.search(r"decode (\d+) tokens in ([0-9.]+) ms", r.stderr)
    p = re.search(r"prefill (\d+) tokens in ([0-9.]+) ms", r.stderr)
    ids = [int(x) for x in [l for l in r.stdout.splitlines() if l.startswith("ids:")][-1].split()[1:]]
    return {"decode_tps": int(d.group(1)) / (float(d.group(2)) / 1e3),
            "prefill_tps": int(p.group(1)) / (float(p.group(2)) / 1e3), "ids": ids}


def run_peer(python, model, prompt, new):
    r = subprocess.run([python, PEER, "decode", model, ",".join(map(str, prompt)), str(new), "2"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(r.stderr[-2000:])
    return json.loads(r.stdout.strip().splitlines()[-1])


def fidelity(python, tok_run, tok_import, work):
    """Top-1 agreement and mean KL of each quantized copy of the trained
    pyllama-4m against its f32 GGUF, teacher-forced over 128 positions (the
    test's method, test/Integration/Inputs/gguf_check.py)."""
    sys.path.insert(0, os.path.join(ROOT, "test", "Integration", "Inputs"))
    import gguf_check  # noqa: E402

    model = os.path.join(os.path.dirname(ROOT), "shared", "models", "pyllama-4m")
    if not os.path.isdir(model):
        print("fidelity: %s not found, skipped" % model)
        return []
    f32 = os.path.join(work, "pyllama-f32.gguf")
    hf_to_gguf.convert(model, f32, "f32")
    text = open(os.path.join(ROOT, "test", "Integration", "Inputs", "generate_check.py"), "rb").read()[:128]
    ids = [b % 256 for b in text]
    ref = gguf_check.forward_logits(tok_run, tok_import, work, f32, ids)
    rows = []
    for qtype in ("q8_0", "q4_0", "q4_k_m"):
        path = os.path.join(work, "pyllama-%s.gguf" % qtype)
        subprocess.run([python, PEER, "quantize", f32, path, qtype], check=True, capture_output=True)
        logits = gguf_check.forward_logits(tok_run, tok_import, work, path, ids)
        agree = float(np.mean(ref.argmax(-1) == logits.argmax(-1)))
        p, q = gguf_check.log_softmax(ref), gguf_check.log_softmax(logits)
        kl = float(np.mean(np.sum(np.exp(p) * (p - q), axis=-1)))
        rows.append({"type": qtype, "top1_agreement": round(agree, 4), "mean_kl": kl})
        print("pyllama-4m %-7s vs f32 (llama.cpp's quantizer), 128 teacher-forced positions: "
              "top-1 agreement %.3f, mean KL %.2e" % (qtype, agree, kl))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shapes", default="110m,tinyllama")
    ap.add_argument("--types", default="f16,q8_0,q4_0,q4_k_m")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--new", type=int, default=128)
    ap.add_argument("--tok-run", default=os.path.join(ROOT, "build", "bin", "tok-run"))
    ap.add_argument("--json", default=os.path.join(ROOT, "bench", "results", "decode_quant.json"))
    ap.add_argument("--fidelity", action="store_true",
                    help="also the top-1 agreement and KL of pyllama-4m's quantized copies")
    args = ap.parse_args()
    python = llama_cpp_python()
    if python is None:
        return 1
    rows = []
    prompt = list(range(100, 116))
    with tempfile.TemporaryDirectory() as tmp:
        for shape in args.shapes.split(","):
            cfg = SHAPES[shape]
            hf = os.path.join(tmp, shape)
            write_model(hf, cfg, weights(cfg, np.random.default_rng(0)))
            f16 = os.path.join(tmp, shape + "-f16.gguf")
            hf_to_gguf.convert(hf, f16, "f16")
            for qtype in args.types.split(","):
                path = f16
                if qtype != "f16":
                    path = os.path.join(tmp, "%s-%s.gguf" % (shape, qtype))
                    subprocess.run([python, PEER, "quantize", f16, path, qtype], check=True,
                                   capture_output=True)
                toks, peers = [], []
                for _ in range(args.rounds):
                    toks.append(run_tok(args.tok_run, path, prompt, args.new))
                    peers.append(run_peer(python, path, prompt, args.new))
                med = lambda xs, k: statistics.median(x[k] for x in xs)
                same = 0
                for a, b in zip(toks[-1]["ids"], peers[-1]["ids"]):
                    if a != b:
                        break
                    same += 1
                row = {"shape": shape, "type": qtype, "file_mib": round(os.path.getsize(path) / 2**20, 1),
                       "tok_decode_tps": round(med(toks, "decode_tps"), 2),
                       "llama_cpp_decode_tps": round(med(peers, "decode_tps"), 2),
                       "tok_prefill_tps": round(med(toks, "prefill_tps"), 2),
                       "llama_cpp_prefill_tps": round(med(peers, "prefill_tps"), 2),
                       "tok_decode_all": [round(x["decode_tps"], 2) for x in toks],
                       "llama_cpp_decode_all": [round(x["decode_tps"], 2) for x in peers],
                       "same_greedy_prefix": same}
                row["decode_ratio"] = round(row["tok_decode_tps"] / row["llama_cpp_decode_tps"], 3)
                row["prefill_ratio"] = round(row["tok_prefill_tps"] / row["llama_cpp_prefill_tps"], 3)
                rows.append(row)
                print("%-9s %-6s %7.1f MiB  decode tok %7.2f  llama.cpp %7.2f  (%.2fx)   prefill tok %7.1f  "
                      "llama.cpp %7.1f  (%.2fx)  same greedy tokens: %d"
                      % (shape, qtype, row["file_mib"], row["tok_decode_tps"], row["llama_cpp_decode_tps"],
                         row["decode_ratio"], row["tok_prefill_tps"], row["llama_cpp_prefill_tps"],
                         row["prefill_ratio"], same))
                sys.stdout.flush()
        fid = []
        if args.fidelity:
            fid = fidelity(python, args.tok_run, os.path.join(os.path.dirname(args.tok_run), "tok-import"), tmp)
    with open(args.json, "w") as f:
        json.dump({"machine": platform.machine(), "threads": 2, "new_tokens": args.new,
                   "prompt_tokens": len(prompt), "rows": rows, "fidelity": fid}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
