"""Where a tok-serve step's time goes: decode steps by batch size and context.

Usage: flock /tmp/tok-build.lock /usr/bin/python3 bench/serve/steps.py
           [--model 110m|pyllama-4m] [--batches 1,4,16,64] [--contexts 16,256]
           [--new 48] [--json OUT] [--perf B,L]

For each batch size B and prompt length L: a fresh tok-serve with
--max-sequences B gets B requests at once, each an L-token prompt and
--new greedy tokens, so that after their prefills all B decode in lockstep.
A thread polls /metrics; the window from the moment every stream has its
first token to the moment the first stream ends holds decode steps only
(checked: the generated tokens per step in it equal B). The mean step time
in that window is a decode step of B sequences at a context near
L + new / 2. From two contexts, per batch size: the part of the step that
does not grow with the context (weights: projections, MLP, head; the
runtime) and the part that does (attention over the pages), by a line
through the two points. With --perf B,L: a `perf record` of the server
during such decode steps instead, by symbol (one per kernel of the step).
"""

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_spec = importlib.util.spec_from_file_location("serve_run", os.path.join(ROOT, "bench", "serve", "run.py"))
run = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(run)
load = run.load


def decode_window(args, model, batch, length):
    server = run.tok_server(args, model, batch, min(model["positions"], 1024))
    snaps, stop = [], threading.Event()

    def poll():
        while not stop.is_set():
            m = server.metrics()
            snaps.append((time.perf_counter(), m.get("tok_steps_total", 0), m.get("tok_step_seconds_sum", 0),
                          m.get("tok_generated_tokens_total", 0)))
            time.sleep(0.05)

    try:
        bodies = run.request_list(model, batch, (args.new, args.new), seed=7)
        rng_bodies = []
        for i, b in enumerate(bodies):
            # Same length L for all; distinct ids so that no prefix is shared.
            rng_bodies.append(dict(b, prompt=[(x + i * 7919) % (model["vocab"] - 3) + 3 for x in
                                              (b["prompt"] * (length // len(b["prompt"]) + 1))[:length]]))
        t = threading.Thread(target=poll, daemon=True)
        t.start()
        results, wall = load.run_load(server.url, rng_bodies, batch)
        stop.set()
        t.join()
    finally:
        server.stop()
    bad = [r.error for r in results if not r.ok]
    if bad:
        raise RuntimeError(bad[:2])
    t_first = max(r.start + r.ttft for r in results)
    t_end = min(r.start + r.latency for r in results)
    inside = [s for s in snaps if t_first <= s[0] <= t_end]
    if len(inside) < 2 or inside[-1][1] - inside[0][1] < 3:
        return None
    a, b = inside[0], inside[-1]
    steps = b[1] - a[1]
    return {"batch": batch, "prompt": length, "steps": steps, "step_ms": 1e3 * (b[2] - a[2]) / steps,
            "tokens_per_step": (b[3] - a[3]) / steps, "tokens_s": batch * 1e3 / (1e3 * (b[2] - a[2]) / steps)}


def profile(args, model, batch, length, seconds=4.0):
    """perf record of tok-serve's threads during B-sequence decode steps
    (TOK_JIT_PERF=1 names the JIT code: docs/development.md, "Profile");
    returns perf report's lines for the hottest symbols."""
    os.environ["TOK_JIT_PERF"] = "1"
    try:
        server = run.tok_server(args, model, batch, min(model["positions"], 1024))
    finally:
        del os.environ["TOK_JIT_PERF"]
    data = os.path.join(args.work, "serve-perf.data")
    try:
        bodies = [dict(b, prompt=[(x + i * 7919) % (model["vocab"] - 3) + 3 for x in
                                  (b["prompt"] * (length // len(b["prompt"]) + 1))[:length]])
                  for i, b in enumerate(run.request_list(model, batch, (args.new * 4, args.new * 4), seed=7))]
        done = {}
        t = threading.Thread(target=lambda: done.update(r=load.run_load(server.url, bodies, batch)), daemon=True)
        t.start()
        # Wait until every request is decoding (the prompt tokens are in).
        while True:
            m = server.metrics()
            if m.get("tok_prompt_tokens_total", 0) >= batch * length and m.get("tok_requests_waiting", 1) == 0:
                break
            time.sleep(0.1)
        time.sleep(1.0)
        subprocess.run(["perf", "record", "-k", "1", "-o", data, "-p", str(server.proc.pid), "--", "sleep",
                        str(seconds)], check=True, capture_output=True)
        t.join()
    finally:
        server.stop()
    subprocess.run(["perf", "inject", "--jit", "-i", data, "-o", data + ".jit"], check=True, capture_output=True)
    rep = subprocess.run(["perf", "report", "-i", data + ".jit", "--no-children", "--sort", "sym", "--stdio"],
                         capture_output=True, text=True).stdout
    return [l for l in rep.splitlines() if l.strip() and not l.startswith("#")][:14]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="110m")
    ap.add_argument("--batches", default="1,4,16,64")
    ap.add_argument("--contexts", default="16,256")
    ap.add_argument("--new", type=int, default=48)
    ap.add_argument("--work", default=os.path.join("/tmp", "tok-bench-serve"))
    ap.add_argument("--tok-serve", default=os.path.join(ROOT, "build", "bin", "tok-serve"))
    ap.add_argument("--json", default=os.path.join(ROOT, "bench", "results", "serve_steps.json"))
    ap.add_argument("--perf", default=None, metavar="B,L",
                    help="instead: perf profile of B-sequence decode steps after L-token prompts")
    args = ap.parse_args()
    model = run.prepare_models(args.work, [args.model])[args.model]
    if args.perf:
        batch, length = (int(x) for x in args.perf.split(","))
        print("perf, %s, decode steps of %d sequences after %d-token prompts:" % (args.model, batch, length))
        print("\n".join(profile(args, model, batch, length)))
        return
    contexts = [int(x) for x in args.contexts.split(",")]
    rows = []
    for batch in [int(x) for x in args.batches.split(",")]:
        for length in contexts:
            r = decode_window(args, model, batch, length)
            if r is None:
                print("B=%-3d L=%-4d: no clean decode window" % (batch, length))
                continue
            rows.append(r)
            print("B=%-3d L=%-4d: decode step %7.2f ms (%4.1f tokens/step in the window, %d steps): %7.1f tok/s"
                  % (batch, length, r["step_ms"], r["tokens_per_step"], r["steps"], r["tokens_s"]))
            sys.stdout.flush()
    split = []
    if len(contexts) == 2:
        lo, hi = sorted(contexts)
        for batch in sorted({r["batch"] for r in rows}):
            a = [r for r in rows if r["batch"] == batch and r["prompt"] == lo]
            b = [r for r in rows if r["batch"] == batch and r["prompt"] == hi]
            if a and b:
                ctx_lo, ctx_hi = lo + args.new / 2, hi + args.new / 2
                per_ctx = (b[0]["step_ms"] - a[0]["step_ms"]) / (ctx_hi - ctx_lo)
                fixed = a[0]["step_ms"] - per_ctx * ctx_lo
                split.append({"batch": batch, "fixed_ms": fixed, "ms_per_context_token": per_ctx,
                              "attention_ms_at_hi": per_ctx * ctx_hi})
                print("B=%-3d: %.2f ms not growing with the context + %.4f ms per context token "
                      "(%.1f ms of attention at %d tokens of context)"
                      % (batch, fixed, per_ctx, per_ctx * ctx_hi, ctx_hi))
    with open(args.json, "w") as f:
        json.dump({"model": args.model, "new": args.new, "rows": rows, "split": split}, f, indent=1)
    print("wrote", args.json)


if __name__ == "__main__":
    main()
