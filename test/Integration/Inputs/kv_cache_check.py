"""Checks the lowered KV-cache ops and tok.cached_attention against an
independent NumPy model of a cache.

Usage: kv_cache_check.py <tok-run> <work-dir>

One module runs a sequence of cache operations on !tok.kv_cache<2x40x8xf32>
and prints the attention outputs, received scores and lengths after each
step. The reference keeps the cache as a Python list of (key, value,
position) slots per KV head and recomputes attention from scratch (float64,
softmax over visible slots by position). Steps: prefill append and
attention with scores, a decode step, truncate then re-append (rollback of
rejected drafts), window eviction (sinks + recent, positions kept), a token
tree appended, attended with a tree mask and committed along one path, and
the lengths. Tolerance: |got - want| <= 1e-5 + 1e-4 |want|.
"""

import os
import re
import subprocess
import sys

import numpy as np

HK, HQ, C, D = 2, 4, 40, 8


def dense(a):
    return "dense<%s>" % np.array2string(
        np.asarray(a), separator=", ", threshold=sys.maxsize, floatmode="unique"
    ).replace("\n", "")


class Cache:
    """The reference: slots of (k[HK, D], v[HK, D], pos) in slot order."""

    def __init__(self):
        self.slots = []

    def append(self, k, v, pos):
        for t in range(k.shape[1]):
            self.slots.append((k[:, t], v[:, t], int(pos[t])))
        assert len(self.slots) <= C

    def truncate(self, n):
        self.slots = self.slots[: max(0, len(self.slots) - n)]

    def evict_window(self, sinks, recent):
        if len(self.slots) > sinks + recent:
            self.slots = self.slots[:sinks] + self.slots[len(self.slots) - recent:]

    def commit(self, base, path):
        self.slots = self.slots[:base] + [self.slots[base + j] for j in path]

    def attend(self, q, qpos, parents=None, scores=False):
        k = np.stack([s[0] for s in self.slots], 1).astype(np.float64)
        v = np.stack([s[1] for s in self.slots], 1).astype(np.float64)
        kpos = np.array([s[2] for s in self.slots])
        hq, t, d = q.shape
        g = hq // HK
        n = len(self.slots)
        vis = kpos[None, :] <= np.asarray(qpos)[:, None]
        if parents is not None:
            for i in range(t):
                anc, x = set(), i
                while x >= 0:
                    anc.add(x)
                    x = parents[x]
                for j in range(t):
                    vis[i, n - t + j] = j in anc
        out = np.zeros((hq, t, d))
        recv = np.zeros((HK, C))
        for h in range(hq):
            z = q[h].astype(np.float64) @ k[h // g].T / np.sqrt(d)
            z = np.where(vis, z, -np.inf)
            for i in range(t):
                if vis[i].any():
                    p = np.exp(z[i] - z[i].max())
                    p /= p.sum()
                    out[h, i] = p @ v[h // g]
                    recv[h // g, :n] += p
        return (out, recv) if scores else out


def main():
    tok_run, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    rng = np.random.default_rng(7)
    f = lambda *shape: rng.standard_normal(shape).astype(np.float32)
    ct = "!tok.kv_cache<2x40x8xf32>"
    lines = [
        "func.func private @printMemrefF32(tensor<*xf32>)",
        "func.func private @printMemrefI64(tensor<*xi64>)",
        "func.func @print_len(%%c: %s) {" % ct,
        "  %n = tok.kv.length %c : " + ct,
        "  %i = arith.index_cast %n : index to i64",
        "  %t = tensor.from_elements %i : tensor<1xi64>",
        "  %u = tensor.cast %t : tensor<1xi64> to tensor<*xi64>",
        "  call @printMemrefI64(%u) : (tensor<*xi64>) -> ()",
        "  return",
        "}",
        "func.func @main() {",
        "  %c0 = tok.kv.empty : " + ct,
    ]
    ref = Cache()
    expected = []  # (kind, array)
    counter = [0]

    def const(a, elem="f32"):
        counter[0] += 1
        name = "%%v%d" % counter[0]
        shape = "x".join(str(s) for s in a.shape)
        lines.append("  %s = arith.constant %s : tensor<%sx%s>" % (name, dense(a), shape, elem))
        return name, "tensor<%sx%s>" % (shape, elem)

    def append(cache, k, v, pos, new):
        kn, kt = const(k)
        vn, vt = const(v)
        pn, pt = const(np.asarray(pos, np.int32), "i32")
        lines.append("  %s = tok.kv.append %s, %s, %s, %s : %s, %s, %s, %s" % (new, cache, kn, vn, pn, ct, kt, vt, pt))
        ref.append(k, v, pos)

    def attend(cache, q, qpos, parents=None, scores=False):
        qn, qt = const(q)
        pn, pt = const(np.asarray(qpos, np.int32), "i32")
        counter[0] += 1
        o = "%%o%d" % counter[0]
        ot = "tensor<%dx%dx%dxf32>" % q.shape
        tree = ""
        if parents is not None:
            parn, part = const(np.asarray(parents, np.int32), "i32")
            tree = " tree(%s : %s)" % (parn, part)
        if scores:
            lines.append("  %s, %s_s = tok.cached_attention %s, %s, %s%s {mask = #tok.mask<causal>, scores = #tok.scores<>} : %s, %s, %s -> %s, tensor<2x40xf32>"
                         % (o, o, qn, cache, pn, tree, qt, ct, pt, ot))
        else:
            lines.append("  %s = tok.cached_attention %s, %s, %s%s {mask = #tok.mask<causal>} : %s, %s, %s -> %s"
                         % (o, qn, cache, pn, tree, qt, ct, pt, ot))
        lines.append("  %s_p = tensor.cast %s : %s to tensor<*xf32>" % (o, o, ot))
        lines.append("  call @printMemrefF32(%s_p) : (tensor<*xf32>) -> ()" % o)
        want = ref.attend(q, qpos, parents, scores)
        if scores:
            lines.append("  %s_sp = tensor.cast %s_s : tensor<2x40xf32> to tensor<*xf32>" % (o, o))
            lines.append("  call @printMemrefF32(%s_sp) : (tensor<*xf32>) -> ()" % o)
            expected.append(("output", want[0]))
            expected.append(("scores", want[1]))
        else:
            expected.append(("output", want))

    def length(cache):
        lines.append("  call @print_len(%s) : (%s) -> ()" % (cache, ct))
        expected.append(("length", np.array([len(ref.slots)], float)))

    # Prefill of 13 tokens, attention with received scores.
    append("%c0", f(HK, 13, D), f(HK, 13, D), range(13), "%c1")
    attend("%c1", f(HQ, 13, D), range(13), scores=True)
    # One decode step.
    append("%c1", f(HK, 1, D), f(HK, 1, D), [13], "%c2")
    attend("%c2", f(HQ, 1, D), [13])
    # Roll back 3 slots, write 2 others.
    lines.append("  %three = arith.constant 3 : index")
    lines.append("  %c3 = tok.kv.truncate %c2, %three : " + ct)
    ref.truncate(3)
    length("%c3")
    append("%c3", f(HK, 2, D), f(HK, 2, D), [11, 12], "%c4")
    attend("%c4", f(HQ, 2, D), [11, 12])
    # StreamingLLM window: 2 sinks + 6 recent; positions stay.
    lines.append("  %c5 = tok.kv.evict %c4 {policy = #tok.evict<window, budget = 8, sinks = 2, recent = 6>} : " + ct)
    ref.evict_window(2, 6)
    length("%c5")
    attend("%c5", f(HQ, 1, D), [13])
    # A token tree after the 8 committed slots: nodes 0..4 at depth-based
    # positions; attend with the tree mask, then commit path [0, 2, 4].
    parents = [-1, 0, 0, 1, 2]
    depth = [0, 1, 1, 2, 2]
    tpos = [13 + d for d in depth]
    append("%c5", f(HK, 5, D), f(HK, 5, D), tpos, "%c6")
    attend("%c6", f(HQ, 5, D), tpos, parents=parents)
    pn, pt = const(np.array([0, 2, 4], np.int32), "i32")
    lines.append("  %base = arith.constant 8 : index")
    lines.append("  %%c7 = tok.kv.commit %%c6, %%base, %s : %s, %s" % (pn, ct, pt))
    ref.commit(8, [0, 2, 4])
    length("%c7")
    attend("%c7", f(HQ, 1, D), [16])
    lines += ["  return", "}"]

    path = os.path.join(work, "kv.mlir")
    with open(path, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    run = subprocess.run([tok_run, path], capture_output=True, text=True)
    if run.returncode != 0:
        print("tok-run failed:", run.stderr[-3000:])
        return 1
    num = r"-?(?:nan|inf|\d+\.?\d*(?:e[-+]?\d+)?)"
    got = [np.array([float(x) for x in re.findall(num, blk.split("data =", 1)[1])])
           for blk in run.stdout.split("Memref")[1:]]
    if len(got) != len(expected):
        print("MISMATCH: %d printed results, expected %d" % (len(got), len(expected)))
        return 1
    failures = 0
    for i, ((kind, want), g) in enumerate(zip(expected, got)):
        want = want.reshape(-1)
        ok = g.shape == want.shape and bool(np.all(np.abs(g - want) <= 1e-5 + 1e-4 * np.abs(want)))
        err = np.abs(g - want).max() if g.shape == want.shape else float("nan")
        print("step %d %s: %s (max abs err %.3g)" % (i, kind, "ok" if ok else "MISMATCH", err))
        failures += 0 if ok else 1
    print("%d of %d results within tolerance" % (len(expected) - failures, len(expected)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
