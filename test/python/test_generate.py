"""Model.generate against tok-run generate, token for token."""

import pytest

import tok
from conftest import PYSTDLIB, tok_run, tok_run_ids

SAMPLING = dict(temperature=0.8, top_k=40, top_p=0.95, seed=7)
SAMPLING_ARGS = ["--temperature", "0.8", "--top-k", "40", "--top-p", "0.95", "--seed", "7"]


def test_builtin_greedy_equals_tok_run(builtin):
    want = tok_run_ids("--model", "builtin", "--prompt", "def fibonacci(n):",
                       "--max-new-tokens", "24")
    r = builtin.generate("def fibonacci(n):", max_new_tokens=24)
    assert r.ids == want
    assert r.prompt_ids == builtin.tokenize("def fibonacci(n):")
    assert r.finish_reason == "length"


def test_builtin_sampling_equals_tok_run(builtin):
    want = tok_run_ids("--model", "builtin", "--ids", "5,6,7,8", "--max-new-tokens", "20",
                       *SAMPLING_ARGS)
    r = builtin.generate([5, 6, 7, 8], max_new_tokens=20, **SAMPLING)
    assert r.ids == want
    # Another seed draws other tokens.
    other = builtin.generate([5, 6, 7, 8], max_new_tokens=20, **dict(SAMPLING, seed=8))
    assert other.ids != want


@pytest.mark.parametrize("sampling", [False, True])
def test_pystdlib_equals_tok_run(pystdlib, sampling):
    prompt = "class Stack:"
    extra = SAMPLING_ARGS if sampling else []
    out = tok_run("generate", "--model", PYSTDLIB, "--prompt", prompt, "--max-new-tokens", "40",
                  "--print-ids", "--quiet", *extra)
    ids_line = out.splitlines()[-1]
    want = [int(x) for x in ids_line.split()[1:]]
    r = pystdlib.generate(prompt, max_new_tokens=40, **(SAMPLING if sampling else {}))
    assert r.ids == want
    # tok-run prints the prompt, the continuation and a newline before the
    # ids (the byte model's text is printable Python).
    printed = out[: -len(ids_line) - 1]
    assert printed == prompt + r.text + "\n"
    assert r.stats.prompt_tokens == len(r.prompt_ids)
    assert r.stats.new_tokens == 40
    assert r.stats.decode_tokens_per_second > 0


def test_stream_equals_plain_call(pystdlib):
    r = pystdlib.generate("import os", max_new_tokens=30)
    with pystdlib.generate("import os", max_new_tokens=30, stream=True) as s:
        tokens = list(s)
    assert [t.id for t in tokens] == r.ids
    assert "".join(t.text for t in tokens) == r.text
    assert s.result is not None and s.result.ids == r.ids and s.result.text == r.text
    assert s.result.finish_reason == "length"


def test_stop_string_cuts_the_text(pystdlib):
    whole = pystdlib.generate("def f(x):", max_new_tokens=40)
    # A stop string from the middle of the greedy continuation.
    stop = whole.text[12:15]
    cut = whole.text.index(stop)
    r = pystdlib.generate("def f(x):", max_new_tokens=40, stop=[stop])
    assert r.finish_reason == "stop"
    assert r.text == whole.text[:cut]
    assert r.ids == whole.ids[: len(r.ids)] and len(r.ids) < len(whole.ids)
    streamed = list(pystdlib.generate("def f(x):", max_new_tokens=40, stop=stop, stream=True))
    assert "".join(t.text for t in streamed) == whole.text[:cut]


def test_stop_token_is_an_end_of_sequence(builtin):
    whole = builtin.generate([1, 2, 3], max_new_tokens=16)
    stop_id = whole.ids[5]
    first = whole.ids.index(stop_id)
    r = builtin.generate([1, 2, 3], max_new_tokens=16, stop=[stop_id])
    assert r.ids == whole.ids[: first + 1]
    assert r.finish_reason == "eos"


def test_kv_evict_pipeline_equals_tok_run_and_shrinks_the_cache(pystdlib):
    pipeline = "tok-kv-evict{policy=window budget=36 sinks=4 recent=32}"
    prompt = "import os\nimport sys\n"
    want = tok_run_ids("--model", PYSTDLIB, "--prompt", prompt, "--max-new-tokens", "60",
                       "--pipeline", pipeline)
    evicting = tok.Model.open(PYSTDLIB, pipeline=pipeline)
    r = evicting.generate(prompt, max_new_tokens=60)
    assert r.ids == want
    full = pystdlib.generate(prompt, max_new_tokens=60)
    assert full.stats.kv_slots == (len(r.prompt_ids) + 60,) * 2
    assert r.stats.kv_slots[1] < full.stats.kv_slots[0]
    assert r.stats.kv_bytes < full.stats.kv_bytes
    report = evicting.cost_report()
    assert report["after_each_pass"][0][0] == "tok-kv-evict"
    assert report["after_each_pass"][-1][1]["kv_bytes"] < report["as_imported"]["kv_bytes"]


def test_speculative_decoding_is_greedy_and_reports_acceptance(pystdlib):
    pipeline = "tok-speculative-decoding{drafter=ngram}"
    prompt = "import os\nimport os\nimport os\n"
    want = tok_run_ids("--model", PYSTDLIB, "--prompt", prompt, "--max-new-tokens", "40",
                       "--pipeline", pipeline)
    spec = tok.Model.open(PYSTDLIB, pipeline=pipeline)
    r = spec.generate(prompt, max_new_tokens=40)
    assert r.ids == want
    # Token-identical to plain greedy decoding.
    assert r.ids == pystdlib.generate(prompt, max_new_tokens=40).ids
    assert r.stats.rounds > 0 and r.stats.drafted >= r.stats.accepted
    assert r.stats.acceptance_rate is not None


def test_cost_report_as_a_dict(builtin):
    report = builtin.cost_report()
    cost = report["as_imported"]
    assert cost["flops"] > 0 and cost["bytes"] > 0 and cost["kv_bytes"] > 0
    assert report["layers"] == builtin.info["layers"] == 6
    assert report["kv_bytes"] > 0


@pytest.mark.parametrize("qtype", ["f32", "q8_0"])
def test_gguf_equals_tok_run(tmp_path, qtype):
    pytest.importorskip("gguf")
    import os
    import sys

    from conftest import ROOT

    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    import hf_to_gguf

    path = str(tmp_path / ("pystdlib-%s.gguf" % qtype))
    hf_to_gguf.convert(PYSTDLIB, path, qtype)
    want = tok_run_ids("--model", path, "--prompt", "def add(a, b):", "--max-new-tokens", "24")
    model = tok.Model.open(path)
    assert model.generate("def add(a, b):", max_new_tokens=24).ids == want
