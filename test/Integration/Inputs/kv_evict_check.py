"""Checks the lowered score-based eviction policies (h2o, a2sf, tova, snapkv)
against a separately written NumPy model of each policy's rule.

Usage: kv_evict_check.py <tok-run> <work-dir>

Per policy, a module appends 12 tokens to a 16-slot cache with 2 KV heads,
evicts with given per-slot scores (with planted ties) to a budget of 8,
probes the cache with cached attention, appends 2 more tokens, evicts again
with new scores (h2o and a2sf accumulate across the two calls) and probes
again. The reference keeps, per KV head, the list of (key, value, position,
accumulated score) slots and applies docs/algorithms.md, "KV-cache
eviction": h2o/a2sf keep the `recent` newest slots plus the best-scored
others per head (a2sf decays the old scores by the factor), tova keeps the
newest slot plus the best by the scores summed over heads (the same slots in
every head); ties keep the older slot; snapkv keeps the last `observe` slots
plus the best others by scores max-pooled over neighbouring candidates. The
probes' outputs (4 query heads, GQA 2) depend on exactly which slots, with
which positions, survived. Tolerance 1e-5 + 1e-4 |want|.
"""

import os
import re
import subprocess
import sys

import numpy as np

HK, HQ, C, D = 2, 4, 16, 4


def dense(a):
    return "dense<%s>" % np.array2string(np.asarray(a), separator=", ", threshold=sys.maxsize,
                                         floatmode="unique").replace("\n", "")


