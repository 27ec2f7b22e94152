"""Hostile GGUF files: each must be refused with a clear error, no crash.

Usage: gguf_hostile.py <tok-import> <work-dir>

The files are built byte by byte here (not by the gguf package, which
refuses to write most of them): first a valid one-layer llama (dim 32, two
heads, f32 tensors) that tok-import must accept, then one defect at a time.
Each case runs `tok-import <file> -o <out>` and expects a non-zero exit
(not a signal) and an error that contains the given words.
"""

import os
import struct
import subprocess
import sys

import numpy as np

U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 = range(13)


def s(text):
    b = text.encode() if isinstance(text, str) else text
    return struct.pack("<Q", len(b)) + b


def kv(key, vtype, value):
    out = s(key) + struct.pack("<I", vtype)
    if vtype == STR:
        return out + s(value)
    if vtype == ARR:
        etype, items = value
        out += struct.pack("<IQ", etype, len(items))
        for it in items:
            out += s(it) if etype == STR else struct.pack({U32: "<I", I32: "<i", F32: "<f"}[etype], it)
        return out
    return out + struct.pack({U32: "<I", I32: "<i", F32: "<f", U64: "<Q", BOOL: "<B", U8: "<B"}[vtype], value)


DIM, FF, HEADS, VOCAB = 32, 64, 2, 16


def model_tensors():
    """(name, shape outermost first) of a one-layer tied llama."""
    return [("token_embd.weight", [VOCAB, DIM]), ("output_norm.weight", [DIM]),
            ("blk.0.attn_norm.weight", [DIM]), ("blk.0.ffn_norm.weight", [DIM]),
            ("blk.0.attn_q.weight", [DIM, DIM]), ("blk.0.attn_k.weight", [DIM, DIM]),
            ("blk.0.attn_v.weight", [DIM, DIM]), ("blk.0.attn_output.weight", [DIM, DIM]),
            ("blk.0.ffn_gate.weight", [FF, DIM]), ("blk.0.ffn_up.weight", [FF, DIM]),
            ("blk.0.ffn_down.weight", [DIM, FF])]


