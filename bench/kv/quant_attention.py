"""Decode attention over a KIVI-quantized KV cache against the full-precision
cache, on the CPU, measured in the same run.

Usage: python3 bench/kv/quant_attention.py [--contexts 1024,4096,8192]
                                          [--calls 64] [--json OUT]

Shape: a GQA layer, 32 query heads over 8 KV heads of 128, f32, one query
token (decode) at the end of a context of S tokens. One module per (S,
storage) fills a cache (tok.kv.append of S random keys / values, then
tok.kv.quantize for int8 / int4, group 32, residual 128) and runs `calls`
tok.cached_attention ops in a chain (each query is the previous output, so
none can be skipped). The attention time per call is
(time(calls) - time(0 calls)) / calls, each the fastest of 5 runs of
tok-run --timing. Reported with the cache bytes (tok-cost-report's model)
and the output's distance from the full-precision cache.
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


def module(S, bits, calls):
    plain = "!tok.kv_cache<%dx%dx%dxf32>" % (HK, S, D)
    quant = plain[:-1] + ", quant = #tok.kv_quant<bits = %d, group = %d, residual = %d>>" % (
        bits, GROUP, RESIDUAL) if bits else plain
    lines = [
        "func.func @run(%%k: tensor<%dx%dx%dxf32>, %%v: tensor<%dx%dx%dxf32>, %%pos: tensor<%dxi32>, "
        "%%q: tensor<%dx1x%dxf32>) -> tensor<%dx1x%dxf32> {" % (HK, S, D, HK, S, D, S, HQ, D, HQ, D),
        "  %c0 = tok.kv.empty : " + plain,
        "  %%c1 = tok.kv.append %%c0, %%k, %%v, %%pos : %s, tensor<%dx%dx%dxf32>, tensor<%dx%dx%dxf32>, "
        "tensor<%dxi32>" % (plain, HK, S, D, HK, S, D, S),
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
        "    %%y = tok.cached_attention %%x, %s, %%qpos {mask = #tok.mask<causal>} : tensor<%dx1x%dxf32>, %s, "
        "tensor<1xi32> -> tensor<%dx1x%dxf32>" % (cache, HQ, D, quant, HQ, D),
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


def kv_bytes(S, bits):
    slots = HK * S
    if not bits:
        return 2 * slots * D * 4 + 4 * slots
    tail = min(S, RESIDUAL + GROUP - 1)
    return (2 * slots * D * bits // 8 + 4 * HK * ((S + GROUP - 1) // GROUP) * D
            + 4 * slots * (D // GROUP) + 2 * HK * tail * D * 4 + 4 * slots)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--contexts", default="1024,4096,8192")
    ap.add_argument("--calls", type=int, default=64)
    ap.add_argument("--json", default=os.path.join(ROOT, "bench", "results", "kv_quant_attention.json"))
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
        for bits in (0, 8, 4):
            times = []
            for calls in (0, args.calls):
                path = os.path.join(work, "m_%d_%d_%d.mlir" % (S, bits, calls))
                with open(path, "w") as fh:
                    fh.write(module(S, bits, calls))
                out = os.path.join(work, "o_%d_%d_" % (S, bits)) if calls else None
                times.append(run(tok_run, path, inputs, out))
            per_call = (times[1] - times[0]) / args.calls * 1e3
            # One call's output (the chain's first step) is what fidelity is
            # about; the chain's end mixes 64 steps.
            one = os.path.join(work, "m1_%d_%d.mlir" % (S, bits))
            with open(one, "w") as fh:
                fh.write(module(S, bits, 1))
            out1 = os.path.join(work, "one_%d_%d_" % (S, bits))
            run(tok_run, one, inputs, out1)
            o = np.load(out1 + "0.npy")
            if bits == 0:
                base_time, base_out = per_call, o
            err = float(np.abs(o - base_out).max())
            name = "f32" if bits == 0 else "int%d" % bits
            kb = kv_bytes(S, bits)
            rows.append(dict(context=S, storage=name, kv_bytes=kb, kv_ratio=kb / kv_bytes(S, 0),
                             attention_us=per_call, time_ratio=per_call / base_time, max_abs_diff=err))
            print("%-7d %-7s %10.2f %8.2f %12.1f %8.2f %12.2e" % (S, name, kb / 2 ** 20, kb / kv_bytes(S, 0),
                                                                 per_call, per_call / base_time, err))
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as fh:
        json.dump(dict(shape=dict(kv_heads=HK, query_heads=HQ, head_dim=D, group=GROUP, residual=RESIDUAL),
                       calls=args.calls, rows=rows), fh, indent=1)
    print("wrote", args.json)


if __name__ == "__main__":
    main()
