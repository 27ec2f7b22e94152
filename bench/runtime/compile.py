"""How long tok-run takes to compile a model, without and with the JIT
cache (tools/tok-run/JitCache.h), against the time the generation itself
takes, same binary, same run.

Usage: /usr/bin/python3 bench/runtime/compile.py [--runs N] [--json OUT]

Models: the built-in one (6 layers, dim 288), pyllama-4m (trained, GQA)
and a 110M Llama-2 shape (12 layers, dim 768, random f32 weights written
by bench/decode/run.py's writer). Each generates 32 tokens after a
16-token prompt with `tok-run generate`. Cold: TOK_JIT_CACHE_MB=0, so the
module is lowered and compiled every time; tok-run's own report splits the
time into lowering (MLIR passes) and jit (LLVM IR, optimization, machine
code, linking). Warm: a fresh cache directory, filled by one run, then
--runs runs that load the object. Reported: the median of --runs runs of
each, and the generation time of the same run for scale. The generated
tokens of the cold and warm runs must be identical.
"""

import argparse
import importlib.util
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOK_RUN = os.path.join(ROOT, "build", "bin", "tok-run")
PYLLAMA = os.path.join(os.path.dirname(ROOT), "shared", "models", "pyllama-4m")
COMPILED = re.compile(r"compiled in ([0-9.]+) s \(model ([0-9.]+), passes ([0-9.]+), "
                      r"(?:lower ([0-9.]+), jit ([0-9.]+)|machine code from the JIT cache ([0-9.]+))\)")
PROMPT = ",".join(str(i) for i in range(40, 56))


def write_110m(directory):
    sys.path.insert(0, os.path.join(ROOT, "bench", "attention"))
    spec = importlib.util.spec_from_file_location("decode_bench", os.path.join(ROOT, "bench", "decode", "run.py"))
    decode = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(decode)
    import numpy as np
    cfg = decode.SHAPE_110M
    decode.write_model(directory, cfg, decode.weights(cfg, np.random.default_rng(0)))


def generate(model, env):
    r = subprocess.run([TOK_RUN, "generate", "--model", model, "--ids", PROMPT, "--max-new-tokens", "32",
                        "--eos", "-1", "--print-ids"], capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise RuntimeError(r.stderr[-2000:])
    m = COMPILED.search(r.stderr)
    total = float(m.group(1))
    run = {"compile_s": total, "cached": m.group(6) is not None}
    if m.group(4) is not None:
        run["lower_s"], run["jit_s"] = float(m.group(4)), float(m.group(5))
    p = re.search(r"prefill \d+ tokens in ([0-9.]+) ms", r.stderr)
    d = re.search(r"decode \d+ tokens in ([0-9.]+) ms", r.stderr)
    run["generate_s"] = (float(p.group(1)) + float(d.group(1))) / 1e3
    run["ids"] = r.stdout.strip().splitlines()[-1]
    return run


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", default=os.path.join(ROOT, "bench", "results", "compile.json"))
    args = ap.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as work:
        m110 = os.path.join(work, "llama-110m")
        write_110m(m110)
        models = [("built-in", "builtin"), ("pyllama-4m", PYLLAMA), ("Llama-2 110M shape, f32", m110)]
        for name, model in models:
            cold_env = dict(os.environ, TOK_JIT_CACHE_MB="0")
            warm_env = dict(os.environ, TOK_JIT_CACHE_DIR=os.path.join(work, "cache-" + name.split()[0]),
                            TOK_JIT_CACHE_MB="1024")
            cold = [generate(model, cold_env) for _ in range(args.runs)]
            first = generate(model, warm_env)  # fills the cache
            warm = [generate(model, warm_env) for _ in range(args.runs)]
            if first["cached"] or not all(w["cached"] for w in warm):
                raise RuntimeError("%s: the cache did not fill / hit as expected" % name)
            ids = {r["ids"] for r in cold + [first] + warm}
            if len(ids) != 1:
                raise RuntimeError("%s: cached and compiled code generated different tokens" % name)
            med = lambda runs, k: statistics.median(r[k] for r in runs)
            row = {"model": name, "cold_compile_s": med(cold, "compile_s"), "cold_lower_s": med(cold, "lower_s"),
                   "cold_jit_s": med(cold, "jit_s"), "warm_compile_s": med(warm, "compile_s"),
                   "generate_s": med(cold + warm, "generate_s")}
            row["cold_over_warm"] = row["cold_compile_s"] / row["warm_compile_s"]
            results.append(row)
            print("%-26s cold %6.2f s (lower %5.2f, jit %5.2f)  warm %6.3f s  (%5.0fx)  generation %.3f s"
                  % (name, row["cold_compile_s"], row["cold_lower_s"], row["cold_jit_s"], row["warm_compile_s"],
                     row["cold_over_warm"], row["generate_s"]), flush=True)
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump({"machine": platform.node(), "cpus": os.cpu_count(), "runs": args.runs, "results": results}, f,
                  indent=1)


if __name__ == "__main__":
    main()
