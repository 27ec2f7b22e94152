"""Checks the f32 tok.linear kernels against NumPy on every path and edge.

Usage: linear_gemm_check.py <tok-run> <work-dir>

y = x W^T (+ b) for f32 x [T, K] and W [N, K] in f32, f16 or bf16 (bf16
passed as its uint16 bits), computed in float64 by NumPy. The token counts
cover decode (T = 1), the groups of 4 tokens and their rest (2, 15, 17),
the 5-8 token verification tiles (5, 8), the first blocked count (9), a
whole and a partial 16 (16, 255) and two token blocks (300); the shapes K
and N that are not multiples of the 16 lanes or the 4-row blocks, K
blocks of which the last is partial (K = 544 in f32, 1088 in bf16).
Tolerances per output: f32 products (weights exact or widened),
|got - want| <= 1e-5 * (|x| . |w| + |b|); the bf16 dot path (more than 8
tokens) rounds x to bf16 first, which moves each x by at most 2^-8 of
itself, so its bound adds 2^-8 * (|x| . |w|). The bf16 dot path runs with
vdpbf16ps where the host has AVX512-BF16 and as generic vector code; with
8 tokens or fewer it must be exact to f32 (the unblocked variant widens).
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from jit_entry import run_entry  # noqa: E402


def to_bf16_bits(a):
    u = np.ascontiguousarray(a, np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def from_bf16_bits(bits):
    return (bits.astype(np.uint32) << 16).view(np.float32)


def main():
    tok_run, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    rng = np.random.default_rng(11)
    results = []

    def case(name, wtype, k, n, ts, bias, pipelines):
        w = (rng.standard_normal((n, k)) / np.sqrt(k)).astype(np.float32)
        if wtype == "f16":
            w_arg = w.astype(np.float16)
            w_val = w_arg.astype(np.float64)
        elif wtype == "bf16":
            w_arg = to_bf16_bits(w)
            w_val = from_bf16_bits(w_arg).astype(np.float64)
        else:
            w_arg, w_val = w, w.astype(np.float64)
        b = rng.standard_normal(n).astype(np.float32) if bias else None
        wt = "tensor<%dx%dx%s>" % (n, k, wtype)
        if bias:
            mlir = ("func.func @f(%%x: tensor<?x%dxf32>, %%w: %s, %%b: tensor<%dxf32>) -> tensor<?x%dxf32> {\n"
                    "  %%y = tok.linear %%x, %%w, %%b : tensor<?x%dxf32>, %s, tensor<%dxf32>\n"
                    "  return %%y : tensor<?x%dxf32>\n}\n") % (k, wt, n, n, k, wt, n, n)
        else:
            mlir = ("func.func @f(%%x: tensor<?x%dxf32>, %%w: %s) -> tensor<?x%dxf32> {\n"
                    "  %%y = tok.linear %%x, %%w : tensor<?x%dxf32>, %s\n"
                    "  return %%y : tensor<?x%dxf32>\n}\n") % (k, wt, n, k, wt, n)
        for t in ts:
            x = rng.standard_normal((t, k)).astype(np.float32)
            want = x.astype(np.float64) @ w_val.T + (b if bias else 0)
            mag = np.abs(x).astype(np.float64) @ np.abs(w_val).T
            exact = 1e-5 * (mag + (np.abs(b) if bias else 0)) + 1e-30
            for label, pipeline, rounds_x in pipelines:
                inputs = [x, w_arg] + ([b] if bias else [])
                out, err = run_entry(tok_run, work, "%s_t%d_%s" % (name, t, label), mlir, inputs, 1,
                                     extra=["--pipeline=" + pipeline] if pipeline else [])
                bound = exact + (2.0 ** -8 * mag if rounds_x and t > 8 else 0)
                got = out[0] if out else None
                ok = got is not None and got.shape == want.shape and bool(np.all(np.abs(got - want) <= bound))
                worst = float(np.max(np.abs(got - want) / bound)) if ok or (got is not None and got.shape == want.shape) else float("nan")
                results.append(ok)
                print("%s %s K=%d N=%d T=%d (%s): %s (worst error / bound %.3g)%s"
                      % (name, wtype, k, n, t, label, "ok" if ok else "MISMATCH", worst,
                         "" if out else " " + err[-400:]))

    plain = [("default", None, False)]
    case("f32", "f32", 64, 36, [1, 2, 5, 8, 9, 15, 16, 17, 255], True, plain)
    case("f32_tail", "f32", 40, 10, [1, 7, 17], True, plain)
    case("f32_kblocks", "f32", 544, 12, [17, 300], False, plain)
    case("f16", "f16", 64, 20, [1, 17], True, plain)
    bf16_modes = [("dot", "tok-to-llvm{bf16-dot=dot}", True),
                  ("dot generic", "tok-to-llvm{bf16-dot=dot bf16-instruction=generic}", True),
                  ("widen", "tok-to-llvm{bf16-dot=widen}", False)]
    case("bf16", "bf16", 1088, 20, [1, 6, 17, 255], True, bf16_modes)
    case("bf16_odd_k", "bf16", 48, 8, [17], False, plain)
    print("%d of %d checks passed" % (sum(results), len(results)))


if __name__ == "__main__":
    main()
