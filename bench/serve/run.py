"""Serving benchmark: tok-serve against llama.cpp's server and against tok
at batch 1, under the same load from the same client (bench/serve/load.py).

Usage (hold the build lock: timings on 2 shared cores mean nothing while
something builds):
    flock /tmp/tok-build.lock /usr/bin/python3 bench/serve/run.py [--quick]
        [--models pyllama-4m,110m] [--levels 1,4,16,64] [--rounds 3]
        [--skip-peer] [--skip-prefix] [--json OUT]

Models: the trained pyllama-4m (../shared/models/pyllama-4m beside the
checkout, skipped if absent: byte vocabulary, GQA 8/4, 6 layers, dim 256)
and a 110M Llama-2 shape (dim 768, 12 layers, 12 heads, SwiGLU 2048,
vocabulary 32000, untied head; random weights from bench/decode/run.py's
generator, 2048 positions here so that the prefix scenario fits, with a
synthetic tokenizer.json whose pieces match scripts/hf_to_gguf.py's
synthetic GGUF vocabulary). Each is given to tok as the Hugging Face
checkpoint and to llama.cpp as an f32 GGUF written from it
(scripts/hf_to_gguf.py, as bench/decode does): the same weights, f32 on
both sides (llama.cpp's AMX repacking of Q8_0 / Q4_0 crashes on this
machine; f32 never takes that path).

Engines, all pinned to 2 threads (TOK_NUM_THREADS=2; -t 2 -tb 2):
- tok: `tok-serve --max-sequences 64` (every request of the largest level
  runs at once), the default --max-step-tokens 512 and 16-slot pages.
- tok batch 1: the same server with `--max-sequences 1` (one sequence per
  step, the others wait): the same HTTP path, scheduler and kernels, so
  the ratio is what batching buys. Also reported, not used for the
  target: `tok-run generate` one prompt at a time (the single-sequence
  path with a contiguous cache), its own prefill + decode time.
- llama.cpp: `llama-server` (llama.cpp's own server, built once from the
  sources in the llama-cpp-python sdist of bench/.venv-llama,
  bench/common/llama_server_env.py) with `--parallel 64` slots
  (continuous batching, one batch per step, a context of 512 per slot),
  `ignore_eos`.
- llama-cpp-python's own server (`python -m llama_cpp.server`, its
  `[server]` extras installed into bench/.venv-llama on first use), on
  pyllama-4m only: it has no parallel slots (one `Llama` behind a global
  lock: requests run one at a time), so it is a second batch-1 peer; its
  `interrupt_requests` (a waiting request cuts the running stream short)
  is turned off. Its /v1/completions takes only text, which the byte
  model's GGUF tokenizes back to the same ids (byte pieces, no space
  prefix); the 110M shape's synthetic vocabulary does not round-trip.

Load: a fixed request list (seed 0): prompt lengths drawn from 32, 64, 96,
128, 192, 256 tokens (random ids), 64 to 128 new tokens each, greedy,
streamed, no end-of-sequence stop (tok's models here have no eos; llama.cpp
gets ignore_eos); every response's token count is checked against
max_tokens. At concurrency c the client keeps c requests in flight (closed
loop) over max(8, 2c) requests (64 at c = 64); the level's throughput is
all generated tokens over the wall time of the level. TTFT is the time to
the first streamed token, latency the whole request. The servers of a
model stay up together; every level runs --rounds times (a new request
list each round), the engines taking turns in an order that rotates each
round, and the median round is reported (paired runs: the machine is
shared, and a disturbance hits the engines alike).

Prefix scenario (110M shape only: it needs 1,000+ positions): 16 requests
whose prompts are one 1,000-token prefix plus a different 8-24-token
suffix, 16 new tokens each, sent at once, on a fresh tok-serve with prefix
caching and on one with --no-prefix-cache. Two ways of issuing them:
"cold": the 16 arrive together at an empty cache (the first admitted
request prefills the prefix; the others pick up its full pages as steps
fill and cache them, so most of them still compute part of it: the
measure of a burst); "warm": one request with the prefix is sent and
finished first, then the 16 (the measure of a system prompt already
cached). Reported: the median and mean TTFT of the 16 with and without
caching and their ratios, and tok_prefix_hit_tokens_total from /metrics.
Checked (warm): the 16 hit at least 16 x 992 tokens (all of the prefix's
full 16-token pages), i.e. the prefix was prefilled once, by the warm-up;
and no hit at all without caching.

Targets (issue 29), on the 110M shape: tok at 16 concurrent >= 4x tok at
batch 1 and >= 1.5x llama.cpp's server; prefix TTFT >= 5x lower.
"""

