"""GGUF copies of a trained Hugging Face model against the original.

Usage: gguf_check.py <tok-run> <tok-import> <work-dir> <hf-model-dir>

Writes the model as GGUF (scripts/hf_to_gguf.py: the gguf package, q / k
permuted for GGUF's llama layout) at f32, q8_0 and q4_0, then:

- generation: 32 greedy tokens from the f32 GGUF must equal those from the
  Hugging Face directory (tok-run generate --print-ids);
- teacher forcing: the logits of a 128-token text (one @forward over it,
  every position predicting the next token from the true prefix) of each
  quantized GGUF against the f32 one: top-1 agreement (q8_0 must be
  >= 0.98) and mean KL divergence, printed. The weights go to tok-run as
  the GGUF stores them (quantized ones as their bytes), read by the gguf
  package's own reader.
"""

import json
import os
import re
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import hf_to_gguf  # noqa: E402


def greedy_ids(tok_run, model, ids, n):
    r = subprocess.run([tok_run, "generate", "--model", model, "--ids", ",".join(map(str, ids)),
                        "--max-new-tokens", str(n), "--print-ids"], capture_output=True, text=True)
    if r.returncode != 0:
        print("tok-run generate failed:", r.stderr[-2000:])
        return None
    line = [l for l in r.stdout.splitlines() if l.startswith("ids:")][-1]
    return [int(x) for x in line.split()[1:]]


def channel_int8(w):
    """tok's per-channel int8 row layout, written from its description: k
    int8 codes round(w / s) (halves away from zero), s = max|w| / 127 per
    row, then s as a little-endian f32."""
    w = w.astype(np.float32)
    s = (np.abs(w).max(axis=1) / np.float32(127.0)).astype(np.float32)
    inv = np.where(s != 0, 1.0 / np.where(s != 0, s, 1), 0).astype(np.float32)
    v = w * inv[:, None]
    q = (np.sign(v) * np.floor(np.abs(v) + 0.5)).astype(np.int8)
    return np.concatenate([q.view(np.uint8), s.astype("<f4")[:, None].view(np.uint8)], axis=1)


def forward_logits(tok_run, tok_import, work, gguf_path, ids, channel=False):
    """Teacher-forced logits of @forward over `ids`; with `channel`, the
    module goes through tok-quantize-weights{scheme=i8_channel} and the
    weights it retypes are given as channel_int8 bytes."""
    import gguf

    tag = os.path.basename(gguf_path) + ("-channel" if channel else "")
    mlir = os.path.join(work, tag + ".mlir")
    if os.path.exists(mlir):
        os.remove(mlir)
    subprocess.run([tok_import, gguf_path, "-o", mlir, "--cache-capacity=%d" % len(ids)], check=True)
    if channel:
        tok_opt = os.path.join(os.path.dirname(tok_run), "tok-opt")
        subprocess.run([tok_opt if os.path.dirname(tok_run) else "tok-opt", mlir, "--tok-quantize-weights=scheme=i8_channel", "-o", mlir + ".q"],
                       check=True)
        mlir += ".q"
    names, packed = [], []
    for line in open(mlir):
        if line.lstrip().startswith("func.func @forward"):
            parts = line.split('tok.weight = "')
            names = [s.split('"')[0] for s in parts[1:]]
            packed = ["#tok.quant<i8_channel>" in s.rsplit("%", 1)[-1] for s in parts[:-1]]
    reader = gguf.GGUFReader(gguf_path)
    tensors = {t.name: t for t in reader.tensors}
    args = [np.asarray(ids, np.int32), np.arange(len(ids), dtype=np.int32)]
    for n, pack in zip(names, packed):
        t = tensors[hf_to_gguf.gguf_name(n)]
        data = np.asarray(t.data)
        if t.tensor_type.name in ("F32", "F16"):
            data = data.reshape(list(reversed([int(d) for d in t.shape])))
        if pack:
            data = channel_int8(data)
        args.append(np.ascontiguousarray(data))
    inputs = []
    for i, a in enumerate(args):
        p = os.path.join(work, "%s_arg%d.npy" % (tag, i))
        np.save(p, a)
        inputs.append("--input=" + p)
    out = os.path.join(work, tag + "_logits")
    if os.path.exists(out + "0.npy"):
        os.remove(out + "0.npy")
    r = subprocess.run([tok_run, mlir, "-e", "forward", "--output=" + out, "--print-results=false"] + inputs,
                       capture_output=True, text=True)
    if r.returncode != 0:
        print("tok-run failed:", r.stderr[-2000:])
        return None
    return np.load(out + "0.npy").astype(np.float64)


def log_softmax(x):
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


