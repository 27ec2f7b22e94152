"""tok-run generate --prompts (one batch) against each prompt generated
alone (tok-run generate --ids: the single-sequence path over a KV cache,
a separate compiled program).

Usage: batch_generate_check.py TOK_RUN WORKDIR MODEL

Prompts: ragged lengths (1 to 45 tokens), three sharing a 24-token prefix
(full pages of it are shared in the pool), two identical ones. Runs: the
default schedule; 4-slot pages with 8 tokens per step (prompts prefilled in
chunks beside other sequences' decode tokens, sequences joining and leaving
mid-batch); a pool too small for all at once (sequences wait and are
preempted, recomputed later). Every sequence's greedy tokens must equal its
tokens alone.
"""
import json
import os
import re
import subprocess
import sys

import numpy as np

NEW = 12


def alone(tok_run, model, ids):
    r = subprocess.run([tok_run, "generate", "--model", model, "--ids", ",".join(map(str, ids)),
                        "--max-new-tokens", str(NEW), "--eos", "-1", "--print-ids", "--quiet"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("tok-run generate failed: " + r.stderr)
    return [int(x) for x in r.stdout.split("ids:")[-1].split()]


def main():
    tok_run, work, model = sys.argv[1:4]
    os.makedirs(work, exist_ok=True)
    vocab = json.load(open(os.path.join(model, "config.json")))["vocab_size"]
    rng = np.random.default_rng(11)
    prefix = [int(x) for x in rng.integers(0, vocab, 24)]
    prompts = [[int(x) for x in rng.integers(0, vocab, n)] for n in (1, 7, 45, 16, 3)]
    prompts += [prefix + [int(x) for x in rng.integers(0, vocab, n)] for n in (2, 9, 5)]
    prompts += [prompts[1], prompts[1]]
    path = os.path.join(work, "prompts.jsonl")
    with open(path, "w") as f:
        for p in prompts:
            f.write(json.dumps(p) + "\n")
    want = [alone(tok_run, model, p) for p in prompts]
    runs = [("default schedule", []),
            ("4-slot pages, 8 tokens per step", ["--page-size", "4", "--max-step-tokens", "8"]),
            ("a pool of 18 pages", ["--page-size", "4", "--max-step-tokens", "16", "--kv-pages", "18"])]
    bad = 0
    for name, options in runs:
        r = subprocess.run([tok_run, "generate", "--model", model, "--prompts", path, "--max-new-tokens",
                            str(NEW), "--eos", "-1"] + options, capture_output=True, text=True)
        if r.returncode != 0:
            print("%s: tok-run failed: %s" % (name, r.stderr[-1500:]))
            bad += 1
            continue
        got = {}
        for line in r.stdout.splitlines():
            m = re.match(r"ids\[(\d+)\]:(.*)", line)
            if m:
                got[int(m.group(1)) - 1] = [int(x) for x in m.group(2).split()]
        same = [got.get(i) == w for i, w in enumerate(want)]
        stats = re.search(r"(\d+) steps .*?(\d+) prompt tokens from shared pages, (\d+) preemptions", r.stderr)
        print("%s: %d of %d sequences identical to alone (%s steps, %s shared prompt tokens, %s preemptions)"
              % (name, sum(same), len(same), *(stats.groups() if stats else ("?", "?", "?"))))
        bad += not all(same)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
