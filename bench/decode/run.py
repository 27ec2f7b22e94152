"""Decode benchmark: tokens/s of `tok-run generate` at batch 1, fp32,
against the machine's memory-bandwidth roofline and a NumPy peer, measured
in the same run.

Usage: python3 bench/decode/run.py [--quick] [--tok-run PATH] [--json OUT]

Models: the built-in model (6 layers, dim 288) and a 110M-parameter
Llama-2 shape (dim 768, 12 layers, 12 heads, SwiGLU 2048, vocabulary 32000,
untied head; random weights written by this script as safetensors), in f32
and in bf16 (used in place, widened in registers: half the bytes to read;
the NumPy peer computes in f32 from the same values). Each
run: a 16-token prompt, then --new greedy tokens; tok's decode rate is the
one tok-run reports (first to last token, compile time excluded), the best
of --runs runs.

Roofline: a decode step must read every weight matrix once (the embedding
table only one row, unless it is also the head) plus the KV cache written
so far; tokens/s <= measured read bandwidth (all cores) / those bytes.

NumPy peer: the same decode step written with NumPy (BLAS matrix-vector
products on float32, attention over a cache of the same length), the best
per-token time over the same number of steps.
"""

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "bench", "attention"))
from run import measure_peak  # noqa: E402

SHAPE_110M = {"model_type": "llama", "hidden_size": 768, "intermediate_size": 2048,
              "num_hidden_layers": 12, "num_attention_heads": 12, "num_key_value_heads": 12,
              "vocab_size": 32000, "max_position_embeddings": 1024, "rms_norm_eps": 1e-5,
              "rope_theta": 10000.0, "tie_word_embeddings": False}
SHAPE_BUILTIN = {"model_type": "llama", "hidden_size": 288, "intermediate_size": 768,
                 "num_hidden_layers": 6, "num_attention_heads": 6, "num_key_value_heads": 6,
                 "vocab_size": 256, "max_position_embeddings": 512, "rms_norm_eps": 1e-5,
                 "rope_theta": 10000.0, "tie_word_embeddings": True}


def weights(cfg, rng):
    E, F, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    Hq, Hk = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    D = E // Hq
    u = lambda *s: ((rng.random(s, dtype=np.float32) * 2 - 1) * np.sqrt(3.0 / s[-1])).astype(np.float32)
    w = {"model.embed_tokens.weight": u(V, E), "model.norm.weight": np.ones(E, np.float32)}
    for l in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % l
        w.update({p + "input_layernorm.weight": np.ones(E, np.float32),
                  p + "post_attention_layernorm.weight": np.ones(E, np.float32),
                  p + "self_attn.q_proj.weight": u(Hq * D, E), p + "self_attn.k_proj.weight": u(Hk * D, E),
                  p + "self_attn.v_proj.weight": u(Hk * D, E), p + "self_attn.o_proj.weight": u(E, Hq * D),
                  p + "mlp.gate_proj.weight": u(F, E), p + "mlp.up_proj.weight": u(F, E),
                  p + "mlp.down_proj.weight": u(E, F)})
    if not cfg["tie_word_embeddings"]:
        w["lm_head.weight"] = u(V, E)
    return w


def to_bf16(a):
    bits = np.ascontiguousarray(a, np.float32).view(np.uint32).astype(np.uint64)
    return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)


def write_model(d, cfg, w, bf16=False):
    os.makedirs(d, exist_ok=True)
    json.dump(cfg, open(os.path.join(d, "config.json"), "w"))
    blobs = {k: (to_bf16(t) if bf16 else np.ascontiguousarray(t, np.float32)).tobytes() for k, t in w.items()}
    header, off = {}, 0
    for k, t in w.items():
        header[k] = {"dtype": "BF16" if bf16 else "F32", "shape": list(t.shape),
                     "data_offsets": [off, off + len(blobs[k])]}
        off += len(blobs[k])
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(os.path.join(d, "model.safetensors"), "wb") as f:
        f.write(len(text).to_bytes(8, "little") + text)
        for k in w:
            f.write(blobs[k])


def bytes_per_token(cfg, w, context, elem=4):
    """Weights a decode step reads, plus the K and V cache it attends over."""
    total = sum(t.size * elem for k, t in w.items() if k != "model.embed_tokens.weight")
    if cfg["tie_word_embeddings"]:
        total += w["model.embed_tokens.weight"].size * elem  # read as the head
    else:
        total += cfg["hidden_size"] * elem  # one embedding row
    D = cfg["hidden_size"] // cfg["num_attention_heads"]
    total += 2 * cfg["num_hidden_layers"] * cfg["num_key_value_heads"] * context * D * 4
    return total


