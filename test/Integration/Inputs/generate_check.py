"""Checks `tok-run generate` against greedy decoding with the independent
NumPy forward pass of llama_forward.py (float64, the whole sequence
recomputed at every step: no cache).

usage: generate_check.py TOK_RUN TOK_IMPORT WORKDIR MODEL [--llama2c] [--new N]

MODEL is "builtin" (exported with tok-import --export-hf for the
reference), "random-qwen2" (GQA, q/k/v biases, untied head),
"random-llama-bf16-sharded" (tied embeddings, bf16 weights in two shards
with an index), or a Hugging Face directory. With --llama2c tok-run reads
MODEL/model.bin while the reference reads the Hugging Face copy.

Tokens must be identical, except where the reference's top two logits are
within 1e-5 of the largest logit (a float32 near-tie, reported); the
reference then follows tok's choice.
"""
import json
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from llama_forward import random_llama_bf16_sharded, random_qwen2, read_weights, reference  # noqa: E402


def main():
    tok_run, tok_import, work, model = sys.argv[1:5]
    rest = sys.argv[5:]
    llama2c = "--llama2c" in rest
    new = int(rest[rest.index("--new") + 1]) if "--new" in rest else 12
    # --evict-window S,R: tok-run runs tok-kv-evict's window policy (S sinks,
    # R recent, one token per step); the reference attends to the first S
    # positions and a sliding window of R + 1 (the R kept plus the new one).
    evict = None
    if "--evict-window" in rest:
        evict = [int(x) for x in rest[rest.index("--evict-window") + 1].split(",")]
    # --evict-layers full,S:R,FSSF@S:R,...: tok-run runs tok-kv-evict with a
    # profile, one entry per layer: "full" (no eviction), the window policy
    # with S sinks and R recent, or per KV head F (full) / S (streamed with
    # S:R); the reference does the same per layer and head.
    layers = None
    if "--evict-layers" in rest:
        layers = []
        for e in rest[rest.index("--evict-layers") + 1].split(","):
            heads, _, rule = e.rpartition("@")
            layers.append(None if e == "full" else (heads, tuple(int(x) for x in rule.split(":"))))
    os.makedirs(work, exist_ok=True)
    run_model = model
    if model == "builtin":
        model = os.path.join(work, "builtin")
        if not os.path.exists(os.path.join(model, "config.json")):
            subprocess.run([tok_import, "builtin", "--export-hf", model, "-o", os.devnull], check=True)
    elif model == "random-qwen2":
        model = run_model = random_qwen2(work)
    elif model == "random-llama-bf16-sharded":
        model = run_model = random_llama_bf16_sharded(work)
    if llama2c:
        run_model = os.path.join(model, "model.bin")
    cfg = json.load(open(os.path.join(model, "config.json")))
    W = read_weights(model)
    extra = []
    if evict:
        sinks, recent = evict
        cfg = dict(cfg, tok_sinks=sinks, tok_window=recent + 1)
        extra = ["--pipeline", "tok-kv-evict{policy=window budget=%d sinks=%d recent=%d chunk=1}"
                 % (sinks + recent, sinks, recent)]
    if layers:
        rules, entries = [], []
        for e in layers:
            if e is None:
                rules.append(None)
                entries.append("full")
                continue
            heads, (s, r) = e
            entry = {"policy": "window", "budget": s + r, "sinks": s, "recent": r}
            if heads:
                entry["heads"] = ["full" if h == "F" else "stream" for h in heads]
                rules.append([None if h == "F" else (s, r + 1) for h in heads])
            else:
                rules.append((s, r + 1))
            entries.append(entry)
        cfg = dict(cfg, tok_layer_windows=rules)
        profile = os.path.join(work, "profile.json")
        with open(profile, "w") as f:
            json.dump({"layers": entries}, f)
        extra = ["--pipeline", "tok-kv-evict{profile=%s chunk=1}" % profile]
    V = cfg["vocab_size"]
    prompt = [int(b) % V for b in b"def fib(n):"]

    r = subprocess.run([tok_run, "generate", "--model", run_model, "--ids", ",".join(map(str, prompt)),
                        "--max-new-tokens", str(new), "--print-ids", "--quiet", "--eos", "-1"] + extra,
                       capture_output=True, text=True)
    if r.returncode != 0:
        print("tok-run failed:", r.stderr[-3000:])
        return 1
    got = [int(t) for t in r.stdout.strip().splitlines()[-1].split()[1:]]

    ids, ties, ok = list(prompt), 0, len(got) == new
    for i in range(min(new, len(got))):
        logits = reference(cfg, W, np.array(ids), np.arange(len(ids)))[-1]
        want = int(logits.argmax())
        if got[i] != want:
            gap = logits[want] - logits[got[i]]
            if gap <= 1e-5 * np.abs(logits).max():
                ties += 1
            else:
                print("MISMATCH at token %d: tok %d, numpy %d (logit gap %.3g)" % (i, got[i], want, gap))
                ok = False
                break
        ids.append(got[i])
    print("%s%s%s: %d tokens after a %d-token prompt, %d near-ties: %s"
          % (cfg["model_type"], " (llama2.c)" if llama2c else "",
             " (window eviction %d+%d)" % tuple(evict) if evict else
             " (per-layer eviction %s)" % ",".join(
                 "full" if e is None else (e[0] + "@" if e[0] else "") + "%d+%d" % e[1] for e in layers)
             if layers else "", len(got), len(prompt), ties,
             "identical" if ok else "DIFFERENT"))
    print("ids:", " ".join(map(str, got)))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
