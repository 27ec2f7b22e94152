"""Checks the lowered tok.sample against the sampling rule, independently
computed with NumPy.

Usage: sample_check.py <tok-run> <work-dir>

Greedy: random logits with planted ties; the result must be the first
arg-max of every row, exactly. Stochastic: for fixed logits over a
vocabulary of 8, 4000 draws (counters 0..3999) per sampler configuration are
histogrammed inside the module; the reference distribution applies the
documented rule (temperature, top-k keeping boundary ties, top-p as the
smallest set of the most likely tokens whose mass reaches p, ties kept).
Tokens outside the reference support must never be drawn, and the
histogram must pass a chi-square test at significance 0.001 (fixed seeds,
so the test is deterministic).
"""

import os
import re
import subprocess
import sys

import numpy as np

N = 4000
CHI2_CRITICAL_0001 = {1: 10.83, 2: 13.82, 3: 16.27, 4: 18.47, 5: 20.52, 6: 22.46, 7: 24.32}
LOGITS = np.array([2.0, 1.0, 0.5, 2.0, -1.0, 0.0, 1.5, -3.0], np.float32)
CONFIGS = [
    dict(temperature=1.0),
    dict(temperature=0.7, top_k=3),
    dict(temperature=1.3, top_p=0.8),
    dict(temperature=1.0, top_k=5, top_p=0.6, seed=11),
]


def reference(c):
    z = LOGITS.astype(np.float64) / c["temperature"]
    keep = np.ones_like(z, bool)
    k = c.get("top_k", 0)
    if k:
        kth = np.sort(z)[::-1][k - 1]
        keep &= z >= kth
    e = np.where(keep, np.exp(z - z.max()), 0.0)
    p = c.get("top_p", 1.0)
    if p < 1.0:
        order = np.sort(e[e > 0])[::-1]
        mass = np.cumsum(order)
        t = order[np.searchsorted(mass, p * e.sum() * (1 - 1e-9))]
        e = np.where(e >= t, e, 0.0)
    return e / e.sum()


def sampler(c):
    parts = ["temperature = %.6e" % c["temperature"]]
    if c.get("top_k"):
        parts.append("top_k = %d" % c["top_k"])
    if "top_p" in c:
        parts.append("top_p = %.6e" % c["top_p"])
    if c.get("seed"):
        parts.append("seed = %d" % c["seed"])
    return "#tok.sampler<%s>" % ", ".join(parts)


def module(greedy_logits):
    rows, vocab = greedy_logits.shape
    lines = [
        "func.func private @printMemrefI32(tensor<*xi32>)",
        "func.func private @printMemrefI64(tensor<*xi64>)",
        "func.func @main() {",
        "  %%g = arith.constant dense<%s> : tensor<%dx%dxf32>" % (
            np.array2string(greedy_logits, separator=", ", threshold=sys.maxsize,
                            floatmode="unique").replace("\n", ""), rows, vocab),
        "  %%gt = tok.sample %%g {sampler = #tok.sampler<>} : tensor<%dx%dxf32>" % (rows, vocab),
        "  %%gp = tensor.cast %%gt : tensor<%dxi32> to tensor<*xi32>" % rows,
        "  call @printMemrefI32(%gp) : (tensor<*xi32>) -> ()",
        "  %%l = arith.constant dense<%s> : tensor<1x8xf32>" % np.array2string(
            LOGITS[None], separator=", ", floatmode="unique"),
        "  %c0 = arith.constant 0 : index",
        "  %c1 = arith.constant 1 : index",
        "  %%n = arith.constant %d : index" % N,
        "  %one = arith.constant 1 : i64",
        "  %zeros = arith.constant dense<0> : tensor<8xi64>",
    ]
    for i, c in enumerate(CONFIGS):
        lines += [
            "  %%h%d = scf.for %%i = %%c0 to %%n step %%c1 iter_args(%%acc = %%zeros) -> (tensor<8xi64>) {" % i,
            "    %ci = arith.index_cast %i : index to i64",
            "    %%t = tok.sample %%l counter(%%ci : i64) {sampler = %s} : tensor<1x8xf32>" % sampler(c),
            "    %tok = tensor.extract %t[%c0] : tensor<1xi32>",
            "    %ti = arith.index_cast %tok : i32 to index",
            "    %old = tensor.extract %acc[%ti] : tensor<8xi64>",
            "    %new = arith.addi %old, %one : i64",
            "    %acc2 = tensor.insert %new into %acc[%ti] : tensor<8xi64>",
            "    scf.yield %acc2 : tensor<8xi64>",
            "  }",
            "  %%hp%d = tensor.cast %%h%d : tensor<8xi64> to tensor<*xi64>" % (i, i),
            "  call @printMemrefI64(%%hp%d) : (tensor<*xi64>) -> ()" % i,
        ]
    lines += ["  return", "}"]
    return "\n".join(lines) + "\n"


def main():
    tok_run, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    rng = np.random.default_rng(3)
    greedy = rng.integers(-3, 4, size=(6, 17)).astype(np.float32)
    greedy[2, 5] = greedy[2, 11] = 9.0  # a planted tie
    path = os.path.join(work, "sample.mlir")
    with open(path, "w") as f:
        f.write(module(greedy))
    run = subprocess.run([tok_run, path], capture_output=True, text=True)
    if run.returncode != 0:
        print("tok-run failed:", run.stderr[-3000:])
        return 1
    blocks = [np.array([float(x) for x in re.findall(r"-?\d+", b.split("data =", 1)[1])])
              for b in run.stdout.split("Memref")[1:]]
    failures = 0
    want = np.argmax(greedy, axis=1)
    ok = np.array_equal(blocks[0], want)
    print("greedy: %s (got %s, want %s)" % ("ok" if ok else "MISMATCH", blocks[0].astype(int).tolist(), want.tolist()))
    failures += 0 if ok else 1
    for c, hist in zip(CONFIGS, blocks[1:]):
        p = reference(c)
        support = p > 0
        outside = int(hist[~support].sum())
        expected = p[support] * N
        chi2 = float(((hist[support] - expected) ** 2 / expected).sum())
        df = int(support.sum()) - 1
        ok = outside == 0 and hist.sum() == N and (df == 0 or chi2 < CHI2_CRITICAL_0001[df])
        print("%s: %s (chi2 %.2f, df %d, draws outside support %d)" % (sampler(c), "ok" if ok else "MISMATCH", chi2, df, outside))
        failures += 0 if ok else 1
    print("%d of %d checks passed" % (1 + len(CONFIGS) - failures, 1 + len(CONFIGS)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
