"""tok-run embed against the NumPy reference encoder (bert_reference.py)
and, where Hugging Face's tokenizers library is installed, its token ids
against that library's.

usage: bert_embed_check.py <tok-run> <work dir> (--minilm DIR | --random)
                           [--merge "PIPELINE=r0,r1,..."]...

With --merge, the embeddings under that tok-token-merge pipeline are
checked against the reference encoder with ToMe and those r per layer;
with --prune "PIPELINE=keep;layers;score" (layers comma separated or
empty for all), against the reference with that pruning.

Tolerance: every embedding component within 1e-5 absolute of the float64
reference (float32 kernels and a polynomial erf; measured ~1e-7).
"""
import argparse
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import bert_model  # noqa: E402
import bert_reference as ref  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("tok_run")
p.add_argument("work")
p.add_argument("--minilm")
p.add_argument("--random", action="store_true")
p.add_argument("--merge", action="append", default=[])
p.add_argument("--prune", action="append", default=[])
a = p.parse_args()
os.makedirs(a.work, exist_ok=True)

if a.minilm:
    model = a.minilm
    name = "minilm"
    sentences = [
        "Hello world, this is a test.",
        "A second sentence!",
        "Ünïcödé café — naïve résumé, ÀÉÎÕÜ ß İstanbul.",
        "日本語のテスト, 中文 and 한국어 text",
        "tabs\tand\nnewlines  and   spaces",
        "[CLS] literal special tokens [MASK] inside [SEP]",
        "x" * 120 + " overlong words become unknown",
        "don't stop-believing... 3.14 $100 #hashtag @user <html>",
    ]
    normalize = True
else:
    model = os.path.join(a.work, "random-bert")
    bert_model.write(model, seed=3)
    name = "random"
    sentences = ["the cat sat on the mat", "Hello, world!",
                 "unable playing cats", "café CAFE Cafe", "zzz qqq the",
                 "the dog ran ! ? . ,"]
    normalize = False

cfg, w = ref.load(model)


def run(pipeline=""):
    args = [a.tok_run, "embed", "--model", model, "--print-ids", "--quiet",
            "--normalize=%d" % normalize, "--pipeline", pipeline]
    for s in sentences:
        args += ["--text", s]
    out = subprocess.run(args, capture_output=True, text=True)
    if out.returncode != 0:
        print("FAIL: tok-run embed exited with %d: %s" % (out.returncode,
                                                          out.stderr))
        sys.exit(1)
    lines = out.stdout.splitlines()
    assert len(lines) == 2 * len(sentences), lines
    return lines


lines = run()

try:
    from tokenizers import Tokenizer
    hf = Tokenizer.from_file(os.path.join(model, "tokenizer.json"))
    hf.no_padding()
    hf.no_truncation()
except ImportError:
    hf = None

failed = 0
worst = 0.0
for i, s in enumerate(sentences):
    ids = [int(x) for x in lines[2 * i].split()[1:]]
    if hf is not None:
        want = hf.encode(s).ids
        if ids != want:
            print("MISMATCH ids of %r: tok %s, tokenizers %s" % (s, ids, want))
            failed += 1
            continue
    got = np.array([float(x) for x in lines[2 * i + 1].split()])
    expect = ref.embed(cfg, w, ids, normalize)
    err = float(np.abs(got - expect).max())
    worst = max(worst, err)
    if not err <= 1e-5:
        print("MISMATCH embedding of %r: max error %.3g" % (s, err))
        failed += 1
print("embed %s: %d of %d sentences match%s (worst error below 1e-5: %s)"
      % (name, len(sentences) - failed, len(sentences),
         " with tokenizers' ids" if hf is not None else "",
         worst <= 1e-5))

specs = [(spec.rsplit("=", 1)[0], dict(
    merge_r=[int(x) for x in spec.rsplit("=", 1)[1].split(",")],
    merge_metric="hidden" if "metric=hidden" in spec else "keys"), "ToMe")
    for spec in a.merge]
for spec in a.prune:
    pipeline, args = spec.rsplit("=", 1)
    keep, layers, score = args.split(";")
    specs.append((pipeline, dict(prune=dict(
        keep=float(keep), score=score,
        layers=[int(x) for x in layers.split(",")] if layers else None)),
        "pruning"))
for pipeline, kw, what in specs:
    merged = run(pipeline)
    bad = 0
    for i, s in enumerate(sentences):
        ids = [int(x) for x in merged[2 * i].split()[1:]]
        got = np.array([float(x) for x in merged[2 * i + 1].split()])
        expect = ref.embed(cfg, w, ids, normalize, **kw)
        err = float(np.abs(got - expect).max())
        if not err <= 1e-5:
            print("MISMATCH %s on %r: max error %.3g" % (pipeline, s, err))
            bad += 1
    failed += bad
    print("embed %s %s: %d of %d sentences match the %s reference"
          % (name, pipeline, len(sentences) - bad, len(sentences), what))
sys.exit(1 if failed else 0)
