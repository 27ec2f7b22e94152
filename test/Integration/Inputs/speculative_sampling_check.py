"""Stochastic verification (speculative sampling) is lossless in
distribution: tok.verify with a sampler, JIT-compiled and called with
counters 0 .. N-1 inside one module, emits a first token distributed as the
target's row-0 distribution, and (when the first draft was accepted) a
second token distributed as the row-1 distribution (docs/algorithms.md,
"Speculative sampling").

Usage: speculative_sampling_check.py <tok-run> <work-dir>

The reference distributions are computed here from the logits with the
sampler's rules (temperature, top-k keeping ties, top-p keeping the
smallest most-likely set with at least p of the mass). Each histogram is
compared by Pearson's chi-square (bins with expected count < 5 pooled)
against the 1e-3 critical value, and by total variation <= 3 sqrt(V/N).
Cases: a likely first draft, an unlikely one (mostly the residual path),
temperature with top-k, top-p, and a tree whose root has two children.
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from jit_entry import run_entry  # noqa: E402

N = 20000
V = 8
CRITICAL = {1: 10.83, 2: 13.82, 3: 16.27, 4: 18.47, 5: 20.52, 6: 22.46, 7: 24.32}

MODULE = """func.func @f(%%l: tensor<?x8xf32>, %%d: tensor<?xi32>, %%p: tensor<?xi32>) -> (tensor<8xi64>, tensor<8xi64>) {
  %%c0 = arith.constant 0 : index
  %%c1 = arith.constant 1 : index
  %%c2 = arith.constant 2 : index
  %%n = arith.constant %d : index
  %%zero = arith.constant 0 : i64
  %%one = arith.constant 1 : i64
  %%e = tensor.empty() : tensor<8xi64>
  %%h0 = linalg.fill ins(%%zero : i64) outs(%%e : tensor<8xi64>) -> tensor<8xi64>
  %%r:2 = scf.for %%i = %%c0 to %%n step %%c1 iter_args(%%a = %%h0, %%b = %%h0) -> (tensor<8xi64>, tensor<8xi64>) {
    %%ctr = arith.index_cast %%i : index to i64
    %%path, %%next = tok.verify %%l, %%d, %%p counter(%%ctr : i64) {sampler = %s}
        : tensor<?x8xf32>, tensor<?xi32>, tensor<?xi32> -> tensor<?xi32>, tensor<i32>
    %%len = tensor.dim %%path, %%c0 : tensor<?xi32>
    %%nx = tensor.extract %%next[] : tensor<i32>
    %%has1 = arith.cmpi sge, %%len, %%c1 : index
    %%has2 = arith.cmpi sge, %%len, %%c2 : index
    %%first = scf.if %%has1 -> (i32) {
      %%n0 = tensor.extract %%path[%%c0] : tensor<?xi32>
      %%i0 = arith.index_cast %%n0 : i32 to index
      %%t0 = tensor.extract %%d[%%i0] : tensor<?xi32>
      scf.yield %%t0 : i32
    } else {
      scf.yield %%nx : i32
    }
    %%fi = arith.index_cast %%first : i32 to index
    %%old = tensor.extract %%a[%%fi] : tensor<8xi64>
    %%new = arith.addi %%old, %%one : i64
    %%a2 = tensor.insert %%new into %%a[%%fi] : tensor<8xi64>
    %%b2 = scf.if %%has1 -> (tensor<8xi64>) {
      %%second = scf.if %%has2 -> (i32) {
        %%n1 = tensor.extract %%path[%%c1] : tensor<?xi32>
        %%i1 = arith.index_cast %%n1 : i32 to index
        %%t1 = tensor.extract %%d[%%i1] : tensor<?xi32>
        scf.yield %%t1 : i32
      } else {
        scf.yield %%nx : i32
      }
      %%si = arith.index_cast %%second : i32 to index
      %%o = tensor.extract %%b[%%si] : tensor<8xi64>
      %%w = arith.addi %%o, %%one : i64
      %%b3 = tensor.insert %%w into %%b[%%si] : tensor<8xi64>
      scf.yield %%b3 : tensor<8xi64>
    } else {
      scf.yield %%b : tensor<8xi64>
    }
    scf.yield %%a2, %%b2 : tensor<8xi64>, tensor<8xi64>
  }
  return %%r#0, %%r#1 : tensor<8xi64>, tensor<8xi64>
}
"""


def target(row, temperature, top_k, top_p):
    z = row.astype(np.float64) / temperature
    keep = np.ones(V, bool)
    if top_k:
        kth = np.sort(np.unique(z))[::-1][min(top_k, len(np.unique(z))) - 1]
        keep &= z >= kth
    e = np.where(keep, np.exp(z - z.max()), 0.0)
    if top_p < 1.0:
        order = np.argsort(-e)
        mass = np.cumsum(e[order])
        cut = np.searchsorted(mass, top_p * e.sum()) + 1
        kept = np.zeros(V, bool)
        kept[order[:cut]] = True
        e = np.where(kept, e, 0.0)
    return e / e.sum()


def compare(name, counts, p):
    n = counts.sum()
    expected = p * n
    big = expected >= 5
    obs = list(counts[big]) + ([counts[~big].sum()] if (~big).any() else [])
    exp = list(expected[big]) + ([expected[~big].sum()] if (~big).any() else [])
    obs, exp = np.array(obs, float), np.array(exp, float)
    keep = exp > 0
    chi2 = float(((obs[keep] - exp[keep]) ** 2 / exp[keep]).sum())
    df = max(1, int(keep.sum()) - 1)
    tv = 0.5 * float(np.abs(counts / n - p).sum())
    ok = chi2 < CRITICAL[min(df, 7)] and tv <= 3 * np.sqrt(V / n) and not counts[p == 0].any()
    print("%s: %s (n=%d, chi2=%.2f, df=%d, tv=%.4f)" % (name, "ok" if ok else "MISMATCH", n, chi2, df, tv))
    return ok


def main():
    tok_run, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    rng = np.random.default_rng(5)
    cases = []
    logits = rng.standard_normal((4, V)).astype(np.float32) * 1.5
    best = int(np.argmax(logits[0]))
    worst = int(np.argmin(logits[0]))
    cases.append(("likely draft", logits, [best, int(np.argmax(logits[1]))], [-1, 0], 1.0, 0, 1.0))
    cases.append(("unlikely draft", logits, [worst, 3], [-1, 0], 1.0, 0, 1.0))
    cases.append(("temperature 0.7, top-k 4", logits, [best, 1], [-1, 0], 0.7, 4, 1.0))
    cases.append(("top-p 0.8", logits, [best, 2], [-1, 0], 1.0, 0, 0.8))
    # A tree: two children of the root, then a grandchild under the first.
    cases.append(("tree, two root children", logits, [worst, best, 4], [-1, -1, 0], 1.0, 0, 1.0))
    failures = 0
    for i, (name, l, d, par, temp, top_k, top_p) in enumerate(cases):
        sampler = "#tok.sampler<temperature = %s, top_k = %d, top_p = %s, seed = %d>" % (
            repr(float(temp)), top_k, repr(float(top_p)), 11 + i)
        rows = np.array(l[:len(d) + 1], np.float32)
        got, err = run_entry(tok_run, work, "case%d" % i, MODULE % (N, sampler),
                             [rows, np.array(d, np.int32), np.array(par, np.int32)], 2)
        if got is None:
            print("%s: tok-run failed: %s" % (name, err[-1500:]))
            failures += 1
            continue
        first, second = got
        p0 = target(rows[0], temp, top_k, top_p)
        ok = compare(name + ", first token", first, p0)
        # The second token is defined when the first draft was accepted
        # (node 0); it then follows node 0's row.
        if second.sum() >= 200 and "tree" not in name:
            ok &= compare(name + ", second token", second, target(rows[1], temp, top_k, top_p))
        failures += 0 if ok else 1
        if i == 0:
            # The comparison can fail: the same counts against the
            # distribution with the draft's probability moved to another
            # token must be rejected.
            wrong = p0.copy()
            wrong[best], wrong[(best + 1) % V] = wrong[(best + 1) % V], wrong[best]
            if compare("control (a wrong distribution)", first, wrong):
                failures += 1
            else:
                print("control: a wrong distribution is rejected")
    print("%d of %d cases distributed as the target" % (len(cases) - failures, len(cases)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
