"""tok-serve --pipeline with window eviction per sequence: concurrent
greedy requests through the server give the tokens of the single-sequence
path with the same pipeline (tok-run generate --ids --pipeline ...,
chunk=1, an independent compiled program), /metrics counts the pages
released behind the windows, and a pipeline the batch step cannot take
stops the server before it listens, with the pass's reason.

Usage: serve_window_check.py TOK_SERVE TOK_RUN
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_check import Server, complete, concurrently, expect, metrics  # noqa: E402

PIPELINE = "tok-kv-evict{policy=window budget=20 sinks=4 recent=16 chunk=1}"
NEW = 48
PROMPTS = [[100, 101, 102], [40] * 30, list(range(60, 65)), list(range(70, 110))]


def alone(tok_run, ids):
    r = subprocess.run([tok_run, "generate", "--model", "builtin", "--ids", ",".join(map(str, ids)),
                        "--max-new-tokens", str(NEW), "--eos", "-1", "--print-ids", "--quiet",
                        "--pipeline", PIPELINE], capture_output=True, text=True)
    expect(r.returncode == 0, "tok-run generate: " + r.stderr)
    return [int(x) for x in r.stdout.split("ids:")[-1].split()]


def main():
    tok_serve, tok_run = sys.argv[1:3]
    want = [alone(tok_run, p) for p in PROMPTS]
    srv = Server(tok_serve, ["--model", "builtin", "--port", "0", "--context", "256",
                             "--page-size", "4", "--pipeline", PIPELINE])
    try:
        outs = concurrently([lambda p=p: complete(srv, {"prompt": p, "max_tokens": NEW,
                                                        "temperature": 0})
                             for p in PROMPTS])
        got = [ids for _, ids, _, _ in outs]
        same = sum(g == w for g, w in zip(got, want))
        print("window: %d of %d requests equal to the single-sequence path" % (same, len(want)))
        m = metrics(srv)
        released = m.get("tok_kv_window_released_pages_total", 0)
        print("metrics: %s pages released behind windows, %s held now"
              % ("some" if released > 0 else "no", int(m.get("tok_kv_pages_held", -1))))
    finally:
        srv.kill()
    r = subprocess.run([tok_serve, "--model", "builtin", "--port", "0", "--pipeline",
                        "tok-kv-evict{policy=h2o budget=16 recent=8}"],
                       capture_output=True, text=True, timeout=120)
    print("h2o: exit %d: %s" % (r.returncode, r.stderr.strip().splitlines()[0] if r.stderr else ""))


if __name__ == "__main__":
    main()
