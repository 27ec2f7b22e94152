"""A naive NumPy BERT encoder, written from the architecture's definition
(Devlin et al. 2019; Hugging Face's BertModel layout), independent of tok:
float64 throughout, one head at a time. Used as the reference for
`tok-run embed` and for the token merging / pruning passes.

    load(dir)                 -> (config dict, {name: float64 array})
    encode(cfg, w, ids)       -> [T, E] last hidden states
    embed(cfg, w, ids, norm)  -> [E] mean-pooled (and L2-normalized)
"""
import json
import math
import os
import struct

import numpy as np


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    dtypes = {"F32": np.float32, "F16": np.float16, "I64": np.int64}
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        a, b = t["data_offsets"]
        arr = np.frombuffer(data[a:b], dtype=dtypes[t["dtype"]])
        out[name.removeprefix("bert.")] = arr.reshape(t["shape"]).astype(
            np.float64)
    return out


def load(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    return cfg, read_safetensors(os.path.join(model_dir, "model.safetensors"))


def layer_norm(x, g, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * g + b


def gelu(x):
    erf = np.vectorize(math.erf)
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def encode(cfg, w, ids):
    ids = np.asarray(ids)
    t = len(ids)
    e = cfg["hidden_size"]
    h = cfg["num_attention_heads"]
    d = e // h
    eps = cfg.get("layer_norm_eps", 1e-12)
    x = (w["embeddings.word_embeddings.weight"][ids]
         + w["embeddings.position_embeddings.weight"][:t]
         + w["embeddings.token_type_embeddings.weight"][0])
    x = layer_norm(x, w["embeddings.LayerNorm.weight"],
                   w["embeddings.LayerNorm.bias"], eps)
    for l in range(cfg["num_hidden_layers"]):
        p = "encoder.layer.%d." % l

        def lin(v, name):
            return v @ w[p + name + ".weight"].T + w[p + name + ".bias"]

        q = lin(x, "attention.self.query")
        k = lin(x, "attention.self.key")
        v = lin(x, "attention.self.value")
        ctx = np.zeros((t, e))
        for hd in range(h):
            s = slice(hd * d, (hd + 1) * d)
            z = q[:, s] @ k[:, s].T / math.sqrt(d)
            z = np.exp(z - z.max(-1, keepdims=True))
            ctx[:, s] = (z / z.sum(-1, keepdims=True)) @ v[:, s]
        x = layer_norm(x + lin(ctx, "attention.output.dense"),
                       w[p + "attention.output.LayerNorm.weight"],
                       w[p + "attention.output.LayerNorm.bias"], eps)
        m = lin(gelu(lin(x, "intermediate.dense")), "output.dense")
        x = layer_norm(x + m, w[p + "output.LayerNorm.weight"],
                       w[p + "output.LayerNorm.bias"], eps)
    return x


def embed(cfg, w, ids, normalize=True):
    v = encode(cfg, w, ids).mean(0)
    if normalize:
        v = v / max(np.linalg.norm(v), 1e-12)
    return v
