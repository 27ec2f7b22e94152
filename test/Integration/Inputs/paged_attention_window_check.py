"""tok.paged_attention with a window over page tables whose entries for
pages wholly outside every row's window and sinks are -1, as the serving
scheduler leaves them after releasing those pages (window eviction per
sequence): the kernel and its run-time checks must never read them.
Against the NumPy reference of paged_attention_check.py (float64, the mask
on positions). An entry the window does show that is -1 still stops the
program with the table check's message.

Usage: paged_attention_window_check.py TOK_RUN WORKDIR
"""
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from attention_check import parse  # noqa: E402
from paged_attention_check import make_case, module, reference  # noqa: E402


def release(c):
    """Sets to -1 each sequence's entries of pages no row of it sees: no
    sink on the page and its last position before the first row's window.
    Returns how many."""
    window, sinks, page = c["mask"]["window"], c["mask"].get("sinks", 0), c["page_size"]
    released = 0
    for b in range(c["tables"].shape[0]):
        rows = [int(p) for s, p in zip(c["row_seqs"], c["positions"]) if s == b]
        if not rows:
            continue
        visible_from = min(rows) + 1 - window
        for k in range(c["tables"].shape[1]):
            if k * page >= sinks and (k + 1) * page <= visible_from:
                c["tables"][b, k] = -1
                released += 1
    return released


def cases(rng):
    return [
        ("window 7, sinks 2, 4-slot pages",
         make_case(rng, 4, 2, 16, 40, 4, [50, 13, 33], [5, 2, 1], mask=dict(window=7, sinks=2))),
        ("window 16, 16-slot pages (blocks in one page)",
         make_case(rng, 4, 2, 32, 16, 16, [70, 40], [1, 3], mask=dict(window=16))),
        ("window 9, sinks 5 over two pages",
         make_case(rng, 2, 1, 16, 40, 4, [60, 31], [4, 1], mask=dict(window=9, sinks=5))),
    ]


def main():
    tok_run, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    rng = np.random.default_rng(3)
    failures = 0
    all_cases = cases(rng)
    for i, (name, c) in enumerate(all_cases):
        n = release(c)
        path = os.path.join(work, "case%d.mlir" % i)
        with open(path, "w") as f:
            f.write(module(c))
        run = subprocess.run([tok_run, path], capture_output=True, text=True)
        if run.returncode != 0:
            print("%s: tok-run failed: %s" % (name, run.stderr[-2000:]))
            failures += 1
            continue
        got = parse(run.stdout)[0]
        want = reference(c).reshape(-1)
        ok = got.shape == want.shape and bool(np.all(np.abs(got - want) <= 1e-5 + 1e-4 * np.abs(want)))
        err = float(np.abs(got - want).max()) if got.shape == want.shape else float("inf")
        print("%s: %d entries released, %s (max abs err %.3g)" % (name, n, "ok" if ok else "MISMATCH", err))
        failures += 0 if ok else 1
    # A visible entry released by mistake: the check stops the program.
    c = all_cases[0][1]
    b, p = int(c["row_seqs"][0]), int(c["positions"][0])
    c["tables"][b, p // c["page_size"]] = -1
    path = os.path.join(work, "bad.mlir")
    with open(path, "w") as f:
        f.write(module(c))
    run = subprocess.run([tok_run, path], capture_output=True, text=True)
    msg = [l for l in run.stderr.splitlines() if "tok." in l]
    print("visible entry -1: exit %s, %s" % ("non-zero" if run.returncode else "0",
                                             msg[0].strip() if msg else run.stderr[-300:]))
    print("%d of %d cases within tolerance" % (len(all_cases) - failures, len(all_cases)))


if __name__ == "__main__":
    main()
