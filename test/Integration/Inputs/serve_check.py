"""tok-serve end to end, with Python's standard library only.

Usage: serve_check.py TOK_SERVE TOK_RUN WORKDIR

Starts tok-serve on the built-in model (byte vocabulary, so text prompts
work) on a free port and checks:
  - each of 8 prompts streamed concurrently equals (text and tokens) the
    same request sent alone, and tok-run generate --prompts' greedy tokens;
  - seeded sampling: the same tokens alone, again, and among other
    requests; another seed gives other tokens;
  - stop strings: the text ends before the first occurrence, none of it
    streamed, finish_reason "stop";
  - malformed, mistyped, out-of-range and oversized requests are 4xx with
    an OpenAI-style JSON error; unknown paths 404;
  - a client that disconnects mid-stream is cancelled while two others
    finish with their tokens alone;
  - beyond --max-sequences + --max-queue requests in flight: 503;
  - /metrics is Prometheus text whose counters moved;
  - SIGTERM: a request in flight still finishes, and the server exits 0
    within seconds.
Each check prints one line; any failure raises (exit status 1). The server
is killed on every path.
"""
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

TIMEOUT = 60


class Server:
    def __init__(self, exe, args):
        self.proc = subprocess.Popen([exe] + args, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        self.lines = []
        self.port = None
        ready = threading.Event()

        def read():
            for line in self.proc.stderr:
                self.lines.append(line.rstrip("\n"))
                m = re.search(r"listening on http://[^:]+:(\d+)", line)
                if m:
                    self.port = int(m.group(1))
                    ready.set()
            ready.set()

        self.reader = threading.Thread(target=read, daemon=True)
        self.reader.start()
        if not ready.wait(120) or self.port is None:
            raise RuntimeError("tok-serve did not start:\n" + "\n".join(self.lines))

    def conn(self, timeout=TIMEOUT):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def request(srv, method, path, body=None, raw=None):
    """(status, parsed JSON or text) of a plain request."""
    c = srv.conn()
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    c.request(method, path, body=data, headers={"Content-Type": "application/json"})
    r = c.getresponse()
    text = r.read().decode()
    c.close()
    try:
        return r.status, json.loads(text)
    except ValueError:
        return r.status, text


def complete(srv, body):
    status, out = request(srv, "POST", "/v1/completions", dict(body, stream=False))
    if status != 200:
        raise RuntimeError("request %r: %d %r" % (body, status, out))
    choice = out["choices"][0]
    return choice["text"], choice["token_ids"], choice["finish_reason"], out["usage"]


def read_events(resp, limit=None):
    """The JSON events of an SSE response up to [DONE] (or `limit`)."""
    events, done = [], False
    while True:
        line = resp.readline()
        if not line:
            break
        line = line.decode().rstrip("\r\n")
        if not line:
            continue
        if not line.startswith("data: "):
            raise RuntimeError("not an SSE data line: %r" % line)
        payload = line[len("data: "):]
        if payload == "[DONE]":
            done = True
            break
        events.append(json.loads(payload))
        if limit is not None and len(events) >= limit:
            break
    return events, done


def stream(srv, body):
    c = srv.conn()
    c.request("POST", "/v1/completions", body=json.dumps(dict(body, stream=True)),
              headers={"Content-Type": "application/json"})
    r = c.getresponse()
    if r.status != 200:
        raise RuntimeError("stream %r: %d %s" % (body, r.status, r.read()))
    if not r.getheader("Content-Type", "").startswith("text/event-stream"):
        raise RuntimeError("stream content type: %s" % r.getheader("Content-Type"))
    events, done = read_events(r)
    c.close()
    if not done:
        raise RuntimeError("stream %r: no [DONE]" % body)
    text = "".join(e["choices"][0]["text"] for e in events)
    ids = [t for e in events for t in e["choices"][0].get("token_ids", [])]
    finish = events[-1]["choices"][0]["finish_reason"]
    if any(e["choices"][0]["finish_reason"] for e in events[:-1]):
        raise RuntimeError("a finish_reason before the last event")
    return text, ids, finish, events


def concurrently(fns):
    results, errors = [None] * len(fns), []

    def run(i):
        try:
            results[i] = fns[i]()
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(fns))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT * 2)
    if errors:
        raise errors[0]
    return results


