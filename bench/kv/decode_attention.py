"""Decode attention over a compressed KV cache (KIVI int8 / int4 storage,
Quest page selection) against the full-precision cache, on the CPU,
measured in the same run.

Usage: python3 bench/kv/decode_attention.py [--contexts 1024,4096,8192]
                                           [--calls 64] [--json OUT]

Shape: a GQA layer, 32 query heads over 8 KV heads of 128, f32, one query
token (decode) at the end of a context of S tokens. One module per (S,
storage) fills a cache (tok.kv.append of S random keys / values, then
tok.kv.quantize for int8 / int4, group 32, residual 128; for Quest a cache
with 16-slot page bounds read with select_budget = 20% or 10% of S; for
eviction the cache tok-kv-evict leaves at a 20% or 10% budget: budget + 16
slots holding budget + 1 tokens) and runs `calls`
tok.cached_attention ops in a chain (each query is the previous output, so
none can be skipped). The attention time per call is
(time(calls) - time(0 calls)) / calls, each the fastest of 5 runs of
tok-run --timing. Reported with the cache bytes (tok-cost-report's model)
and the output's distance from the full-precision cache (random keys make
Quest's selection far from exact: real attention is peaked, see bench/kv/
run.py for fidelity on a trained model).
"""

import argparse
import json
import os
import re
import subprocess
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HK, HQ, D = 8, 32, 128
GROUP, RESIDUAL = 32, 128


PAGE = 16


def module(S, storage, calls):
    bits = {"int8": 8, "int4": 4}.get(storage, 0)
    select = int(storage[5:]) * S // 100 if storage.startswith("quest") else 0
    # Eviction: what tok-kv-evict leaves, a cache of budget + 16 slots
    # holding budget + 1 tokens (the step's new one included).
    kept = int(storage[6:]) * S // 100 + 1 if storage.startswith("window") else S
    cap = kept + 15 if kept < S else S
    plain = "!tok.kv_cache<%dx%dx%dxf32%s>" % (HK, cap, D, ", pages = %d" % PAGE if select else "")
    quant = plain[:-1] + ", quant = #tok.kv_quant<bits = %d, group = %d, residual = %d>>" % (
        bits, GROUP, RESIDUAL) if bits else plain
    attrs = "mask = #tok.mask<causal>" + (", select_budget = %d" % select if select else "")
    lines = [
        "func.func @run(%%k: tensor<%dx%dx%dxf32>, %%v: tensor<%dx%dx%dxf32>, %%pos: tensor<%dxi32>, "
        "%%q: tensor<%dx1x%dxf32>) -> tensor<%dx1x%dxf32> {" % (HK, S, D, HK, S, D, S, HQ, D, HQ, D),
        "  %c0 = tok.kv.empty : " + plain,
        "  %%ks = tensor.extract_slice %%k[0, 0, 0] [%d, %d, %d] [1, 1, 1] : tensor<%dx%dx%dxf32> to "
        "tensor<%dx%dx%dxf32>" % (HK, kept, D, HK, S, D, HK, kept, D),
        "  %%vs = tensor.extract_slice %%v[0, 0, 0] [%d, %d, %d] [1, 1, 1] : tensor<%dx%dx%dxf32> to "
        "tensor<%dx%dx%dxf32>" % (HK, kept, D, HK, S, D, HK, kept, D),
        "  %%ps = tensor.extract_slice %%pos[0] [%d] [1] : tensor<%dxi32> to tensor<%dxi32>" % (kept, S, kept),
        "  %%c1 = tok.kv.append %%c0, %%ks, %%vs, %%ps : %s, tensor<%dx%dx%dxf32>, tensor<%dx%dx%dxf32>, "
        "tensor<%dxi32>" % (plain, HK, kept, D, HK, kept, D, kept),
    ]
    if bits:
        lines.append("  %%c = tok.kv.quantize %%c1 : %s -> %s" % (plain, quant))
    cache = "%c" if bits else "%c1"
    lines += [
        "  %%qpos = arith.constant dense<%d> : tensor<1xi32>" % (S - 1),
        "  %lo = arith.constant 0 : index",
        "  %one = arith.constant 1 : index",
        "  %%n = arith.constant %d : index" % calls,
        "  %%o = scf.for %%i = %%lo to %%n step %%one iter_args(%%x = %%q) -> (tensor<%dx1x%dxf32>) {" % (HQ, D),
        "    %%y = tok.cached_attention %%x, %s, %%qpos {%s} : tensor<%dx1x%dxf32>, %s, "
        "tensor<1xi32> -> tensor<%dx1x%dxf32>" % (cache, attrs, HQ, D, quant, HQ, D),
        "    scf.yield %%y : tensor<%dx1x%dxf32>" % (HQ, D),
        "  }",
        "  return %%o : tensor<%dx1x%dxf32>" % (HQ, D),
        "}",
    ]
    return "\n".join(lines) + "\n"


