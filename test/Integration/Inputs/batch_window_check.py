"""Window eviction per sequence on the batch path: tok-run generate
--prompts --pipeline "tok-kv-evict{policy=window ...}" against each prompt
generated alone through the single-sequence path with the same pipeline
(tok-run generate --ids: a KV cache of budget + chunk slots, evicted after
every token with chunk=1, so that each token sees the sinks and the last
`recent` positions, as the batch step's mask shows them).

Usage: batch_window_check.py TOK_RUN WORKDIR MODEL

Prompts of 1 to 45 tokens (longer than the window), three sharing a
24-token prefix, 60 new tokens each, 4-slot pages, 32 tokens per step. The
bound: between steps a sequence holds at most the sink page and the pages
its window straddles plus the one it writes next, ceil(sinks / 4) +
ceil((recent + 1) / 4) + 1 pages, and a step's 32 rows may sit on up to
8 pages more that the window leaves behind when the step ends; the same
batch without eviction holds pages for every position. A pool smaller
than that run needs must work with the window.
"""
import os
import re
import subprocess
import sys

import numpy as np

NEW = 60
SINKS, RECENT = 4, 16
PIPELINE = "tok-kv-evict{policy=window budget=%d sinks=%d recent=%d chunk=1}" % (
    SINKS + RECENT, SINKS, RECENT)
PAGE = 4
STEP = 32


def alone(tok_run, model, ids):
    r = subprocess.run([tok_run, "generate", "--model", model, "--ids", ",".join(map(str, ids)),
                        "--max-new-tokens", str(NEW), "--eos", "-1", "--print-ids", "--quiet",
                        "--pipeline", PIPELINE], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("tok-run generate failed: " + r.stderr)
    return [int(x) for x in r.stdout.split("ids:")[-1].split()]


def batch(tok_run, model, path, options):
    r = subprocess.run([tok_run, "generate", "--model", model, "--prompts", path, "--max-new-tokens",
                        str(NEW), "--eos", "-1", "--page-size", str(PAGE), "--max-step-tokens",
                        str(STEP)] + options,
                       capture_output=True, text=True)
    if r.returncode != 0:
        return None, None, r.stderr[-1500:]
    got = {}
    for line in r.stdout.splitlines():
        m = re.match(r"ids\[(\d+)\]:(.*)", line)
        if m:
            got[int(m.group(1)) - 1] = [int(x) for x in m.group(2).split()]
    m = re.search(r"\((\d+) bytes\), at most (\d+) held at once, (\d+) released behind a window",
                  r.stderr)
    return got, tuple(map(int, m.groups())) if m else None, r.stderr


def main():
    tok_run, work, model = sys.argv[1:4]
    os.makedirs(work, exist_ok=True)
    rng = np.random.default_rng(5)
    vocab = 320
    prefix = [int(x) for x in rng.integers(0, vocab, 24)]
    prompts = [[int(x) for x in rng.integers(0, vocab, n)] for n in (1, 7, 45, 16, 3, 30)]
    prompts += [prefix + [int(x) for x in rng.integers(0, vocab, n)] for n in (2, 9, 5)]
    prompts += [prompts[1]]
    path = os.path.join(work, "prompts.jsonl")
    with open(path, "w") as f:
        for p in prompts:
            f.write("[" + ", ".join(map(str, p)) + "]\n")
    want = [alone(tok_run, model, p) for p in prompts]
    per_seq = -(-SINKS // PAGE) + -(-(RECENT + 1) // PAGE) + 1
    bound = per_seq * len(prompts) + -(-STEP // PAGE)

    full, full_stats, err = batch(tok_run, model, path, [])
    if full is None:
        print("without eviction: tok-run failed: " + err)
        return 1
    print("without eviction: at most %d pages held, %d released" % full_stats[1:])
    bad = 0
    runs = [("window", ["--pipeline", PIPELINE]),
            ("window, a pool of %d pages" % (bound + 10),
             ["--pipeline", PIPELINE, "--kv-pages", str(bound + 10)])]
    for name, options in runs:
        got, stats, err = batch(tok_run, model, path, options)
        if got is None:
            print("%s: tok-run failed: %s" % (name, err))
            bad += 1
            continue
        same = [got.get(i) == w for i, w in enumerate(want)]
        pool_bytes, held, released = stats
        print("%s: %d of %d sequences identical to alone; at most %d pages held (bound %d: %s), "
              "%d released" % (name, sum(same), len(same), held, bound,
                               "within" if held <= bound else "EXCEEDED", released))
        bad += not all(same) or held > bound or released == 0
        if "pool of" not in name:
            # The default pool is sized by the window, not the context.
            print("default pool: %d bytes with the window, %d without (%s)"
                  % (pool_bytes, full_stats[0],
                     "smaller" if pool_bytes < full_stats[0] else "NOT SMALLER"))
            bad += pool_bytes >= full_stats[0]
    if full_stats[1] <= bound + 10:
        print("the run without eviction fits the small pool; the test shows nothing")
        bad += 1
    # The window matters: the tokens differ from generation without it.
    plain, _, _ = batch(tok_run, model, path, [])
    print("tokens differ from the run without eviction for %d of %d sequences"
          % (sum(plain.get(i) != w for i, w in enumerate(want)), len(want)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