def expect(cond, what):
    if not cond:
        raise RuntimeError("FAILED: " + what)


def metrics(srv):
    status, text = request(srv, "GET", "/metrics")
    expect(status == 200, "/metrics status %d" % status)
    values = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            expect(re.match(r"^(# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+)?$", line),
                   "a Prometheus comment line: %r" % line)
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*) (-?[0-9.eE+-]+|NaN|[+-]Inf)$", line)
        expect(m, "a Prometheus sample line: %r" % line)
        values[m.group(1)] = float(m.group(2))
    return values


PROMPTS = [
    "def main():",
    "import os",
    "class Tree(object):\n    def __init__(self",
    "x",
    "for i in range(10):",
    "def main(): return",  # shares a prefix with the first
    "# A comment that is a good deal longer than the others, to fill a page",
    "return None",
]
NEW = 24


def check(tok_serve, tok_run, work):
    os.makedirs(work, exist_ok=True)
    srv = Server(tok_serve, ["--model", "builtin", "--port", "0", "--context", "256",
                             "--max-sequences", "8", "--max-queue", "4",
                             "--max-body-bytes", "65536", "--drain-s", "20",
                             "--page-size", "8"])
    try:
        run_checks(srv, tok_run, work)
        # SIGTERM with a request in flight: it finishes, the server exits 0.
        c = srv.conn()
        c.request("POST", "/v1/completions",
                  body=json.dumps({"prompt": "def main():", "max_tokens": 200,
                                   "temperature": 0, "stream": True}))
        r = c.getresponse()
        first, _ = read_events(r, limit=1)
        expect(first, "a first event before SIGTERM")
        start = time.time()
        srv.proc.send_signal(signal.SIGTERM)
        rest, done = read_events(r)
        expect(done and rest and rest[-1]["choices"][0]["finish_reason"] == "length",
               "the request in flight at SIGTERM finished")
        ids = [t for e in first + rest for t in e["choices"][0].get("token_ids", [])]
        expect(len(ids) == 200, "200 tokens after SIGTERM, got %d" % len(ids))
        rc = srv.proc.wait(30)
        took = time.time() - start
        expect(rc == 0, "exit status 0 after SIGTERM, got %s" % rc)
        expect(took < 15, "exited %.1f s after SIGTERM" % took)
        print("SIGTERM: the request in flight finished, exit 0")
    except Exception:
        print("\n".join(srv.lines[-40:]), file=sys.stderr)
        raise
    finally:
        srv.kill()
    log = "\n".join(srv.lines)
    expect("POST /v1/completions 200" in log, "a log line per request")
    print("log: one line per request")


