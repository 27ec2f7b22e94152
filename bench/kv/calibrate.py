"""Writes a per-head KV eviction profile for tok-kv-evict{profile=...} from a
model's attention on calibration text (RazorAttention / DuoAttention style:
a few "retrieval" heads keep the whole cache, the others stream with sinks
and a recent window).

Usage: python3 bench/kv/calibrate.py [--model DIR] [--out profile.json]
           [--full-fraction 0.25] [--budget 128] [--sinks 4] [--length 512]
           [--text FILE ...] [--random SEED]

The score of a (layer, KV head) is the attention mass its queries put
outside what streaming would keep (the first `sinks` positions and the
`budget - sinks` most recent), averaged over the query positions where the
window binds and over the group's query heads, from the independent NumPy
forward pass (test/Integration/Inputs/llama_forward.py) over `--length`
tokens of each calibration text. The `--full-fraction` of all heads with the
highest scores keep everything ("full"); every other head streams with the
given sinks and window. A layer whose heads all keep everything is "full".
With --random SEED the full heads are drawn at random instead (the control:
same memory, no calibration).

The default calibration texts are Python standard-library modules other
than the one bench/kv/run.py evaluates on (json/decoder.py).
"""

import argparse
import json
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "test", "Integration", "Inputs"))
from llama_forward import read_weights, reference  # noqa: E402


def head_scores(model, texts, length, sinks, recent):
    """[layers, kv heads] mean attention mass outside sinks + recent window."""
    cfg = json.load(open(os.path.join(model, "config.json")))
    W = read_weights(model)
    layers, hq = cfg["num_hidden_layers"], cfg["num_attention_heads"]
    hk = cfg.get("num_key_value_heads", hq)
    total = np.zeros((layers, hk))
    count = np.zeros((layers, hk))
    for path in texts:
        ids = [b % cfg["vocab_size"] for b in open(path, "rb").read()[:length]]
        T = len(ids)
        q = np.arange(T)[:, None]
        p = np.arange(T)[None, :]
        # What streaming keeps for query q: sinks, and the `recent` slots up
        # to and including q (tok-kv-evict with one token per step).
        kept = (p < sinks) | ((q - p < recent) & (p <= q))
        rows = np.arange(T) >= sinks + recent  # the window binds

        def hook(layer, _, kv, probs):
            outside = np.where(kept, 0.0, probs).sum(-1)
            total[layer, kv] += outside[rows].mean()
            count[layer, kv] += 1

        reference(cfg, W, np.array(ids), np.arange(T), attn_hook=hook)
    return total / np.maximum(count, 1)


def profile(full, sinks, budget):
    layers = []
    for heads in full:
        if heads.all():
            layers.append("full")
            continue
        entry = {"policy": "window", "budget": budget, "sinks": sinks, "recent": budget - sinks}
        if heads.any():
            entry["heads"] = ["full" if f else "stream" for f in heads]
        layers.append(entry)
    return {"layers": layers}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=os.path.join(os.path.dirname(ROOT), "shared", "models", "pyllama-4m"))
    ap.add_argument("--out", default="-")
    ap.add_argument("--full-fraction", type=float, default=0.25)
    ap.add_argument("--budget", type=int, default=128, help="slots of a streamed head")
    ap.add_argument("--sinks", type=int, default=4)
    ap.add_argument("--length", type=int, default=512)
    stdlib = os.path.dirname(os.__file__)
    ap.add_argument("--text", nargs="+",
                    default=[os.path.join(stdlib, "json", "encoder.py"), os.path.join(stdlib, "textwrap.py")])
    ap.add_argument("--random", type=int, default=None, help="choose the full heads at random (control)")
    args = ap.parse_args()
    if not 0 < args.sinks < args.budget:
        sys.exit("calibrate.py: need 0 < sinks < budget")

    scores = head_scores(args.model, args.text, args.length, args.sinks, args.budget - args.sinks)
    n_full = int(round(args.full_fraction * scores.size))
    if args.random is not None:
        order = np.random.default_rng(args.random).permutation(scores.size)
    else:
        order = np.argsort(-scores, axis=None, kind="stable")
    full = np.zeros(scores.size, bool)
    full[order[:n_full]] = True
    full = full.reshape(scores.shape)
    result = profile(full, args.sinks, args.budget)
    result_text = json.dumps(result)
    print("calibrate.py: mass outside %d sinks + %d recent, per layer x KV head:" % (
        args.sinks, args.budget - args.sinks), file=sys.stderr)
    for l, row in enumerate(scores):
        print("  layer %d: %s" % (l, " ".join("%.3f%s" % (s, "*" if f else " ") for s, f in zip(row, full[l]))),
              file=sys.stderr)
    print("calibrate.py: %d of %d heads keep everything (*)%s" % (
        n_full, scores.size, " (random, seed %d)" % args.random if args.random is not None else ""),
        file=sys.stderr)
    if args.out == "-":
        print(result_text)
    else:
        with open(args.out, "w") as f:
            f.write(result_text + "\n")


if __name__ == "__main__":
    main()