def run(tok_run, path, inputs, out=None):
    cmd = [tok_run, path, "-e", "run", "--timing", "--repeat", "5", "--print-results=false"]
    cmd += ["--input=" + a for a in inputs]
    if out:
        cmd.append("--output=" + out)
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(r.stderr[-2000:])
    return float(re.search(r"run ([0-9.]+) ms", r.stderr).group(1))


def kv_bytes(S, storage):
    bits = {"int8": 8, "int4": 4}.get(storage, 0)
    slots = HK * S
    if storage.startswith("window"):
        cap = int(storage[6:]) * S // 100 + 16
        return 2 * HK * cap * D * 4 + 4 * HK * cap
    if storage.startswith("quest"):  # + min and max per page and channel
        return 2 * slots * D * 4 + 4 * slots + 2 * 4 * HK * ((S + PAGE - 1) // PAGE) * D
    if not bits:
        return 2 * slots * D * 4 + 4 * slots
    tail = min(S, RESIDUAL + GROUP - 1)
    return (2 * slots * D * bits // 8 + 4 * HK * ((S + GROUP - 1) // GROUP) * D
            + 4 * slots * (D // GROUP) + 2 * HK * tail * D * 4 + 4 * slots)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--contexts", default="1024,4096,8192")
    ap.add_argument("--calls", type=int, default=64)
    ap.add_argument("--json", default=os.path.join(ROOT, "bench", "results", "kv_decode_attention.json"))
    args = ap.parse_args()
    tok_run = os.path.join(ROOT, "build", "bin", "tok-run")
    work = tempfile.mkdtemp(prefix="tok-bench-kvq-")
    rng = np.random.default_rng(0)
    rows = []
    print("%-7s %-7s %10s %8s %12s %8s %12s" % ("context", "storage", "KV MiB", "KV/full", "attn us/call",
                                                "t/full", "max|o-full|"))
    for S in [int(s) for s in args.contexts.split(",")]:
        inputs = []
        for name, arr in (("k", rng.standard_normal((HK, S, D))), ("v", rng.standard_normal((HK, S, D))),
                          ("pos", np.arange(S)), ("q", rng.standard_normal((HQ, 1, D)))):
            path = os.path.join(work, "%s_%d.npy" % (name, S))
            np.save(path, arr.astype(np.int32 if name == "pos" else np.float32))
            inputs.append(path)
        base_time = base_out = None
        for storage in ("f32", "int8", "int4", "quest20", "quest10", "window20", "window10"):
            times = []
            for calls in (0, args.calls):
                path = os.path.join(work, "m_%d_%s_%d.mlir" % (S, storage, calls))
                with open(path, "w") as fh:
                    fh.write(module(S, storage, calls))
                out = os.path.join(work, "o_%d_%s_" % (S, storage)) if calls else None
                times.append(run(tok_run, path, inputs, out))
            per_call = (times[1] - times[0]) / args.calls * 1e3
            # One call's output (the chain's first step) is what fidelity is
            # about; the chain's end mixes 64 steps.
            one = os.path.join(work, "m1_%d_%s.mlir" % (S, storage))
            with open(one, "w") as fh:
                fh.write(module(S, storage, 1))
            out1 = os.path.join(work, "one_%d_%s_" % (S, storage))
            run(tok_run, one, inputs, out1)
            o = np.load(out1 + "0.npy")
            if storage == "f32":
                base_time, base_out = per_call, o
            err = float(np.abs(o - base_out).max())
            name = storage
            kb = kv_bytes(S, storage)
            rows.append(dict(context=S, storage=name, kv_bytes=kb, kv_ratio=kb / kv_bytes(S, "f32"),
                             attention_us=per_call, time_ratio=per_call / base_time, max_abs_diff=err))
            print("%-7d %-7s %10.2f %8.2f %12.1f %8.2f %12.2e" % (S, name, kb / 2 ** 20, kb / kv_bytes(S, "f32"),
                                                                 per_call, per_call / base_time, err))
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as fh:
        json.dump(dict(shape=dict(kv_heads=HK, query_heads=HQ, head_dim=D, group=GROUP, residual=RESIDUAL),
                       calls=args.calls, rows=rows), fh, indent=1)
    print("wrote", args.json)


if __name__ == "__main__":
    main()
