"""Drives tok-run with .npy inputs and outputs and checks the results with
NumPy.

Usage: run_io_check.py <tok-run> <work-dir> <module.mlir>

The module's @rmsnorm_and_argmax(x: tensor<?x16xf32>, w: tensor<16xf32>,
k: i64) returns rms_norm(x, w) * k and the greedy token of each row. The
reference recomputes both in float64; tolerance 1e-6 relative (results come
back as .npy, without printing).
"""

import os
import subprocess
import sys

import numpy as np


def main():
    tok_run, work, module = sys.argv[1:4]
    os.makedirs(work, exist_ok=True)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((7, 16)).astype(np.float32)
    w = rng.standard_normal(16).astype(np.float32)
    np.save(os.path.join(work, "x.npy"), x)
    np.save(os.path.join(work, "w.npy"), w)
    prefix = os.path.join(work, "out")
    for i in range(2):
        if os.path.exists(prefix + "%d.npy" % i):
            os.remove(prefix + "%d.npy" % i)
    run = subprocess.run(
        [tok_run, module, "-e", "rmsnorm_and_argmax",
         "--input=" + os.path.join(work, "x.npy"),
         "--input=" + os.path.join(work, "w.npy"), "--input=3",
         "--output=" + prefix],
        capture_output=True, text=True)
    if run.returncode != 0:
        print("tok-run failed:", run.stderr)
        return 1
    y = np.load(prefix + "0.npy")
    t = np.load(prefix + "1.npy")
    x64 = x.astype(np.float64)
    want = x64 / np.sqrt((x64 * x64).mean(-1, keepdims=True) + 1e-5) * w * 3
    ok_y = y.dtype == np.float32 and y.shape == (7, 16) and np.allclose(y, want, rtol=1e-6, atol=1e-6)
    ok_t = t.dtype == np.int32 and np.array_equal(t, np.argmax(want, axis=1))
    print("rms_norm result: %s" % ("ok" if ok_y else "MISMATCH"))
    print("argmax result: %s" % ("ok" if ok_t else "MISMATCH"))
    print("printed nothing: %s" % ("ok" if run.stdout == "" else "MISMATCH"))
    return 0 if ok_y and ok_t and run.stdout == "" else 1


if __name__ == "__main__":
    sys.exit(main())
