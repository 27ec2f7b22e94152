"""The buffer cache of tok's runtime (lib/Runtime/BufferCache.cpp) against
plain malloc / free (TOK_BUFFER_CACHE_MB=0), same binary, same run.

Usage: /usr/bin/python3 bench/runtime/buffer_cache.py [--rounds N] [--json OUT]

Cases: the all-MiniLM-L6-v2 encoder forward (tok-run embed) at 128 and 512
tokens, without and with token merging (tok-token-merge{r=64 ...}, whose
per-block token counts change the buffer sizes), and a pyllama-4m prefill
of a long prompt and its decode (tok-run generate). Each round runs every
case once with the cache off and once on, in alternating order; a run's
time is tok-run's own (embed: fastest forward of --repeat; generate:
median prefill / decode of --repeat). Reported: the median of each over
the rounds and the ratio of the medians (off / on: above 1 is faster with
the cache). Outputs of the two settings are compared too: they must be
identical.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOK_RUN = os.path.join(ROOT, "build", "bin", "tok-run")
PYLLAMA = os.path.join(os.path.dirname(ROOT), "shared", "models", "pyllama-4m")
sys.path.insert(0, os.path.join(ROOT, "bench", "tokens"))
import run as tokens_bench  # noqa: E402  (the encoder bench's model and text)


def cases(work):
    out = []
    model = tokens_bench.find_model()
    for t in (128, 512):
        path = os.path.join(work, "text%d.txt" % t)
        with open(path, "w") as f:
            f.write("\n".join(tokens_bench.chunks(t * 8, 2)) + "\n")
        base = [TOK_RUN, "embed", "--model", model, "--file", path,
                "--max-tokens", str(t), "--repeat", "5"]
        out.append(("embed %d" % t, base, "forward"))
        out.append(("embed %d, merge r=%d" % (t, t // 8),
                    base + ["--pipeline", "tok-token-merge{r=%d metric=hidden}" % (t // 8)],
                    "forward"))
    if os.path.isdir(PYLLAMA):
        prompt = os.path.join(work, "prompt.py")
        with open(prompt, "w") as f:
            f.write(open(os.path.join(ROOT, "bench", "tokens", "run.py")).read()[:400])
        out.append(("pyllama-4m generate", [TOK_RUN, "generate", "--model", PYLLAMA,
                                            "--prompt-file", prompt, "--max-new-tokens", "64",
                                            "--repeat", "5"], "generate"))
    return out


def measure(cmd, kind, cache_mb):
    env = dict(os.environ, TOK_BUFFER_CACHE_MB=str(cache_mb))
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        sys.exit("%s failed: %s" % (" ".join(cmd), r.stderr))
    if kind == "forward":
        return {"forward": float(re.search(r"forward ([0-9.]+) ms", r.stderr).group(1))}, r.stdout
    return {"prefill": float(re.search(r"prefill \d+ tokens in ([0-9.]+) ms", r.stderr).group(1)),
            "decode": float(re.search(r"decode \d+ tokens in ([0-9.]+) ms", r.stderr).group(1))}, r.stdout


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--json", default=os.path.join(ROOT, "bench", "results", "buffer_cache.json"))
    a = p.parse_args()
    work = tempfile.mkdtemp(prefix="tok-bench-cache-")
    rows = []
    for name, cmd, kind in cases(work):
        times = {0: {}, 1024: {}}
        outputs = {}
        for rnd in range(a.rounds):
            for mb in ((0, 1024) if rnd % 2 == 0 else (1024, 0)):
                t, out = measure(cmd, kind, mb)
                outputs.setdefault(mb, out)
                if outputs[mb] != out:
                    sys.exit("%s: output changed between runs" % name)
                for k, v in t.items():
                    times[mb].setdefault(k, []).append(v)
        if outputs[0] != outputs[1024]:
            sys.exit("%s: outputs differ with and without the cache" % name)
        for k in times[0]:
            off, on = statistics.median(times[0][k]), statistics.median(times[1024][k])
            rows.append(dict(case=name, metric=k, off_ms=off, on_ms=on, ratio=off / on,
                             off_all=times[0][k], on_all=times[1024][k]))
            print("| %s | %s | %.1f | %.1f | %.2fx |" % (name, k, off, on, off / on), flush=True)
    os.makedirs(os.path.dirname(a.json), exist_ok=True)
    with open(a.json, "w") as f:
        json.dump(dict(rounds=a.rounds, rows=rows), f, indent=1)
    print("wrote " + a.json)


if __name__ == "__main__":
    main()