def run_checks(srv, tok_run, work):
    status, health = request(srv, "GET", "/health")
    expect(status == 200 and health == {"status": "ok"}, "/health: %r" % (health,))
    status, models = request(srv, "GET", "/v1/models")
    expect(status == 200 and models["data"][0]["id"] == "builtin", "/v1/models: %r" % (models,))
    print("health and models: ok")

    # Alone, one at a time; then all at once, streamed.
    greedy = {"max_tokens": NEW, "temperature": 0}
    alone = [complete(srv, dict(greedy, prompt=p)) for p in PROMPTS]
    for text, ids, finish, usage in alone:
        expect(len(ids) == NEW and finish == "length", "greedy: %d tokens, %s" % (len(ids), finish))
        expect(usage["completion_tokens"] == NEW, "usage %r" % usage)
    together = concurrently([lambda p=p: stream(srv, dict(greedy, prompt=p)) for p in PROMPTS])
    same = sum(1 for a, t in zip(alone, together) if a[0] == t[0] and a[1] == t[1])
    expect(same == len(PROMPTS), "%d of %d concurrent streams equal alone" % (same, len(PROMPTS)))
    print("concurrent streams: %d of %d equal to alone (text and tokens)" % (same, len(PROMPTS)))

    # tok-run generate --prompts (its batch path, greedy).
    path = os.path.join(work, "prompts.jsonl")
    with open(path, "w") as f:
        for p in PROMPTS:
            f.write(json.dumps(p) + "\n")
    r = subprocess.run([tok_run, "generate", "--model", "builtin", "--prompts", path,
                        "--max-new-tokens", str(NEW), "--print-ids", "--quiet"],
                       capture_output=True, text=True, errors="replace", timeout=300)
    expect(r.returncode == 0, "tok-run generate: " + r.stderr)
    ref = {int(m.group(1)): [int(x) for x in m.group(2).split()]
           for m in re.finditer(r"^ids\[(\d+)\]:((?: \d+)*)$", r.stdout, re.M)}
    same = sum(1 for i, a in enumerate(alone) if ref.get(i + 1) == a[1])
    expect(same == len(PROMPTS), "%d of %d equal to tok-run generate" % (same, len(PROMPTS)))
    print("tok-run generate: %d of %d equal" % (same, len(PROMPTS)))

    # Seeded sampling.
    sampled = [dict(prompt=p, max_tokens=NEW, temperature=0.9, top_k=40, top_p=0.95, seed=7 + i)
               for i, p in enumerate(PROMPTS[:4])]
    first = [complete(srv, s)[1] for s in sampled]
    again = [complete(srv, s)[1] for s in sampled]
    mixed = concurrently([lambda s=s: stream(srv, s)[1] for s in sampled] +
                         [lambda p=p: stream(srv, dict(prompt=p, max_tokens=NEW, temperature=1.0,
                                                       seed=99))[1]
                          for p in PROMPTS[4:]])
    expect(first == again, "seeded sampling repeats")
    expect(first == mixed[:4], "seeded sampling independent of its company")
    other = complete(srv, dict(sampled[0], seed=12345))[1]
    expect(other != first[0], "another seed, other tokens")
    expect(first[0] != alone[0][1], "sampling differs from greedy")
    print("seeded sampling: reproducible, alone and among 8")

    # Stop strings: an ASCII pair from a greedy completion.
    done = False
    for p, (text, ids, _, _) in zip(PROMPTS, alone):
        for k in range(2, len(text) - 2):
            stop = text[k:k + 2]
            if not all(32 <= ord(ch) < 127 for ch in stop):
                continue
            at = text.find(stop)
            want = text[:at]
            body = dict(greedy, prompt=p, stop=[stop, "\u00ff\u00fe never"])
            got, _, finish, _ = complete(srv, body)
            expect(got == want and finish == "stop",
                   "stop %r: %r (%s), want %r" % (stop, got, finish, want))
            got, _, finish, events = stream(srv, body)
            expect(got == want and finish == "stop",
                   "streamed stop %r: %r (%s), want %r" % (stop, got, finish, want))
            expect(not any(stop in e["choices"][0]["text"] for e in events), "stop text streamed")
            got, _, finish, _ = complete(srv, dict(greedy, prompt=p, stop=stop))
            expect(got == want and finish == "stop", "a single stop string")
            done = True
            break
        if done:
            break
    expect(done, "an ASCII stop string to test")
    print("stop strings: text ends before the first occurrence, finish_reason stop")

    # Errors.
    bad = [
        ("/v1/completions", b"{not json", 400),
        ("/v1/completions", b"[1, 2]", 400),
        ("/v1/completions", json.dumps({"max_tokens": 4}).encode(), 400),
        ("/v1/completions", json.dumps({"prompt": 5}).encode(), 400),
        ("/v1/completions", json.dumps({"prompt": "a", "max_tokens": "x"}).encode(), 400),
        ("/v1/completions", json.dumps({"prompt": "a", "max_tokens": 0}).encode(), 400),
        ("/v1/completions", json.dumps({"prompt": "a", "max_tokens": 100000}).encode(), 400),
        ("/v1/completions", json.dumps({"prompt": "a", "n": 2}).encode(), 400),
        ("/v1/completions", json.dumps({"prompt": "a", "temperature": -1}).encode(), 400),
        ("/v1/completions", json.dumps({"prompt": "a", "top_p": 1.5}).encode(), 400),
        ("/v1/completions", json.dumps({"prompt": "a", "stop": 5}).encode(), 400),
        ("/v1/completions", json.dumps({"prompt": "a", "stream": "yes"}).encode(), 400),
        ("/v1/completions", json.dumps({"prompt": [1, 999]}).encode(), 400),
        ("/v1/completions", json.dumps({"prompt": "y" * 300}).encode(), 400),
        ("/v1/completions", json.dumps({"prompt": "z" * 100000}).encode(), 413),
        ("/v1/chat/completions", json.dumps({"messages": [{"role": "user", "content": "hi"}]}).encode(), 400),
        ("/v1/nothing", b"{}", 404),
    ]
    for path, raw, want in bad:
        status, out = request(srv, "POST", path, raw=raw)
        expect(status == want, "%s %r: %d, want %d" % (path, raw[:40], status, want))
        expect(isinstance(out, dict) and isinstance(out.get("error", {}).get("message"), str)
               and isinstance(out["error"].get("type"), str),
               "%s %r: an OpenAI-style error body, got %r" % (path, raw[:40], out))
    status, out = request(srv, "GET", "/nope")
    expect(status == 404 and "error" in out, "GET /nope: 404")
    print("errors: %d bad requests answered 4xx with a JSON error" % (len(bad) + 1))

    # A client that disconnects mid-stream; two others finish.
    before = metrics(srv)
    long_body = dict(prompt=PROMPTS[0], max_tokens=200, temperature=0)
    ref = [complete(srv, dict(greedy, prompt=p, max_tokens=60)) for p in PROMPTS[1:3]]

    def disconnect():
        c = srv.conn()
        c.request("POST", "/v1/completions", body=json.dumps(dict(long_body, stream=True)))
        r = c.getresponse()
        events, _ = read_events(r, limit=3)
        expect(len(events) == 3, "three events before disconnecting")
        c.sock.close()
        c.close()
        return True

    res = concurrently([disconnect] +
                       [lambda p=p: stream(srv, dict(greedy, prompt=p, max_tokens=60))
                        for p in PROMPTS[1:3]])
    expect(res[1][1] == ref[0][1] and res[2][1] == ref[1][1],
           "the others finished with their tokens alone")
    deadline = time.time() + 20
    while True:
        m = metrics(srv)
        if m["tok_requests_running"] == 0 and m["tok_requests_waiting"] == 0:
            break
        expect(time.time() < deadline, "the cancelled request left the engine")
        time.sleep(0.1)
    expect(m["tok_requests_cancelled_total"] > before["tok_requests_cancelled_total"],
           "the disconnect was counted as a cancellation")
    generated = m["tok_generated_tokens_total"] - before["tok_generated_tokens_total"]
    expect(generated < 200 + 60 * 4, "the disconnected request stopped early (%d tokens)" % generated)
    print("disconnect: cancelled, the others finished correctly")

    # Overload: 8 sequences + 4 queued in flight; the 13th is refused.
    conns = []
    try:
        for i in range(12):
            c = srv.conn()
            c.request("POST", "/v1/completions",
                      body=json.dumps(dict(prompt="%d" % i, max_tokens=240, temperature=0,
                                           stream=True)))
            r = c.getresponse()
            expect(r.status == 200, "request %d in flight: %d" % (i, r.status))
            conns.append(c)
        status, out = request(srv, "POST", "/v1/completions",
                              body=dict(prompt="one too many", max_tokens=4))
        expect(status in (429, 503) and "error" in out, "the 13th in flight: %d %r" % (status, out))
    finally:
        for c in conns:
            c.close()
    print("overload: 503 with a JSON error beyond the limit")

    # Metrics moved.
    deadline = time.time() + 30
    while True:
        m = metrics(srv)
        if m["tok_requests_running"] == 0 and m["tok_requests_waiting"] == 0:
            break
        expect(time.time() < deadline, "the overload requests left the engine")
        time.sleep(0.1)
    names = ["tok_requests_total", "tok_requests_running", "tok_requests_waiting",
             "tok_generated_tokens_total", "tok_prompt_tokens_total",
             "tok_prefix_hit_tokens_total", "tok_kv_pages_used", "tok_kv_pages_free",
             "tok_kv_pages_cached", "tok_preemptions_total", "tok_steps_total",
             "tok_step_seconds_sum"]
    for n in names:
        expect(n in m, "metric " + n)
    expect(m["tok_requests_total"] >= 40, "requests counted: %r" % m["tok_requests_total"])
    expect(m["tok_generated_tokens_total"] > 500, "tokens counted")
    expect(m["tok_prompt_tokens_total"] > 100, "prompt tokens counted")
    expect(m["tok_steps_total"] > 0 and m["tok_step_seconds_sum"] > 0, "steps timed")
    expect(m["tok_prefix_hit_tokens_total"] > 0, "prefix hits counted")
    print("metrics: %d series, counters moved" % len(m))


