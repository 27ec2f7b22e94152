"""Attention benchmark: tok's compiled attention against the machine's
measured fp32 FMA peak and read bandwidth, and against a NumPy reference
(materialized softmax over BLAS matmuls), measured in the same run. Ratios
are against all cores (tok's attention runs its KV heads in parallel with
OpenMP).

Usage: python3 bench/attention/run.py [--quick] [--no-torch] [--tok-run PATH] [--json OUT]

Prefill: causal, T = S in {512, 1024, 2048, 4096}, D in {64, 128}, H in
{8, 32} (Hq = Hk); decode: T = 1, S in {1k, 8k, 32k}. --quick runs a subset.
Useful prefill FLOPs are 2 * H * S^2 * D (causal, both matmuls, half the
matrix); decode bytes are the K and V read once, 2 * H * S * D * 4.
PyTorch's CPU scaled_dot_product_attention (2 threads) is the peer; it is
installed into bench/.venv-torch on first use (bench/common/torch_env.py)
and timed in that environment by torch_sdpa.py.
Each tok number is the fastest of several runs of a JIT-compiled module
(tok-run --repeat --timing); compile time is excluded.
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

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "common"))
from torch_env import torch_python  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def measure_peak(work):
    exe = os.path.join(work, "peak")
    subprocess.run(["clang++-22", "-O3", "-march=native", "-ffp-contract=fast", "-pthread", "-o", exe,
                    os.path.join(ROOT, "bench", "common", "peak.cpp")], check=True)
    out = subprocess.run([exe], capture_output=True, text=True, check=True).stdout
    vals = {k: float(v) for k, v in (line.split() for line in out.strip().splitlines())}
    return vals


def tok_time(tok_run, work, h, t, s, d, repeat, hk=None, pipeline="tok-to-llvm"):
    """Seconds of one causal tok.attention (Hq = h, Hk = hk or h), the
    fastest of `repeat` runs, lowered by `pipeline`."""
    hk = hk or h
    mod = os.path.join(work, "att_%d_%d_%d_%d_%d.mlir" % (h, hk, t, s, d))
    qt = "tensor<%dx%dx%dxf32>" % (h, t, d)
    kt = "tensor<%dx%dx%dxf32>" % (hk, s, d)
    with open(mod, "w") as f:
        f.write("func.func @attention(%%q: %s, %%k: %s, %%v: %s) -> %s {\n"
                "  %%o = tok.attention %%q, %%k, %%v {mask = #tok.mask<causal>} : %s, %s, %s -> %s\n"
                "  return %%o : %s\n}\n" % (qt, kt, kt, qt, qt, kt, kt, qt, qt))
    run = subprocess.run([tok_run, mod, "-e", "attention", "--seed=1", "--pipeline=" + pipeline,
                          "--print-results=false", "--timing", "--repeat=%d" % repeat],
                         capture_output=True, text=True)
    if run.returncode != 0:
        raise RuntimeError(run.stderr)
    return float(re.search(r"run ([0-9.]+) ms", run.stderr).group(1)) / 1e3


def numpy_time(h, t, s, d, repeat):
    rng = np.random.default_rng(0)
    q = rng.standard_normal((h, t, d), dtype=np.float32)
    k = rng.standard_normal((h, s, d), dtype=np.float32)
    v = rng.standard_normal((h, s, d), dtype=np.float32)
    mask = np.triu(np.ones((t, s), bool), k=s - t + 1)
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        z = (q @ k.transpose(0, 2, 1)) / np.float32(np.sqrt(d))
        z[:, mask] = -np.inf
        z -= z.max(-1, keepdims=True)
        np.exp(z, out=z)
        z /= z.sum(-1, keepdims=True)
        _ = z @ v
        best = min(best, time.perf_counter() - t0)
    return best


def torch_times(shapes):
    """PyTorch SDPA seconds per (h, t, s, d, repeat), or Nones."""
    python = torch_python()
    if python is None:
        return None, [None] * len(shapes)
    run = subprocess.run([python, os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_sdpa.py")],
                         input=json.dumps(shapes), capture_output=True, text=True)
    if run.returncode != 0:
        print("PyTorch run failed: %s" % run.stderr[-2000:])
        return None, [None] * len(shapes)
    got = json.loads(run.stdout)
    return got["version"], got["seconds"]


def ratio(a, b):
    return "-" if a is None or b is None else "%.2fx" % (a / b)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-torch", action="store_true", help="skip the PyTorch peer")
    ap.add_argument("--tok-run", default=os.path.join(ROOT, "build", "bin", "tok-run"))
    ap.add_argument("--json", default=os.path.join(ROOT, "bench", "results", "attention.json"))
    args = ap.parse_args()
    if args.quick:
        prefill = [(8, 512, 64), (8, 1024, 64), (8, 512, 128)]
        decode = [(8, 1024, 64), (8, 8192, 64)]
    else:
        prefill = [(h, s, d) for s in (512, 1024, 2048, 4096) for d in (64, 128) for h in (8, 32)]
        decode = [(8, s, d) for s in (1024, 8192, 32768) for d in (64, 128)]
    work = tempfile.mkdtemp(prefix="tok-bench-")
    limits = measure_peak(work)
    # tok-to-llvm runs attention on every core (OpenMP), NumPy's BLAS too.
    peak, bandwidth = limits["fma_gflops_all"], limits["read_gbs_all"]
    rows = []
    print("machine: %d cores; fp32 FMA peak %.1f GFLOP/s (1 core %.1f); read bandwidth %.1f GB/s (1 thread %.1f)"
          % (os.cpu_count(), peak, limits["fma_gflops_1"], bandwidth, limits["read_gbs_1"]))
    shapes = [[h, s, s, d, 3 if s <= 1024 else 2] for h, s, d in prefill]
    shapes += [[h, 1, s, d, 5] for h, s, d in decode]
    torch_version, torch_secs = (None, [None] * len(shapes)) if args.no_torch else torch_times(shapes)
    if torch_version:
        print("PyTorch %s (scaled_dot_product_attention, 2 threads)" % torch_version)
    print("%-8s %4s %6s %4s %10s %10s %10s %8s %8s %8s" % (
        "kind", "H", "S", "D", "tok", "torch", "numpy", "tok/torch", "tok/np", "tok/peak"))
    for i, (h, s, d) in enumerate(prefill):
        flops = 2.0 * h * s * s * d
        reps = 3 if s <= 1024 else 1
        # tok: best of at least 3 (the first call of a process also starts
        # the OpenMP threads and faults in fresh pages; PyTorch gets a
        # warm-up call too).
        tt = tok_time(args.tok_run, work, h, s, s, d, max(reps, 3))
        nt = numpy_time(h, s, s, d, reps) if h * s * s <= 32 * 2048 * 2048 else None
        pt = torch_secs[i]
        row = dict(kind="prefill", H=h, S=s, D=d, tok_gflops=flops / tt / 1e9,
                   torch_gflops=None if pt is None else flops / pt / 1e9,
                   numpy_gflops=None if nt is None else flops / nt / 1e9)
        rows.append(row)
        print("%-8s %4d %6d %4d %9.2fG %9sG %9sG %9s %8s %7.1f%%" % (
            "prefill", h, s, d, row["tok_gflops"],
            "-" if pt is None else "%.2f" % row["torch_gflops"],
            "-" if nt is None else "%.2f" % row["numpy_gflops"],
            ratio(pt, tt), ratio(nt, tt), 100 * row["tok_gflops"] / peak))
        sys.stdout.flush()
    for i, (h, s, d) in enumerate(decode):
        nbytes = 2.0 * h * s * d * 4
        tt = tok_time(args.tok_run, work, h, 1, s, d, 5)
        nt = numpy_time(h, 1, s, d, 5)
        pt = torch_secs[len(prefill) + i]
        row = dict(kind="decode", H=h, S=s, D=d, tok_gbs=nbytes / tt / 1e9,
                   torch_gbs=None if pt is None else nbytes / pt / 1e9, numpy_gbs=nbytes / nt / 1e9)
        rows.append(row)
        print("%-8s %4d %6d %4d %8.2fGB %8sGB %8.2fGB %9s %8s %7.1f%%" % (
            "decode", h, s, d, row["tok_gbs"], "-" if pt is None else "%.2f" % row["torch_gbs"],
            row["numpy_gbs"], ratio(pt, tt), ratio(nt, tt), 100 * row["tok_gbs"] / bandwidth))
        sys.stdout.flush()
    result = dict(date=time.strftime("%Y-%m-%d"), limits=limits, peak_gflops=peak, read_gbs=bandwidth,
                  numpy=np.__version__, torch=torch_version, cores=os.cpu_count(), rows=rows)
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(result, f, indent=1)
    print("wrote", args.json)


if __name__ == "__main__":
    main()
