"""Writes the seed corpora of the fuzz targets (scripts/fuzz.sh).

Usage: make_seeds.py <repo> <out-dir>

One directory per target under out-dir: tok-fuzz-ir takes every lit test's
MLIR, split at its `// -----` markers; the readers take small valid files
built here (a config.json with a safetensors file, a llama2.c checkpoint,
tokenizers with a text, .npy arrays, a GGUF model with a tokenizer).
"""

import glob
import json
import os
import struct
import sys

REPO, OUT = sys.argv[1], sys.argv[2]
sys.path.insert(0, os.path.join(REPO, "test", "Integration", "Inputs"))


def put(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def ir():
    n = 0
    for path in sorted(glob.glob(os.path.join(REPO, "test", "**", "*.mlir"), recursive=True)):
        for part in open(path, encoding="utf-8").read().split("// -----"):
            if part.strip():
                put("tok-fuzz-ir", "seed%04d.mlir" % n, part)
                n += 1


def safetensors(tensors):
    header, data = {}, b""
    for name, shape in tensors:
        n = 1
        for d in shape:
            n *= d
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [len(data), len(data) + 4 * n]}
        data += struct.pack("<%df" % n, *[0.01 * (i % 7) for i in range(n)])
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + data


def hf():
    cfg = {"model_type": "llama", "hidden_size": 8, "intermediate_size": 16, "num_hidden_layers": 1,
           "num_attention_heads": 2, "num_key_value_heads": 1, "vocab_size": 16,
           "max_position_embeddings": 32, "rope_scaling": {"type": "linear", "factor": 2.0}}
    st = safetensors([("model.embed_tokens.weight", [16, 8]), ("model.norm.weight", [8]),
                      ("model.layers.0.self_attn.q_proj.weight", [8, 8])])
    put("tok-fuzz-hf", "llama", json.dumps(cfg).encode() + b"\0" + st)
    bert = {"model_type": "bert", "hidden_size": 8, "intermediate_size": 16, "num_hidden_layers": 1,
            "num_attention_heads": 2, "vocab_size": 30}
    put("tok-fuzz-hf", "bert", json.dumps(bert).encode() + b"\0" + st)


def llama2c():
    dim, hidden, layers, heads, kv, vocab, seq = 8, 16, 1, 2, 1, 16, 8
    head = struct.pack("<7i", dim, hidden, layers, heads, kv, vocab, seq)
    hd = dim // heads
    n = (vocab * dim + layers * dim + layers * dim * dim + 2 * layers * dim * kv * hd + layers * dim * dim
         + layers * dim + 3 * layers * dim * hidden + dim + seq * hd)
    put("tok-fuzz-llama2c", "legacy", head + struct.pack("<%df" % n, *[0.01] * n))


def with_length(data):
    """tok-fuzz-tokenizer's input: a u32 length, the file, then a text."""
    return struct.pack("<I", len(data)) + data


def tokenizers():
    inputs = os.path.join(REPO, "test", "unit", "Frontend", "Inputs")
    for path in sorted(glob.glob(os.path.join(inputs, "*.tokenizer.json"))):
        put("tok-fuzz-tokenizer", os.path.basename(path),
            with_length(open(path, "rb").read()) + "Hello wörld, 你好 😀 x=1".encode())
    # A llama2.c tokenizer.bin of 512 entries: max length, then per token a
    # score, a length and the bytes.
    body = struct.pack("<i", 4)
    for i in range(512):
        piece = bytes([i % 256]) if i < 256 else b"ab"[: 1 + i % 2]
        body += struct.pack("<fi", float(-i), len(piece)) + piece
    put("tok-fuzz-tokenizer", "llama2c", with_length(body) + b"hello")


def npy():
    for name, descr, shape, data in [("f32", "<f4", (2, 3), struct.pack("<6f", *range(6))),
                                     ("i32", "<i4", (4,), struct.pack("<4i", 1, 2, 3, 4)),
                                     ("u2", "<u2", (3,), struct.pack("<3H", 1, 2, 3))]:
        header = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, repr(shape))
        header += " " * ((-(10 + len(header) + 1)) % 64) + "\n"
        put("tok-fuzz-npy", name, b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + data)


def gguf():
    import gguf_hostile as g
    put("tok-fuzz-gguf", "llama", g.build())
    tokens = ["a", "b", "ab", "Ġ", "Ġa"] + ["t%d" % i for i in range(11)]
    meta = [g.kv("general.architecture", g.STR, "llama"), g.kv("llama.block_count", g.U32, 1),
            g.kv("llama.embedding_length", g.U32, g.DIM), g.kv("llama.feed_forward_length", g.U32, g.FF),
            g.kv("llama.attention.head_count", g.U32, g.HEADS), g.kv("llama.context_length", g.U32, 64),
            g.kv("tokenizer.ggml.model", g.STR, "gpt2"), g.kv("tokenizer.ggml.pre", g.STR, "llama-bpe"),
            g.kv("tokenizer.ggml.tokens", g.ARR, (g.STR, tokens)),
            g.kv("tokenizer.ggml.merges", g.ARR, (g.STR, ["a b", "Ġ a"]))]
    put("tok-fuzz-gguf", "llama-gpt2-tokenizer", g.build(metadata=meta))


ir()
hf()
llama2c()
tokenizers()
npy()
gguf()
