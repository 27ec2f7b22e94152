"""Prints the Markdown tables of docs/performance.md from the JSON that
bench/attention/run.py writes.

Usage: python3 bench/attention/report.py [bench/results/attention.json]
"""

import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def num(x):
    return "-" if x is None else "%.2f" % x


def ratio(a, b):
    return "-" if a is None or b is None else "%.2fx" % (a / b)


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "bench", "results", "attention.json")
    with open(path) as f:
        r = json.load(f)
    lim = r["limits"]
    torch = r.get("torch")
    print("Measured %s on %d cores: fp32 FMA peak %.1f GFLOP/s (one core %.1f), "
          "streaming read bandwidth %.1f GB/s (one thread %.1f); NumPy %s; PyTorch %s."
          % (r["date"], r["cores"], lim["fma_gflops_all"], lim["fma_gflops_1"],
             lim["read_gbs_all"], lim["read_gbs_1"], r["numpy"], torch or "not measured"))
    print()
    print("Prefill, causal, `T = S`, `Hq = Hk = H`; useful FLOPs `2 H S² D`:")
    print()
    print("| H | S | D | tok GFLOP/s | PyTorch GFLOP/s | NumPy GFLOP/s | tok / PyTorch | tok / NumPy | tok / peak |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for row in r["rows"]:
        if row["kind"] != "prefill":
            continue
        pt, np_, tk = row.get("torch_gflops"), row["numpy_gflops"], row["tok_gflops"]
        print("| %d | %d | %d | %.2f | %s | %s | %s | %s | %.1f%% |" % (
            row["H"], row["S"], row["D"], tk, num(pt), num(np_), ratio(tk, pt), ratio(tk, np_),
            100 * tk / r["peak_gflops"]))
    print()
    print("Decode, `T = 1`, `H = 8`; bytes are K and V read once, `2 H S D · 4`:")
    print()
    print("| S | D | tok GB/s | PyTorch GB/s | NumPy GB/s | tok / PyTorch | tok / NumPy | tok / bandwidth |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for row in r["rows"]:
        if row["kind"] != "decode":
            continue
        pt, np_, tk = row.get("torch_gbs"), row["numpy_gbs"], row["tok_gbs"]
        print("| %d | %d | %.2f | %s | %.2f | %s | %s | %.0f%% |" % (
            row["S"], row["D"], tk, num(pt), np_, ratio(tk, pt), ratio(tk, np_), 100 * tk / r["read_gbs"]))


if __name__ == "__main__":
    main()
