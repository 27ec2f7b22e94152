"""Checks JIT-compiled tok.rms_norm against an independent NumPy reference.

Usage: rms_norm_check.py <tok-run> <work-dir>

For a fixed set of shapes (rank 1 to 3, sizes of 1 and sizes that are no
multiple of anything, static and dynamic token dimensions, f32 and bf16) it
draws inputs from a seeded generator, writes a module that applies
tok.rms_norm and prints the result, runs it with tok-run and compares the
printed numbers with NumPy. Tolerances: f32 rtol 1e-5 + atol 1e-6 (the
printout carries 6 significant digits); bf16 rtol 1e-2 + atol 1e-2 (one bf16
ulp is 2^-8 relative, and the result is rounded to bf16 once).
"""

import os
import re
import subprocess
import sys

import numpy as np

CASES = [
    # (shape, dtype, dynamic leading dim?, epsilon)
    ((1,), "f32", False, 1e-5),
    ((7,), "f32", False, 1e-6),
    ((1, 1), "f32", False, 1e-5),
    ((3, 13), "f32", True, 1e-5),
    ((5, 288), "f32", True, 1e-5),
    ((2, 3, 33), "f32", False, 1e-3),
    ((4, 64), "bf16", True, 1e-5),
    ((2, 1, 17), "bf16", False, 1e-5),
]

TOLERANCE = {"f32": (1e-5, 1e-6), "bf16": (1e-2, 1e-2)}


def to_bf16(a):
    """Rounds float32 values to the nearest bfloat16 (ties to even)."""
    bits = np.asarray(a, np.float32).view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
    return rounded.astype(np.uint32).view(np.float32)


def reference(x, w, eps, dtype):
    x64 = x.astype(np.float64)
    y = x64 / np.sqrt(np.mean(x64 * x64, axis=-1, keepdims=True) + eps)
    y = (y * w.astype(np.float64)).astype(np.float32)
    return to_bf16(y) if dtype == "bf16" else y


def dense(a):
    return "dense<%s>" % np.array2string(
        a, separator=", ", threshold=sys.maxsize, floatmode="unique"
    ).replace("\n", "")


def tensor_type(shape, elem, dynamic=False):
    dims = ["?" if (dynamic and i == 0) else str(d) for i, d in enumerate(shape)]
    return "tensor<%sx%s>" % ("x".join(dims), elem)


def module_for(x, w, eps, dtype, dynamic):
    shape = x.shape
    st = tensor_type(shape, dtype)
    dt = tensor_type(shape, dtype, dynamic)
    wt = tensor_type(w.shape, dtype)
    ft = tensor_type(shape, "f32", dynamic)
    ids = ", ".join("d%d" % i for i in range(len(shape)))
    lines = [
        "func.func private @printMemrefF32(tensor<*xf32>)",
        "func.func @main() {",
        "  %%x0 = arith.constant %s : %s" % (dense(x), st),
        "  %%w = arith.constant %s : %s" % (dense(w), wt),
        "  %%x = tensor.cast %%x0 : %s to %s" % (st, dt),
        "  %%y = tok.rms_norm %%x, %%w {epsilon = %.6e : f32} : %s, %s"
        % (eps, dt, wt),
    ]
    if dtype == "f32":
        lines.append("  %%yf = tensor.cast %%y : %s to %s" % (dt, ft))
    else:
        # Widen to f32 for printing; linalg so that it bufferizes.
        if dynamic:
            lines.append("  %c0 = arith.constant 0 : index")
            lines.append("  %%n = tensor.dim %%y, %%c0 : %s" % dt)
            lines.append("  %%e = tensor.empty(%%n) : %s" % ft)
        else:
            lines.append("  %%e = tensor.empty() : %s" % ft)
        lines += [
            "  %%yf = linalg.generic {indexing_maps = "
            "[affine_map<(%s) -> (%s)>, affine_map<(%s) -> (%s)>], "
            "iterator_types = [%s]} ins(%%y : %s) outs(%%e : %s) {"
            % (ids, ids, ids, ids, ", ".join(['"parallel"'] * len(shape)), dt, ft),
            "  ^bb0(%a: bf16, %b: f32):",
            "    %c = arith.extf %a : bf16 to f32",
            "    linalg.yield %c : f32",
            "  } -> %s" % ft,
        ]
    lines += [
        "  %%p = tensor.cast %%yf : %s to tensor<*xf32>" % ft,
        "  call @printMemrefF32(%p) : (tensor<*xf32>) -> ()",
        "  return",
        "}",
    ]
    return "\n".join(lines) + "\n"


def parse_printed(text):
    data = text.split("data =", 1)[1]
    return np.array(
        [float(v) for v in re.findall(r"-?(?:nan|inf|\d+\.?\d*(?:e[-+]?\d+)?)", data)],
        np.float32,
    )


def main():
    tok_run, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    rng = np.random.default_rng(0)
    failures = 0
    for i, (shape, dtype, dynamic, eps) in enumerate(CASES):
        x = rng.standard_normal(shape).astype(np.float32) * 3
        w = rng.standard_normal(shape[-1:]).astype(np.float32)
        if dtype == "bf16":
            x, w = to_bf16(x), to_bf16(w)
        path = os.path.join(work, "case%d.mlir" % i)
        with open(path, "w") as f:
            f.write(module_for(x, w, eps, dtype, dynamic))
        out = subprocess.run([tok_run, path], capture_output=True, text=True)
        if out.returncode != 0:
            print("case %d %s %s: tok-run failed:\n%s" % (i, shape, dtype, out.stderr))
            failures += 1
            continue
        got = parse_printed(out.stdout)
        want = reference(x, w, eps, dtype).reshape(-1)
        rtol, atol = TOLERANCE[dtype]
        err = np.abs(got - want) if got.shape == want.shape else None
        ok = err is not None and bool(np.all(err <= atol + rtol * np.abs(want)))
        print(
            "case %d %s %s%s: %s max abs err %s"
            % (i, shape, dtype, " dynamic" if dynamic else "",
               "ok" if ok else "MISMATCH",
               "n/a" if err is None else "%.3g" % err.max())
        )
        failures += 0 if ok else 1
    print("%d of %d cases within tolerance" % (len(CASES) - failures, len(CASES)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