def build(version=3, magic=b"GGUF", metadata=None, tensors=None, align=32, tensor_count=None,
          kv_count=None, extra_kv=b"", truncate=None, data_pad=0):
    if metadata is None:
        metadata = [kv("general.architecture", STR, "llama"), kv("llama.block_count", U32, 1),
                    kv("llama.embedding_length", U32, DIM), kv("llama.feed_forward_length", U32, FF),
                    kv("llama.attention.head_count", U32, HEADS), kv("llama.context_length", U32, 64)]
    if tensors is None:
        tensors, offset = [], 0
        for name, shape in model_tensors():
            n = int(np.prod(shape))
            tensors.append((name, shape, 0, offset))
            offset += (n * 4 + align - 1) // align * align
    meta = b"".join(metadata) + extra_kv
    nkv = len(metadata) + (1 if extra_kv else 0) if kv_count is None else kv_count
    infos = b""
    for name, shape, ttype, offset in tensors:
        infos += s(name) + struct.pack("<I", len(shape))
        infos += b"".join(struct.pack("<Q", d) for d in reversed(shape))
        infos += struct.pack("<IQ", ttype, offset)
    head = magic + struct.pack("<IQQ", version, len(tensors) if tensor_count is None else tensor_count, nkv)
    body = head + meta + infos
    body += b"\0" * ((-len(body)) % align)
    # The data of the valid layout, whatever offsets the infos claim.
    end = sum((int(np.prod(sh)) * 4 + align - 1) // align * align for _, sh in model_tensors())
    rng = np.random.default_rng(0)
    data = (rng.standard_normal(end // 4 + 1).astype(np.float32) * 0.1).tobytes()[:end]
    out = body + data + b"\0" * data_pad
    return out[:truncate] if truncate is not None else out


def main():
    tok_import, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    base_meta = [kv("general.architecture", STR, "llama"), kv("llama.block_count", U32, 1),
                 kv("llama.embedding_length", U32, DIM), kv("llama.feed_forward_length", U32, FF),
                 kv("llama.attention.head_count", U32, HEADS), kv("llama.context_length", U32, 64)]
    valid = build()
    t = model_tensors()

    def with_tensor(i, **change):
        name, shape = t[i]
        rows = []
        offset = 0
        for j, (n, sh) in enumerate(t):
            entry = [n, sh, 0, offset]
            if j == i:
                entry = [change.get("name", n), change.get("shape", sh), change.get("type", 0),
                         change.get("offset", offset)]
            rows.append(tuple(entry))
            offset += (int(np.prod(sh)) * 4 + 31) // 32 * 32
        return rows

    # A tensor past the model's own (valid bytes after the rest).
    end = sum((int(np.prod(sh)) * 4 + 31) // 32 * 32 for _, sh in t)

    def extra(name, shape):
        return build(tensors=with_tensor(0) + [(name, shape, 0, end)], data_pad=64)

    cases = [
        ("valid", valid, None),
        ("truncated header", valid[:20], "truncated"),
        ("truncated data", valid[:-100], "goes past the end of the file"),
        ("bad magic", b"GGUX" + valid[4:], "not a GGUF file"),
        ("version 1", build(version=1), "GGUF version 1 is not supported"),
        ("version 4", build(version=4), "GGUF version 4 is not supported"),
        ("tensor count 2^60", build(tensor_count=1 << 60), "the tensor count 1152921504606846976 is more than the file can hold"),
        ("metadata count 2^62", build(kv_count=1 << 62), "the metadata count 4611686018427387904 is more than the file can hold"),
        ("key of absurd length", build(metadata=base_meta + [struct.pack("<Q", 1 << 62) + b"x"]),
         "truncated: metadata key #6 needs 4611686018427387904 bytes"),
        ("string of absurd length", build(metadata=base_meta + [s("general.name") + struct.pack("<IQ", STR, 1 << 61)]),
         "metadata 'general.name' needs 2305843009213693952 bytes"),
        ("array of absurd length", build(metadata=base_meta + [s("tokenizer.ggml.scores") + struct.pack("<IIQ", ARR, F32, 1 << 59)]),
         "metadata 'tokenizer.ggml.scores' has 576460752303423488 elements of 4 bytes, more than the file holds"),
        ("string array of absurd length", build(metadata=base_meta + [s("tokenizer.ggml.tokens") + struct.pack("<IIQ", ARR, STR, 1 << 59)]),
         "metadata 'tokenizer.ggml.tokens' has 576460752303423488 strings, more than the file can hold"),
        ("array of arrays", build(metadata=base_meta + [s("x.nested") + struct.pack("<IIQ", ARR, ARR, 1)]),
         "metadata 'x.nested' is an array of arrays"),
        ("repeated key", build(metadata=base_meta + [kv("llama.block_count", U32, 1)]),
         "metadata key 'llama.block_count' is repeated"),
        ("unknown value type", build(metadata=base_meta + [s("general.x") + struct.pack("<I", 13)]),
         "metadata 'general.x' has unknown value type 13"),
        ("bool of value 7", build(metadata=base_meta + [kv("general.flag", BOOL, 7)]),
         "metadata 'general.flag' is a bool of value 7"),
        ("alignment 24", build(metadata=base_meta + [kv("general.alignment", U32, 24)]),
         "general.alignment must be a uint32 power of two, got 24"),
        ("offset out of bounds", build(tensors=with_tensor(4, offset=1 << 40)),
         "tensor 'blk.0.attn_q.weight' (4096 bytes at data offset 1099511627776) goes past the end of the file"),
        ("misaligned offset", build(tensors=with_tensor(4, offset=2432 + 4)),
         "tensor 'blk.0.attn_q.weight' is at offset 2436, not a multiple of the alignment 32"),
        ("overlapping tensors", build(tensors=with_tensor(5, offset=2432 + 256)),
         "tensors 'blk.0.attn_q.weight' and 'blk.0.attn_k.weight' overlap"),
        ("repeated tensor", build(tensors=with_tensor(5, name="blk.0.attn_q.weight")),
         "tensor 'blk.0.attn_q.weight' is repeated"),
        ("unknown tensor type", build(tensors=with_tensor(4, type=3)),
         "tensor 'blk.0.attn_q.weight' has GGML type 3 (Q4_1), which tok does not read"),
        ("tensor type 1000", build(tensors=with_tensor(4, type=1000)),
         "has GGML type 1000 (unknown)"),
        ("five dimensions", build(tensors=with_tensor(4, shape=[1, 1, 1, 32, 32])),
         "tensor 'blk.0.attn_q.weight' has 5 dimensions"),
        ("zero dimension", build(tensors=with_tensor(4, shape=[0, 32])),
         "tensor 'blk.0.attn_q.weight' has a dimension of size 0"),
        ("overflowing dimensions", build(tensors=with_tensor(4, shape=[1 << 30, 1 << 30, 1 << 30])),
         "at most 2^48 elements"),
        ("q8_0 rows not a block multiple", build(tensors=with_tensor(4, shape=[32, 48], type=8)),
         "rows of 48 elements, not a multiple of the q8_0 block of 32"),
        ("wrong tensor shape", build(tensors=with_tensor(4, shape=[16, 32])),
         "tensor 'blk.0.attn_q.weight' is [16 x 32], the metadata needs [32 x 32]"),
        ("missing tensor", build(tensors=with_tensor(10, name="blk.0.ffn_dn.weight")),
         "no tensor 'blk.0.ffn_down.weight'"),
        ("quantized vector", build(tensors=with_tensor(1, type=8)),
         "tensor 'output_norm.weight' is a vector stored as q8_0"),
        ("unsupported architecture", build(metadata=[kv("general.architecture", STR, "gemma2")] + base_meta[1:]),
         "architecture 'gemma2' is not supported"),
        ("unknown architecture key", build(metadata=base_meta + [kv("llama.attn_logit_softcapping", F32, 30.0)]),
         "metadata 'llama.attn_logit_softcapping' is not understood by tok"),
        ("yarn rope scaling", build(metadata=base_meta + [kv("llama.rope.scaling.type", STR, "yarn")]),
         "metadata 'llama.rope.scaling.type' is 'yarn'"),
        ("mixture of experts", build(metadata=base_meta + [kv("llama.expert_count", U32, 8)]),
         "mixture-of-experts models are not supported"),
        ("block_count 2^31-1", build(metadata=[base_meta[0], kv("llama.block_count", U32, 2147483647)] + base_meta[2:]),
         "'num_hidden_layers' is 2147483647; tok supports at most 4096"),
        ("block_count is a string", build(metadata=[base_meta[0], kv("llama.block_count", STR, "1")] + base_meta[2:]),
         "metadata 'llama.block_count' must be an integer, got string"),
        ("missing block_count", build(metadata=[base_meta[0]] + base_meta[2:]),
         "metadata 'llama.block_count' is missing"),
        ("llama 3.1 rope factors", extra("rope_freqs.weight", [8]),
         "tensor 'rope_freqs.weight': per-frequency RoPE factors (Llama 3.1's scaling as llama.cpp stores it) "
         "are not supported yet"),
        ("tensor the model does not use", extra("blk.0.attn_q_norm.weight", [16]),
         "tensor 'blk.0.attn_q_norm.weight' is not a weight this llama model reads; skipping it could change the math"),
        ("eos outside the vocabulary", build(metadata=base_meta + [kv("tokenizer.ggml.eos_token_id", U32, 99)]),
         "metadata 'tokenizer.ggml.eos_token_id' is 99, outside the vocabulary of 16"),
    ]
    passed = 0
    for name, data, expect in cases:
        path = os.path.join(work, name.replace(" ", "_").replace("^", "") + ".gguf")
        with open(path, "wb") as f:
            f.write(data)
        out = path + ".mlir"
        if os.path.exists(out):
            os.remove(out)
        r = subprocess.run([tok_import, path, "-o", out], capture_output=True, text=True)
        if expect is None:
            ok = r.returncode == 0 and os.path.exists(out)
        else:
            ok = r.returncode > 0 and expect in r.stderr and not os.path.exists(out)
        passed += ok
        print("%s: %s%s" % (name, "ok" if ok else "MISMATCH", "" if ok else " (exit %d) %s" % (r.returncode, r.stderr.strip()[-400:])))
    print("%d of %d hostile-file checks passed" % (passed, len(cases)))


if __name__ == "__main__":
    main()
