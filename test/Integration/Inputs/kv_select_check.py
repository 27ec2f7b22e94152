"""Checks query-aware page selection (Quest: a cache with `pages = 16`,
tok.cached_attention with `select_budget`) against an independent NumPy
model of docs/algorithms.md, "Query-aware page selection (Quest)".

Usage: kv_select_check.py <tok-run> <work-dir>

One module fills a !tok.kv_cache<2x320x32xf32, pages = 16> with a 150-token
prefill (dense: selection applies to decode rows only), then runs decode
steps (one token each, T = 1) and a 3-token step, each attended twice:
with select_budget = 64 (4 pages of the 10-20 live ones) and with a budget
covering every page, and densely (no select_budget). A second cache has
ten pages of identical keys: all bounds tie and the lowest pages win.

Reference: page bounds min / max per KV head, page and channel over the
live slots; per query head and row, U(page) = sum_d max(q_d mx_d, q_d mn_d)
(the bound on its logits, checked >= every logit of the page by brute
force); the pages holding the step's own tokens always (the last page at
decode), then the others with the largest U up to k = 4 pages (ties to the
lower page); exact softmax attention over the selected pages'
visible slots, in float64. Rows whose 4th and 5th bounds are within 1e-4
of each other (f32 rounding could swap them) are reported and compared
only loosely. Tolerance: |got - want| <= 2e-5 + 1e-4 |want|. With a budget
covering every page the output must equal the dense attention's bitwise
(the printed values are compared as strings).
"""

import os
import re
import subprocess
import sys

import numpy as np