import argparse
import datetime
import importlib.util
import json
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench", "common"))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import load  # noqa: E402
import hf_to_gguf  # noqa: E402

_spec = importlib.util.spec_from_file_location("decode_run", os.path.join(ROOT, "bench", "decode", "run.py"))
_decode_run = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_decode_run)

PYLLAMA = os.path.join(os.path.dirname(ROOT), "shared", "models", "pyllama-4m")
SHAPE_110M = dict(_decode_run.SHAPE_110M, max_position_embeddings=2048)
THREADS = 2
PROMPT_LENS = [32, 64, 96, 128, 192, 256]
PREFIX_LEN, PREFIX_REQUESTS, PAGE = 1000, 16, 16


# ---------------------------------------------------------------- models

def synthetic_tokenizer(path, vocab):
    """A tokenizer.json whose vocabulary is hf_to_gguf.add_vocabulary's:
    <unk>, <s>, </s>, the 256 byte pieces, then filler pieces; BPE with no
    merges and byte fallback (the benchmark sends token ids; the server
    only decodes)."""
    tokens = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % b for b in range(256)]
    tokens += ["\u2581t%d" % i for i in range(vocab - len(tokens))]
    doc = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
                          "normalized": False, "special": True} for i, t in enumerate(tokens[:3])],
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": "\u2581"}, {"type": "Replace", "pattern": {"String": " "},
                                                       "content": "\u2581"}]},
        "pre_tokenizer": None, "post_processor": None,
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
            {"type": "ByteFallback"}, {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True,
                  "vocab": {t: i for i, t in enumerate(tokens)}, "merges": []},
    }
    with open(path, "w") as f:
        json.dump(doc, f)


def byte_vocabulary(w, vocab, add_bos=None):
    """In place of hf_to_gguf.add_vocabulary for the byte model: llama.cpp
    loads a GGUF with no vocabulary ("none") but its server aborts when it
    turns a generated token into text, so llama.cpp gets a SentencePiece
    vocabulary of the 256 byte pieces (id = byte, as tok's byte tokenizer)
    and no BOS added. Its default BOS / EOS ids (1, 2) name byte tokens;
    nothing is added to the token-id prompts and ignore_eos is set, so they
    never act."""
    w.add_tokenizer_model("llama")
    w.add_token_list(["<0x%02X>" % b for b in range(vocab)])
    w.add_token_scores([0.0] * vocab)
    w.add_token_types([6] * vocab)
    w.add_add_bos_token(False)
    # Text then tokenizes byte by byte (every byte through the byte
    # fallback) to tok's ids, with no "\u2581" put in front: what
    # llama-cpp-python's server, which takes only text prompts, needs.
    w.add_add_space_prefix(False)


def prepare_models(work, wanted):
    """{name: {hf, gguf, vocab, positions}} for the models asked for that
    exist; files are cached in `work` between runs."""
    os.makedirs(work, exist_ok=True)
    models = {}
    if "pyllama-4m" in wanted:
        if os.path.isdir(PYLLAMA):
            gguf = os.path.join(work, "pyllama-4m-f32-bytes.gguf")
            if not os.path.exists(gguf):
                saved, hf_to_gguf.add_vocabulary = hf_to_gguf.add_vocabulary, byte_vocabulary
                try:
                    hf_to_gguf.convert(PYLLAMA, gguf, "f32")
                finally:
                    hf_to_gguf.add_vocabulary = saved
            models["pyllama-4m"] = dict(hf=PYLLAMA, gguf=gguf, vocab=256, positions=512)
        else:
            print("pyllama-4m: %s not found, skipped" % PYLLAMA)
    if "110m" in wanted:
        hf = os.path.join(work, "llama2-110m")
        gguf = os.path.join(work, "llama2-110m-f32.gguf")
        if not os.path.exists(os.path.join(hf, "tokenizer.json")):
            print("writing the 110M shape (random weights) to %s ..." % hf)
            sys.stdout.flush()
            w = _decode_run.weights(SHAPE_110M, np.random.default_rng(0))
            _decode_run.write_model(hf, SHAPE_110M, w)
            del w
            synthetic_tokenizer(os.path.join(hf, "tokenizer.json"), SHAPE_110M["vocab_size"])
        if not os.path.exists(gguf):
            hf_to_gguf.convert(hf, gguf, "f32")
        models["110m"] = dict(hf=hf, gguf=gguf, vocab=SHAPE_110M["vocab_size"],
                              positions=SHAPE_110M["max_position_embeddings"])
    return models