def chat_stream(srv, body):
    c = srv.conn()
    c.request("POST", "/v1/chat/completions", body=json.dumps(dict(body, stream=True)))
    r = c.getresponse()
    expect(r.status == 200, "chat stream status %d" % r.status)
    events, done = read_events(r)
    c.close()
    expect(done, "chat stream [DONE]")
    expect(events[0]["choices"][0]["delta"].get("role") == "assistant", "chat stream opens with the role")
    expect(all(e["object"] == "chat.completion.chunk" for e in events), "chat chunk objects")
    return ("".join(e["choices"][0]["delta"].get("content", "") for e in events),
            events[-1]["choices"][0]["finish_reason"])


def check_chat(tok_serve, model):
    """/v1/chat/completions on a model with a chat template (ChatML)."""
    srv = Server(tok_serve, ["--model", model, "--port", "0"])
    try:
        messages = [{"role": "system", "content": "Be brief."},
                    {"role": "user", "content": "Hello"}]
        status, out = request(srv, "POST", "/v1/chat/completions",
                              body={"messages": messages, "max_tokens": 5, "temperature": 0})
        expect(status == 200 and out["object"] == "chat.completion", "chat: %d %r" % (status, out))
        choice = out["choices"][0]
        expect(choice["message"]["role"] == "assistant", "the assistant's message")
        expect(choice["finish_reason"] == "length" and out["usage"]["completion_tokens"] == 5,
               "chat usage %r" % out["usage"])
        text, finish = chat_stream(srv, {"messages": messages, "max_tokens": 5, "temperature": 0})
        expect(text == choice["message"]["content"] and finish == "length",
               "streamed chat %r equals %r" % (text, choice["message"]["content"]))
        for bad in [{"messages": [{"role": "robot", "content": "x"}]}, {"messages": []},
                    {"messages": "hi"}, {"messages": [{"role": "user"}]}]:
            status, out = request(srv, "POST", "/v1/chat/completions", body=bad)
            expect(status == 400 and "error" in out, "chat %r: %d" % (bad, status))
        print("chat: streamed equals whole, bad messages 400")
    finally:
        srv.kill()


