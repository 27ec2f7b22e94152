"""Writes a small random BERT checkpoint in Hugging Face layout (config.json,
model.safetensors, tokenizer.json with a WordPiece vocabulary), for tests
that must not depend on a download. Weights are N(0, 0.5^2) (LayerNorm
gains 1 + N(0, 0.1^2)) from a seeded generator.
"""
import json
import os
import struct

import numpy as np

WORDS = ["the", "cat", "sat", "on", "mat", "dog", "ran", "un", "##able",
         "##s", "##ing", "play", "a", "b", "c", "##a", "##b", "##c", "e",
         "##e", "cafe", "hello", "world", "!", ",", ".", "?", "'", "-"]


def vocab():
    return ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, a in tensors.items():
        a = np.ascontiguousarray(a, dtype=np.float32)
        header[name] = {"dtype": "F32", "shape": list(a.shape),
                        "data_offsets": [offset, offset + a.nbytes]}
        blobs.append(a.tobytes())
        offset += a.nbytes
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def write(model_dir, seed=0, layers=2, dim=32, heads=2, hidden=64,
          positions=64, prefix=""):
    os.makedirs(model_dir, exist_ok=True)
    v = vocab()
    cfg = {"model_type": "bert", "hidden_size": dim,
           "intermediate_size": hidden, "num_hidden_layers": layers,
           "num_attention_heads": heads, "vocab_size": len(v),
           "max_position_embeddings": positions, "type_vocab_size": 2,
           "layer_norm_eps": 1e-12, "hidden_act": "gelu"}
    with open(os.path.join(model_dir, "config.json"), "w") as f:
        json.dump(cfg, f)
    rng = np.random.default_rng(seed)

    def r(*shape):
        return rng.normal(0.0, 0.5, shape)

    def gain(n):
        return 1.0 + rng.normal(0.0, 0.1, n)

    t = {"embeddings.word_embeddings.weight": r(len(v), dim),
         "embeddings.position_embeddings.weight": r(positions, dim),
         "embeddings.token_type_embeddings.weight": r(2, dim),
         "embeddings.LayerNorm.weight": gain(dim),
         "embeddings.LayerNorm.bias": r(dim)}
    for l in range(layers):
        p = "encoder.layer.%d." % l
        for n in ("query", "key", "value"):
            t[p + "attention.self.%s.weight" % n] = r(dim, dim) / np.sqrt(dim)
            t[p + "attention.self.%s.bias" % n] = r(dim)
        t[p + "attention.output.dense.weight"] = r(dim, dim) / np.sqrt(dim)
        t[p + "attention.output.dense.bias"] = r(dim)
        t[p + "attention.output.LayerNorm.weight"] = gain(dim)
        t[p + "attention.output.LayerNorm.bias"] = r(dim)
        t[p + "intermediate.dense.weight"] = r(hidden, dim) / np.sqrt(dim)
        t[p + "intermediate.dense.bias"] = r(hidden)
        t[p + "output.dense.weight"] = r(dim, hidden) / np.sqrt(hidden)
        t[p + "output.dense.bias"] = r(dim)
        t[p + "output.LayerNorm.weight"] = gain(dim)
        t[p + "output.LayerNorm.bias"] = r(dim)
    write_safetensors(os.path.join(model_dir, "model.safetensors"),
                      {prefix + k: a for k, a in t.items()})
    tok = {
        "version": "1.0",
        "added_tokens": [{"id": i, "content": s, "single_word": False,
                          "lstrip": False, "rstrip": False,
                          "normalized": False, "special": True}
                         for i, s in enumerate(v[:5])],
        "normalizer": {"type": "BertNormalizer", "clean_text": True,
                       "handle_chinese_chars": True, "strip_accents": None,
                       "lowercase": True},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
            "pair": [],
            "special_tokens": {
                "[CLS]": {"id": "[CLS]", "ids": [2], "tokens": ["[CLS]"]},
                "[SEP]": {"id": "[SEP]", "ids": [3], "tokens": ["[SEP]"]}}},
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {"type": "WordPiece", "unk_token": "[UNK]",
                  "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100,
                  "vocab": {s: i for i, s in enumerate(v)}}}
    with open(os.path.join(model_dir, "tokenizer.json"), "w") as f:
        json.dump(tok, f)
    return cfg
