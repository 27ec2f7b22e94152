"""Model.embed against tok-run embed."""

import numpy as np

import tok
from conftest import tok_run

SENTENCES = ["the cat sat on the mat", "a dog", "hello world, hello"]


def test_embed_equals_tok_run(bert_dir):
    model = tok.Model.open(bert_dir)
    assert model.kind == "encoder"
    args = ["embed", "--model", bert_dir, "--quiet"]
    for s in SENTENCES:
        args += ["--text", s]
    want = np.array([[float(x) for x in line.split()] for line in tok_run(*args).splitlines()],
                    np.float32)
    got = model.embed(SENTENCES)
    assert got.dtype == np.float32 and got.shape == want.shape
    # tok-run prints eight significant digits.
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, rtol=1e-5)
    one = model.embed(SENTENCES[1])
    assert one.shape == (want.shape[1],)
    np.testing.assert_array_equal(one, got[1])


def test_embed_with_a_pipeline_equals_tok_run(bert_dir):
    pipeline = "tok-token-merge{r=2}"
    model = tok.Model.open(bert_dir, pipeline=pipeline, normalize=False)
    out = tok_run("embed", "--model", bert_dir, "--quiet", "--normalize=0", "--pipeline",
                  pipeline, "--text", SENTENCES[0])
    want = np.array([float(x) for x in out.split()], np.float32)
    np.testing.assert_allclose(model.embed([SENTENCES[0]])[0], want, rtol=1e-6, atol=1e-7)
    assert model.cost_report()["as_imported"]["flops"] > 0
