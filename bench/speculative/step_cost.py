"""What a verification step costs: the time of one step over T new tokens
(T = 1: a decode step; T = k + 1: a speculative round's verification)
after a prefill of P tokens, for a model tok-import reads.

Usage: python3 bench/speculative/step_cost.py MODEL [--tokens 1,2,3,4,5,8]
           [--context 300] [--repeats 200] [--tok-import PATH] [--tok-run PATH]

Builds one module per T with an entry that prefills P tokens, then runs
the step R times on T tokens at positions P .. P+T-1, rolling the T slots
back with tok.kv.truncate after each (what a fully rejected round does),
and times it with tok-run --timing (fastest of 5). The step's cost is
(time with R steps - time with none) / R, so compilation and the prefill
cancel. Weights are random (--seed), which is fine for timing.
"""
import argparse
import os
import re
import subprocess
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def positions(lines, name, first, n, mod):
    """%name: tensor<?xi32> = [(first + i) mod `mod` for i < n]."""
    lines.append("  %%%s_i = tensor.empty() : tensor<%dxi32>" % (name, n))
    lines.append(
        "  %%%s_s = linalg.generic {indexing_maps = [affine_map<(i) -> (i)>], iterator_types = [\"parallel\"]}"
        " outs(%%%s_i : tensor<%dxi32>) {\n  ^bb0(%%o: i32):\n    %%x = linalg.index 0 : index\n"
        "    %%y = arith.index_cast %%x : index to i32\n    %%f = arith.constant %d : i32\n"
        "    %%z = arith.addi %%y, %%f : i32\n    %%m = arith.constant %d : i32\n"
        "    %%r = arith.remsi %%z, %%m : i32\n    linalg.yield %%r : i32\n  } -> tensor<%dxi32>"
        % (name, name, n, first, mod, n))
    lines.append("  %%%s = tensor.cast %%%s_s : tensor<%dxi32> to tensor<?xi32>" % (name, name, n))


def module(tok_import, model, T, P, R):
    text = subprocess.run([tok_import, model, "--f32-weights", "--cache-capacity", str(P + T + 16)],
                          capture_output=True, text=True, check=True).stdout
    fwd = re.search(r"func.func @forward\(%arg0: tensor<\?xi32>, %arg1: tensor<\?xi32>(.*?)\) ->", text)
    types = re.findall(r"%arg\d+: (tensor<[^>]*>)", fwd.group(1))
    names = ["%%w%d" % i for i in range(len(types))]
    caches = re.findall(r"!tok.kv_cache<[^>]*>", re.search(r"func.func private @step\((.*?)\) ->", text).group(1))
    logits = re.search(r"func.func @forward\(.*?\) -> (tensor<[^>]*>)", text).group(1)
    L = len(caches)
    wn, wt, ct = ", ".join(names), ", ".join(types), ", ".join(caches)
    lines = ["func.func @bench(%s) -> %s {" % (", ".join("%s: %s" % nt for nt in zip(names, types)), logits)]
    for l in range(L):
        lines.append("  %%c%d = tok.kv.empty : %s" % (l, caches[l]))
    positions(lines, "pids", 0, P, 200)
    positions(lines, "ppos", 0, P, 1 << 30)
    positions(lines, "ids", 7, T, 200)
    positions(lines, "dpos", P, T, 1 << 30)
    sig = "(tensor<?xi32>, tensor<?xi32>, %s, %s) -> (%s, %s)" % (wt, ct, logits, ct)
    lines.append("  %%p:%d = func.call @step(%%pids, %%ppos, %s, %s) : %s"
                 % (L + 1, wn, ", ".join("%%c%d" % l for l in range(L)), sig))
    lines.append("  %%lo = arith.constant 0 : index\n  %%hi = arith.constant %d : index\n"
                 "  %%one = arith.constant 1 : index\n  %%nt = arith.constant %d : index" % (R, T))
    carried = ", ".join("%%i%d = %%p#%d" % (l, l + 1) for l in range(L))
    lines.append("  %%r:%d = scf.for %%k = %%lo to %%hi step %%one iter_args(%%acc = %%p#0, %s) -> (%s, %s) {"
                 % (L + 1, carried, logits, ct))
    lines.append("    %%s:%d = func.call @step(%%ids, %%dpos, %s, %s) : %s"
                 % (L + 1, wn, ", ".join("%%i%d" % l for l in range(L)), sig))
    for l in range(L):
        lines.append("    %%t%d = tok.kv.truncate %%s#%d, %%nt : %s" % (l, l + 1, caches[l]))
    lines.append("    scf.yield %%s#0, %s : %s, %s" % (", ".join("%%t%d" % l for l in range(L)), logits, ct))
    lines.append("  }\n  return %r#0 : " + logits + "\n}")
    text = text.rstrip()
    return text[:-1] + "\n" + "\n".join(lines) + "\n}\n"


def run_ms(tok_run, path):
    r = subprocess.run([tok_run, path, "-e", "bench", "--timing", "--repeat", "5", "--print-results=false"],
                       capture_output=True, text=True, check=True)
    return float(re.search(r"run ([0-9.]+) ms", r.stderr).group(1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--tokens", default="1,2,3,4,5,8")
    ap.add_argument("--context", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=200)
    ap.add_argument("--tok-import", default=os.path.join(ROOT, "build", "bin", "tok-import"))
    ap.add_argument("--tok-run", default=os.path.join(ROOT, "build", "bin", "tok-run"))
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="tok-step-cost-")
    base = None
    print("%3s %12s %14s" % ("T", "step ms", "vs T = 1"))
    for T in map(int, args.tokens.split(",")):
        ms = []
        for R in (0, args.repeats):
            path = os.path.join(work, "t%d_r%d.mlir" % (T, R))
            with open(path, "w") as f:
                f.write(module(args.tok_import, args.model, T, args.context, R))
            ms.append(run_ms(args.tok_run, path))
        step = (ms[1] - ms[0]) / args.repeats
        base = base or step
        print("%3d %12.3f %13.2fx" % (T, step, step / base), flush=True)


if __name__ == "__main__":
    main()
