"""Checks tok against Hugging Face transformers on the committed fixtures
(test/Integration/Inputs/hf/<arch>: a small random-weight checkpoint that
transformers wrote with save_pretrained, and what it computed for it in
float32, by bench/conformance/make_fixtures.py).

Usage: hf_conformance.py TOK_IMPORT TOK_RUN WORKDIR FIXTURES [ARCH ...]
       hf_conformance.py --generate TOK_RUN FIXTURE [tok-run options...]
         (greedy tokens of `tok-run generate` with the options, e.g. a
          --pipeline, against transformers' greedy continuation)

Per architecture: the prompt's logits through tok's @forward (tok-import
--teacher, f32 weights) against transformers' logits, max |difference|
over max |logit| within 1e-4; and `tok-run generate` (greedy, 32 tokens,
eos off) against transformers' greedy continuation, identical ids.
"""
import json
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from llama_forward import read_safetensors  # noqa: E402

TOLERANCE = 1e-4


def check(tok_import, tok_run, work, model):
    ref = json.load(open(os.path.join(model, "reference.json")))
    want = np.load(os.path.join(model, "reference_logits.npy"))
    weights = read_safetensors(os.path.join(model, "model.safetensors"))
    mlir = os.path.join(work, "model.mlir")
    if os.path.exists(mlir):
        os.remove(mlir)
    r = subprocess.run([tok_import, model, "-o", mlir, "--cache-capacity=64", "--f32-weights",
                        "--teacher"], capture_output=True, text=True)
    if r.returncode != 0:
        return "tok-import failed: " + r.stderr.strip()
    names = []
    for line in open(mlir):
        if line.lstrip().startswith("func.func @forward"):
            names = [s.split('"')[0] for s in line.split('tok.weight = "')[1:]]
    ids = np.array(ref["prompt"], np.int32)
    args = [ids, np.arange(len(ids), dtype=np.int32)] + [np.asarray(weights[n], np.float32) for n in names]
    inputs = []
    for i, a in enumerate(args):
        path = os.path.join(work, "arg%d.npy" % i)
        np.save(path, np.ascontiguousarray(a))
        inputs.append("--input=" + path)
    out = os.path.join(work, "logits")
    if os.path.exists(out + "0.npy"):
        os.remove(out + "0.npy")
    r = subprocess.run([tok_run, mlir, "-e", "forward", "--output=" + out, "--print-results=false"] + inputs,
                       capture_output=True, text=True)
    if r.returncode != 0:
        return "tok-run forward failed: " + r.stderr.strip()
    got = np.load(out + "0.npy")
    if got.shape != want.shape:
        return "logits of shape %s, transformers %s" % (got.shape, want.shape)
    err = float(np.abs(got - want).max() / np.abs(want).max())
    return "logits max relative error %.2e (%s), %s" % (
        err, "ok" if err <= TOLERANCE else "MISMATCH", generate(tok_run, model, ref, []))


def generate(tok_run, model, ref, options):
    """tok-run generate's greedy tokens against transformers'."""
    r = subprocess.run([tok_run, "generate", "--model", model, "--ids", ",".join(map(str, ref["prompt"])),
                        "--max-new-tokens", str(len(ref["greedy"])), "--eos", "-1", "--print-ids", "--quiet"]
                       + options, capture_output=True, text=True)
    if r.returncode != 0:
        return "tok-run generate failed: " + r.stderr.strip()
    lines = [l for l in r.stdout.splitlines() if l.startswith("ids:")]
    tokens = [int(x) for x in lines[-1].split()[1:]] if lines else []
    same = tokens == ref["greedy"]
    first = next((i for i, (a, b) in enumerate(zip(tokens, ref["greedy"])) if a != b), None)
    return "greedy %d tokens %s" % (len(ref["greedy"]), "identical" if same else "MISMATCH from token %s" % first)


def main():
    if sys.argv[1] == "--generate":
        tok_run, model = sys.argv[2:4]
        ref = json.load(open(os.path.join(model, "reference.json")))
        msg = generate(tok_run, model, ref, sys.argv[4:])
        print("%s %s: %s" % (os.path.basename(model), " ".join(sys.argv[4:]), msg))
        return 1 if "MISMATCH" in msg or "failed" in msg else 0
    tok_import, tok_run, work, fixtures = sys.argv[1:5]
    archs = sys.argv[5:] or sorted(os.listdir(fixtures))
    bad = 0
    for arch in archs:
        d = os.path.join(work, arch)
        os.makedirs(d, exist_ok=True)
        msg = check(tok_import, tok_run, d, os.path.join(fixtures, arch))
        print("%s: %s" % (arch, msg))
        bad += "MISMATCH" in msg or "failed" in msg or "shape" in msg
    print("%d of %d architectures conform" % (len(archs) - bad, len(archs)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
