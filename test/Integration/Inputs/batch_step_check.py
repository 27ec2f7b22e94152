"""@batch_step (tok-import --batch-pages) against transformers.

Usage: batch_step_check.py TOK_IMPORT TOK_RUN WORKDIR FIXTURE...

One step packs two sequences: a fixture's 20-token prompt (sequence 0) and
a 13-token unrelated prompt (sequence 1), their rows shuffled together,
each sequence's positions on pages drawn at random from the pool (page
size 4), stale table entries past each sequence's pages. The logits of
every row of sequence 0 must equal transformers' logits of the prompt
alone (reference_logits.npy, bench/conformance/make_fixtures.py) within
1e-4 of the largest: pools, page tables and packing change nothing a
sequence computes. The pools are the caller's buffers (zeros here),
updated in place.
"""
import json
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from llama_forward import read_safetensors  # noqa: E402

PAGES, PAGE = 24, 4


def check(tok_import, tok_run, work, model):
    os.makedirs(work, exist_ok=True)
    ref = json.load(open(os.path.join(model, "reference.json")))
    want = np.load(os.path.join(model, "reference_logits.npy"))
    config = json.load(open(os.path.join(model, "config.json")))
    weights = read_safetensors(os.path.join(model, "model.safetensors"))
    mlir = os.path.join(work, "batch.mlir")
    # 64 positions at most: Phi-3 keeps LongRoPE's short factors, as transformers
    # does for this prompt.
    r = subprocess.run([tok_import, model, "-o", mlir, "--f32-weights", "--cache-capacity=64", "--batch-pages", str(PAGES),
                        "--page-size", str(PAGE)], capture_output=True, text=True)
    if r.returncode != 0:
        return "tok-import failed: " + r.stderr
    names = []
    for line in open(mlir):
        if line.lstrip().startswith("func.func @batch_step"):
            names = [s.split('"')[0] for s in line.split('tok.weight = "')[1:]]
    rng = np.random.default_rng(3)
    a = np.array(ref["prompt"], np.int32)
    b = rng.integers(0, config["vocab_size"], 13).astype(np.int32)
    pages = rng.permutation(PAGES)
    table = np.full((2, 6), 10 ** 6, np.int32)  # entries past a sequence: never read
    table[0, :5] = pages[:5]
    table[1, :4] = pages[5:9]
    rows = [(0, p) for p in range(20)] + [(1, p) for p in range(13)]
    order = rng.permutation(len(rows))
    rows = [rows[i] for i in order]
    ids = np.array([(a if s == 0 else b)[p] for s, p in rows], np.int32)
    pos = np.array([p for _, p in rows], np.int32)
    seqs = np.array([s for s, _ in rows], np.int32)
    slots = np.array([table[s, p // PAGE] * PAGE + p % PAGE for s, p in rows], np.int32)
    sample = np.array([rows.index((0, p)) for p in range(20)], np.int32)
    hk = config.get("num_key_value_heads", config["num_attention_heads"])
    d = config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"]
    pool = np.zeros((hk, PAGES * PAGE, d), np.float32)
    args = [ids, pos, slots, seqs, table, sample] + [np.asarray(weights[n], np.float32) for n in names]
    args += [pool] * (2 * config["num_hidden_layers"])
    inputs = []
    for i, x in enumerate(args):
        path = os.path.join(work, "arg%d.npy" % i)
        np.save(path, np.ascontiguousarray(x))
        inputs.append("--input=" + path)
    out = os.path.join(work, "logits")
    if os.path.exists(out + "0.npy"):
        os.remove(out + "0.npy")
    r = subprocess.run([tok_run, mlir, "-e", "batch_step", "--output=" + out, "--print-results=false"] + inputs,
                       capture_output=True, text=True)
    if r.returncode != 0:
        return "tok-run failed: " + r.stderr[-2000:]
    got = np.load(out + "0.npy")
    err = float(np.abs(got - want).max() / np.abs(want).max()) if got.shape == want.shape else float("inf")
    return "logits max relative error %.2e (%s)" % (err, "ok" if err <= 1e-4 else "MISMATCH")


def main():
    tok_import, tok_run, work = sys.argv[1:4]
    bad = 0
    for model in sys.argv[4:]:
        name = os.path.basename(model.rstrip("/"))
        msg = check(tok_import, tok_run, os.path.join(work, name), model)
        print("%s: %s" % (name, msg))
        bad += "ok" not in msg
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