HK, HQ, C, D, P = 2, 4, 320, 32, 16
BUDGET = 64
K = max(3, BUDGET // P)


def dense(a):
    return "dense<%s>" % np.array2string(
        np.asarray(a), separator=", ", threshold=sys.maxsize, floatmode="unique"
    ).replace("\n", "")


class Ref:
    def __init__(self):
        self.k, self.v, self.pos = [], [], []
        self.near_ties = 0
        self.bound_violations = 0

    def append(self, k, v, pos):
        for t in range(k.shape[1]):
            self.k.append(k[:, t].astype(np.float64))
            self.v.append(v[:, t].astype(np.float64))
            self.pos.append(int(pos[t]))

    def attend(self, q, qpos, select):
        k = np.stack(self.k, 1)
        v = np.stack(self.v, 1)
        kpos = np.array(self.pos)
        n = k.shape[1]
        pages = (n + P - 1) // P
        hq, t, d = q.shape
        grp = hq // HK
        out = np.zeros((hq, t, d))
        for h in range(hq):
            kh, vh = k[h // grp], v[h // grp]
            mn = np.stack([kh[p * P:(p + 1) * P].min(0) for p in range(pages)])
            mx = np.stack([kh[p * P:(p + 1) * P].max(0) for p in range(pages)])
            for i in range(t):
                qi = q[h, i].astype(np.float64)
                z = kh @ qi / np.sqrt(d)
                keep = np.ones(n, bool)
                if select and pages > K:
                    u = np.maximum(qi * mx, qi * mn).sum(1)
                    for p in range(pages):
                        if u[p] < (kh[p * P:(p + 1) * P] @ qi).max() - 1e-9:
                            self.bound_violations += 1
                    # The pages of the step's own t tokens, then the best.
                    own = (n - t) // P
                    chosen = list(range(own, pages))
                    take = max(K - len(chosen), 0)
                    rest = sorted(range(own), key=lambda p: (-u[p], p))
                    chosen += rest[:take]
                    if 0 < take < len(rest) and abs(u[rest[take - 1]] - u[rest[take]]) < 1e-4 * max(
                            1.0, abs(u[rest[take]])):
                        self.near_ties += 1
                    keep = np.zeros(n, bool)
                    for p in chosen:
                        keep[p * P:(p + 1) * P] = True
                vis = keep & (kpos <= qpos[i])
                zz = np.where(vis, z, -np.inf)
                w = np.exp(zz - zz.max())
                out[h, i] = (w / w.sum()) @ vh
        return out


def main():
    tok_run, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    rng = np.random.default_rng(5)
    f = lambda *shape: rng.standard_normal(shape).astype(np.float32)
    ct = "!tok.kv_cache<%dx%dx%dxf32, pages = %d>" % (HK, C, D, P)
    lines = ["func.func private @printMemrefF32(tensor<*xf32>)", "func.func @main() {",
             "  %c0 = tok.kv.empty : " + ct]
    ref = Ref()
    expected = []  # (kind, want or None)
    changed = [0]  # decode steps where selection moved the output
    n = [0]

    def const(a, elem="f32"):
        n[0] += 1
        name = "%%v%d" % n[0]
        shape = "x".join(str(s) for s in a.shape)
        lines.append("  %s = arith.constant %s : tensor<%sx%s>" % (name, dense(a), shape, elem))
        return name, "tensor<%sx%s>" % (shape, elem)

    def append(cache, k, v, pos, new):
        kn, kt = const(k)
        vn, vt = const(v)
        pn, pt = const(np.asarray(pos, np.int32), "i32")
        lines.append("  %s = tok.kv.append %s, %s, %s, %s : %s, %s, %s, %s" % (new, cache, kn, vn, pn, ct, kt, vt, pt))
        ref.append(k, v, pos)

    def attend(cache, q, qpos, budget):
        qn, qt = const(q)
        pn, pt = const(np.asarray(qpos, np.int32), "i32")
        n[0] += 1
        o = "%%o%d" % n[0]
        ot = "tensor<%dx%dx%dxf32>" % q.shape
        sel = ", select_budget = %d" % budget if budget else ""
        lines.append("  %s = tok.cached_attention %s, %s, %s {mask = #tok.mask<causal>%s} : %s, %s, %s -> %s"
                     % (o, qn, cache, pn, sel, qt, ct, pt, ot))
        lines.append("  %s_p = tensor.cast %s : %s to tensor<*xf32>" % (o, o, ot))
        lines.append("  call @printMemrefF32(%s_p) : (tensor<*xf32>) -> ()" % o)

    # Prefill of 150 tokens.
    k0, v0 = f(HK, 150, D), f(HK, 150, D)
    append("%c0", k0, v0, range(150), "%c1")
    q0 = f(HQ, 150, D)
    attend("%c1", q0, range(150), BUDGET)
    expected.append(("prefill (dense)", ref.attend(q0, list(range(150)), False)))
    cur, pos = "%c1", 150
    for step in range(12):
        kn = f(HK, 1, D)
        append(cur, kn, f(HK, 1, D), [pos], "%%d%d" % step)
        cur = "%%d%d" % step
        q = f(HQ, 1, D)
        attend(cur, q, [pos], BUDGET)
        selected = ref.attend(q, [pos], True)
        expected.append(("decode %d selected" % step, selected))
        changed[0] += bool(np.abs(selected - ref.attend(q, [pos], False)).max() > 1e-3)
        attend(cur, q, [pos], 4096)
        expected.append(("decode %d covered" % step, None))
        attend(cur, q, [pos], 0)
        expected.append(("decode %d dense" % step, ref.attend(q, [pos], False)))
        pos += 1
    # Rollback 4 slots (162 -> 158, across a page boundary), then 3 tokens
    # at once: 161 slots, the step's own tokens span pages 9 and 10.
    lines.append("  %four = arith.constant 4 : index")
    lines.append("  %%t1 = tok.kv.truncate %s, %%four : %s" % (cur, ct))
    del ref.k[-4:], ref.v[-4:], ref.pos[-4:]
    pos -= 4
    append("%t1", f(HK, 3, D), f(HK, 3, D), [pos, pos + 1, pos + 2], "%t2")
    q = f(HQ, 3, D)
    attend("%t2", q, [pos, pos + 1, pos + 2], BUDGET)
    expected.append(("3 rows selected", ref.attend(q, [pos, pos + 1, pos + 2], True)))
    # Exact ties: ten pages of identical keys (values differ), so every
    # bound is equal and the lowest pages win: pages 0 and 1 plus the last.
    tie = Ref()
    block = f(HK, P, D)
    kt = np.concatenate([block] * 10 + [f(HK, 1, D)], axis=1)
    vt = f(HK, 10 * P + 1, D)
    kn_, kt_ = const(kt)
    vn_, vt_ = const(vt)
    pn_, pt_ = const(np.arange(10 * P + 1, dtype=np.int32), "i32")
    lines.append("  %%e0 = tok.kv.empty : %s" % ct)
    lines.append("  %%e1 = tok.kv.append %%e0, %s, %s, %s : %s, %s, %s, %s" % (kn_, vn_, pn_, ct, kt_, vt_, pt_))
    tie.append(kt, vt, range(10 * P + 1))
    q = f(HQ, 1, D)
    attend("%e1", q, [10 * P], BUDGET)
    expected.append(("ties to the lower pages", tie.attend(q, [10 * P], True)))
    lines += ["  return", "}"]

    path = os.path.join(work, "select.mlir")
    with open(path, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    run = subprocess.run([tok_run, path], capture_output=True, text=True)
    if run.returncode != 0:
        print("MISMATCH: tok-run failed:", run.stderr[-3000:])
        return 1
    num = r"-?(?:nan|inf|\d+\.?\d*(?:e[-+]?\d+)?)"
    blocks = [blk.split("data =", 1)[1] for blk in run.stdout.split("Memref")[1:]]
    if len(blocks) != len(expected):
        print("MISMATCH: %d printed results, expected %d" % (len(blocks), len(expected)))
        return 1
    failures = 0
    for i, ((kind, want), blk) in enumerate(zip(expected, blocks)):
        if want is None:
            # The covered budget: bitwise the dense result printed next.
            same = blk == blocks[i + 1]
            print("%s: %s" % (kind, "bitwise equal to dense" if same else "MISMATCH"))
            failures += not same
            continue
        got = np.array([float(x) for x in re.findall(num, blk)])
        want = want.reshape(-1)
        ok = got.shape == want.shape and bool(np.all(np.abs(got - want) <= 2e-5 + 1e-4 * np.abs(want)))
        err = float(np.abs(got - want).max()) if got.shape == want.shape else float("nan")
        print("%s: %s (max abs err %.3g)" % (kind, "ok" if ok else "MISMATCH", err))
        failures += not ok
    print("bound violations: %d; near ties: %d" % (ref.bound_violations, ref.near_ties))
    print("selection changed the output (> 1e-3) in %d of 12 decode steps" % changed[0])
    if changed[0] == 0:
        failures += 1
        print("MISMATCH: the selection never mattered; the test checks nothing")
    if ref.bound_violations:
        failures += 1
        print("MISMATCH: an upper bound below a logit")
    print("%d of %d results match" % (len(expected) - failures, len(expected)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
