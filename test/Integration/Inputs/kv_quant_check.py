"""Checks KIVI-quantized KV caches (tok.kv.append / truncate / quantize and
tok.cached_attention over a cache with `quant`) against an independent NumPy
model of docs/algorithms.md, "KV-cache quantization (KIVI)".

Usage: kv_quant_check.py <tok-run> <tok-opt> <work-dir>

For each configuration (bits, group g, residual R) one module runs a prefill
append (37 tokens, attended by all 37 queries: the prefill kernel), 20
decode steps (append one token, attend with it: the decode kernel, crossing
several flushes), a truncate of 2 tail slots and a 3-token append, and a
tok.kv.quantize of a plain cache filled with the same prefill. The module
runs twice: vectorized kernels (dequantization in registers) and the
general lowering (dequantized tensors).

The reference keeps full-precision slots and a quantized count; after each
append the prefix grows to max(q, g floor((L - R) / g)) and the newly
quantized slots are replaced by their reconstruction: keys per channel over
each group of g tokens, values per token over each group of g channels,
mn = min, s = (max - mn) / (2^b - 1) rounded to f16 (and mn),
code = clip(roundeven((x - mn) / s), 0, 2^b - 1) (0 where s = 0),
x^ = code s + mn. Attention is then recomputed in float64.
Tolerance: |got - want| <= 2e-5 + 1e-4 |want| (f32 kernels vs float64).

It also checks, on the reference itself, KIVI's error bound
|x - x^| <= s / 2 + 2^-10 (|mn| + (2^b - 1) s) for every quantized element,
and prints how far the quantized attention moves from full precision.
"""

import os
import re
import subprocess
import sys

import numpy as np

HK, HQ, C, D = 2, 4, 96, 32


def dense(a):
    return "dense<%s>" % np.array2string(
        np.asarray(a), separator=", ", threshold=sys.maxsize, floatmode="unique"
    ).replace("\n", "")


def quantize_group(x, bits):
    """KIVI's quantizer over one group (float32 array): (x^, bound)."""
    x = x.astype(np.float32)
    mn32, mx32 = np.float32(x.min()), np.float32(x.max())
    s = np.float16((mx32 - mn32) / np.float32((1 << bits) - 1)).astype(np.float32)
    mn = np.float16(mn32).astype(np.float32)
    if s == 0:
        code = np.zeros_like(x)
    else:
        code = np.clip(np.round((x - mn) / s), 0, (1 << bits) - 1)
    xhat = (code.astype(np.float32) * s + mn).astype(np.float32)
    bound = s / 2 + 2.0 ** -10 * (abs(mn) + ((1 << bits) - 1) * s)
    return xhat, bound


