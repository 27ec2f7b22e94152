"""Prints the Markdown tables of docs/performance.md from the JSON that
bench/attention/run.py writes.

Usage: python3 bench/attention/report.py [bench/results/attention.json]
"""

import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "bench", "results", "attention.json")
    with open(path) as f:
        r = json.load(f)
    lim = r["limits"]
    print("Measured %s on %d cores: fp32 FMA peak %.1f GFLOP/s (one core %.1f), "
          "streaming read bandwidth %.1f GB/s (one thread %.1f); NumPy %s."
          % (r["date"], r["cores"], lim["fma_gflops_all"], lim["fma_gflops_1"],
             lim["read_gbs_all"], lim["read_gbs_1"], r["numpy"]))
    print()
    print("Prefill, causal, `T = S`, `Hq = Hk = H`; useful FLOPs `2 H S² D`:")
    print()
    print("| H | S | D | tok GFLOP/s | NumPy GFLOP/s | tok / NumPy | tok / peak |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for row in r["rows"]:
        if row["kind"] != "prefill":
            continue
        np_ = row["numpy_gflops"]
        print("| %d | %d | %d | %.2f | %s | %s | %.1f%% |" % (
            row["H"], row["S"], row["D"], row["tok_gflops"],
            "-" if np_ is None else "%.2f" % np_,
            "-" if np_ is None else "%.2fx" % (row["tok_gflops"] / np_),
            100 * row["tok_gflops"] / r["peak_gflops"]))
    print()
    print("Decode, `T = 1`, `H = 8`; bytes are K and V read once, `2 H S D · 4`:")
    print()
    print("| S | D | tok GB/s | NumPy GB/s | tok / NumPy | tok / bandwidth |")
    print("| --- | --- | --- | --- | --- | --- |")
    for row in r["rows"]:
        if row["kind"] != "decode":
            continue
        print("| %d | %d | %.2f | %.2f | %.2fx | %.0f%% |" % (
            row["S"], row["D"], row["tok_gbs"], row["numpy_gbs"],
            row["tok_gbs"] / row["numpy_gbs"], 100 * row["tok_gbs"] / r["read_gbs"]))


if __name__ == "__main__":
    main()