def check_prefix_cache(tok_serve):
    """Prompts sharing 5 full pages: with prefix caching the second request
    reuses them (the metrics count 40 hit tokens), with --no-prefix-cache
    nothing is shared; the outputs agree."""
    shared = "# " + "abcdefghij" * 4  # 42 bytes: 5 full pages of 8 (BOS first)
    bodies = [{"prompt": shared + tail, "max_tokens": 8, "temperature": 0}
              for tail in ("\ndef f():", "\nclass A:")]
    texts = {}
    for flags in ([], ["--no-prefix-cache"]):
        srv = Server(tok_serve, ["--model", "builtin", "--port", "0", "--context", "128",
                                 "--page-size", "8"] + flags)
        try:
            out = []
            for body in bodies:
                status, r = request(srv, "POST", "/v1/completions", body=body)
                expect(status == 200, "prefix request: %d %r" % (status, r))
                out.append(r["choices"][0]["text"])
            hits = metrics(srv)["tok_prefix_hit_tokens_total"]
            texts[bool(flags)] = out
            if flags:
                expect(hits == 0, "no prefix hits with --no-prefix-cache, got %g" % hits)
            else:
                expect(hits == 40, "40 prefix hit tokens (5 pages), got %g" % hits)
        finally:
            srv.kill()
    expect(texts[False] == texts[True], "the same text with and without sharing")
    print("prefix cache: 40 tokens reused; none with --no-prefix-cache; same text")


def main():
    if sys.argv[1] == "prefix":
        check_prefix_cache(sys.argv[2])
        return
    if sys.argv[1] == "chat":
        check_chat(sys.argv[2], sys.argv[3])
        return
    tok_serve, tok_run, work = sys.argv[1:4]
    check(tok_serve, tok_run, work)


if __name__ == "__main__":
    main()
