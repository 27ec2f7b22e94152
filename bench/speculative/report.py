"""Prints the Markdown table of docs/performance.md from the JSON that
bench/speculative/run.py writes.

Usage: python3 bench/speculative/report.py [bench/results/speculative.json]
       (or speculative_layer_skip.json, speculative_draft_model.json)
"""

import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "bench", "results", "speculative.json")
    with open(path) as f:
        r = json.load(f)
    rows = r["rows"]
    # The n-gram table, --layer-skip's (a skip column) or --draft-model's
    # (target, draft and the draft's own rate).
    skip = any("skip" in row for row in rows)
    draft = any("draft" in row for row in rows)
    match = any("match" in row for row in rows)
    head = ["target", "draft", "prompt", "k", "draft tokens/s"] if draft else \
        ["model", "prompt", "skip", "k"] if skip else ["model", "prompt", "k"] + (["match"] if match else [])
    head += ["plain tokens/s", "speculative tokens/s", "speedup", "drafts accepted", "target calls / token",
             "identical"]
    print("Measured %s on %d cores:" % (r["date"], r["cores"]))
    print()
    print("| " + " | ".join(head) + " |")
    print("| " + " | ".join("---" for _ in head) + " |")
    for row in rows:
        stats = "accepted" in row
        cells = [row["target"], row["draft"], row["prompt"], str(row["k"]), "%.1f" % row["draft_tps"]] if draft \
            else [row["model"], row["prompt"], row["skip"], str(row["k"])] if skip \
            else [row["model"], row["prompt"], str(row["k"])] + ([row.get("match", "-")] if match else [])
        # Median of interleaved pairs with their range (older JSON: one
        # best-of-2 figure).
        speedup = "%.2fx" % row["speedup"]
        if "speedup_min" in row:
            speedup += " (%.2f-%.2f)" % (row["speedup_min"], row["speedup_max"])
        cells += ["%.1f" % row["plain_tps"], "%.1f" % row["spec_tps"], speedup,
                  "%d / %d" % (row["accepted"], row["drafted"]) if stats else "-",
                  "%.2f" % (row["calls"] / row["tokens"]) if stats else "-",
                  "yes" if row["identical"] else "NO"]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
