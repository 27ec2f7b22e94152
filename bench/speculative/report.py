"""Prints the Markdown table of docs/performance.md from the JSON that
bench/speculative/run.py writes.

Usage: python3 bench/speculative/report.py [bench/results/speculative.json]
"""

import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "bench", "results", "speculative.json")
    with open(path) as f:
        r = json.load(f)
    print("Measured %s on %d cores:" % (r["date"], r["cores"]))
    print()
    print("| model | prompt | k | plain tokens/s | speculative tokens/s | speedup | drafts accepted "
          "| target calls / token | identical |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for row in r["rows"]:
        stats = "accepted" in row
        print("| %s | %s | %d | %.1f | %.1f | %.2fx | %s | %s | %s |" % (
            row["model"], row["prompt"], row["k"], row["plain_tps"], row["spec_tps"], row["speedup"],
            "%d / %d" % (row["accepted"], row["drafted"]) if stats else "-",
            "%.2f" % (row["calls"] / row["tokens"]) if stats else "-",
            "yes" if row["identical"] else "NO"))


if __name__ == "__main__":
    main()
