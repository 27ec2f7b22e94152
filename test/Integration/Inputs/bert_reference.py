"""A naive NumPy BERT encoder, written from the architecture's definition
(Devlin et al. 2019; Hugging Face's BertModel layout), independent of tok:
float64 throughout, one head at a time. Used as the reference for
`tok-run embed` and for the token merging / pruning passes.

    load(dir)                 -> (config dict, {name: float64 array})
    encode(cfg, w, ids)       -> [T, E] last hidden states
    embed(cfg, w, ids, norm)  -> [E] mean-pooled (and L2-normalized)

With `merge_r` (r per layer), ToMe as its paper and docs/algorithms.md
("Token merging (ToMe, PiToMe)") state it: after each block's attention
LayerNorm, bipartite soft matching on the keys averaged over heads (CLS
protected), size-weighted averages, proportional attention (log size added
to the logits) in later blocks, and the final rows expanded back to one per
input token through the source map.
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


def tome(x, metric, size, r, protect=1):
    """One bipartite soft matching step; returns (x, size, step map)."""
    t = len(x)
    r = min(r, max(0, (t - protect) // 2))
    a_set = [i for i in range(protect, t) if i % 2 == 0]
    b_set = [i for i in range(protect, t) if i % 2 == 1]
    mn = metric / np.maximum(np.linalg.norm(metric, axis=1, keepdims=True),
                             1e-30)
    sim = mn @ mn.T
    dst = {a: b_set[int(np.argmax(sim[a, b_set]))] for a in a_set}
    best = {a: sim[a, dst[a]] for a in a_set}
    sources = set(sorted(a_set, key=lambda a: (-best[a], a))[:r])
    kept = [i for i in range(t) if i not in sources]
    row = {i: k for k, i in enumerate(kept)}
    step = np.array([row[dst[i]] if i in sources else row[i]
                     for i in range(t)])
    y = np.zeros((len(kept), x.shape[1]))
    ns = np.zeros(len(kept))
    for i in range(t):
        y[step[i]] += size[i] * x[i]
        ns[step[i]] += size[i]
    return y / ns[:, None], ns, step


def kept_count(t, keep, pf, pl):
    n = int(np.ceil(keep * t - max(1e-9, keep * t * 1e-6)))
    return min(max(n, pf + pl), t)


def prune_rows(score, keep, pf=1, pl=0):
    """Indices kept: the protected ends and the best scored (ties to the
    smaller index), in ascending order."""
    t = len(score)
    free = max(kept_count(t, keep, pf, pl) - pf - pl, 0)
    middle = sorted(range(pf, t - pl), key=lambda i: (-score[i], i))[:free]
    return np.array(sorted(set(range(pf)) | set(range(t - pl, t))
                           | set(middle)))


def encode(cfg, w, ids, merge_r=None, prune=None, merge_metric="keys"):
    """prune: dict(keep=, layers=[...] or None, score="cls"|"received");
    merge_metric: "keys" (ToMe) or "hidden" (the merged rows)."""
    ids = np.asarray(ids)
    pruned = []  # (stream before, kept indices) per prune
    acc = None
    t = len(ids)
    size = np.ones(t)
    src = np.arange(t)
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
        t = len(x)
        ctx = np.zeros((t, e))
        probs = []
        for hd in range(h):
            s = slice(hd * d, (hd + 1) * d)
            z = q[:, s] @ k[:, s].T / math.sqrt(d) + np.log(size)[None, :]
            z = np.exp(z - z.max(-1, keepdims=True))
            probs.append(z / z.sum(-1, keepdims=True))
            ctx[:, s] = probs[-1] @ v[:, s]
        x = layer_norm(x + lin(ctx, "attention.output.dense"),
                       w[p + "attention.output.LayerNorm.weight"],
                       w[p + "attention.output.LayerNorm.bias"], eps)
        if prune and (prune.get("layers") is None or l in prune["layers"]):
            if prune.get("score", "cls") == "cls":
                score = sum(pr[0] for pr in probs)
            else:
                score = sum(pr.sum(0) for pr in probs)
                if acc is not None:
                    score = score + acc[pruned[-1][1]]
                acc = score
            kept = prune_rows(score, prune["keep"])
            pruned.append((x, kept))
            x = x[kept]
            size = size[kept]
        if merge_r and l < len(merge_r) and merge_r[l] > 0:
            metric = (k.reshape(t, h, d).mean(1) if merge_metric == "keys"
                      else x)
            x, size, step = tome(x, metric, size, merge_r[l])
            src = step[src]
        m = lin(gelu(lin(x, "intermediate.dense")), "output.dense")
        x = layer_norm(x + m, w[p + "output.LayerNorm.weight"],
                       w[p + "output.LayerNorm.bias"], eps)
    for before, kept in reversed(pruned):
        full = before.copy()
        full[kept] = x
        x = full
    return x[src]


def embed(cfg, w, ids, normalize=True, merge_r=None, prune=None,
          merge_metric="keys"):
    v = encode(cfg, w, ids, merge_r, prune, merge_metric).mean(0)
    if normalize:
        v = v / max(np.linalg.norm(v), 1e-12)
    return v
