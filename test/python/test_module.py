"""tok.compile and tok.Module against NumPy."""

import numpy as np
import pytest

import tok

ATTENTION = """
func.func @attention(%q: tensor<4x?x16xf32>, %k: tensor<2x?x16xf32>, %v: tensor<2x?x16xf32>)
    -> tensor<4x?x16xf32> {
  %o = tok.attention %q, %k, %v {mask = #tok.mask<causal>}
      : tensor<4x?x16xf32>, tensor<2x?x16xf32>, tensor<2x?x16xf32> -> tensor<4x?x16xf32>
  return %o : tensor<4x?x16xf32>
}
"""


def numpy_attention(q, k, v):
    """Causal grouped-query attention in float64: query head h reads KV head
    h // (query heads / KV heads); softmax(q k^T / sqrt(d)) v."""
    q, k, v = (x.astype(np.float64) for x in (q, k, v))
    group = q.shape[0] // k.shape[0]
    k = np.repeat(k, group, axis=0)
    v = np.repeat(v, group, axis=0)
    t, s = q.shape[1], k.shape[1]
    z = np.einsum("htd,hsd->hts", q, k) / np.sqrt(q.shape[2])
    visible = np.arange(s)[None, :] <= np.arange(s - t, s)[:, None]
    z = np.where(visible[None], z, -np.inf)
    p = np.exp(z - z.max(axis=2, keepdims=True))
    p /= p.sum(axis=2, keepdims=True)
    return np.einsum("hts,hsd->htd", p, v)


@pytest.fixture(scope="module")
def attention():
    return tok.Module.load(ATTENTION)


@pytest.mark.parametrize("t", [1, 7, 37])
def test_attention_equals_numpy(attention, t):
    rng = np.random.default_rng(t)
    q = rng.standard_normal((4, t, 16), dtype=np.float32)
    k = rng.standard_normal((2, t, 16), dtype=np.float32)
    v = rng.standard_normal((2, t, 16), dtype=np.float32)
    out = attention.attention(q, k, v)
    assert out.dtype == np.float32 and out.shape == (4, t, 16)
    np.testing.assert_allclose(out, numpy_attention(q, k, v), rtol=1e-4, atol=1e-5)
    # Non-contiguous inputs are copied first, with the same result.
    qt = np.asfortranarray(q)
    np.testing.assert_allclose(attention["attention"](qt, k, v), out, rtol=0, atol=0)


def test_functions_and_signature(attention):
    assert attention.functions == ["attention"]
    assert "tensor<4x?x16xf32>" in attention.attention.signature
    with pytest.raises(AttributeError, match="no public function @nope"):
        attention.nope


def test_arguments_in_place_and_results_owned():
    m = tok.Module.load("""
    func.func @scale(%buf: memref<4xf32>, %s: f32) {
      %c0 = arith.constant 0 : index
      %c1 = arith.constant 1 : index
      %c4 = arith.constant 4 : index
      scf.for %i = %c0 to %c4 step %c1 {
        %x = memref.load %buf[%i] : memref<4xf32>
        %y = arith.mulf %x, %s : f32
        memref.store %y, %buf[%i] : memref<4xf32>
      }
      return
    }
    func.func @same(%x: tensor<3xi32>) -> tensor<3xi32> {
      return %x : tensor<3xi32>
    }
    func.func @twice(%x: tensor<?xf64>) -> (tensor<?xf64>, tensor<?xf64>) {
      %y = arith.addf %x, %x : tensor<?xf64>
      return %y, %x : tensor<?xf64>, tensor<?xf64>
    }
    """)
    buf = np.arange(4, dtype=np.float32)
    assert m.scale(buf, 2.5) is None
    # The compiled code wrote into the array's own memory (no copy).
    np.testing.assert_array_equal(buf, np.arange(4, dtype=np.float32) * 2.5)
    x = np.array([1, 2, 3], np.int32)
    same = m.same(x)
    np.testing.assert_array_equal(same, x)
    assert not np.shares_memory(same, x)  # a result that aliases an argument is copied
    y, back = m.twice(np.array([1.5, -2.0]))
    np.testing.assert_array_equal(y, [3.0, -4.0])
    np.testing.assert_array_equal(back, [1.5, -2.0])
    assert y.flags.writeable and y.flags.c_contiguous


def test_compile_is_tok_opt():
    text = tok.compile(ATTENTION, "convert-tok-to-linalg")
    assert "tok.attention" not in text and "func.func @attention" in text
    anchored = tok.compile(ATTENTION, "builtin.module(convert-tok-to-linalg)")
    assert anchored == text
    assert "tok.attention" in tok.compile(ATTENTION, "")
