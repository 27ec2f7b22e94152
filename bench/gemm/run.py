"""Matrix-matrix tok.linear: kernel GFLOP/s against the machine's peak and
OpenBLAS, prefill against llama.cpp, and a speculative verify step against
a decode step.

Usage: /usr/bin/python3 bench/gemm/run.py
           [--parts kernels,attention,prefill,prefill-quant,verify] [--rounds 3]
           [--quant-types q8_0,q4_0,q4_k_m] [--tok-run PATH] [--json OUT]

kernels: y = x W^T for the projections of the 110M Llama shape (dim 768,
  SwiGLU 2048) and the TinyLlama-1.1B shape (dim 2048, GQA 32/4, SwiGLU
  5632) at T = 256 tokens: tok with f32 weights and with bf16 weights
  (vdpbf16ps where the host has AVX512-BF16), each a one-op module run by
  tok-run --repeat (fastest run); OpenBLAS sgemm (NumPy's pip wheel in
  bench/.venv-blas, 2 threads, fastest of 5); as GFLOP/s (2 T N K / time)
  and as fractions of the measured peaks (bench/common/peak.cpp: f32 FMA
  and bf16 dot throughput of all cores).
attention: the attention prefill kernel (causal, T = S) with f32 and with
  bf16 products (attention-dot=f32 / bf16: Q, K, P, V rounded to bf16,
  vdpbf16ps), TinyLlama's heads (32 / 4, D = 64) at S = 256, 1024, 2048
  and 8 heads of D = 128 at 2048; GFLOP/s (2 H S^2 D useful) against the
  f32 FMA and bf16 dot peaks.
prefill: a 256-token prompt through `tok-run generate` and through
  llama.cpp (llama-cpp-python in bench/.venv-llama), 2 threads, paired
  alternating rounds: TinyLlama shape, tok bf16 (safetensors, used in
  place; its attention prefill in bf16 too) against llama.cpp f16 (a GGUF
  of the same weights), also with a 1024-token prompt where attention
  weighs more; 110M shape, both f32. Random weights (fine for speed).
prefill-quant: the same 256-token prompt, both engines reading one GGUF
  file quantized by llama.cpp's own quantizer (q8_0, q4_0, q4_k_m) from an
  f16 GGUF of random weights, TinyLlama and 110M shapes, paired rounds.
  tok's prefill dequantizes tiles of 4 rows to bf16 once per 256 tokens
  and runs the bf16 tiles; llama.cpp quantizes the activations to 8 bits.
verify: bench/speculative/step_cost.py on the 110M f32 shape: the cost of
  one step over 5 tokens (a verification of 4 drafted tokens) against one
  over 1 token, after a 300-token context.
"""

import argparse
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
sys.path.insert(0, os.path.join(ROOT, "bench", "attention"))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from peer_venv import peer_python  # noqa: E402
from run import measure_peak, tok_time  # noqa: E402
import hf_to_gguf  # noqa: E402
import importlib.util  # noqa: E402


def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


quant = load("decode_quant", os.path.join(ROOT, "bench", "decode", "quant.py"))
SHAPES = quant.SHAPES

# Each shape's distinct projections: (name, N, K).
PROJECTIONS = {
    "110m": [("qkvo", 768, 768), ("gate/up", 2048, 768), ("down", 768, 2048)],
    "tinyllama": [("q/o", 2048, 2048), ("k/v", 256, 2048), ("gate/up", 5632, 2048),
                  ("down", 2048, 5632)],
}

BLAS = """
import sys, time, numpy as np
t, n, k = map(int, sys.argv[1:4])
rng = np.random.default_rng(0)
x = rng.standard_normal((t, k), dtype=np.float32)
w = rng.standard_normal((n, k), dtype=np.float32)
best = 1e9
for _ in range(5):
    t0 = time.perf_counter(); y = x @ w.T; best = min(best, time.perf_counter() - t0)
print(best)
"""