def main():
    tok_run, tok_import, work, model = sys.argv[1:5]
    os.makedirs(work, exist_ok=True)
    paths = {}
    for qtype in ("f32", "q8_0", "q4_0"):
        paths[qtype] = os.path.join(work, "model-%s.gguf" % qtype)
        if os.path.exists(paths[qtype]):
            os.remove(paths[qtype])
        hf_to_gguf.convert(model, paths[qtype], qtype)

    prompt = list(b"def fibonacci(n):")
    want = greedy_ids(tok_run, model, prompt, 32)
    got = greedy_ids(tok_run, paths["f32"], prompt, 32)
    same = want is not None and got == want
    print("generate: f32 GGUF vs safetensors, 32 greedy tokens: %s" % ("identical" if same else "DIFFERENT"))

    # tok-quantize-weights: the driver quantizes the safetensors weights at
    # load by llama.cpp's rules, which the gguf package also implements:
    # the same greedy tokens as the GGUF it wrote.
    for qtype in ("q8_0", "q4_0"):
        r = subprocess.run([tok_run, "generate", "--model", model, "--ids", ",".join(map(str, prompt)),
                            "--max-new-tokens", "64", "--print-ids",
                            "--pipeline", "tok-quantize-weights{scheme=%s}" % qtype],
                           capture_output=True, text=True)
        at_load = [l for l in r.stdout.splitlines() if l.startswith("ids:")]
        from_file = greedy_ids(tok_run, paths[qtype], prompt, 64)
        same = bool(at_load) and [int(x) for x in at_load[-1].split()[1:]] == from_file
        print("tok-quantize-weights{scheme=%s} at load vs the gguf package's %s file, 64 greedy tokens: %s"
              % (qtype, qtype, "identical" if same else "DIFFERENT " + r.stderr[-500:]))

    # The k-quants at load (tok's own scale search; no reference quantizer
    # exists outside llama.cpp): the bytes quantized are those of every
    # matrix whose rows are whole super-blocks of 256 (written here from
    # the config: pyllama-4m's down projection, K = 688, stays f32), and
    # greedy generation follows the f32 model's (64 tokens compared).
    cfg = json.load(open(os.path.join(model, "config.json")))
    dim, ff = cfg["hidden_size"], cfg["intermediate_size"]
    kv = dim // cfg["num_attention_heads"] * cfg["num_key_value_heads"]
    shapes = [(dim, dim), (kv, dim), (kv, dim), (dim, dim), (ff, dim), (ff, dim), (dim, ff)]
    rows = sum(r for r, k in shapes if k % 256 == 0) * cfg["num_hidden_layers"]
    rows += cfg["vocab_size"] * (1 if cfg.get("tie_word_embeddings") else 2)
    f32_ids = greedy_ids(tok_run, model, prompt, 64)
    for qtype, block_bytes, least in (("q4_k", 144, 16), ("q6_k", 210, 32)):
        r = subprocess.run([tok_run, "generate", "--model", model, "--ids", ",".join(map(str, prompt)),
                            "--max-new-tokens", "64", "--print-ids",
                            "--pipeline", "tok-quantize-weights{scheme=%s}" % qtype],
                           capture_output=True, text=True)
        at_load = [l for l in r.stdout.splitlines() if l.startswith("ids:")]
        ids = [int(x) for x in at_load[-1].split()[1:]] if at_load else []
        same = 0
        for a_, b_ in zip(ids, f32_ids or []):
            if a_ != b_:
                break
            same += 1
        want_mib = rows * (dim // 256) * block_bytes / 2**20
        m = re.search(r"weights quantized at load \(tok-quantize-weights\): ([0-9.]+) MiB", r.stderr)
        got_mib = float(m.group(1)) if m else -1.0
        print("tok-quantize-weights{scheme=%s} at load: %.2f MiB quantized (want %.2f): %s; greedy tokens as f32: "
              "%d of 64: %s" % (qtype, got_mib, want_mib, "ok" if abs(got_mib - want_mib) < 0.006 else "WRONG",
                                same, "ok" if same >= least else "BELOW %d" % least))

    text = open(os.path.join(HERE, "generate_check.py"), "rb").read()[:128]
    ids = [b % 256 for b in text]
    ref = forward_logits(tok_run, tok_import, work, paths["f32"], ids)
    for qtype in ("q8_0", "q4_0", "i8_channel"):
        if qtype == "i8_channel":
            logits = forward_logits(tok_run, tok_import, work, paths["f32"], ids, channel=True)
        else:
            logits = forward_logits(tok_run, tok_import, work, paths[qtype], ids)
        if ref is None or logits is None:
            print("%s: FAILED" % qtype)
            continue
        agree = float(np.mean(ref.argmax(-1) == logits.argmax(-1)))
        p, q = log_softmax(ref), log_softmax(logits)
        kl = float(np.mean(np.sum(np.exp(p) * (p - q), axis=-1)))
        verdict = "ok" if (qtype == "q4_0" or agree >= 0.98) else "BELOW TARGET"
        print("teacher forcing, 128 positions, %s vs f32: top-1 agreement %.3f, mean KL %.2e: %s"
              % (qtype, agree, kl, verdict))


if __name__ == "__main__":
    main()
