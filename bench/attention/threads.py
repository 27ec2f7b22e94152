"""Compares the threading routes for tok's attention on the same kernels:
OpenMP (tok-to-llvm's default), MLIR's async runtime, and one thread.

Usage: python3 bench/attention/threads.py [--tok-run PATH]

Each number is the fastest of 5 runs (tok-run --repeat); the async route is
the same pipeline with scf.parallel lowered by async-parallel-for (2
workers) instead of OpenMP, loading libmlir_async_runtime.so.
"""

import argparse
import os
import re
import subprocess
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ASYNC = ("tok-bufferize,convert-bufferization-to-memref,scf-forall-to-parallel,"
         "async-parallel-for{async-dispatch=false num-workers=2 min-task-size=1},"
         "async-to-async-runtime,async-runtime-ref-counting,async-runtime-ref-counting-opt,"
         "arith-expand,func.func(convert-linalg-to-loops),expand-strided-metadata,lower-affine,"
         "finalize-memref-to-llvm,convert-scf-to-cf,convert-async-to-llvm,convert-to-llvm,"
         "reconcile-unrealized-casts")
ASYNC_LIB = "/usr/lib/llvm-22/lib/libmlir_async_runtime.so"


def run(tok_run, path, extra, env=None):
    r = subprocess.run([tok_run, path, "-e", "attention", "--seed=1", "--print-results=false",
                        "--timing", "--repeat=5"] + extra, capture_output=True, text=True,
                       env=dict(os.environ, **(env or {})))
    if r.returncode != 0:
        raise RuntimeError(r.stderr)
    return float(re.search(r"run ([0-9.]+) ms", r.stderr).group(1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tok-run", default=os.path.join(ROOT, "build", "bin", "tok-run"))
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="tok-threads-")
    print("%-26s %10s %10s %10s" % ("shape (Hq, T, S, D)", "1 thread", "OpenMP", "async"))
    for h, t, s, d in ((8, 1024, 1024, 64), (8, 2048, 2048, 128), (8, 1, 8192, 64), (8, 1, 32768, 128)):
        qt = "tensor<%dx%dx%dxf32>" % (h, t, d)
        kt = "tensor<%dx%dx%dxf32>" % (h, s, d)
        path = os.path.join(work, "a%d_%d_%d.mlir" % (t, s, d))
        with open(path, "w") as f:
            f.write("func.func @attention(%%q: %s, %%k: %s, %%v: %s) -> %s {\n"
                    "  %%o = tok.attention %%q, %%k, %%v {mask = #tok.mask<causal>} : %s, %s, %s -> %s\n"
                    "  return %%o : %s\n}\n" % (qt, kt, kt, qt, qt, kt, kt, qt, qt))
        one = run(args.tok_run, path, [], {"OMP_NUM_THREADS": "1"})
        omp = run(args.tok_run, path, [])
        asy = run(args.tok_run, path, ["--pipeline=" + ASYNC, "--shared-libs=" + ASYNC_LIB])
        print("%-26s %8.1fms %8.1fms %8.1fms" % ((h, t, s, d), one, omp, asy))


if __name__ == "__main__":
    main()
