"""Speculative decoding benchmark: tok-run generate with
tok-speculative-decoding (n-gram drafter) against plain greedy decoding of
the same model in the same run, and a check that the output is identical.

Usage: python3 bench/speculative/run.py [--quick] [--layer-skip | --draft-model [--draft DIR]]
                                       [--models LIST] [--pairs 3] [--repeat 5]
                                       [--match recent,earliest] [--tok-run PATH] [--json OUT]

--layer-skip: self-speculation (drafter=layer_skip, --draft-skip schedules)
instead of the n-gram drafter. --draft-model: a separate draft model
(drafter=model; the 0.4M-parameter draft of train_draft.py, trained into
--draft on first use, and the target's first two layers).

Models: the built-in model (random weights, in memory), the trained
pyllama-4m (../shared/models, skipped if absent) and the 110M Llama-2
shape with random weights (written by bench/decode's helpers; bandwidth
bound). Prompts: a repetitive Python prompt (the same statement pattern
over and over) and ordinary Python; the n-gram mode adds twelve
assignments that the trained pyllama-4m continues in kind (--prompts and
--k select a subset). Each configuration runs --pairs
interleaved pairs of processes, plain greedy decoding then speculative,
each generating --repeat times with its compiled code (tok-run generate
--repeat; the median decode rate, tokens after the first, compile time
excluded), and reports the median of the pairs' speedups with their range,
the drafts accepted, and target calls per generated token. The n-gram
drafter runs once per --match rule (recent, the default, and earliest,
vLLM's), all against the same plain processes. The 110M shape
is in every mode (n-gram, layer skip: half or all but two of its 12
layers skipped, draft model: its first two layers); --quick leaves it out
(and, for the n-gram drafter, runs k = 4 only). report.py prints any of
the three JSON files as a Markdown table.
"""

import argparse
import importlib.util
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.path.join(os.path.dirname(ROOT), "shared", "models", "pyllama-4m")

REPETITIVE = "".join("    self.assertEqual(result[%d], expected[%d])\n" % (i, i) for i in range(6))
REPETITIVE = "def test_values(self):\n    result = compute()\n    expected = load()\n" + REPETITIVE
ORDINARY = ("import os\nimport sys\n\n\ndef read_lines(path):\n    with open(path) as f:\n"
            "        return [line.rstrip() for line in f]\n\n\ndef main():\n    ")


PROMPTS = (("repetitive", REPETITIVE), ("ordinary", ORDINARY))
# For the n-gram drafter also: twelve assignments that pyllama-4m continues
# in kind (it falls into repeating a line), unlike the six assertions.
ASSIGNMENTS = "".join("    x%d = data[%d]\n" % (i, i) for i in range(12))
NGRAM_PROMPTS = PROMPTS + (("assignments", ASSIGNMENTS),)
# Random weights, vocabulary 32000: token ids, not text.
PROMPTS_110M = (("ids 1..8 x2", [1, 2, 3, 4, 5, 6, 7, 8] * 2),)


ALL_MODELS = "built-in,pyllama-4m,110m"


def result_path(args, name):
    """bench/results/<name>, with the --models subset as a suffix."""
    if args.models != ALL_MODELS:
        stem, ext = os.path.splitext(name)
        name = "%s_%s%s" % (stem, args.models.replace(",", "_"), ext)
    return os.path.join(os.path.dirname(args.json), name)


def write_110m(work):
    """The 110M Llama-2 shape with random weights (seed 0), in Hugging Face
    layout under `work`."""
    helpers = decode_helpers()
    path = os.path.join(work, "llama2-110m")
    helpers.write_model(path, helpers.SHAPE_110M, helpers.weights(helpers.SHAPE_110M, np.random.default_rng(0)))
    return path


