"""The serving benchmark's load client: Python's standard library only.

One client for every server, so that tok-serve and llama.cpp's servers get
the same requests the same way: streamed `POST /v1/completions` (OpenAI's
API, server-sent events), the prompt as an array of token ids (no
tokenizer in the way), greedy, a fixed number of new tokens.

`run_load(url, requests, concurrency)` is a closed loop: `concurrency`
threads each take the next request from the list as soon as their previous
one has finished, so that `concurrency` requests are in flight until the
list runs out. Per request it records the time to the first streamed token
(TTFT), the whole latency, and the number of tokens generated; the level's
throughput is the generated tokens over the wall time from the first send
to the last response.

Counting tokens: tok-serve's chunks carry `token_ids`; llama-server's
final chunk carries OpenAI's `usage`; llama-cpp-python's server sends one
chunk per token and no usage. The count is the first of those that the
response has, and the benchmark checks that it equals the `max_tokens`
asked for (a server that stopped early would make its throughput look
better than it is).
"""

import http.client
import json
import threading
import time
import urllib.parse


class Result:
    __slots__ = ("ok", "error", "ttft", "latency", "tokens", "chunks", "finish", "start", "text")

    def __init__(self):
        self.ok, self.error = False, None
        self.ttft = self.latency = None
        self.tokens, self.chunks, self.finish, self.start = 0, 0, None, None
        self.text = ""

    def as_dict(self):
        return {k: getattr(self, k) for k in self.__slots__}


def _connection(url, timeout):
    u = urllib.parse.urlparse(url)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)


def stream_completion(url, body, timeout=600.0):
    """POSTs `body` (a dict; `stream` is set) to url + /v1/completions and
    reads the server-sent events to the end. Returns a Result."""
    r = Result()
    body = dict(body, stream=True)
    data = json.dumps(body).encode()
    conn = _connection(url, timeout)
    r.start = t0 = time.perf_counter()
    try:
        conn.request("POST", "/v1/completions", body=data,
                     headers={"Content-Type": "application/json", "Accept": "text/event-stream"})
        resp = conn.getresponse()
        if resp.status != 200:
            r.error = "HTTP %d: %s" % (resp.status, resp.read()[:300].decode("utf-8", "replace"))
            return r
        by_ids = by_chunks = 0
        usage = None
        saw_ids = done = False
        while True:
            line = resp.readline()
            if not line:
                break
            line = line.strip()
            if not line.startswith(b"data:"):
                continue
            payload = line[5:].strip()
            if payload == b"[DONE]":
                done = True
                break
            chunk = json.loads(payload)
            if "error" in chunk:
                r.error = json.dumps(chunk["error"])[:300]
                return r
            if chunk.get("usage"):
                usage = chunk["usage"]
            got = 0
            for choice in chunk.get("choices", []):
                r.text += choice.get("text") or ""
                if choice.get("finish_reason"):
                    r.finish = choice["finish_reason"]
                if "token_ids" in choice:
                    saw_ids = True
                    got += len(choice["token_ids"] or [])
                elif choice.get("text"):
                    got += 1
                elif choice.get("finish_reason") is None:
                    got += 1  # a token whose text is held back (part of a character)
            r.chunks += 1
            if saw_ids:
                by_ids += got
            else:
                by_chunks += got
            if got and r.ttft is None:
                r.ttft = time.perf_counter() - t0
        r.latency = time.perf_counter() - t0
        if not done:
            r.error = "the stream ended without [DONE] after %d chunks" % r.chunks
            return r
        if saw_ids:
            r.tokens = by_ids
        elif usage and usage.get("completion_tokens") is not None:
            r.tokens = int(usage["completion_tokens"])
        else:
            r.tokens = by_chunks
        r.ok = True
    except (OSError, http.client.HTTPException, ValueError) as e:
        r.error = "%s: %s" % (type(e).__name__, e)
    finally:
        conn.close()
    return r


def get_text(url, path, timeout=10.0):
    conn = _connection(url, timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read().decode("utf-8", "replace")
    finally:
        conn.close()


def wait_ready(url, path, deadline_s, alive=lambda: True):
    """Polls GET path until it answers 200 (True) or the deadline passes or
    alive() turns False (False)."""
    end = time.time() + deadline_s
    while time.time() < end:
        if not alive():
            return False
        try:
            status, _ = get_text(url, path, timeout=2.0)
            if status == 200:
                return True
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.25)
    return False


def prometheus(text):
    """Prometheus text exposition -> {metric name (with labels): float}."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        try:
            out[name] = float(value)
        except ValueError:
            pass
    return out


def run_load(url, bodies, concurrency, timeout=600.0):
    """Sends `bodies` (dicts) with `concurrency` requests in flight (closed
    loop). Returns (results in the order of `bodies`, wall seconds)."""
    results = [None] * len(bodies)
    lock = threading.Lock()
    nxt = [0]

    def worker():
        while True:
            with lock:
                i = nxt[0]
                if i >= len(bodies):
                    return
                nxt[0] += 1
            results[i] = stream_completion(url, bodies[i], timeout)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(min(concurrency, len(bodies)))]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, time.perf_counter() - t0


def percentile(values, q):
    v = sorted(values)
    if not v:
        return None
    k = (len(v) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def summarize(results, wall, expected_tokens):
    """Throughput and latency figures of one load level."""
    ok = [r for r in results if r is not None and r.ok]
    errors = [r.error for r in results if r is None or not r.ok]
    tokens = sum(r.tokens for r in ok)
    short = sum(1 for r, n in zip(results, expected_tokens) if r is not None and r.ok and r.tokens != n)
    ttft = [r.ttft for r in ok if r.ttft is not None]
    lat = [r.latency for r in ok]
    return {
        "requests": len(results), "ok": len(ok), "errors": errors[:5], "n_errors": len(errors),
        "wrong_length": short, "tokens": tokens, "expected_tokens": sum(expected_tokens),
        "wall_s": wall, "tokens_s": tokens / wall if wall > 0 else 0.0,
        "ttft_median_s": percentile(ttft, 0.5), "ttft_mean_s": sum(ttft) / len(ttft) if ttft else None,
        "ttft_p90_s": percentile(ttft, 0.9),
        "latency_median_s": percentile(lat, 0.5), "latency_p90_s": percentile(lat, 0.9),
    }
