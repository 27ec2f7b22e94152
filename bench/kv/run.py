"""KV-cache eviction benchmark: memory, decode speed and fidelity of each
tok-kv-evict policy against the full cache, on the trained pyllama-4m model
(../shared/models; learned attention, so the fidelity numbers mean
something), measured in the same run.

Usage: python3 bench/kv/run.py [--quick] [--model DIR] [--json OUT]
           [--only evict|quant|select|heads|long|long-speed] [--contexts N ...]

--only heads: per-head profiles (calibrate.py) against one window at equal
KV bytes (kv_heads.json). --only long / long-speed: contexts 1k-16k at a 20%
budget, past the model's 512 trained positions (fidelity and KV bytes in
kv_long.json; decode tokens/s and peak KV bytes in kv_long_speed.json).

Text: Python source from the standard library (held-out for a model
trained on Python), as bytes (the model's tokenizer is byte-level).
Context: the model has 512 positions, so the main table's contexts are 256
and 512 tokens; --only long / long-speed go to 1k-16k past them (RoPE
extrapolates; see their caveat).

For each context L, budget fraction f in {100, 50, 20, 10}% (budget =
f * L slots per KV head) and policy (window: 4 sinks + the rest recent;
h2o: half recent; tova; a2sf with decay 0.95):
  - fidelity: the model is fed the L tokens one step per token (teacher
    forcing, tok-import --teacher) with the evicting cache and with the
    full cache; over the positions after the budget is first exceeded, the
    top-1 next-token agreement and the mean KL(full || evicted);
  - peak KV bytes and decode tokens/s: tok-run generate with a prompt of
    L - 64 tokens and 64 new tokens, with the pass in --pipeline.
And tok-kv-quantize (KIVI int8 / int4, group 32, residual 32) at each
context, fidelity counted from position 32 (the first quantized tokens),
and tok-kv-select (Quest: page 16, the first two layers dense) at each
budget, which reads a budget's worth of pages per decode step and evicts
nothing (its peak KV bytes are the full cache's plus the page bounds).
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
sys.path.insert(0, os.path.join(ROOT, "test", "Integration", "Inputs"))
from llama_forward import read_weights  # noqa: E402

CHUNK = 1  # one token per step, so every policy sees each query
QUANT_RESIDUAL = 32
QUANT_GROUP = 32  # 16 for head dims that 32 does not divide (the built-in model's 48)


def pipeline(policy, budget):
    if policy == "full":
        return None
    if policy.startswith("profile="):
        # Per-head budgets (calibrate.py): the profile's file.
        return "tok-kv-evict{%s chunk=%d}" % (policy, CHUNK)
    if policy == "window":
        sinks = min(4, budget - 1)
        return "tok-kv-evict{policy=window budget=%d sinks=%d recent=%d chunk=%d}" % (
            budget, sinks, budget - sinks, CHUNK)
    if policy == "h2o":
        return "tok-kv-evict{policy=h2o budget=%d recent=%d chunk=%d}" % (budget, budget // 2, CHUNK)
    if policy == "a2sf":
        return "tok-kv-evict{policy=a2sf budget=%d recent=%d decay=0.95 chunk=%d}" % (
            budget, budget // 2, CHUNK)
    if policy == "tova":
        return "tok-kv-evict{policy=tova budget=%d chunk=%d}" % (budget, CHUNK)
    if policy == "quest":
        # Page 16; Quest keeps the first two layers dense.
        return "tok-kv-select{page=16 budget=%d dense-layers=2}" % budget
    if policy in ("int8", "int4"):
        # KIVI: group 32, the 32 most recent tokens in full precision
        # (example.py's residual; the paper's LongBench runs use 128).
        return "tok-kv-quantize{bits=%s group=%d residual=%d}" % (policy[3:], QUANT_GROUP, QUANT_RESIDUAL)
    raise ValueError(policy)


def teacher_logits(tools, work, model, names, weights, ids, policy, budget, capacity):
    tok_import, tok_opt, tok_run = tools
    base = os.path.join(work, "teacher_%d.mlir" % capacity)
    if not os.path.exists(base):
        subprocess.run([tok_import, model, "--teacher", "--f32-weights", "--cache-capacity=%d" % capacity,
                        "-o", base], check=True)
    mod = base
    pipe = pipeline(policy, budget)
    if pipe:
        mod = os.path.join(work, "teacher_%s_%d_%d.mlir" % (
            os.path.basename(policy).replace("=", "_"), budget, capacity))
        subprocess.run([tok_opt, base, "--pass-pipeline=builtin.module(%s)" % pipe, "-o", mod], check=True)
    args = [os.path.join(work, "ids.npy")]
    np.save(args[0], np.asarray(ids, np.int32))
    for i, n in enumerate(names):
        path = os.path.join(work, "w%d.npy" % i)
        if not os.path.exists(path):
            np.save(path, np.ascontiguousarray(weights[n], np.float32))
        args.append(path)
    out = os.path.join(work, "logits")
    if os.path.exists(out + "0.npy"):
        os.remove(out + "0.npy")
    r = subprocess.run([tok_run, mod, "-e", "teacher", "--output=" + out, "--print-results=false"]
                       + ["--input=" + a for a in args], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(r.stderr[-2000:])
    return np.load(out + "0.npy")


def fidelity(full, got, start):
    def logsoftmax(z):
        z = z - z.max(-1, keepdims=True)
        return z - np.log(np.exp(z).sum(-1, keepdims=True))
    lp, lq = logsoftmax(full[start:].astype(np.float64)), logsoftmax(got[start:].astype(np.float64))
    top1 = float((full[start:].argmax(-1) == got[start:].argmax(-1)).mean())
    kl = float((np.exp(lp) * (lp - lq)).sum(-1).mean())
    return top1, kl


def decode_stats(tok_run, model, ids, new, policy, budget, extra=()):
    cmd = [tok_run, "generate", "--model", model, "--ids", ",".join(map(str, ids)),
           "--max-new-tokens", str(new), "--eos", "-1"] + list(extra)
    pipe = pipeline(policy, budget)
    if pipe:
        cmd += ["--pipeline", pipe]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(r.stderr[-2000:])
    m = re.search(r"decode (\d+) tokens in ([0-9.]+) ms", r.stderr)
    kv = re.search(r"KV cache ([0-9.]+) (B|KiB|MiB) at peak", r.stderr)
    scale = {"B": 1, "KiB": 1024, "MiB": 1048576}[kv.group(2)]
    return int(m.group(1)) / (float(m.group(2)) / 1e3), float(kv.group(1)) * scale


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", choices=["evict", "quant", "select", "heads", "long", "long-speed"],
                    help="run only eviction, quantization, selection (Quest), per-head budgets, or "
                         "the 1k-16k contexts (past the model's 512 trained positions)")
    ap.add_argument("--contexts", type=int, nargs="+", default=[1024, 2048, 4096, 8192, 16384],
                    help="with --only long / long-speed")
    ap.add_argument("--fractions", type=float, nargs="+", default=[0.2],
                    help="with --only long: budgets as fractions of the context (20%%: every policy; "
                         "others: window, h2o, quest)")
    ap.add_argument("--model", default=os.path.join(os.path.dirname(ROOT), "shared", "models", "pyllama-4m"))
    ap.add_argument("--json", default=os.path.join(ROOT, "bench", "results", "kv.json"))
    args = ap.parse_args()
    bindir = os.path.join(ROOT, "build", "bin")
    tools = tuple(os.path.join(bindir, t) for t in ("tok-import", "tok-opt", "tok-run"))
    work = tempfile.mkdtemp(prefix="tok-bench-kv-")

    cfg = json.load(open(os.path.join(args.model, "config.json")))
    global QUANT_GROUP
    if (cfg["hidden_size"] // cfg["num_attention_heads"]) % 32:
        QUANT_GROUP = 16
    weights = read_weights(args.model)
    mlir = subprocess.run([tools[0], args.model], capture_output=True, text=True, check=True).stdout
    names = []
    for line in mlir.splitlines():
        if line.lstrip().startswith("func.func @forward"):
            names = [s.split('"')[0] for s in line.split('tok.weight = "')[1:]]
    text = open(os.path.join(os.path.dirname(json.__file__), "decoder.py"), "rb").read()
    contexts = [256] if args.quick else [256, 512]
    fractions = [0.5, 0.2] if args.quick else [1.0, 0.5, 0.2, 0.1]
    policies = ["window", "h2o", "tova"] if args.quick else ["window", "h2o", "a2sf", "tova"]

    if args.only == "heads":
        return heads_main(args, tools, work, names, weights, cfg, text)
    if args.only == "long":
        return long_main(args, tools, work, names, weights, cfg)
    if args.only == "long-speed":
        return long_speed_main(args, tools, cfg)
    rows = []
    print("%-7s %-6s %-7s %8s %10s %8s %9s %9s" % ("context", "budget", "policy", "KV KiB", "KV/full",
                                                  "decode/s", "top-1", "KL"))
    for L in contexts:
        ids = [b % cfg["vocab_size"] for b in text[:L]]
        full = teacher_logits(tools, work, args.model, names, weights, ids, "full", L, L)
        full_speed, full_kv = decode_stats(tools[2], args.model, ids[: L - 64], 64, "full", L)
        rows.append(dict(context=L, fraction=1.0, policy="full", kv_bytes=full_kv, kv_ratio=1.0,
                         decode_tokens_s=full_speed, top1=1.0, kl=0.0))
        print("%-7d %-6s %-7s %8.1f %10.2f %8.1f %9.3f %9.4f" % (L, "-", "full", full_kv / 1024, 1.0,
                                                                 full_speed, 1.0, 0.0))
        for bits in ([] if args.only == "evict" else ["int8", "int4"]):
            got = teacher_logits(tools, work, args.model, names, weights, ids, bits, L, L)
            top1, kl = fidelity(full, got, QUANT_RESIDUAL)
            speed, kv = decode_stats(tools[2], args.model, ids[: L - 64], 64, bits, L)
            rows.append(dict(context=L, fraction=None, policy=bits, kv_bytes=kv, kv_ratio=kv / full_kv,
                             decode_tokens_s=speed, decode_ratio=speed / full_speed, top1=top1, kl=kl))
            print("%-7d %-6s %-7s %8.1f %10.2f %8.1f %9.3f %9.4f" % (
                L, "-", bits, kv / 1024, kv / full_kv, speed, top1, kl))
        for f in ([] if args.only == "quant" else fractions):
            budget = max(2, int(f * L))
            chosen = {"select": ["quest"], "evict": policies}.get(args.only, policies + ["quest"])
            for policy in chosen:
                got = teacher_logits(tools, work, args.model, names, weights, ids, policy, budget,
                                     L)
                top1, kl = fidelity(full, got, min(budget, L - 1))
                speed, kv = decode_stats(tools[2], args.model, ids[: L - 64], 64, policy, budget)
                rows.append(dict(context=L, fraction=f, policy=policy, budget=budget, kv_bytes=kv,
                                 kv_ratio=kv / full_kv, decode_tokens_s=speed,
                                 decode_ratio=speed / full_speed, top1=top1, kl=kl))
                print("%-7d %-6s %-7s %8.1f %10.2f %8.1f %9.3f %9.4f" % (
                    L, "%d%%" % round(100 * f), policy, kv / 1024, kv / full_kv, speed, top1, kl))
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as fh:
        json.dump(dict(model=args.model, text="json/decoder.py", rows=rows), fh, indent=1)
    print("wrote", args.json)


def teacher_kv_bytes(tools, work, policy, budget, capacity):
    """The KV bytes of @teacher's caches (tok-cost-report), for contexts
    tok-run generate refuses (past the model's positions)."""
    mod = os.path.join(work, "teacher_%d.mlir" % capacity)
    pipe = pipeline(policy, budget)
    passes = ("%s," % pipe if pipe else "") + "tok-cost-report"
    r = subprocess.run([tools[1], mod, "--pass-pipeline=builtin.module(%s)" % passes, "-o", os.devnull],
                       capture_output=True, text=True, check=True)
    lines = r.stderr.splitlines()
    for i, line in enumerate(lines):
        m = re.search(r"remark: tok-cost: .*kv-bytes (\d+)", line)
        if m and i + 1 < len(lines) and "func.func @teacher" in lines[i + 1]:
            return int(m.group(1))
    raise RuntimeError("no cost report for @teacher")


def long_main(args, tools, work, names, weights, cfg):
    """Contexts of 1k-16k tokens at a 20% budget, fidelity and peak KV bytes
    of every policy side by side. pyllama-4m was trained on 512 positions:
    past them RoPE extrapolates and the model's own predictions degrade, so
    these numbers say how closely each policy follows this model's full
    cache there, not how a long-context model would fare."""
    text = open(os.path.join(os.path.dirname(argparse.__file__), "argparse.py"), "rb").read()
    rows = []
    print("%-7s %-7s %8s %10s %9s %9s %8s" % ("context", "policy", "KV MiB", "KV/full", "top-1", "KL", "seconds"))
    cases = []
    for f in args.fractions:
        cases += [(f, p) for p in (["window", "h2o", "a2sf", "tova", "quest", "int8", "int4"] if f == 0.2
                                   else ["window", "h2o", "quest"])]
    for L in args.contexts:
        ids = [b % cfg["vocab_size"] for b in text[:L]]
        for f, policy in [(0.2, "full")] + cases:
            budget = int(f * L)
            import time
            t0 = time.time()
            got = teacher_logits(tools, work, args.model, names, weights, ids, policy, budget, L)
            seconds = time.time() - t0
            if policy == "full":
                full = got
            start = QUANT_RESIDUAL if policy.startswith("int") else budget
            top1, kl = fidelity(full, got, start)
            kv = teacher_kv_bytes(tools, work, policy, budget, L)
            if policy == "full":
                full_kv = kv
            rows.append(dict(context=L, fraction=f, policy=policy, budget=budget, kv_bytes=kv,
                             kv_ratio=kv / full_kv, top1=top1, kl=kl))
            print("%-7d %3d%% %-7s %8.2f %10.2f %9.3f %9.4f %8.1f" % (
                L, round(100 * f), policy, kv / 2**20, kv / full_kv, top1, kl, seconds), flush=True)
    write_merged(os.path.join(os.path.dirname(args.json), "kv_long.json"), args, rows)


def write_merged(out, args, rows):
    """Writes `rows`, keeping the rows of other contexts already in `out`
    (so that one context can be re-run or added alone)."""
    def key(r):
        return (r["context"], r.get("fraction", 0.2), r["policy"])
    new = {key(r) for r in rows}
    if os.path.exists(out):
        old = json.load(open(out))["rows"]
        rows = [r for r in old if key(r) not in new] + rows
    rows.sort(key=lambda r: (r["context"], -r.get("fraction", 0.2)))
    with open(out, "w") as fh:
        json.dump(dict(model=args.model, text="argparse.py", rows=rows), fh, indent=1)
    print("wrote", out)


def long_speed_main(args, tools, cfg):
    """Decode tokens/s and peak KV bytes at 1k-16k contexts (tok-run generate
    --positions: past the 512 trained positions; speed and memory do not
    depend on what the model predicts there): a prompt of L - 32 tokens and
    32 new ones, full cache against 20% budgets, best of 2 runs."""
    text = open(os.path.join(os.path.dirname(argparse.__file__), "argparse.py"), "rb").read()
    rows = []
    print("%-7s %-7s %8s %10s %10s %10s" % ("context", "policy", "KV MiB", "KV/full", "decode/s", "vs full"))
    for L in args.contexts:
        ids = [b % cfg["vocab_size"] for b in text[: L - 32]]
        budget = L // 5
        # h2o's per-step ranking with one token per step makes its prefill
        # slow at these lengths; its decode cost is measured at 512 above.
        for policy in ["full", "window", "quest", "int8", "int4"]:
            runs = [decode_stats(tools[2], args.model, ids, 32, policy, budget, ["--positions", str(L)])
                    for _ in range(2)]
            speed, kv = max(r[0] for r in runs), runs[0][1]
            if policy == "full":
                full_speed, full_kv = speed, kv
            rows.append(dict(context=L, fraction=0.2, policy=policy, budget=budget, kv_bytes=kv,
                             kv_ratio=kv / full_kv, decode_tokens_s=speed, decode_ratio=speed / full_speed))
            print("%-7d %-7s %8.2f %10.2f %10.1f %10.2f" % (L, policy, kv / 2**20, kv / full_kv, speed,
                                                            speed / full_speed), flush=True)
    name = os.path.basename(os.path.normpath(args.model))
    out = "kv_long_speed.json" if name == "pyllama-4m" else "kv_long_speed_%s.json" % name
    write_merged(os.path.join(os.path.dirname(args.json), out), args, rows)


def heads_main(args, tools, work, names, weights, cfg, text):
    """Per-head budgets (tok-kv-evict{profile=...}) against one window for
    every head, at equal KV slots: a fraction rho of all heads keeps the
    whole context L, the others stream with sinks 4 and the budget that
    makes the total slots equal to the uniform window's (f * L per head).
    The full heads are chosen by calibrate.py on other text, or at random
    (seed 0, the control)."""
    L = 512
    ids = [b % cfg["vocab_size"] for b in text[:L]]
    heads = cfg["num_hidden_layers"] * cfg.get("num_key_value_heads", cfg["num_attention_heads"])
    full = teacher_logits(tools, work, args.model, names, weights, ids, "full", L, L)
    _, full_kv = decode_stats(tools[2], args.model, ids[: L - 64], 64, "full", L)
    rows = []
    print("%-6s %-5s %-22s %8s %8s %9s %9s" % ("budget", "rho", "policy", "stream", "KV/full", "top-1", "KL"))
    for f in [0.5, 0.3, 0.2]:
        uniform = int(f * L)
        cases = [("window", None, uniform, "window")]
        for rho in [0.125, 0.25]:
            n_full = int(round(rho * heads))
            stream = (heads * uniform - n_full * L) // (heads - n_full)
            if stream < 16:
                continue
            for how in ["calibrated", "random"]:
                path = os.path.join(work, "profile_%s_%g_%d.json" % (how, rho, stream))
                cmd = [sys.executable, os.path.join(ROOT, "bench", "kv", "calibrate.py"), "--model", args.model,
                       "--out", path, "--full-fraction", str(rho), "--budget", str(stream), "--sinks", "4"]
                if how == "random":
                    cmd += ["--random", "0"]
                subprocess.run(cmd, check=True, capture_output=True)
                cases.append(("profile=" + path, rho, stream, how))
        for policy, rho, stream, label in cases:
            got = teacher_logits(tools, work, args.model, names, weights, ids, policy, uniform, L)
            top1, kl = fidelity(full, got, min(stream, uniform))
            _, kv = decode_stats(tools[2], args.model, ids[: L - 64], 64, policy, uniform)
            rows.append(dict(context=L, fraction=f, rho=rho, stream_budget=stream, policy=label,
                             kv_bytes=kv, kv_ratio=kv / full_kv, top1=top1, kl=kl))
            print("%-6s %-5s %-22s %8d %8.2f %9.3f %9.4f" % (
                "%d%%" % round(100 * f), "-" if rho is None else "%g" % rho, label, stream, kv / full_kv,
                top1, kl))
    out = os.path.join(os.path.dirname(args.json), "kv_heads.json")
    with open(out, "w") as fh:
        json.dump(dict(model=args.model, text="json/decoder.py", context=L, rows=rows), fh, indent=1)
    print("wrote", out)


if __name__ == "__main__":
    main()