class QuantCache:
    def __init__(self, bits, group, residual):
        self.bits, self.g, self.r = bits, group, residual
        self.k, self.v, self.pos = [], [], []  # per slot: [HK, D], [HK, D], int
        self.quantized = 0
        self.worst = 0.0  # max |x - x^| / bound over quantized elements

    def _quantize(self, lo, hi):
        g, bits = self.g, self.bits
        keys = np.stack(self.k[lo:hi], 1)  # [HK, n, D]
        vals = np.stack(self.v[lo:hi], 1)
        kq, vq = keys.copy(), vals.copy()
        for h in range(HK):
            for t0 in range(0, hi - lo, g):
                for d in range(D):
                    xhat, bound = quantize_group(keys[h, t0:t0 + g, d], bits)
                    self._bound(keys[h, t0:t0 + g, d], xhat, bound)
                    kq[h, t0:t0 + g, d] = xhat
            for t in range(hi - lo):
                for d0 in range(0, D, g):
                    xhat, bound = quantize_group(vals[h, t, d0:d0 + g], bits)
                    self._bound(vals[h, t, d0:d0 + g], xhat, bound)
                    vq[h, t, d0:d0 + g] = xhat
        for i in range(hi - lo):
            self.k[lo + i] = kq[:, i]
            self.v[lo + i] = vq[:, i]

    def _bound(self, x, xhat, bound):
        err = np.abs(x.astype(np.float64) - xhat).max()
        self.worst = max(self.worst, err / bound if bound > 0 else (0.0 if err == 0 else np.inf))

    def append(self, k, v, pos):
        for t in range(k.shape[1]):
            self.k.append(k[:, t].astype(np.float32))
            self.v.append(v[:, t].astype(np.float32))
            self.pos.append(int(pos[t]))
        assert len(self.k) <= C
        n = len(self.k)
        target = max(self.quantized, (max(n - self.r, 0) // self.g) * self.g)
        if target > self.quantized:
            self._quantize(self.quantized, target)
            self.quantized = target

    def truncate(self, n):
        keep = max(0, len(self.k) - n)
        assert keep >= self.quantized
        del self.k[keep:], self.v[keep:], self.pos[keep:]

    def attend(self, q, qpos):
        k = np.stack(self.k, 1).astype(np.float64)
        v = np.stack(self.v, 1).astype(np.float64)
        kpos = np.array(self.pos)
        hq, t, d = q.shape
        grp = hq // HK
        vis = kpos[None, :] <= np.asarray(qpos)[:, None]
        out = np.zeros((hq, t, d))
        for h in range(hq):
            z = q[h].astype(np.float64) @ k[h // grp].T / np.sqrt(d)
            z = np.where(vis, z, -np.inf)
            for i in range(t):
                p = np.exp(z[i] - z[i].max())
                out[h, i] = (p / p.sum()) @ v[h // grp]
        return out


def build(bits, group, residual, rng):
    quant = "#tok.kv_quant<bits = %d, group = %d, residual = %d>" % (bits, group, residual)
    ct = "!tok.kv_cache<%dx%dx%dxf32, quant = %s>" % (HK, C, D, quant)
    pt = "!tok.kv_cache<%dx%dx%dxf32>" % (HK, C, D)
    f = lambda *shape: rng.standard_normal(shape).astype(np.float32)
    lines = ["func.func private @printMemrefF32(tensor<*xf32>)", "func.func @main() {",
             "  %c0 = tok.kv.empty : " + ct, "  %p0 = tok.kv.empty : " + pt]
    ref = QuantCache(bits, group, residual)
    full = QuantCache(bits, group, 10 ** 9)  # never quantizes
    expected, drift = [], []
    n = [0]

    def const(a, elem="f32"):
        n[0] += 1
        name = "%%v%d" % n[0]
        shape = "x".join(str(s) for s in a.shape)
        lines.append("  %s = arith.constant %s : tensor<%sx%s>" % (name, dense(a), shape, elem))
        return name, "tensor<%sx%s>" % (shape, elem)

    def append(cache, k, v, pos, new, types=ct, refs=(ref, full)):
        kn, kt = const(k)
        vn, vt = const(v)
        pn, ptype = const(np.asarray(pos, np.int32), "i32")
        lines.append("  %s = tok.kv.append %s, %s, %s, %s : %s, %s, %s, %s"
                     % (new, cache, kn, vn, pn, types, kt, vt, ptype))
        for r in refs:
            r.append(k, v, pos)

    def attend(cache, q, qpos, r=ref, types=ct):
        qn, qt = const(q)
        pn, ptype = const(np.asarray(qpos, np.int32), "i32")
        n[0] += 1
        o = "%%o%d" % n[0]
        ot = "tensor<%dx%dx%dxf32>" % q.shape
        lines.append("  %s = tok.cached_attention %s, %s, %s {mask = #tok.mask<causal>} : %s, %s, %s -> %s"
                     % (o, qn, cache, pn, qt, types, ptype, ot))
        lines.append("  %s_p = tensor.cast %s : %s to tensor<*xf32>" % (o, o, ot))
        lines.append("  call @printMemrefF32(%s_p) : (tensor<*xf32>) -> ()" % o)
        want = r.attend(q, qpos)
        expected.append(want)
        if r is ref:
            drift.append(np.abs(want - full.attend(q, qpos)).max())

    k0, v0 = f(HK, 37, D), f(HK, 37, D)
    append("%c0", k0, v0, range(37), "%c1")
    attend("%c1", f(HQ, 37, D), range(37))
    cur, pos = "%c1", 37
    for step in range(20):
        append(cur, f(HK, 1, D), f(HK, 1, D), [pos], "%%d%d" % step)
        cur = "%%d%d" % step
        attend(cur, f(HQ, 1, D), [pos])
        pos += 1
    # Roll back two tail slots (rejected drafts), then three new tokens.
    lines.append("  %two = arith.constant 2 : index")
    lines.append("  %%t1 = tok.kv.truncate %s, %%two : %s" % (cur, ct))
    ref.truncate(2)
    full.truncate(2)
    pos -= 2
    append("%t1", f(HK, 3, D), f(HK, 3, D), [pos, pos + 1, pos + 2], "%t2")
    attend("%t2", f(HQ, 3, D), [pos, pos + 1, pos + 2])
    # tok.kv.quantize of a plain cache holding the prefill.
    conv = QuantCache(bits, group, residual)
    append("%p0", k0, v0, range(37), "%p1", types=pt, refs=(conv,))
    lines.append("  %%p2 = tok.kv.quantize %%p1 : %s -> %s" % (pt, ct))
    attend("%p2", f(HQ, 2, D), [35, 36], r=conv)
    lines += ["  return", "}"]
    worst = max(ref.worst, conv.worst)
    return "\n".join(lines) + "\n", expected, worst, max(drift)


def run(cmd):
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        print("FAILED: %s: %s" % (" ".join(cmd), proc.stderr[-3000:]))
        return None
    return proc.stdout


def main():
    tok_run, tok_opt, work = sys.argv[1], sys.argv[2], sys.argv[3]
    os.makedirs(work, exist_ok=True)
    rng = np.random.default_rng(11)
    num = r"-?(?:nan|inf|\d+\.?\d*(?:e[-+]?\d+)?)"
    bad_configs = set()
    configs = [(8, 16, 16), (4, 8, 8), (4, 32, 0), (8, 32, 96)]
    for bits, group, residual in configs:
        failures = 0
        text, expected, worst, drift = build(bits, group, residual, rng)
        name = "b%d_g%d_r%d" % (bits, group, residual)
        path = os.path.join(work, name + ".mlir")
        with open(path, "w") as fh:
            fh.write(text)
        general = os.path.join(work, name + ".general.mlir")
        lowered = run([tok_opt, path, "--convert-tok-to-linalg=vector-attention=false", "-o", general])
        bf16 = ["--pipeline=tok-to-llvm{attention-dot=bf16}"]
        for kind, src, extra in (("vector", path, []), ("general", general, []),
                                 ("vector bf16", path, bf16)):
            out = run([tok_run, src] + extra) if lowered is not None else None
            if out is None:
                failures += 1
                continue
            got = [np.array([float(x) for x in re.findall(num, blk.split("data =", 1)[1])])
                   for blk in out.split("Memref")[1:]]
            bad = len(got) != len(expected)
            err = 0.0
            for i, (g, want) in enumerate(zip(got, expected)):
                want = want.reshape(-1)
                tol = 2e-5 + 1e-4 * np.abs(want)
                if extra and i == 0:
                    # The 37-row prefill in bf16 (the decode rows after it
                    # stay f32): Q, K, V and P rounded to 8 significant
                    # bits move a logit by ~2^-8 of sum |q_d k_d| / sqrt(D)
                    # (~0.01 here); a wrong channel pair or key moves the
                    # output by O(1).
                    tol = 0.05
                if g.shape != want.shape or not np.all(np.abs(g - want) <= tol):
                    bad = True
                if g.shape == want.shape:
                    err = max(err, float(np.abs(g - want).max()))
            print("%s %s: %s (%d results, max abs err %.3g)"
                  % (name, kind, "MISMATCH" if bad else "ok", len(got), err))
            failures += bad
        bound_ok = worst <= 1.0 + 1e-6
        print("%s reference error bound: %s (worst |x - x^| / bound %.3f); "
              "attention moved by %.3g from full precision"
              % (name, "ok" if bound_ok else "MISMATCH", worst, drift))
        failures += not bound_ok
        if residual >= 57 and drift != 0.0:
            print("%s MISMATCH: residual covers everything but attention moved" % name)
            failures += 1
        if failures:
            bad_configs.add(name)
    print("%d of %d configurations match" % (len(configs) - len(bad_configs), len(configs)))
    return 1 if bad_configs else 0


if __name__ == "__main__":
    sys.exit(main())