class Ref:
    def __init__(self):
        self.heads = [[] for _ in range(HK)]  # per head: [k, v, pos, acc]

    def append(self, k, v, pos):
        for h in range(HK):
            for t in range(k.shape[1]):
                self.heads[h].append([k[h, t], v[h, t], int(pos[t]), 0.0])

    def evict(self, policy, scores, budget, recent, decay):
        n = len(self.heads[0])
        if policy in ("h2o", "a2sf"):
            for h in range(HK):
                for s, slot in enumerate(self.heads[h]):
                    slot[3] = (decay if policy == "a2sf" else 1.0) * slot[3] + scores[h, s]
        if n <= budget:
            return
        if policy == "tova":
            key = scores[:, :n].sum(0)
            keys = [key] * HK
            recent = 1
        elif policy == "snapkv":
            observe, pool = 3, 3
            recent = observe
            keys = []
            for h in range(HK):
                cand = scores[h, : n - observe].astype(np.float64)
                pooled = np.array([cand[max(0, i - pool // 2): i + pool // 2 + 1].max()
                                   for i in range(n - observe)])
                keys.append(pooled)
        else:
            keys = [np.array([slot[3] for slot in self.heads[h]]) for h in range(HK)]
        for h in range(HK):
            cand = list(range(n - recent))
            # best first; ties: smaller index first (kept)
            order = sorted(cand, key=lambda i: (-keys[h][i], i))
            keep = sorted(order[: budget - recent]) + list(range(n - recent, n))
            self.heads[h] = [self.heads[h][i] for i in keep]

    def attend(self, q, qpos):
        g = HQ // HK
        out = np.zeros((HQ, 1, D))
        for hq in range(HQ):
            slots = self.heads[hq // g]
            k = np.array([s[0] for s in slots], np.float64)
            v = np.array([s[1] for s in slots], np.float64)
            pos = np.array([s[2] for s in slots])
            z = k @ q[hq, 0].astype(np.float64) / np.sqrt(D)
            z = np.where(pos <= qpos, z, -np.inf)
            p = np.exp(z - z.max())
            out[hq, 0] = (p / p.sum()) @ v
        return out


def run_policy(tok_run, work, policy, rng):
    scores_attr = ", scores" if policy in ("h2o", "a2sf") else ""
    ct = "!tok.kv_cache<2x16x4xf32%s>" % scores_attr
    attr = {"h2o": "#tok.evict<h2o, budget = 8, recent = 3>",
            "a2sf": "#tok.evict<a2sf, budget = 8, recent = 3, decay = 5.000000e-01>",
            "tova": "#tok.evict<tova, budget = 8>",
            "snapkv": "#tok.evict<snapkv, budget = 8, observe = 3, pool = 3>"}[policy]
    ref = Ref()
    lines = ["func.func private @printMemrefF32(tensor<*xf32>)", "func.func @main() {",
             "  %%c0 = tok.kv.empty : %s" % ct]
    n = [0]

    def const(a, et="f32"):
        n[0] += 1
        name = "%%x%d" % n[0]
        lines.append("  %s = arith.constant %s : tensor<%sx%s>" % (
            name, dense(a), "x".join(map(str, np.shape(a))), et))
        return name, "tensor<%sx%s>" % ("x".join(map(str, np.shape(a))), et)

    def append(cache, T, pos, new):
        k = rng.standard_normal((HK, T, D)).astype(np.float32)
        v = rng.standard_normal((HK, T, D)).astype(np.float32)
        kn, kt = const(k)
        vn, vt = const(v)
        pn, pt = const(np.array(pos, np.int32), "i32")
        lines.append("  %s = tok.kv.append %s, %s, %s, %s : %s, %s, %s, %s" % (new, cache, kn, vn, pn, ct, kt, vt, pt))
        ref.append(k, v, pos)

    def evict(cache, live, new):
        s = np.zeros((HK, C), np.float32)
        s[:, :live] = rng.integers(0, 5, (HK, live)).astype(np.float32) / 4  # ties on purpose
        sn, st = const(s)
        lines.append("  %s = tok.kv.evict %s scores(%s : %s) {policy = %s} : %s" % (new, cache, sn, st, attr, ct))
        ref.evict(policy, s, 8, 3, 0.5)

    outs = []

    def probe(cache, qpos):
        q = rng.standard_normal((HQ, 1, D)).astype(np.float32)
        qn, qt = const(q)
        pn, pt = const(np.array([qpos], np.int32), "i32")
        n[0] += 1
        o = "%%o%d" % n[0]
        lines.append("  %s = tok.cached_attention %s, %s, %s {mask = #tok.mask<causal>} : %s, %s, %s -> tensor<4x1x4xf32>"
                     % (o, qn, cache, pn, qt, ct, pt))
        lines.append("  %s_p = tensor.cast %s : tensor<4x1x4xf32> to tensor<*xf32>" % (o, o))
        lines.append("  call @printMemrefF32(%s_p) : (tensor<*xf32>) -> ()" % o)
        outs.append(ref.attend(q, qpos))

    append("%c0", 12, range(12), "%c1")
    evict("%c1", 12, "%c2")
    probe("%c2", 20)
    append("%c2", 2, [12, 13], "%c3")
    evict("%c3", 10, "%c4")
    probe("%c4", 20)
    lines += ["  return", "}"]
    path = os.path.join(work, policy + ".mlir")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    r = subprocess.run([tok_run, path], capture_output=True, text=True)
    if r.returncode != 0:
        print("%s: tok-run failed: %s" % (policy, r.stderr[-1500:]))
        return False
    num = r"-?(?:nan|inf|\d+\.?\d*(?:e[-+]?\d+)?)"
    got = [np.array([float(x) for x in re.findall(num, b.split("data =", 1)[1])])
           for b in r.stdout.split("Memref")[1:]]
    ok = len(got) == len(outs)
    for g, w in zip(got, outs):
        w = w.reshape(-1)
        ok = ok and g.shape == w.shape and bool(np.all(np.abs(g - w) <= 1e-5 + 1e-4 * np.abs(w)))
    print("%s: %s" % (policy, "ok" if ok else "MISMATCH"))
    return ok


def main():
    tok_run, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    rng = np.random.default_rng(17)
    results = [run_policy(tok_run, work, p, rng) for p in ("h2o", "a2sf", "tova", "snapkv")]
    print("%d of %d policies match" % (sum(results), len(results)))
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
