"""Streams abandoned half-way, threads, and the GIL."""

import threading
import time

import pytest

import tok
from conftest import tok_run_ids


def rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_abandoned_streams_free_their_generation(builtin):
    full = builtin.generate([65], max_new_tokens=48)
    whole = full.ids
    bound_kib = 32 * 1024
    # The bound is far below what the caches of 1,000 generations left
    # behind would take.
    assert full.stats.kv_bytes * 1000 > 8 * bound_kib * 1024

    def abandon():
        s = builtin.generate([65], max_new_tokens=48, stream=True)
        got = [next(s).id, next(s).id]
        assert got == whole[:2]
        del s  # dropped half-way: stops the compiled loop, joins its thread

    for _ in range(50):
        abandon()
    before = rss_kib()
    for _ in range(1000):
        abandon()
    grown = rss_kib() - before
    assert grown < bound_kib, "RSS grew by %d KiB over 1,000 abandoned streams" % grown


def test_a_stopped_generation_frees_its_caches(builtin):
    """The KV caches of a generation stopped half-way come back to the
    runtime's buffer cache (where the compiled code's freed blocks of 64 KiB
    and more go): stopping frees them."""
    import ctypes
    import os

    if os.environ.get("TOK_BUFFER_CACHE_MB") == "0":
        pytest.skip("the buffer cache is off")
    runtime = ctypes.CDLL(os.path.join(os.environ["TOK_RUNTIME_DIR"],
                                       "libtok_parallel_runtime.so"))
    runtime.tok_buffer_cache_bytes.restype = ctypes.c_size_t
    runtime.tok_buffer_cache_trim.restype = ctypes.c_size_t
    full = builtin.generate([65], max_new_tokens=100)
    runtime.tok_buffer_cache_trim()
    s = builtin.generate([65], max_new_tokens=100, stream=True)
    next(s)
    next(s)
    during = runtime.tok_buffer_cache_bytes()  # the caches are in use
    s.close()
    assert runtime.tok_buffer_cache_bytes() - during >= full.stats.kv_bytes


def test_closed_stream_keeps_its_tokens(builtin):
    s = builtin.generate([65], max_new_tokens=48, stream=True)
    first = next(s)
    s.close()
    assert list(s) == []
    assert first.id == builtin.generate([65], max_new_tokens=1).ids[0]


def test_two_threads_with_their_own_models():
    prompts = {"a": [10, 20, 30], "b": [200, 100]}
    want = {k: tok_run_ids("--model", "builtin", "--ids", ",".join(map(str, p)),
                           "--max-new-tokens", "40", "--temperature", "0.7", "--seed", "3")
            for k, p in prompts.items()}
    models = {k: tok.Model.open("builtin") for k in prompts}
    got, spans, errors = {}, {}, []
    barrier = threading.Barrier(2)

    def run(key):
        try:
            barrier.wait()
            start = time.monotonic()
            for _ in range(3):
                got[key] = models[key].generate(prompts[key], max_new_tokens=40,
                                                temperature=0.7, seed=3).ids
            spans[key] = (start, time.monotonic())
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(k,)) for k in prompts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert got == want
    (a0, a1), (b0, b1) = spans["a"], spans["b"]
    assert a0 < b1 and b0 < a1  # they ran at the same time


def test_the_gil_is_released_while_generating(builtin):
    builtin.generate([1, 2, 3], max_new_tokens=256)  # compiled
    ticks = [0]
    stop = threading.Event()

    def count():
        while not stop.is_set():
            ticks[0] += 1
            time.sleep(0.001)

    t = threading.Thread(target=count)
    t.start()
    time.sleep(0.02)
    before = ticks[0]
    start = time.monotonic()
    builtin.generate([1, 2, 3], max_new_tokens=256)  # one call, no Python in it
    elapsed = time.monotonic() - start
    during = ticks[0] - before
    stop.set()
    t.join()
    # With the GIL held through the call the counter could not move at all;
    # released, it ticks about once a millisecond.
    assert during >= 5, (during, elapsed)
