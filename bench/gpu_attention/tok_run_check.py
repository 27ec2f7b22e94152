#!/usr/bin/env python3
"""`tok-run --device=cuda` and `tok-run embed --device-cuda` on a GPU machine,
against the same commands on the host (the CPU path of the same build).

Run where tok-run's shared libraries (LLVM / MLIR 22) are installed and a
CUDA driver and device exist:

  python3 bench/gpu_attention/tok_run_check.py --tok-run build/bin/tok-run \\
      --out result.json

Checks (each prints a line and goes to the JSON):
  - attention functions (f16 GQA causal prefill, f16 decode through the
    launcher's split-KV path, f32 with a window and sinks): the GPU result
    against the CPU result, relative to the largest output;
  - a random BERT encoder (test/Integration/Inputs/bert_model.py): the
    sentence embeddings of `tok-run embed --device-cuda` against the host's.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "test", "Integration", "Inputs"))

# (name, dtype, Hq, Hk, T, S, D, mask, relative tolerance)
CASES = [
    ("f16_gqa_causal", "f16", 8, 2, 300, 300, 128, "#tok.mask<causal>", 1e-3),
    ("f16_decode", "f16", 8, 2, 1, 700, 64, "#tok.mask<causal>", 1e-3),
    ("f32_window", "f32", 4, 4, 40, 120, 32,
     "#tok.mask<causal, window = 16, sinks = 4>", 1e-5),
]


def attention_module(dtype, hq, hk, d, mask):
    q = f"tensor<{hq}x?x{d}x{dtype}>"
    kv = f"tensor<{hk}x?x{d}x{dtype}>"
    return (f"func.func @main(%q: {q}, %k: {kv}, %v: {kv}) -> {q} {{\n"
            f"  %o = tok.attention %q, %k, %v {{mask = {mask}}}\n"
            f"      : {q}, {kv}, {kv} -> {q}\n"
            f"  return %o : {q}\n}}\n")


def run(cmd):
    result = subprocess.run(cmd, capture_output=True, text=True)
    return result.returncode, result.stdout, result.stderr


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--tok-run", required=True)
    p.add_argument("--out", default="")
    args = p.parse_args()
    work = tempfile.mkdtemp(prefix="tok-run-check-")
    report, failed = [], 0

    for name, dtype, hq, hk, t, s, d, mask, tol in CASES:
        mlir = os.path.join(work, name + ".mlir")
        with open(mlir, "w") as f:
            f.write(attention_module(dtype, hq, hk, d, mask))
        rng = np.random.default_rng(3)
        np_type = {"f32": np.float32, "f16": np.float16}[dtype]
        inputs = []
        for key, shape in (("q", (hq, t, d)), ("k", (hk, s, d)),
                           ("v", (hk, s, d))):
            path = os.path.join(work, f"{name}_{key}.npy")
            np.save(path, rng.standard_normal(shape).astype(np_type))
            inputs.append(f"--input={path}")
        outs = {}
        for device in ("cpu", "cuda"):
            prefix = os.path.join(work, f"{name}_{device}_")
            rc, out, err = run([args.tok_run, mlir, f"--device={device}",
                                "--print-results=0", "--output", prefix] +
                               inputs)
            if rc != 0:
                print(f"{name}: tok-run --device={device} failed ({rc}): "
                      f"{err.strip()}")
                outs = None
                break
            outs[device] = np.load(prefix + "0.npy").astype(np.float64)
        if outs is None:
            failed += 1
            report.append(dict(name=name, ok=False))
            continue
        rel = float(np.abs(outs["cuda"] - outs["cpu"]).max() /
                    np.abs(outs["cpu"]).max())
        ok = rel <= tol
        failed += not ok
        print(f"{name:18s} tok-run --device=cuda vs cpu: max relative error "
              f"{rel:.2e} ({'ok' if ok else 'FAIL'}, tolerance {tol:g})")
        report.append(dict(name=name, max_rel_err=rel, tolerance=tol, ok=ok))

    # A BERT encoder end to end: attention on the GPU, the rest on the host.
    import bert_model
    model = os.path.join(work, "bert")
    bert_model.write(model, layers=2, dim=128, heads=4, hidden=256)
    texts = ["the cat sat on the mat", "hello , world !",
             "the dog ran on the mat . the cat sat"]
    # Plain, then with ToMe merging (proportional attention: key sizes).
    for label, pipeline in (("bert_embed", ""),
                            ("bert_embed_tome", "tok-token-merge{r=2}")):
        embeddings = {}
        for device in ("cpu", "cuda"):
            cmd = [args.tok_run, "embed", "--model", model, "--quiet",
                   f"--pipeline={pipeline}"]
            if device == "cuda":
                cmd.append("--device-cuda")
            for text in texts:
                cmd += ["--text", text]
            rc, out, err = run(cmd)
            if rc != 0:
                print(f"{label} ({device}) failed ({rc}): {err.strip()}")
                embeddings = None
                break
            embeddings[device] = np.array(
                [[float(x) for x in line.split()]
                 for line in out.splitlines() if line.strip()])
        if embeddings is None:
            failed += 1
            report.append(dict(name=label, ok=False))
            continue
        err = float(np.abs(embeddings["cuda"] - embeddings["cpu"]).max())
        ok = embeddings["cpu"].shape == (len(texts), 128) and err <= 1e-4
        failed += not ok
        print(f"{label:18s} tok-run embed --device-cuda vs cpu "
              f"({pipeline or 'no passes'}): {embeddings['cpu'].shape}, "
              f"max abs error {err:.2e} ({'ok' if ok else 'FAIL'}, "
              f"tolerance 1e-4)")
        report.append(dict(name=label, pipeline=pipeline, max_abs_err=err,
                           tolerance=1e-4, ok=ok))

    if args.out:
        with open(args.out, "w") as f:
            json.dump(report, f, indent=1)
    print(f"{failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