def tok_decode(tok_run, model, prompt, new, runs):
    best = None
    for _ in range(runs):
        r = subprocess.run([tok_run, "generate", "--model", model, "--ids", ",".join(map(str, prompt)),
                            "--max-new-tokens", str(new), "--eos", "-1"], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(r.stderr[-2000:])
        m = re.search(r"decode (\d+) tokens in ([0-9.]+) ms", r.stderr)
        rate = int(m.group(1)) / (float(m.group(2)) / 1e3)
        best = rate if best is None else max(best, rate)
    return best


def numpy_decode(cfg, w, context, steps):
    """Per-token time of a NumPy decode step at `context` cached tokens."""
    E, Hq, Hk = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    D, L = E // Hq, cfg["num_hidden_layers"]
    rng = np.random.default_rng(0)
    K = [rng.standard_normal((Hk, context, D), dtype=np.float32) for _ in range(L)]
    V = [rng.standard_normal((Hk, context, D), dtype=np.float32) for _ in range(L)]
    head = w.get("lm_head.weight", w["model.embed_tokens.weight"])

    def rms(x, g):
        return x / np.sqrt((x * x).mean() + 1e-5) * g

    best = float("inf")
    for step in range(steps):
        t0 = time.perf_counter()
        x = w["model.embed_tokens.weight"][step % cfg["vocab_size"]].copy()
        for l in range(L):
            p = "model.layers.%d." % l
            h = rms(x, w[p + "input_layernorm.weight"])
            q = (w[p + "self_attn.q_proj.weight"] @ h).reshape(Hq, D)
            _ = w[p + "self_attn.k_proj.weight"] @ h
            _ = w[p + "self_attn.v_proj.weight"] @ h
            kv = np.repeat(np.arange(Hk), Hq // Hk)
            z = np.einsum("hd,hsd->hs", q, K[l][kv]) / np.float32(np.sqrt(D))
            z = np.exp(z - z.max(-1, keepdims=True))
            z /= z.sum(-1, keepdims=True)
            a = np.einsum("hs,hsd->hd", z, V[l][kv]).reshape(-1)
            x = x + w[p + "self_attn.o_proj.weight"] @ a
            h = rms(x, w[p + "post_attention_layernorm.weight"])
            g = w[p + "mlp.gate_proj.weight"] @ h
            x = x + w[p + "mlp.down_proj.weight"] @ (g / (1 + np.exp(-g)) * (w[p + "mlp.up_proj.weight"] @ h))
        _ = head @ rms(x, w["model.norm.weight"])
        best = min(best, time.perf_counter() - t0)
    return 1.0 / best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--tok-run", default=os.path.join(ROOT, "build", "bin", "tok-run"))
    ap.add_argument("--json", default=os.path.join(ROOT, "bench", "results", "decode.json"))
    ap.add_argument("--new", type=int, default=128)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    new, runs = (32, 1) if args.quick else (args.new, args.runs)

    work = tempfile.mkdtemp(prefix="tok-bench-decode-")
    limits = measure_peak(work)
    bandwidth = limits["read_gbs_all"] * 1e9
    print("machine: %d cores, read bandwidth %.1f GB/s (all cores), %.1f GB/s (one)"
          % (os.cpu_count(), limits["read_gbs_all"], limits["read_gbs_1"]))

    rows = []
    prompt = list(range(1, 17))
    for name, cfg in (("builtin", SHAPE_BUILTIN), ("llama2-110m", SHAPE_110M),
                      ("llama2-110m-bf16", SHAPE_110M)):
        rng = np.random.default_rng(0)
        w = weights(cfg, rng)
        model = "builtin"
        bf16 = name.endswith("bf16")
        if name != "builtin":
            model = os.path.join(work, name)
            write_model(model, cfg, w, bf16=bf16)
        params = sum(t.size for t in w.values())
        context = len(prompt) + new // 2  # the mean cache length while decoding
        bpt = bytes_per_token(cfg, w, context, elem=2 if bf16 else 4)
        roofline = bandwidth / bpt
        tok = tok_decode(args.tok_run, model, prompt, new, runs)
        peer = numpy_decode(cfg, w, context, min(new, 32))
        rows.append(dict(model=name, params=params, bytes_per_token=bpt, new_tokens=new,
                         tok_tokens_s=tok, numpy_tokens_s=peer, roofline_tokens_s=roofline,
                         tok_vs_roofline=tok / roofline, tok_vs_numpy=tok / peer))
        print("%-12s %6.1fM params %7.1f MB/token | tok %7.1f tok/s = %5.1f%% of roofline %7.1f | "
              "NumPy %7.1f tok/s (tok %.2fx)"
              % (name, params / 1e6, bpt / 1e6, tok, 100 * tok / roofline, roofline, peer, tok / peer))

    result = dict(machine=platform.processor() or platform.machine(), cores=os.cpu_count(),
                  limits=limits, numpy=np.__version__, rows=rows)
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(result, f, indent=1)
    print("wrote", args.json)


if __name__ == "__main__":
    main()
