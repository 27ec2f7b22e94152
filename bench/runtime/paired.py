"""Two tok-run builds side by side on one model: compile time, prefill and
decode speed, in alternating runs (A B A B ...), with the medians and the
B/A ratios. For "this change costs nothing" claims: build the baseline in
another worktree (git worktree add /tmp/base <commit>; build it there).

Usage: /usr/bin/python3 bench/runtime/paired.py --a /tmp/base/build/bin/tok-run
           [--b build/bin/tok-run] --model DIR [--pairs 5] [--prompt-tokens 128]
           [--new-tokens 64] [--json OUT]

Every run compiles cold (TOK_JIT_CACHE_MB=0) and generates greedily with
no end-of-sequence token, so both builds produce the same number of
tokens; the two builds' tokens must be identical (checked).
"""

import argparse
import json
import os
import re
import statistics
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COMPILED = re.compile(r"compiled in ([0-9.]+) s \(model ([0-9.]+), passes ([0-9.]+), lower ([0-9.]+), jit ([0-9.]+)\)")
PREFILL = re.compile(r"prefill (\d+) tokens in ([0-9.]+) ms")
DECODE = re.compile(r"decode (\d+) tokens in ([0-9.]+) ms")
IDS = re.compile(r"^ids:(.*)$", re.M)


def run(binary, model, prompt, new):
    env = dict(os.environ, TOK_JIT_CACHE_MB="0")
    r = subprocess.run([binary, "generate", "--model", model, "--ids", prompt, "--max-new-tokens", str(new),
                        "--eos", "-1", "--print-ids"], capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise RuntimeError(binary + ": " + r.stderr[-2000:])
    c, p, d = COMPILED.search(r.stderr), PREFILL.search(r.stderr), DECODE.search(r.stderr)
    return {"compile_s": float(c.group(1)), "lower_s": float(c.group(4)), "jit_s": float(c.group(5)),
            "prefill_tok_s": int(p.group(1)) / (float(p.group(2)) / 1e3),
            "decode_tok_s": int(d.group(1)) / (float(d.group(2)) / 1e3),
            "ids": IDS.search(r.stdout).group(1).split()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--a", required=True, help="baseline tok-run")
    ap.add_argument("--b", default=os.path.join(ROOT, "build", "bin", "tok-run"))
    ap.add_argument("--model", required=True)
    ap.add_argument("--pairs", type=int, default=5)
    ap.add_argument("--prompt-tokens", type=int, default=128)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--json")
    args = ap.parse_args()
    prompt = ",".join(str(10 + i % 200) for i in range(args.prompt_tokens))
    runs = {"a": [], "b": []}
    for i in range(args.pairs):
        for side in ("a", "b"):
            r = run(getattr(args, side), args.model, prompt, args.new_tokens)
            runs[side].append(r)
            print(f"pair {i + 1} {side}: compile {r['compile_s']:.2f} s, prefill {r['prefill_tok_s']:.1f} tok/s, "
                  f"decode {r['decode_tok_s']:.2f} tok/s", flush=True)
    ids = {tuple(r["ids"]) for side in runs.values() for r in side}
    if len(ids) != 1:
        raise SystemExit("the two builds generated different tokens")
    out = {"model": args.model, "prompt_tokens": args.prompt_tokens, "new_tokens": args.new_tokens,
           "pairs": args.pairs, "a": args.a, "b": args.b}
    for key in ("compile_s", "lower_s", "jit_s", "prefill_tok_s", "decode_tok_s"):
        a = statistics.median(r[key] for r in runs["a"])
        b = statistics.median(r[key] for r in runs["b"])
        ratios = [rb[key] / ra[key] for ra, rb in zip(runs["a"], runs["b"])]
        out[key] = {"a": round(a, 3), "b": round(b, 3), "b_over_a_median": round(statistics.median(ratios), 3),
                    "b_over_a_range": [round(min(ratios), 3), round(max(ratios), 3)]}
        print(f"{key:14s} A {a:9.2f}  B {b:9.2f}  B/A {statistics.median(ratios):.3f} "
              f"({min(ratios):.3f}-{max(ratios):.3f})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