def bf16_bits(a):
    u = np.ascontiguousarray(a, np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def tok_linear_seconds(tok_run, work, t, n, k, wtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((t, k), dtype=np.float32)
    w = (rng.standard_normal((n, k), dtype=np.float32) * 0.02)
    wt = "tensor<%dx%dx%s>" % (n, k, wtype)
    mlir = os.path.join(work, "lin_%d_%d_%s.mlir" % (n, k, wtype))
    with open(mlir, "w") as f:
        f.write("func.func @f(%%x: tensor<?x%dxf32>, %%w: %s) -> tensor<?x%dxf32> {\n"
                "  %%y = tok.linear %%x, %%w : tensor<?x%dxf32>, %s\n  return %%y : tensor<?x%dxf32>\n}\n"
                % (k, wt, n, k, wt, n))
    xp, wp = os.path.join(work, "x.npy"), os.path.join(work, "w.npy")
    np.save(xp, x)
    np.save(wp, bf16_bits(w) if wtype == "bf16" else w)
    r = subprocess.run([tok_run, mlir, "-e", "f", "--input", xp, "--input", wp, "--repeat", "7", "--timing",
                        "--print-results=false"], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(r.stderr[-2000:])
    return float(re.search(r"run ([0-9.]+) ms \(fastest", r.stderr).group(1)) / 1e3


def kernels(args, work):
    # The peaks before and after (the best of each): on a shared machine
    # one measurement can land on a busy moment.
    peak = measure_peak(work)
    blas = peer_python(".venv-blas", ["numpy"], ["numpy"], "OpenBLAS (NumPy's wheel)")
    env = dict(os.environ, OPENBLAS_NUM_THREADS="2")
    rows = []
    t = 256
    for shape, projs in PROJECTIONS.items():
        for name, n, k in projs:
            flops = 2.0 * t * n * k
            row = {"shape": shape, "projection": name, "T": t, "N": n, "K": k}
            for wtype in ("f32", "bf16"):
                row["tok_%s_gflops" % wtype] = round(flops / tok_linear_seconds(args.tok_run, work, t, n, k, wtype) / 1e9, 1)
            if blas:
                out = subprocess.run([blas, "-c", BLAS, str(t), str(n), str(k)], capture_output=True, text=True,
                                     env=env, check=True).stdout
                row["openblas_sgemm_gflops"] = round(flops / float(out) / 1e9, 1)
                row["tok_f32_vs_openblas"] = round(row["tok_f32_gflops"] / row["openblas_sgemm_gflops"], 3)
            rows.append(row)
            print("measured %s %s" % (shape, name), flush=True)
    after = measure_peak(work)
    peak = {k: max(v, after.get(k, v)) for k, v in peak.items()}
    for row in rows:
        row["tok_f32_of_fma_peak"] = round(row["tok_f32_gflops"] / peak["fma_gflops_all"], 3)
        if "bf16_gflops_all" in peak:
            row["tok_bf16_of_bf16_peak"] = round(row["tok_bf16_gflops"] / peak["bf16_gflops_all"], 3)
    print("peaks (best of before and after): f32 FMA %.1f GFLOP/s, bf16 dot %s GFLOP/s"
          % (peak["fma_gflops_all"], peak.get("bf16_gflops_all", "n/a")))
    for row in rows:
        print("%-9s %-8s T=%d N=%-5d K=%-5d  tok f32 %6.1f GFLOP/s (%.2f of FMA peak)  tok bf16 %6.1f "
              "(%s of bf16 peak)  OpenBLAS sgemm %s"
              % (row["shape"], row["projection"], t, row["N"], row["K"], row["tok_f32_gflops"],
                 row["tok_f32_of_fma_peak"], row["tok_bf16_gflops"], row.get("tok_bf16_of_bf16_peak", "n/a"),
                 "%6.1f (tok f32 %.2fx)" % (row["openblas_sgemm_gflops"], row["tok_f32_vs_openblas"])
                 if blas else "n/a"))
    return {"peak": peak, "rows": rows}


def attention(args, work):
    peak = measure_peak(work)
    rows = []
    for h, hk, s, d in ((32, 4, 256, 64), (32, 4, 1024, 64), (32, 4, 2048, 64), (8, 8, 2048, 128)):
        flops = 2.0 * h * s * s * d
        row = {"Hq": h, "Hk": hk, "S": s, "D": d}
        for kind in ("f32", "bf16"):
            sec = tok_time(args.tok_run, work, h, s, s, d, 5, hk=hk,
                           pipeline="tok-to-llvm{attention-dot=%s}" % kind)
            row["tok_%s_ms" % kind] = round(sec * 1e3, 2)
            row["tok_%s_gflops" % kind] = round(flops / sec / 1e9, 1)
        row["bf16_speedup"] = round(row["tok_f32_ms"] / row["tok_bf16_ms"], 3)
        row["f32_of_fma_peak"] = round(row["tok_f32_gflops"] / peak["fma_gflops_all"], 3)
        if "bf16_gflops_all" in peak:
            row["bf16_of_bf16_peak"] = round(row["tok_bf16_gflops"] / peak["bf16_gflops_all"], 3)
        rows.append(row)
        print("attention prefill Hq=%d Hk=%d S=%d D=%d: f32 %.2f ms (%.1f GFLOP/s)  bf16 %.2f ms (%.1f)  %.2fx"
              % (h, hk, s, d, row["tok_f32_ms"], row["tok_f32_gflops"], row["tok_bf16_ms"],
                 row["tok_bf16_gflops"], row["bf16_speedup"]), flush=True)
    return {"peak": peak, "rows": rows}


PROMPT = [100 + (i * 37) % 20000 for i in range(256)]
LONG_PROMPT = [100 + (i * 37) % 20000 for i in range(1024)]


def paired_prefill(args, python, tok_model, peer_model, row, prompt=PROMPT):
    """--rounds alternating prefills of `prompt` by tok and llama.cpp: the
    medians, every run and their ratio, added to `row`."""
    toks, peers = [], []
    for _ in range(args.rounds):
        toks.append(quant.run_tok(args.tok_run, tok_model, prompt, 2)["prefill_tps"])
        peers.append(quant.run_peer(python, peer_model, prompt, 2)["prefill_tps"])
    row.update({"prompt_tokens": len(prompt), "tok_prefill_tps": round(statistics.median(toks), 1),
                "llama_cpp_prefill_tps": round(statistics.median(peers), 1),
                "tok_all": [round(x, 1) for x in toks], "llama_cpp_all": [round(x, 1) for x in peers]})
    row["ratio"] = round(row["tok_prefill_tps"] / row["llama_cpp_prefill_tps"], 3)
    return row


def prefill(args, work):
    python = quant.llama_cpp_python()
    if python is None:
        return []
    rows = []
    for shape, tok_kind, peer_kind in (("tinyllama", "bf16", "f16"), ("110m", "f32", "f32")):
        cfg = SHAPES[shape]
        w = quant.weights(cfg, np.random.default_rng(0))
        hf = os.path.join(work, shape + "-" + tok_kind)
        quant.write_model(hf, cfg, w, bf16=tok_kind == "bf16")
        src = os.path.join(work, shape + "-f32")
        if tok_kind != "f32":
            quant.write_model(src, cfg, w)
        else:
            src = hf
        gguf = os.path.join(work, "%s-%s.gguf" % (shape, peer_kind))
        hf_to_gguf.convert(src, gguf, peer_kind)
        del w
        for prompt in ((PROMPT, LONG_PROMPT) if shape == "tinyllama" else (PROMPT,)):
            row = paired_prefill(args, python, hf, gguf,
                                 {"shape": shape, "tok_weights": tok_kind, "llama_cpp_weights": peer_kind},
                                 prompt)
            rows.append(row)
            print("prefill %-9s %4d tokens: tok %s %7.1f tokens/s  llama.cpp %s %7.1f  (%.2fx)"
                  % (shape, len(prompt), tok_kind, row["tok_prefill_tps"], peer_kind,
                     row["llama_cpp_prefill_tps"], row["ratio"]))
            sys.stdout.flush()
    return rows


def prefill_quant(args, work):
    python = quant.llama_cpp_python()
    if python is None:
        return []
    rows = []
    for shape in ("tinyllama", "110m"):
        cfg = SHAPES[shape]
        hf = os.path.join(work, shape + "-q-src")
        quant.write_model(hf, cfg, quant.weights(cfg, np.random.default_rng(0)))
        f16 = os.path.join(work, "%s-q-f16.gguf" % shape)
        hf_to_gguf.convert(hf, f16, "f16")
        subprocess.run(["rm", "-rf", hf], check=True)
        for qtype in args.quant_types.split(","):
            path = os.path.join(work, "%s-%s.gguf" % (shape, qtype))
            subprocess.run([python, quant.PEER, "quantize", f16, path, qtype], check=True, capture_output=True)
            row = paired_prefill(args, python, path, path, {"shape": shape, "type": qtype})
            rows.append(row)
            print("prefill %-9s %-6s 256 tokens: tok %7.1f tokens/s  llama.cpp %7.1f  (%.2fx)"
                  % (shape, qtype, row["tok_prefill_tps"], row["llama_cpp_prefill_tps"], row["ratio"]))
            sys.stdout.flush()
            os.remove(path)
        os.remove(f16)
    return rows


def verify(args, work):
    cfg = SHAPES["110m"]
    hf = os.path.join(work, "110m-verify")
    quant.write_model(hf, cfg, quant.weights(cfg, np.random.default_rng(0)))
    r = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "speculative", "step_cost.py"), hf,
                        "--tokens", "1,5", "--tok-run", args.tok_run,
                        "--tok-import", os.path.join(os.path.dirname(args.tok_run), "tok-import")],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(r.stderr[-2000:])
    cost = {int(m.group(1)): float(m.group(2))
            for m in re.finditer(r"^\s*(\d+)\s+([0-9.]+)\s+[0-9.]+x\s*$", r.stdout, re.M)}
    row = {"shape": "110m", "context": 300, "step_ms": cost}
    if 1 in cost and 5 in cost:
        row["verify5_over_decode"] = round(cost[5] / cost[1], 3)
        print("verify 110m: a step over 5 tokens %.2f ms, over 1 token %.2f ms (%.2fx)"
              % (cost[5], cost[1], row["verify5_over_decode"]))
    else:
        print(r.stdout)
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", default="kernels,attention,prefill,prefill-quant,verify")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--quant-types", default="q8_0,q4_0,q4_k_m")
    ap.add_argument("--tok-run", default=os.path.join(ROOT, "build", "bin", "tok-run"))
    ap.add_argument("--json", default=os.path.join(ROOT, "bench", "results", "gemm.json"))
    args = ap.parse_args()
    # Parts not run keep their last results.
    out = {}
    if os.path.exists(args.json):
        with open(args.json) as f:
            out = json.load(f)
    out.update({"machine": platform.machine(), "threads": 2})
    with tempfile.TemporaryDirectory() as work:
        parts = args.parts.split(",")
        if "kernels" in parts:
            out["kernels"] = kernels(args, work)
        if "attention" in parts:
            out["attention"] = attention(args, work)
        if "prefill" in parts:
            out["prefill"] = prefill(args, work)
        if "prefill-quant" in parts:
            out["prefill_quant"] = prefill_quant(args, work)
        if "verify" in parts:
            out["verify"] = verify(args, work)
    with open(args.json, "w") as f:
        json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