def decode_helpers():
    sys.path.insert(0, os.path.join(ROOT, "bench", "attention"))
    spec = importlib.util.spec_from_file_location("decode_run", os.path.join(ROOT, "bench", "decode", "run.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def generate(tok_run, model, prompt, new, pipeline, repeat, extra=()):
    """One tok-run generate process: the median decode rate of `repeat`
    generations with the same compiled code (tok-run --repeat), the ids and
    the speculative statistics."""
    args = [tok_run, "generate", "--max-new-tokens", str(new), "--eos", "-1", "--print-ids",
            "--repeat", str(repeat)]
    args += ["--model", model] if model else []
    # A list of token ids, or text for the model's tokenizer.
    args += ["--ids", ",".join(map(str, prompt))] if isinstance(prompt, list) else ["--prompt", prompt]
    if pipeline:
        args += ["--pipeline", pipeline]
    args += list(extra)
    r = subprocess.run(args, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(r.stderr[-2000:])
    m = re.search(r"decode (\d+) tokens in ([0-9.]+) ms", r.stderr)
    rate = int(m.group(1)) / (float(m.group(2)) / 1e3)
    ids = re.search(r"^ids:(.*)$", r.stdout, re.M).group(1).split()
    s = re.search(r"speculative: (\d+) target calls for (\d+) tokens .*?; (\d+) of (\d+) drafts accepted", r.stderr)
    stats = None
    if s:
        stats = dict(calls=int(s.group(1)), tokens=int(s.group(2)), accepted=int(s.group(3)),
                     drafted=int(s.group(4)))
    return rate, ids, stats


def compare_many(args, model, prompt, new, pipelines, extra=()):
    """Plain greedy decoding against each of `pipelines`, in `args.pairs`
    interleaved rounds of processes (plain, then every pipeline), each the
    median of `args.repeat` generations. A pipeline's speedup is the median
    of its ratios to the plain process of the same round (with their
    range); the rates are medians too."""
    plains, specs, ratios = [], [[] for _ in pipelines], [[] for _ in pipelines]
    identical, stats = [True] * len(pipelines), [None] * len(pipelines)
    for _ in range(args.pairs):
        plain, plain_ids, _ = generate(args.tok_run, model, prompt, new, None, args.repeat)
        plains.append(plain)
        for i, pipeline in enumerate(pipelines):
            spec, ids, stats[i] = generate(args.tok_run, model, prompt, new, pipeline, args.repeat, extra)
            specs[i].append(spec)
            ratios[i].append(spec / plain)
            identical[i] = identical[i] and ids == plain_ids
    return [dict(plain_tps=statistics.median(plains), spec_tps=statistics.median(specs[i]),
                 speedup=statistics.median(ratios[i]), speedup_min=min(ratios[i]), speedup_max=max(ratios[i]),
                 identical=identical[i], **(stats[i] or {})) for i in range(len(pipelines))]


def compare(args, model, prompt, new, pipeline, extra=()):
    """compare_many for one pipeline: interleaved plain / speculative pairs."""
    return compare_many(args, model, prompt, new, [pipeline], extra)[0]


def speedup_text(row):
    return "%5.2fx (%.2f-%.2f)" % (row["speedup"], row["speedup_min"], row["speedup_max"])


def stats_text(row):
    if "calls" not in row:
        return "-", "-"
    return "%d/%d" % (row["accepted"], row["drafted"]), "%.2f" % (row["calls"] / row["tokens"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--models", default=ALL_MODELS,
                    help="which of built-in, pyllama-4m, 110m to run (comma-separated); with a subset the JSON "
                         "name gets it as a suffix, so a partial run does not replace the full table")
    ap.add_argument("--pairs", type=int, default=3,
                    help="interleaved plain / speculative process pairs per configuration (median ratio)")
    ap.add_argument("--repeat", type=int, default=5,
                    help="generations per process (tok-run generate --repeat; the median rate)")
    ap.add_argument("--prompts", default="",
                    help="n-gram mode: only these prompts (comma-separated: repetitive, ordinary, assignments; "
                         "the 110M shape's is 'ids 1..8 x2'); default all")
    ap.add_argument("--k", default="",
                    help="n-gram mode: draft lengths to run (comma-separated; default 2,4,8, --quick 4)")
    ap.add_argument("--match", default="recent,earliest",
                    help="n-gram match rules to run (comma-separated: recent, earliest), each against the "
                         "same plain processes")
    ap.add_argument("--tok-run", default=os.path.join(ROOT, "build", "bin", "tok-run"))
    ap.add_argument("--json", default=os.path.join(ROOT, "bench", "results", "speculative.json"))
    ap.add_argument("--layer-skip", action="store_true",
                    help="self-speculation (drafter=layer_skip) instead: skip schedules x k, "
                         "bench/results/speculative_layer_skip.json")
    ap.add_argument("--draft-model", action="store_true",
                    help="a separate draft model (drafter=model): a 0.4M-parameter draft trained by "
                         "train_draft.py and the target's first two layers as a checkpoint of their own; "
                         "bench/results/speculative_draft_model.json")
    ap.add_argument("--draft", default=os.path.join(os.path.expanduser("~"), ".cache", "tok", "draft-0.4m"),
                    help="where the trained draft is (trained there if missing)")
    args = ap.parse_args()
    args.wanted = set(args.models.split(","))
    unknown = args.wanted - set(ALL_MODELS.split(","))
    if unknown:
        ap.error("unknown --models: " + ",".join(sorted(unknown)))
    if args.layer_skip:
        return layer_skip_main(args)
    if args.draft_model:
        return draft_model_main(args)
    work = tempfile.mkdtemp(prefix="tok-bench-spec-")
    models = [("built-in", None, 200)] if "built-in" in args.wanted else []
    if os.path.isdir(SHARED) and "pyllama-4m" in args.wanted:
        models.append(("pyllama-4m", SHARED, 200))
    if not args.quick and "110m" in args.wanted:
        models.append(("llama2-110m (random)", write_110m(work), 96))
    ks = tuple(map(int, args.k.split(","))) if args.k else (2, 4, 8) if not args.quick else (4,)
    rows = []
    matches = args.match.split(",")
    print("%-22s %-11s %3s %-8s %10s %10s %19s %9s %11s %9s" % (
        "model", "prompt", "k", "match", "plain t/s", "spec t/s", "speedup (range)", "accepted", "calls/token",
        "identical"))
    for name, model, new in models:
        prompts = PROMPTS_110M if model and "110m" in name else NGRAM_PROMPTS
        if args.prompts:
            prompts = [p for p in prompts if p[0] in args.prompts.split(",")]
        for pname, prompt in prompts:
            for k in ks:
                # Every match rule against the same plain processes.
                pipelines = ["tok-speculative-decoding{k=%d match=%s}" % (k, m) for m in matches]
                for m, result in zip(matches, compare_many(args, model, prompt, new, pipelines)):
                    row = dict(model=name, prompt=pname, k=k, match=m, **result)
                    rows.append(row)
                    print("%-22s %-11s %3d %-8s %10.1f %10.1f %19s %9s %11s %9s" % (
                        name, pname, k, m, row["plain_tps"], row["spec_tps"], speedup_text(row),
                        *stats_text(row), row["identical"]))
                    sys.stdout.flush()
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    args.json = result_path(args, os.path.basename(args.json))
    with open(args.json, "w") as f:
        json.dump(dict(date=time.strftime("%Y-%m-%d"), cores=os.cpu_count(), rows=rows), f, indent=1)
    print("wrote", args.json)


def layer_skip_main(args):
    """Self-speculation: the model without the skipped layers drafts
    (tok-run generate --draft-skip), against plain greedy decoding in the
    same run; a draft call costs about (layers - skipped) / layers of a
    target call."""
    models = [("built-in", None, 200, ["4,5", "3,4,5", "1,2,3,4,5"], PROMPTS)] if "built-in" in args.wanted else []
    if os.path.isdir(SHARED) and "pyllama-4m" in args.wanted:
        models.append(("pyllama-4m", SHARED, 200, ["4,5", "3,4,5", "1,2,3,4,5"], PROMPTS))
    if not args.quick and "110m" in args.wanted:
        # Bandwidth bound: a draft call costs (12 - skipped) / 12 of a step.
        models.append(("llama2-110m (random)", write_110m(tempfile.mkdtemp(prefix="tok-bench-spec-")), 96,
                       ["6,7,8,9,10,11", "2,3,4,5,6,7,8,9,10,11"], PROMPTS_110M))
    rows = []
    print("%-20s %-11s %-10s %3s %10s %10s %19s %9s %11s %9s" % (
        "model", "prompt", "skip", "k", "plain t/s", "spec t/s", "speedup (range)", "accepted", "calls/token",
        "identical"))
    for name, model, new, schedules, prompts in models:
        for pname, prompt in prompts:
            for skip in schedules:
                for k in (2, 4):
                    row = dict(model=name, prompt=pname, skip=skip, k=k,
                               **compare(args, model, prompt, new,
                                         "tok-speculative-decoding{drafter=layer_skip k=%d}" % k,
                                         ["--draft-skip=" + skip]))
                    rows.append(row)
                    print("%-20s %-11s %-10s %3d %10.1f %10.1f %19s %9s %11s %9s" % (
                        name, pname, skip, k, row["plain_tps"], row["spec_tps"], speedup_text(row),
                        *stats_text(row), row["identical"]))
                    sys.stdout.flush()
    out = result_path(args, "speculative_layer_skip.json")
    with open(out, "w") as f:
        json.dump(dict(date=time.strftime("%Y-%m-%d"), cores=os.cpu_count(), rows=rows), f, indent=1)
    print("wrote", out)


def draft_model_main(args):
    """A separate draft model: pyllama-4m drafted by a 0.4M-parameter model
    trained on the same kind of text (train_draft.py, written on first use)
    and by its own first two layers as a separate checkpoint; the built-in
    model by its first two layers. Against plain greedy decoding in the
    same run; the draft's own decode rate gives its cost per token."""
    sys.path.insert(0, os.path.join(ROOT, "test", "Integration", "Inputs"))
    import speculative_check
    work = tempfile.mkdtemp(prefix="tok-bench-draft-")
    needs_trained = os.path.isdir(SHARED) and "pyllama-4m" in args.wanted
    if needs_trained and not os.path.isfile(os.path.join(args.draft, "model.safetensors")):
        print("training the draft model into %s (about 12 minutes) ..." % args.draft)
        subprocess.run([sys.executable, os.path.join(ROOT, "bench", "speculative", "train_draft.py"),
                        args.draft, "--minutes", "12"], check=True)
    tok_import = os.path.join(os.path.dirname(args.tok_run), "tok-import")
    builtin_hf = os.path.join(work, "builtin-hf")
    subprocess.run([tok_import, "builtin", "--export-hf", builtin_hf, "-o", os.devnull], check=True)
    targets = [("built-in", None, builtin_hf, 200, PROMPTS)] if "built-in" in args.wanted else []
    if os.path.isdir(SHARED) and "pyllama-4m" in args.wanted:
        targets.insert(0, ("pyllama-4m", SHARED, SHARED, 200, PROMPTS))
    if not args.quick and "110m" in args.wanted:
        path = write_110m(work)
        targets.append(("llama2-110m (random)", path, path, 96, PROMPTS_110M))
    rows = []
    print("%-20s %-16s %-11s %3s %10s %10s %10s %19s %9s %11s %9s" % (
        "target", "draft", "prompt", "k", "draft t/s", "plain t/s", "spec t/s", "speedup (range)", "accepted",
        "calls/token", "identical"))
    for name, model, hf, new, prompts in targets:
        drafts = [("first 2 layers", speculative_check.truncated_copy(hf, 2, os.path.join(work, name + "-2")))]
        if model == SHARED:
            drafts.insert(0, ("trained 0.4M", args.draft))
        for pname, prompt in prompts:
            for dname, dpath in drafts:
                alone, _, _ = generate(args.tok_run, dpath, prompt, new, None, args.repeat)
                for k in (2, 4):
                    row = dict(target=name, draft=dname, prompt=pname, k=k, draft_tps=alone,
                               **compare(args, model, prompt, new,
                                         "tok-speculative-decoding{drafter=model k=%d}" % k,
                                         ["--draft-model", dpath]))
                    rows.append(row)
                    print("%-20s %-16s %-11s %3d %10.1f %10.1f %10.1f %19s %9s %11s %9s" % (
                        name, dname, pname, k, alone, row["plain_tps"], row["spec_tps"], speedup_text(row),
                        *stats_text(row), row["identical"]))
                    sys.stdout.flush()
    out = result_path(args, "speculative_draft_model.json")
    with open(out, "w") as f:
        json.dump(dict(date=time.strftime("%Y-%m-%d"), cores=os.cpu_count(), rows=rows,
                       draft_log=open(os.path.join(args.draft, "train.log")).read() if needs_trained else None),
                  f, indent=1)
    print("wrote", out)


if __name__ == "__main__":
    main()
