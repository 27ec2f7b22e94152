"""Checks the lowered tok.embed, tok.rope and tok.linear against NumPy.

Usage: model_ops_check.py <tok-run> <work-dir>

Every case is a module with one op whose inputs come from .npy files and
whose result comes back as .npy (tok-run --input/--output), compared with a
float64 NumPy reference written from the op's definition: embedding rows,
rotary embedding in both pairings (Hugging Face half-split and llama2.c
interleaved, which must agree after the corresponding permutation of
dimensions), position scaling, and dense layers with and without bias in
f32 and f16. Tolerances: f32 rtol 1e-5 + atol 1e-5 (rope: atol 1e-3, because the
angle is computed in f32 as checkpoints do, and at position 4095 an f32
angle is only resolved to 2.4e-4 rad); f16 rtol 1e-2 + atol 1e-2.
Also: an out-of-vocabulary id makes tok-run fail with a clear message.
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from jit_entry import run_entry  # noqa: E402


def run(tok_run, work, name, mlir, inputs, n_out=1):
    return run_entry(tok_run, work, name, mlir, inputs, n_out)


def rope_ref(x, pos, theta, scale, style):
    h, t, d = x.shape
    j = np.arange(d // 2)
    freq = theta ** (-2.0 * j / d)
    ang = (pos[:, None].astype(np.float64) / scale) * freq[None, :]
    cos, sin = np.cos(ang)[None], np.sin(ang)[None]
    x = x.astype(np.float64)
    out = np.empty_like(x)
    if style == "half":
        a, b = x[..., : d // 2], x[..., d // 2:]
        out[..., : d // 2] = a * cos - b * sin
        out[..., d // 2:] = b * cos + a * sin
    else:
        a, b = x[..., 0::2], x[..., 1::2]
        out[..., 0::2] = a * cos - b * sin
        out[..., 1::2] = b * cos + a * sin
    return out


def main():
    tok_run, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    rng = np.random.default_rng(11)
    results = []

    def check(name, got, want, rtol, atol):
        ok = got is not None and got.shape == want.shape and np.allclose(got, want, rtol=rtol, atol=atol)
        err = float(np.abs(got - want).max()) if got is not None and got.shape == want.shape else float("nan")
        results.append(ok)
        print("%s: %s (max abs err %.3g)" % (name, "ok" if ok else "MISMATCH", err))

    # embed
    table = rng.standard_normal((50, 12)).astype(np.float32)
    ids = rng.integers(0, 50, 9).astype(np.int32)
    ids[3] = 49
    ids[5] = 0
    mod = ("func.func @f(%t: tensor<50x12xf32>, %i: tensor<?xi32>) -> tensor<?x12xf32> {\n"
           "  %e = tok.embed %t[%i] : tensor<50x12xf32>, tensor<?xi32>\n"
           "  return %e : tensor<?x12xf32>\n}\n")
    out, err = run(tok_run, work, "embed", mod, [table, ids])
    check("embed", None if out is None else out[0], table[ids], 0, 0)
    bad = ids.copy()
    bad[2] = 50
    out, err = run(tok_run, work, "embed_bad", mod, [table, bad])
    ok = (out is None and "tok-run: run-time check failed: tok.embed: a token id is outside the vocabulary" in err
          and "Stack dump" not in err)
    results.append(ok)
    print("embed out-of-range id: %s" % ("ok" if ok else "MISMATCH: " + err[-300:]))

    # rope, both styles, with a position scale and a non-default theta
    x = rng.standard_normal((3, 7, 16)).astype(np.float32)
    pos = np.array([0, 1, 2, 5, 100, 1000, 4095], np.int32)
    for style, theta, scale in (("half", 10000.0, 1.0), ("interleaved", 500000.0, 4.0)):
        mod = ("func.func @f(%%x: tensor<3x7x16xf32>, %%p: tensor<7xi32>) -> tensor<3x7x16xf32> {\n"
               "  %%r = tok.rope %%x, %%p {theta = %.6e : f32, scale = %.6e : f32, style = #tok.rope_style<%s>}"
               " : tensor<3x7x16xf32>, tensor<7xi32>\n  return %%r : tensor<3x7x16xf32>\n}\n"
               % (theta, scale, style))
        out, err = run(tok_run, work, "rope_" + style, mod, [x, pos])
        check("rope %s" % style, None if out is None else out[0], rope_ref(x, pos, theta, scale, style), 1e-5, 1e-3)

    # linear: rank 2 and rank 3 inputs, with and without bias, f32 and f16
    # (the generic lowering), and f32 [T, K] x [N, K] shapes for the
    # vectorized kernel: K with and without a tail of K % 16, N not a
    # multiple of the 4-row blocks or of the chunks, one token (decode),
    # 1 to 6 tokens over whole 16-lane steps.
    for name, shape, n, bias, dt in (("linear", (5, 24), 10, False, np.float32),
                                     ("linear bias rank3", (2, 3, 24), 10, True, np.float32),
                                     ("linear f16", (4, 24), 10, True, np.float16),
                                     ("linear decode K37 N67", (1, 37), 67, True, np.float32),
                                     ("linear prefill K64 N33", (7, 64), 33, False, np.float32),
                                     ("linear K16 N5", (3, 16), 5, True, np.float32),
                                     ("linear K3 N1", (2, 3), 1, False, np.float32),
                                     # K % 16 == 0: the butterfly sums of
                                     # 4 rows x 1..4 tokens, vector writes
                                     ("linear decode K48 N40", (1, 48), 40, True, np.float32),
                                     ("linear T2 K32 N24", (2, 32), 24, True, np.float32),
                                     ("linear T5 K48 N36", (5, 48), 36, True, np.float32),
                                     ("linear T6 K32 N16", (6, 32), 16, False, np.float32)):
        et = "f32" if dt == np.float32 else "f16"
        k = shape[-1]
        xin = rng.standard_normal(shape).astype(dt)
        w = rng.standard_normal((n, k)).astype(dt)
        b = rng.standard_normal(n).astype(dt)
        xt = "tensor<%sx%s>" % ("x".join(map(str, shape)), et)
        wt = "tensor<%dx%dx%s>" % (n, k, et)
        bt = "tensor<%dx%s>" % (n, et)
        ot = "tensor<%sx%dx%s>" % ("x".join(map(str, shape[:-1])), n, et)
        if bias:
            mod = ("func.func @f(%%x: %s, %%w: %s, %%b: %s) -> %s {\n"
                   "  %%y = tok.linear %%x, %%w, %%b : %s, %s, %s\n"
                   "  return %%y : %s\n}\n" % (xt, wt, bt, ot, xt, wt, bt, ot))
            ins = [xin, w, b]
        else:
            mod = ("func.func @f(%%x: %s, %%w: %s) -> %s {\n"
                   "  %%y = tok.linear %%x, %%w : %s, %s\n"
                   "  return %%y : %s\n}\n" % (xt, wt, ot, xt, wt, ot))
            ins = [xin, w]
        out, err = run(tok_run, work, name.replace(" ", "_"), mod, ins)
        want = xin.astype(np.float64) @ w.astype(np.float64).T + (b.astype(np.float64) if bias else 0)
        tol = (1e-5, 1e-5) if dt == np.float32 else (1e-2, 1e-2)
        check(name, None if out is None else out[0].astype(np.float64), want, *tol)
        if out is None:
            print(err[-500:])

    print("%d of %d checks passed" % (sum(results), len(results)))
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
