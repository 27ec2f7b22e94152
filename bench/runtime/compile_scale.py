"""Time to machine-level IR for config-only Llama models as they grow:
layers x hidden size (bench for "Models at scale").

Usage: /usr/bin/python3 bench/runtime/compile_scale.py [--layers 6,12,32,80]
           [--hidden 768,2048,4096,8192] [--json OUT]

For each shape a Hugging Face config.json (Llama-2 proportions: intermediate
= 8/3 hidden rounded up to 256, head dimension 128 above hidden 768, else
64; vocabulary 32000) goes through `tok-import --cache-capacity 512
--generate 32` (the module tok-run generate compiles: @step, its layer
functions and @generate), then
`tok-opt --tok-to-llvm` (the lowering tok-run generate applies) and
`tok-translate --mlir-to-llvmir` (LLVM IR), then, with --codegen, LLVM's
`opt -O3` and `llc -O3` for the host (close to what the JIT does after
translating, without its internalization of non-entry functions).
Reported per shape: the seconds and peak RSS of the lowering, the seconds
of the translation and of LLVM, and the number of lines after lowering.
"""

import argparse
import json
import os
import platform
import subprocess
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(ROOT, "build", "bin")


def config(layers, hidden):
    head_dim = 64 if hidden <= 768 else 128
    heads = hidden // head_dim
    inter = (8 * hidden // 3 + 255) // 256 * 256
    return {"model_type": "llama", "hidden_size": hidden, "intermediate_size": inter,
            "num_hidden_layers": layers, "num_attention_heads": heads,
            "num_key_value_heads": heads, "vocab_size": 32000,
            "max_position_embeddings": 4096, "rms_norm_eps": 1e-5}


def timed(cmd):
    """Runs cmd under /usr/bin/time; returns (seconds, peak RSS in MiB)."""
    r = subprocess.run(["/usr/bin/time", "-f", "%e %M"] + cmd, check=True, capture_output=True, text=True)
    seconds, kib = r.stderr.strip().splitlines()[-1].split()
    return float(seconds), int(kib) / 1024.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", default="6,12,32,80")
    ap.add_argument("--hidden", default="768,2048,4096,8192")
    ap.add_argument("--codegen", action="store_true", help="also time opt -O3 and llc -O3")
    ap.add_argument("--json", default=os.path.join(ROOT, "bench", "results", "compile_scale.json"))
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        shapes = [(int(l), int(h)) for h in args.hidden.split(",") for l in args.layers.split(",")]
        for layers, hidden in shapes:
            cfg = os.path.join(tmp, "config.json")
            with open(cfg, "w") as f:
                json.dump(config(layers, hidden), f)
            mlir, lowered = os.path.join(tmp, "m.mlir"), os.path.join(tmp, "l.mlir")
            subprocess.run([os.path.join(BIN, "tok-import"), cfg, "--cache-capacity", "512", "--generate", "32", "-o", mlir], check=True)
            lower_s, rss = timed([os.path.join(BIN, "tok-opt"), mlir, "--tok-to-llvm", "-o", lowered])
            ll = os.path.join(tmp, "m.ll")
            translate_s, _ = timed([os.path.join(BIN, "tok-translate"), "--mlir-to-llvmir", lowered, "-o", ll])
            llvm_s = None
            if args.codegen:
                llvm_bin = subprocess.run(["llvm-config-22", "--bindir"], capture_output=True,
                                          text=True, check=True).stdout.strip()
                opt_s, _ = timed([os.path.join(llvm_bin, "opt"), "-O3", ll, "-o", ll + ".bc"])
                llc_s, _ = timed([os.path.join(llvm_bin, "llc"), "-O3", "-mcpu=native", "-filetype=obj",
                                  ll + ".bc", "-o", os.devnull])
                llvm_s = opt_s + llc_s
            with open(lowered) as f:
                lines = sum(1 for _ in f)
            row = {"layers": layers, "hidden": hidden, "lower_s": round(lower_s, 3),
                   "translate_s": round(translate_s, 3), "lower_peak_rss_mib": round(rss, 1),
                   "llvm_s": None if llvm_s is None else round(llvm_s, 3),
                   "lowered_lines": lines}
            rows.append(row)
            print(f"layers {layers:3d} hidden {hidden:5d}: lower {lower_s:6.2f} s, translate {translate_s:5.2f} s, "
                  f"peak {rss:6.0f} MiB, {lines} lines"
                  + ("" if llvm_s is None else f", LLVM {llvm_s:5.2f} s"), flush=True)
    rows.sort(key=lambda r: (r["hidden"], r["layers"]))
    out = {"machine": platform.processor() or platform.machine(), "rows": rows}
    with open(args.json, "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