# --------------------------------------------------------------- servers

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A server process on 127.0.0.1, its output in a log file."""

    def __init__(self, name, argv, port, ready_path, env=None, log_dir=None):
        self.name, self.port = name, port
        self.url = "http://127.0.0.1:%d" % port
        self.log = tempfile.NamedTemporaryFile("w+", prefix="serve-%s-" % name, suffix=".log",
                                               dir=log_dir, delete=False)
        t0 = time.time()
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=dict(os.environ, **(env or {})))
        if not load.wait_ready(self.url, ready_path, 900, lambda: self.proc.poll() is None):
            self.stop()
            raise RuntimeError("%s did not start:\n%s" % (name, self.tail()))
        self.start_s = time.time() - t0

    def tail(self, n=3000):
        if not self.log.closed:
            self.log.flush()
        with open(self.log.name) as f:
            return f.read()[-n:]

    def metrics(self):
        status, text = load.get_text(self.url, "/metrics")
        return load.prometheus(text) if status == 200 else {}

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def tok_server(args, model, max_sequences, context, extra=()):
    port = free_port()
    argv = [args.tok_serve, "--model", model["hf"], "--port", str(port), "--max-sequences", str(max_sequences),
            "--max-queue", "128", "--context", str(context), "--timeout-s", "600"] + list(extra)
    return Server("tok", argv, port, "/health", env={"TOK_NUM_THREADS": str(THREADS)})


def llama_server(binary, model, slots, slot_context):
    port = free_port()
    argv = [binary, "-m", model["gguf"], "--host", "127.0.0.1", "--port", str(port), "-t", str(THREADS),
            "-tb", str(THREADS), "--parallel", str(slots), "-c", str(slots * slot_context),
            "-b", "512", "-ub", "512", "--no-webui", "--metrics", "--log-disable"]
    return Server("llama-server", argv, port, "/health")


def llama_cpp_python_server(python, model, context):
    """llama-cpp-python's server: one Llama, requests one at a time (it has
    no parallel slots); interrupt_requests off, so that a waiting request
    does not cut the running stream short."""
    port = free_port()
    argv = [python, "-m", "llama_cpp.server", "--model", model["gguf"], "--host", "127.0.0.1", "--port", str(port),
            "--n_threads", str(THREADS), "--n_threads_batch", str(THREADS), "--n_ctx", str(context),
            "--n_batch", "512", "--interrupt_requests", "False"]
    return Server("llama-cpp-python", argv, port, "/v1/models")


# ------------------------------------------------------------------ load

def request_list(model, n, new_range, seed=0):
    rng = np.random.default_rng(seed)
    lo = 32 if model["vocab"] == 256 else 3  # printable bytes / past the specials
    hi = 127 if model["vocab"] == 256 else model["vocab"]
    out = []
    for _ in range(n):
        plen = int(rng.choice(PROMPT_LENS))
        out.append(dict(prompt=[int(x) for x in rng.integers(lo, hi, plen)],
                        max_tokens=int(rng.integers(new_range[0], new_range[1] + 1)), temperature=0))
    return out


def body_for(engine, body):
    if engine == "llama.cpp":
        return dict(body, ignore_eos=True, cache_prompt=False)
    if engine == "llama-cpp-python":
        # Text only (the byte model's ids are its bytes: printable ASCII
        # here); its default repeat penalty off, for plain greedy.
        return dict(body, prompt=bytes(body["prompt"]).decode("ascii"), repeat_penalty=1.0)
    return body


TOK_COUNTERS = ("tok_steps_total", "tok_step_seconds_sum", "tok_generated_tokens_total",
                "tok_prompt_tokens_total", "tok_prefix_hit_tokens_total", "tok_preemptions_total")


def measure_level(server, engine, bodies, concurrency):
    before = server.metrics() if engine.startswith("tok") else {}
    results, wall = load.run_load(server.url, [body_for(engine, b) for b in bodies], concurrency)
    row = load.summarize(results, wall, [b["max_tokens"] for b in bodies])
    row.update(engine=engine, concurrency=concurrency)
    row["first_text"] = results[0].text if results and results[0] is not None else ""
    if before:
        after = server.metrics()
        d = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in TOK_COUNTERS}
        row["tok_metrics"] = d
        if d["tok_steps_total"] > 0:
            row["step_ms_mean"] = 1e3 * d["tok_step_seconds_sum"] / d["tok_steps_total"]
            row["step_busy_fraction"] = d["tok_step_seconds_sum"] / wall
            row["tokens_per_step"] = (d["tok_generated_tokens_total"] + d["tok_prompt_tokens_total"]
                                      - d["tok_prefix_hit_tokens_total"]) / d["tok_steps_total"]
    return row


def print_row(name, row, tag=""):
    extra = ""
    if "step_ms_mean" in row:
        extra = " | %5.1f ms/step, %5.1f tok/step, busy %3.0f%%" % (
            row["step_ms_mean"], row["tokens_per_step"], 100 * row["step_busy_fraction"])
    bad = ""
    if row["n_errors"] or row["wrong_length"]:
        bad = "  [%d errors, %d wrong lengths: %s]" % (row["n_errors"], row["wrong_length"], row["errors"][:1])
    print("%-10s %-16s %-6s c=%-3d %8.1f tok/s | TTFT med %6.3f s p90 %6.3f s | latency med %6.2f s%s%s"
          % (name, row["engine"], tag, row["concurrency"], row["tokens_s"], row["ttft_median_s"] or -1,
             row["ttft_p90_s"] or -1, row["latency_median_s"] or -1, extra, bad))
    sys.stdout.flush()


def n_requests(c, quick):
    if quick:
        return max(2, c)
    return 64 if c >= 64 else max(8, 2 * c)


def tok_run_batch1(args, model, bodies):
    """tok-run generate one prompt at a time: generated tokens over the sum
    of its reported prefill and decode times (compile excluded)."""
    total_ms, tokens = 0.0, 0
    for b in bodies:
        r = subprocess.run([args.tok_run, "generate", "--model", model["hf"], "--ids",
                            ",".join(map(str, b["prompt"])), "--max-new-tokens", str(b["max_tokens"]),
                            "--eos", "-1"], capture_output=True, text=True,
                           env=dict(os.environ, TOK_NUM_THREADS=str(THREADS)))
        if r.returncode != 0:
            raise RuntimeError(r.stderr[-2000:])
        p = re.search(r"prefill (\d+) tokens in ([0-9.]+) ms", r.stderr)
        d = re.search(r"decode (\d+) tokens in ([0-9.]+) ms", r.stderr)
        total_ms += float(p.group(2)) + float(d.group(2))
        tokens += b["max_tokens"]
    return {"requests": len(bodies), "tokens": tokens, "seconds": total_ms / 1e3,
            "tokens_s": tokens / (total_ms / 1e3)}


def throughput(args, name, model, llama_bin, levels, quick):
    """Every engine's server is started once and stays up (idle servers
    take no CPU); each level is measured --rounds times, the engines taking
    turns in an order that rotates every round (paired runs: a slow moment
    of the shared machine hits them alike), and the round with the median
    throughput is the level's row."""
    new_range = (16, 32) if quick else (64, 128)
    top = max(levels)
    slot_context = 512
    # A fresh request list per level and round (all engines get the same
    # one): a repeated prompt would hit tok's prefix cache.
    lists = {(c, r): request_list(model, n_requests(c, quick), new_range, seed=1000 * r + c)
             for c in levels for r in range(args.rounds)}
    b1_levels = [c for c in levels if c in (1, 16)] or [levels[0]]
    servers = {}
    try:
        for engine, slots in (("tok", top), ("tok-b1", 1)):
            servers[engine] = tok_server(args, model, slots, slot_context)
            print("%-10s %-16s started in %.1f s (compile included)" % (name, engine, servers[engine].start_s))
        if llama_bin:
            servers["llama.cpp"] = llama_server(llama_bin, model, top, slot_context)
        if args.llama_cpp_python and model["vocab"] == 256:
            servers["llama-cpp-python"] = llama_cpp_python_server(args.llama_cpp_python, model, slot_context)
        engines = list(servers)
        rows, texts = [], {}
        for c in levels:
            runs = {e: [] for e in engines}
            for r in range(args.rounds):
                order = engines[r % len(engines):] + engines[:r % len(engines)]
                for engine in order:
                    if engine == "tok-b1" and c not in b1_levels:
                        continue
                    row = measure_level(servers[engine], engine, lists[(c, r)], c)
                    row["round"] = r
                    if r == 0 and c == levels[0]:
                        texts[engine] = row["first_text"]
                    runs[engine].append(row)
                    if args.rounds > 1:
                        print_row(name, row, "  round %d" % r)
            for engine in engines:
                if not runs[engine]:
                    continue
                ordered = sorted(runs[engine], key=lambda x: x["tokens_s"])
                row = dict(ordered[(len(ordered) - 1) // 2])
                row["rounds_tokens_s"] = [x["tokens_s"] for x in runs[engine]]
                rows.append(row)
                print_row(name, row, "median" if args.rounds > 1 else "")
    finally:
        for server in servers.values():
            server.stop()
    # Greedy on the same f32 weights: the first request's text should agree
    # (random weights make near-ties, so a late divergence is not an error).
    for peer in ("llama.cpp", "llama-cpp-python"):
        if "tok" in texts and peer in texts:
            a, b = texts["tok"].strip(), texts[peer].strip()
            same = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
            print("%-10s first request's text, tok vs %s: %d of %d characters agree"
                  % (name, peer, same, max(len(a), len(b))))
    ref = tok_run_batch1(args, model, lists[(levels[0], 0)][:1 if quick else 4])
    print("%-10s tok-run generate, one prompt at a time: %.1f tok/s (prefill + decode time, %d requests)"
          % (name, ref["tokens_s"], ref["requests"]))
    return rows, ref


# ---------------------------------------------------------------- prefix

def prefix_bodies(model, seed, n, new):
    rng = np.random.default_rng(seed)
    prefix = [int(x) for x in rng.integers(3, model["vocab"], PREFIX_LEN)]
    return [dict(prompt=prefix + [int(x) for x in rng.integers(3, model["vocab"], int(rng.integers(8, 25)))],
                 max_tokens=new, temperature=0) for _ in range(n + 1)]


def prefix_run(server, bodies, warm):
    """Sends bodies[0] alone first if `warm`, then bodies[1:] all at once;
    returns the TTFTs of the latter and the metric deltas."""
    before = server.metrics()
    if warm:
        r = load.stream_completion(server.url, bodies[0])
        if not r.ok:
            raise RuntimeError("warm-up request failed: %s" % r.error)
    mid = server.metrics()
    results, wall = load.run_load(server.url, bodies[1:], len(bodies) - 1)
    after = server.metrics()
    bad = [r.error for r in results if not r.ok]
    if bad:
        raise RuntimeError("prefix requests failed: %s" % bad[:3])
    ttft = [r.ttft for r in results]
    return {"ttft_s": ttft, "ttft_median_s": load.percentile(ttft, 0.5), "ttft_mean_s": sum(ttft) / len(ttft),
            "wall_s": wall,
            "hit_tokens": after.get("tok_prefix_hit_tokens_total", 0) - mid.get("tok_prefix_hit_tokens_total", 0),
            "warm_hit_tokens": mid.get("tok_prefix_hit_tokens_total", 0)
            - before.get("tok_prefix_hit_tokens_total", 0),
            "prompt_tokens": after.get("tok_prompt_tokens_total", 0) - mid.get("tok_prompt_tokens_total", 0),
            "steps": after.get("tok_steps_total", 0) - mid.get("tok_steps_total", 0),
            "step_seconds": after.get("tok_step_seconds_sum", 0) - mid.get("tok_step_seconds_sum", 0)}


def prefix_scenario(args, model, quick):
    n = 4 if quick else PREFIX_REQUESTS
    new = 4 if quick else 16
    out = {"requests": n, "prefix_tokens": PREFIX_LEN, "new_tokens": new, "page_size": PAGE}
    context = PREFIX_LEN + 64
    for cache in (True, False):
        extra = [] if cache else ["--no-prefix-cache"]
        server = tok_server(args, model, n, context, extra)
        try:
            key = "cache" if cache else "no_cache"
            # Different prefixes for the two orders, so that the cold run
            # finds nothing the warm one cached and the other way round.
            out[key + "_cold"] = prefix_run(server, prefix_bodies(model, 101, n, new), warm=False)
            out[key + "_warm"] = prefix_run(server, prefix_bodies(model, 202, n, new), warm=True)
        finally:
            server.stop()
        for order in ("cold", "warm"):
            r = out[key + "_" + order]
            print("110m prefix %-8s %-4s: TTFT median %6.3f s, mean %6.3f s; prefix hit tokens %d "
                  "(+%d by the warm-up), %d prompt tokens computed in %d steps"
                  % (key, order, r["ttft_median_s"], r["ttft_mean_s"], r["hit_tokens"], r["warm_hit_tokens"],
                     r["prompt_tokens"] - r["hit_tokens"], r["steps"]))
    full_pages = (PREFIX_LEN // PAGE) * PAGE
    for order in ("cold", "warm"):
        c, nc = out["cache_" + order], out["no_cache_" + order]
        out["ratio_median_" + order] = nc["ttft_median_s"] / c["ttft_median_s"]
        out["ratio_mean_" + order] = nc["ttft_mean_s"] / c["ttft_mean_s"]
        print("110m prefix %s: TTFT without / with sharing: median %.2fx, mean %.2fx"
              % (order, out["ratio_median_" + order], out["ratio_mean_" + order]))
    # Warm: the warm-up request prefilled the prefix; every one of the n
    # requests after it must find all of its full pages cached.
    need = n * full_pages
    out["hit_check"] = {"warm_hits": out["cache_warm"]["hit_tokens"], "at_least": need,
                        "no_cache_hits": out["no_cache_warm"]["hit_tokens"] + out["no_cache_cold"]["hit_tokens"]}
    ok = out["cache_warm"]["hit_tokens"] >= need and out["hit_check"]["no_cache_hits"] == 0
    out["hit_check"]["ok"] = ok
    print("110m prefix: warm hits %d >= %d (= %d x %d: the prefix prefilled once, by the warm-up) and 0 without "
          "caching: %s" % (out["cache_warm"]["hit_tokens"], need, n, full_pages, "yes" if ok else "NO"))
    return out


# ------------------------------------------------------------------ main

def level_row(rows, engine, c):
    for r in rows:
        if r["engine"] == engine and r["concurrency"] == c:
            return r
    return None


def level_ratios(rows, ref, levels):
    """tok against tok batch 1 and llama.cpp at 16 concurrent (or the
    highest level): the median over the rounds of each round's ratio (the
    engines of a round ran the same requests back to back), and also the
    ratio of the median rounds' throughputs."""
    c = 16 if 16 in levels else max(levels)
    tok, b1 = level_row(rows, "tok", c), level_row(rows, "tok-b1", c) or level_row(rows, "tok-b1", 1)
    peer = level_row(rows, "llama.cpp", c)

    by_round = [x / y for x, y in zip(tok["rounds_tokens_s"], b1["rounds_tokens_s"])]
    ratios = {"concurrency": c, "vs_batch1": statistics.median(by_round), "vs_batch1_by_round": by_round,
              "vs_batch1_of_medians": tok["tokens_s"] / b1["tokens_s"],
              "vs_tok_run_generate": tok["tokens_s"] / ref["tokens_s"]}
    if peer and peer["tokens_s"] > 0:
        by_round = [x / y for x, y in zip(tok["rounds_tokens_s"], peer["rounds_tokens_s"])]
        ratios.update(vs_llama_cpp=statistics.median(by_round), vs_llama_cpp_by_round=by_round,
                      vs_llama_cpp_of_medians=tok["tokens_s"] / peer["tokens_s"])
    serial = level_row(rows, "llama-cpp-python", c)
    if serial and serial["tokens_s"] > 0:
        by_round = [x / y for x, y in zip(tok["rounds_tokens_s"], serial["rounds_tokens_s"])]
        ratios.update(vs_llama_cpp_python=statistics.median(by_round), vs_llama_cpp_python_by_round=by_round)
    return ratios


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a smoke run: fewer, shorter requests; levels 1, 4, 16")
    ap.add_argument("--models", default="pyllama-4m,110m")
    ap.add_argument("--levels", default=None, help="concurrency levels (default 1,4,16,64; --quick 1,4,16)")
    ap.add_argument("--rounds", type=int, default=None, help="paired rounds per level (default 3; --quick 1)")
    ap.add_argument("--skip-peer", action="store_true", help="no llama.cpp server")
    ap.add_argument("--skip-prefix", action="store_true")
    ap.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "tok-bench-serve"),
                    help="where the generated checkpoints are kept between runs")
    ap.add_argument("--tok-serve", default=os.path.join(ROOT, "build", "bin", "tok-serve"))
    ap.add_argument("--tok-run", default=os.path.join(ROOT, "build", "bin", "tok-run"))
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    if args.rounds is None:
        args.rounds = 1 if args.quick else 3
    levels = [int(x) for x in (args.levels or ("1,4,16" if args.quick else "1,4,16,64")).split(",")]
    out_json = args.json or os.path.join(ROOT, "bench", "results", "serve_quick.json" if args.quick
                                         else "serve.json")
    os.makedirs(args.work, exist_ok=True)
    models = prepare_models(args.work, args.models.split(","))

    llama_bin = None
    args.llama_cpp_python = None
    if not args.skip_peer:
        from llama_server_env import llama_server as find_llama_server
        from llama_cpp_env import llama_cpp_server_python
        llama_bin = find_llama_server()
        if "pyllama-4m" in models:
            args.llama_cpp_python = llama_cpp_server_python()

    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    # The binaries are built from the working tree: name the tracked
    # sources that differ from the commit.
    dirty = subprocess.run(["git", "-C", ROOT, "diff", "--name-only", "HEAD", "--", "lib", "include", "passes",
                            "tools"], capture_output=True, text=True).stdout.split()
    cpu = ""
    try:
        cpu = [l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")][0]
    except (OSError, IndexError):
        pass
    print("machine: %s, %d cores; commit %s%s; %d threads per engine"
          % (cpu, os.cpu_count(), commit, " (+ uncommitted: %s)" % ", ".join(dirty) if dirty else "", THREADS))
    load_before = os.getloadavg()[0]
    if load_before > 0.5:
        print("warning: load average %.2f before the run: something else is using the cores" % load_before)
    result = {"date": datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC"), "commit": commit,
              "load_average_before": load_before,
              "uncommitted_sources": dirty,
              "machine": cpu or platform.machine(), "cores": os.cpu_count(), "threads": THREADS,
              "quick": args.quick, "levels": levels, "rounds": args.rounds, "llama_server": llama_bin is not None, "models": {}}

    for name, model in models.items():
        rows, ref = throughput(args, name, model, llama_bin, levels, args.quick)
        entry = {"rows": rows, "tok_run_generate_batch1": ref}
        entry["ratios"] = ratios = level_ratios(rows, ref, levels)
        fmt = lambda xs: "/".join("%.2f" % x for x in xs)
        print("%-10s at %d concurrent (median of the rounds' paired ratios): tok / tok batch-1 %.2fx "
              "(rounds %s; target >= 4), / tok-run generate %.2fx%s"
              % (name, ratios["concurrency"], ratios["vs_batch1"], fmt(ratios["vs_batch1_by_round"]),
                 ratios["vs_tok_run_generate"],
                 ", / llama.cpp server %.2fx (rounds %s; target >= 1.5)"
                 % (ratios["vs_llama_cpp"], fmt(ratios["vs_llama_cpp_by_round"]))
                 if "vs_llama_cpp" in ratios else ""))
        if name == "110m" and not args.skip_prefix:
            entry["prefix"] = prefix_scenario(args, model, args.quick)
        result["models"][name] = entry
        sys.stdout.flush()

    if "110m" in result["models"]:
        e = result["models"]["110m"]
        targets = {"batch1_4x": e["ratios"]["vs_batch1"] >= 4.0}
        if "vs_llama_cpp" in e["ratios"]:
            targets["llama_cpp_1_5x"] = e["ratios"]["vs_llama_cpp"] >= 1.5
        if "prefix" in e:
            targets["prefix_ttft_5x"] = e["prefix"]["ratio_median_warm"] >= 5.0
            targets["prefix_hits"] = e["prefix"]["hit_check"]["ok"]
        result["targets_met"] = targets
        print("targets (110M):", ", ".join("%s %s" % (k, "met" if v else "MISSED") for k, v in targets.items()))
    os.makedirs(os.path.dirname(out_json), exist_ok=True)
    with open(out_json, "w") as f:
        json.dump(result, f, indent=1)
    print("wrote", out_json)


if __name__ == "__main__":
    main()
