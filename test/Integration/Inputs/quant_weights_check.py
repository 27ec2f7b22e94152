"""Checks tok.linear and tok.embed over #tok.quant weights against NumPy.

Usage: quant_weights_check.py <tok-run> <work-dir>

The weights are GGML blocks built byte by byte: random codes (every code
value, negative ones included), and per block a scale drawn from normal
values, the largest f16 magnitudes, f16 subnormals and zero (a zero block).
The reference dequantizes them with the block layouts as GGML documents
them, written here from that description (not from tok's code), and
computes in float64. Cases: q8_0, q4_0, q4_k, q6_k and
tok's per-channel i8_channel (k int8 codes and an f32 scale per row); decode (T = 1) and
prefill shapes (T = 2, 5, 9: groups of 4 tokens and the rest); a bias;
embedding rows. Each linear case runs both kernels: weights widened to f32
(tolerance |got - want| <= 1e-5 * (|x| . |w|) per output, f32
accumulation), and integer activations with integer dot products, once
with VNNI where the host has it and once as generic vector code. There the
activations are rounded to multiples of dx = max|x| / L per block of 32 (L
= 32767 for the 16-bit codes of q8_0 and i8_channel, 127 for the 8-bit codes of the others; so
each moves by at most dx / 2), and the tolerance adds sum over blocks of
dx / 2 * sum |c| in the block, c the weight part the kernel multiplies
with the rounded activations (q4_0 and q4_k subtract their zero point or
minimum times the exact sum of x).

More than 8 tokens take the tiled prefill kernel, whose panels of 4 rows
are dequantized once per block of tokens: to f32 (bf16-dot=widen; exact
weights, tolerance as above) or to bf16 with the activations rounded to
bf16 too (bf16-dot=dot, with vdpbf16ps and as generic vector code). The
bf16 reference rounds the f32 weights and activations to bf16 (nearest
even, written here from the format) and multiplies those in float64; the
tolerance is then 1e-5 * (|xb| . |wb|), f32 accumulation of exact bf16
products. These cases take K across several of the kernel's K blocks (256
of f32, 1024 of bf16) with a short last one, N with rows left over in a
chunk, and T across the 4-token groups and two 256-token blocks.
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from jit_entry import run_entry  # noqa: E402

BLOCK = {"q8_0": (32, 34), "q4_0": (32, 18), "q4_k": (256, 144), "q6_k": (256, 210),
         "i8_channel": (32, 32)}


def f16_bytes(values):
    return np.asarray(values, dtype="<f2").view(np.uint8).reshape(-1, 2)


def draw_scales(rng, n):
    """f16 scales: mostly ordinary, some at the extremes, some zero."""
    kinds = rng.integers(0, 8, size=n)
    s = rng.uniform(-0.05, 0.05, size=n)
    s[kinds == 0] = rng.choice([60000.0, -65504.0, 32768.0], size=(kinds == 0).sum())
    s[kinds == 1] = rng.choice([6.0e-8, -1.2e-7, 3.0e-5], size=(kinds == 1).sum())
    s[kinds == 2] = 0.0
    return s


def make_blocks(rng, scheme, rows, k):
    """Random blocks of `scheme` for a rows x k matrix: uint8 [rows, bytes]."""
    if scheme == "i8_channel":
        # k int8 codes, then the row's f32 scale (little-endian); row 0 all
        # zeros, and scales from ordinary to the f32 extremes.
        data = rng.integers(0, 256, size=(rows, k + 4), dtype=np.uint8)
        s = rng.uniform(-0.05, 0.05, size=rows).astype("<f4")
        s[1 % rows] = 1.0e28
        s[2 % rows] = 1.0e-40  # subnormal
        s[3 % rows] = 0.0
        data[:, k:] = s.view(np.uint8).reshape(rows, 4)
        data[0, :] = 0
        return data
    bs, bb = BLOCK[scheme]
    nb = rows * (k // bs)
    blocks = rng.integers(0, 256, size=(nb, bb), dtype=np.uint8)
    if scheme in ("q8_0", "q4_0"):
        blocks[:, 0:2] = f16_bytes(draw_scales(rng, nb))
    elif scheme == "q4_k":
        blocks[:, 0:2] = f16_bytes(np.abs(draw_scales(rng, nb)))
        blocks[:, 2:4] = f16_bytes(np.abs(draw_scales(rng, nb)))
    else:
        blocks[:, 208:210] = f16_bytes(draw_scales(rng, nb))
    # A block that is all zeros, whatever its scheme.
    blocks[0, :] = 0
    return blocks.reshape(rows, (k // bs) * bb)


def f16_at(blocks, start):
    return blocks[:, start:start + 2].copy().view("<f2").astype(np.float64)[:, 0]


def dequant(scheme, data, k, without_offsets=False):
    """Reference dequantization: [rows, bytes] -> float64 [rows, k]. With
    without_offsets, q4_0 leaves out its zero point (d * q, not d * (q - 8))
    and q4_k its minimum (d * sc * q): the part the int8 kernel multiplies
    with the rounded activations (it subtracts the rest times the exact sum
    of x)."""
    rows = data.shape[0]
    if scheme == "i8_channel":
        s = data[:, k:k + 4].copy().view("<f4").astype(np.float64)[:, 0]
        return s[:, None] * data[:, :k].view(np.int8).astype(np.float64)
    bs, bb = BLOCK[scheme]
    blocks = data.reshape(-1, bb)
    out = np.zeros((blocks.shape[0], bs))
    if scheme == "q8_0":
        d = f16_at(blocks, 0)
        q = blocks[:, 2:34].view(np.int8).astype(np.float64)
        out = d[:, None] * q
    elif scheme == "q4_0":
        d = f16_at(blocks, 0)
        qs = blocks[:, 2:18].astype(np.int64)
        q = np.concatenate([qs & 15, qs >> 4], axis=1) - (0 if without_offsets else 8)
        out = d[:, None] * q
    elif scheme == "q4_k":
        d, dmin = f16_at(blocks, 0), f16_at(blocks, 2)
        s = blocks[:, 4:16].astype(np.int64)
        qs = blocks[:, 16:144].astype(np.int64)
        for j in range(8):
            if j < 4:
                sc, m = s[:, j] & 63, s[:, j + 4] & 63
            else:
                sc = (s[:, j + 4] & 15) | ((s[:, j - 4] >> 6) << 4)
                m = (s[:, j + 4] >> 4) | ((s[:, j] >> 6) << 4)
            p = j // 2
            codes = qs[:, 32 * p:32 * p + 32]
            q = (codes & 15) if j % 2 == 0 else (codes >> 4)
            out[:, 32 * j:32 * j + 32] = (d * sc)[:, None] * q - (0 if without_offsets else (dmin * m)[:, None])
    else:
        ql = blocks[:, 0:128].astype(np.int64)
        qh = blocks[:, 128:192].astype(np.int64)
        sc = blocks[:, 192:208].view(np.int8).astype(np.float64)
        d = f16_at(blocks, 208)
        for h in range(2):
            for l in range(32):
                lo_a, lo_b = ql[:, 64 * h + l], ql[:, 64 * h + l + 32]
                hb = qh[:, 32 * h + l]
                qs = [(lo_a & 15) | ((hb & 3) << 4),
                      (lo_b & 15) | (((hb >> 2) & 3) << 4),
                      (lo_a >> 4) | (((hb >> 4) & 3) << 4),
                      (lo_b >> 4) | (((hb >> 6) & 3) << 4)]
                for i, q in enumerate(qs):
                    out[:, 128 * h + 32 * i + l] = d * sc[:, 8 * h + l // 16 + 2 * i] * (q - 32)
    return out.reshape(rows, k)


# Activation codes of the integer kernel: 16-bit for q8_0, 8-bit otherwise.
LEVELS = {"q8_0": 32767.0, "q4_0": 127.0, "q4_k": 127.0, "q6_k": 127.0, "i8_channel": 32767.0}

# The kernels: weights widened to f32; int8 activations with vpdpbusd
# (where the host has AVX512-VNNI; elsewhere the same as generic); int8
# activations as generic vector code.
MODES = [("f32", "tok-to-llvm{quant-dot=f32}"), ("integer", "tok-to-llvm{quant-dot=vnni}"),
         ("integer generic", "tok-to-llvm{quant-dot=vnni int8-dot=generic}")]


# The tiled kernel for more than 8 tokens: f32 panels, bf16 panels with
# vdpbf16ps, bf16 panels as generic vector code.
TILED_MODES = [("tiles f32", "tok-to-llvm{bf16-dot=widen}"), ("tiles bf16", "tok-to-llvm{bf16-dot=dot}"),
               ("tiles bf16 generic", "tok-to-llvm{bf16-dot=dot bf16-instruction=generic}")]


def bf16_round(a):
    """float32 values rounded to the nearest bfloat16 (ties to even), as
    float32: the upper 16 bits of the rounded bit pattern."""
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16 << 16
    return u.astype(np.uint32).view(np.float32)


def int8_bound(x, c, levels=127.0):
    """Worst effect of rounding x to multiples of max|x| / levels per block
    of 32 (each activation moves by at most half a step) on sum_j c_j x_j,
    c the weights' part that multiplies the rounded activations."""
    t, k = x.shape
    step = np.abs(x.astype(np.float64)).reshape(t, k // 32, 32).max(axis=2) / levels
    csum = np.abs(c).reshape(c.shape[0], k // 32, 32).sum(axis=2)
    return (step / 2.0) @ csum.T * 1.0001


def main():
    tok_run, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    rng = np.random.default_rng(7)
    results = []

    def check(name, got, want, bound):
        ok = got is not None and got.shape == want.shape and bool(np.all(np.abs(got - want) <= bound))
        err = float(np.max(np.abs(got - want) / bound)) if got is not None and got.shape == want.shape else float("nan")
        results.append(ok)
        print("%s: %s (worst error / bound %.3g)" % (name, "ok" if ok else "MISMATCH", err))

    cases = [("q8_0", 24, 96, [1, 2, 5]), ("q4_0", 13, 64, [1, 5]),
             ("q4_k", 10, 512, [1, 5]), ("q6_k", 9, 512, [1, 5]), ("i8_channel", 11, 160, [1, 5])]
    for scheme, n, k, ts in cases:
        data = make_blocks(rng, scheme, n, k)
        w = dequant(scheme, data, k)
        codes_part = dequant(scheme, data, k, without_offsets=True)
        wtype = "tensor<%dx%dxf32, #tok.quant<%s>>" % (n, k, scheme)
        for t in ts:
            x = rng.standard_normal((t, k)).astype(np.float32)
            # Outlier blocks: one large activation sets the block's scale.
            x[:, 5] *= 40.0
            mlir = ("func.func @f(%%x: tensor<?x%dxf32>, %%w: %s) -> tensor<?x%dxf32> {\n"
                    "  %%y = tok.linear %%x, %%w : tensor<?x%dxf32>, %s\n"
                    "  return %%y : tensor<?x%dxf32>\n}\n") % (k, wtype, n, k, wtype, n)
            want = x.astype(np.float64) @ w.T
            bound = 1e-5 * (np.abs(x).astype(np.float64) @ np.abs(w).T) + 1e-30
            for mode, pipeline in MODES:
                out, err = run_entry(tok_run, work, "%s_t%d_%s" % (scheme, t, mode), mlir, [x, data], 1,
                                     extra=["--pipeline=" + pipeline])
                if out is None:
                    print(err)
                b = bound if mode == "f32" else bound + int8_bound(x, codes_part, LEVELS[scheme])
                check("linear %s N=%d K=%d T=%d (%s)" % (scheme, n, k, t, mode), out and out[0], want, b)
        # With a bias, prefill shape.
        x = rng.standard_normal((3, k)).astype(np.float32)
        bias = rng.standard_normal(n).astype(np.float32)
        mlir = ("func.func @f(%%x: tensor<?x%dxf32>, %%w: %s, %%b: tensor<%dxf32>) -> tensor<?x%dxf32> {\n"
                "  %%y = tok.linear %%x, %%w, %%b : tensor<?x%dxf32>, %s, tensor<%dxf32>\n"
                "  return %%y : tensor<?x%dxf32>\n}\n") % (k, wtype, n, n, k, wtype, n, n)
        want = x.astype(np.float64) @ w.T + bias
        bound = 1e-5 * (np.abs(x).astype(np.float64) @ np.abs(w).T + np.abs(bias)) + 1e-30
        for mode, pipeline in MODES:
            out, err = run_entry(tok_run, work, "%s_bias_%s" % (scheme, mode), mlir, [x, data, bias], 1,
                                 extra=["--pipeline=" + pipeline])
            if out is None:
                print(err)
            b = bound if mode == "f32" else bound + int8_bound(x, codes_part, LEVELS[scheme])
            check("linear %s with bias (%s)" % (scheme, mode), out and out[0], want, b)
        # Embedding rows.
        ids = rng.integers(0, n, size=7).astype(np.int32)
        ids[0] = 0  # the zero block's row
        mlir = ("func.func @f(%%t: %s, %%ids: tensor<?xi32>) -> tensor<?x%dxf32> {\n"
                "  %%e = tok.embed %%t[%%ids] : %s, tensor<?xi32>\n"
                "  return %%e : tensor<?x%dxf32>\n}\n") % (wtype, k, wtype, k)
        out, err = run_entry(tok_run, work, "%s_embed" % scheme, mlir, [data, ids], 1)
        if out is None:
            print(err)
        want = w[ids]
        check("embed %s" % scheme, out and out[0], want, 1e-6 * np.abs(w).max(axis=1)[ids][:, None] + 1e-30)

    # More than 8 tokens: the tiled kernel.
    tiled = [("q8_0", 37, 1056, [9, 15, 16, 17, 255, 300]), ("q4_0", 13, 1056, [15, 300]),
             ("q4_k", 13, 1280, [15, 300]), ("q6_k", 6, 1280, [15, 300]),
             ("i8_channel", 13, 1056, [15, 300])]
    for scheme, n, k, ts in tiled:
        data = make_blocks(rng, scheme, n, k)
        w = dequant(scheme, data, k)
        wb = bf16_round(w.astype(np.float32)).astype(np.float64)
        wtype = "tensor<%dx%dxf32, #tok.quant<%s>>" % (n, k, scheme)
        bias = rng.standard_normal(n).astype(np.float32)
        for t in ts:
            with_bias = t == ts[-1]
            x = rng.standard_normal((t, k)).astype(np.float32)
            x[:, 5] *= 40.0
            xb = bf16_round(x).astype(np.float64)
            b_arg = (", %%b: tensor<%dxf32>" % n) if with_bias else ""
            b_use = (", %b") if with_bias else ""
            b_type = (", tensor<%dxf32>" % n) if with_bias else ""
            mlir = ("func.func @f(%%x: tensor<?x%dxf32>, %%w: %s%s) -> tensor<?x%dxf32> {\n"
                    "  %%y = tok.linear %%x, %%w%s : tensor<?x%dxf32>, %s%s\n"
                    "  return %%y : tensor<?x%dxf32>\n}\n") % (k, wtype, b_arg, n, b_use, k, wtype, b_type, n)
            inputs = [x, data] + ([bias] if with_bias else [])
            add = bias.astype(np.float64) if with_bias else 0.0
            for mode, pipeline in TILED_MODES:
                out, err = run_entry(tok_run, work, "%s_t%d_%s" % (scheme, t, mode.replace(" ", "_")), mlir,
                                     inputs, 1, extra=["--pipeline=" + pipeline])
                if out is None:
                    print(err)
                if mode == "tiles f32":
                    want = x.astype(np.float64) @ w.T + add
                    bound = 1e-5 * (np.abs(x).astype(np.float64) @ np.abs(w).T + np.abs(add)) + 1e-30
                else:
                    want = xb @ wb.T + add
                    bound = 1e-5 * (np.abs(xb) @ np.abs(wb).T + np.abs(add)) + 1e-30
                check("linear %s N=%d K=%d T=%d%s (%s)" % (scheme, n, k, t, " with bias" if with_bias else "", mode),
                      out and out[0], want, bound)

    # The bytes must have the storage shape.
    bad = make_blocks(rng, "q8_0", 4, 64)[:, :-1]
    mlir = ("func.func @f(%x: tensor<?x64xf32>, %w: tensor<4x64xf32, #tok.quant<q8_0>>) -> tensor<?x4xf32> {\n"
            "  %y = tok.linear %x, %w : tensor<?x64xf32>, tensor<4x64xf32, #tok.quant<q8_0>>\n"
            "  return %y : tensor<?x4xf32>\n}\n")
    out, err = run_entry(tok_run, work, "bad_shape", mlir, [np.ones((1, 64), np.float32), bad], 1)
    ok = out is None and "stored as 4 x 68 bytes" in err
    results.append(ok)
    print("wrong storage shape refused: %s" % ("ok" if ok else "MISMATCH " + err))

    print("%d of %d checks passed" % (sum(results), len(results)))


if __name__ == "__main__":
    main()
