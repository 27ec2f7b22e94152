"""Errors become tok.Error subclasses with tok's message; none ends the
process (a failed run-time check in compiled code included)."""

import numpy as np
import pytest

import tok
from test_module import ATTENTION


def test_missing_model_file(tmp_path):
    with pytest.raises(tok.ModelError, match="no such file or directory") as e:
        tok.Model.open(str(tmp_path / "nowhere"))
    assert isinstance(e.value, tok.Error)
    assert "nowhere" in e.value.message


def test_bad_pipeline():
    with pytest.raises(tok.CompileError, match="no-such-pass"):
        tok.compile(ATTENTION, "no-such-pass")
    with pytest.raises(tok.CompileError, match="no-such-pass"):
        tok.Module.load(ATTENTION, "no-such-pass")
    with pytest.raises(tok.CompileError, match="cannot parse the pipeline 'no-such-pass'"):
        tok.Model.open("builtin", pipeline="no-such-pass")
    # A pass that parses but fails on the model: at its first compile.
    model = tok.Model.open("builtin", pipeline="tok-kv-evict{budget=0}")
    with pytest.raises(tok.CompileError, match="tok-kv-evict: budget must be positive, got 0"):
        model.generate([1, 2], max_new_tokens=2)


def test_ir_error_has_its_location():
    bad = "func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {\n  return %y : tensor<4xf32>\n}\n"
    with pytest.raises(tok.CompileError, match="use of undeclared SSA value") as e:
        tok.compile(bad, "", name="bad.mlir")
    assert e.value.location == "bad.mlir:2:10"
    assert "bad.mlir:2:10" in str(e.value)


def test_wrong_dtype_and_shape():
    m = tok.Module.load(ATTENTION)
    q = np.zeros((4, 3, 16), np.float32)
    k = np.zeros((2, 3, 16), np.float32)
    with pytest.raises(tok.ArgumentError, match="argument #0 expects element type f32, but the "
                                                "input holds '<f8' values"):
        m.attention(q.astype(np.float64), k, k)
    with pytest.raises(tok.ArgumentError, match="argument #1 has type tensor<2x\\?x16xf32>, but "
                                                "dimension 2 of the input is 8"):
        m.attention(q, np.zeros((2, 3, 8), np.float32), k)
    with pytest.raises(tok.ArgumentError, match="rank 3"):
        m.attention(q, k[0], k)
    with pytest.raises(tok.ArgumentError, match="takes 3 argument"):
        m.attention(q, k)
    with pytest.raises(tok.ArgumentError, match="takes an array"):
        m.attention(q, k, [1.0])
    assert isinstance(tok.ArgumentError("x"), ValueError)


def test_out_of_range_token_id(builtin):
    with pytest.raises(tok.ArgumentError, match="token id 256 is outside the vocabulary of 256"):
        builtin.generate([1, 256], max_new_tokens=2)
    with pytest.raises(tok.ArgumentError, match="the prompt is empty"):
        builtin.generate([], max_new_tokens=2)


def test_failed_run_time_check_raises_and_the_process_goes_on():
    m = tok.Module.load("""
    func.func @lookup(%table: tensor<8x4xf32>, %ids: tensor<?xi32>) -> tensor<?x4xf32> {
      %e = tok.embed %table[%ids] : tensor<8x4xf32>, tensor<?xi32>
      return %e : tensor<?x4xf32>
    }
    """)
    table = np.arange(32, dtype=np.float32).reshape(8, 4)
    for _ in range(3):
        with pytest.raises(tok.RuntimeCheckError,
                           match="run-time check failed: tok.embed: a token id is outside "
                                 "the vocabulary"):
            m.lookup(table, np.array([1, 9], np.int32))
        np.testing.assert_array_equal(m.lookup(table, np.array([7, 0], np.int32)),
                                      table[[7, 0]])
