"""Imports a Llama-family model with tok-import, runs its @forward with
tok-run, and checks the logits against an independent NumPy forward pass
(float64; relative tolerance 1e-4 of the largest logit).

usage: llama_forward.py TOK_IMPORT TOK_RUN WORKDIR
                         MODEL_DIR|random-qwen2|random-mistral|builtin|
                         random-llama-bf16-sharded [--llama2c]

With --llama2c the module is imported from MODEL_DIR/model.bin (llama2.c
layout, interleaved RoPE) and run on that file's weights, while the
reference still reads the Hugging Face copy: the two layouts must compute
the same function.
"""
import json
import os
import struct
import subprocess
import sys

import numpy as np

DTYPES = {"F32": np.float32, "F16": np.float16}


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        out[name] = np.frombuffer(data[b:end], DTYPES[e["dtype"]]).reshape(e["shape"])
    return out


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        raw = np.ascontiguousarray(t, np.float32).tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def random_qwen2(work, mistral=False):
    """A small Qwen2-shaped model: GQA 4/2, q/k/v biases, untied head. With
    `mistral`, a Mistral of the same shape: no biases, a sliding window of
    5 positions."""
    cfg = {"model_type": "qwen2", "hidden_size": 32, "intermediate_size": 40,
           "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
           "vocab_size": 50, "max_position_embeddings": 64, "rms_norm_eps": 1e-6,
           "rope_theta": 1000.0, "tie_word_embeddings": False, "hidden_act": "silu"}
    if mistral:
        cfg.update(model_type="mistral", sliding_window=5)
    rng = np.random.default_rng(7)
    E, F, V, D = 32, 40, 50, 8
    f = lambda *s: rng.standard_normal(s) / np.sqrt(s[-1])
    w = {"model.embed_tokens.weight": f(V, E), "model.norm.weight": 1 + 0.1 * rng.standard_normal(E),
         "lm_head.weight": f(V, E) * 3}
    for l in range(2):
        p = "model.layers.%d." % l
        w[p + "input_layernorm.weight"] = 1 + 0.1 * rng.standard_normal(E)
        w[p + "post_attention_layernorm.weight"] = 1 + 0.1 * rng.standard_normal(E)
        w[p + "self_attn.q_proj.weight"] = f(4 * D, E)
        w[p + "self_attn.k_proj.weight"] = f(2 * D, E)
        w[p + "self_attn.v_proj.weight"] = f(2 * D, E)
        if not mistral:
            w[p + "self_attn.q_proj.bias"] = 0.1 * rng.standard_normal(4 * D)
            w[p + "self_attn.k_proj.bias"] = 0.1 * rng.standard_normal(2 * D)
            w[p + "self_attn.v_proj.bias"] = 0.1 * rng.standard_normal(2 * D)
        w[p + "self_attn.o_proj.weight"] = f(E, 4 * D)
        w[p + "mlp.gate_proj.weight"] = f(F, E)
        w[p + "mlp.up_proj.weight"] = f(F, E)
        w[p + "mlp.down_proj.weight"] = f(E, F)
    d = os.path.join(work, cfg["model_type"])
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as fh:
        json.dump(cfg, fh)
    write_safetensors(os.path.join(d, "model.safetensors"), w)
    return d


def to_bf16(a):
    """Rounds float32 `a` to bfloat16 (nearest even); returns the raw bits."""
    bits = np.ascontiguousarray(a, np.float32).view(np.uint32).astype(np.uint64)
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    return bits.astype(np.uint16)


def random_llama_bf16_sharded(work):
    """Llama-shaped, GQA 4/1, tied embeddings, bf16, two shards + index."""
    d = os.path.join(work, "llama-bf16")
    os.makedirs(d, exist_ok=True)
    cfg = {"model_type": "llama", "hidden_size": 32, "intermediate_size": 48,
           "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 1,
           "vocab_size": 256, "max_position_embeddings": 64, "rms_norm_eps": 1e-5,
           "rope_theta": 10000.0, "tie_word_embeddings": True}
    rng = np.random.default_rng(11)
    E, F, V, D = 32, 48, 256, 8
    f = lambda *s: rng.standard_normal(s) / np.sqrt(s[-1])
    w = {"model.embed_tokens.weight": f(V, E), "model.norm.weight": 1 + 0.1 * rng.standard_normal(E)}
    for l in range(2):
        p = "model.layers.%d." % l
        w.update({p + "input_layernorm.weight": 1 + 0.1 * rng.standard_normal(E),
                  p + "post_attention_layernorm.weight": 1 + 0.1 * rng.standard_normal(E),
                  p + "self_attn.q_proj.weight": f(4 * D, E), p + "self_attn.k_proj.weight": f(D, E),
                  p + "self_attn.v_proj.weight": f(D, E), p + "self_attn.o_proj.weight": f(E, 4 * D),
                  p + "mlp.gate_proj.weight": f(F, E), p + "mlp.up_proj.weight": f(F, E),
                  p + "mlp.down_proj.weight": f(E, F)})
    names = sorted(w)
    shards = {"model-00001-of-00002.safetensors": names[: len(names) // 2],
              "model-00002-of-00002.safetensors": names[len(names) // 2:]}
    index = {"metadata": {}, "weight_map": {}}
    for shard, keys in shards.items():
        header, blobs, off = {}, [], 0
        for k in keys:
            raw = to_bf16(w[k]).tobytes()
            header[k] = {"dtype": "BF16", "shape": list(w[k].shape), "data_offsets": [off, off + len(raw)]}
            blobs.append(raw)
            off += len(raw)
            index["weight_map"][k] = shard
        text = json.dumps(header).encode()
        text += b" " * ((8 - len(text) % 8) % 8)  # as the safetensors library pads
        with open(os.path.join(d, shard), "wb") as out:
            out.write(len(text).to_bytes(8, "little") + text + b"".join(blobs))
    json.dump(index, open(os.path.join(d, "model.safetensors.index.json"), "w"))
    json.dump(cfg, open(os.path.join(d, "config.json"), "w"))
    return d


def read_weights(model):
    idx = os.path.join(model, "model.safetensors.index.json")
    if not os.path.exists(idx):
        return read_safetensors(os.path.join(model, "model.safetensors"))
    W = {}
    for shard in sorted(set(json.load(open(idx))["weight_map"].values())):
        path = os.path.join(model, shard)
        with open(path, "rb") as fh:
            n = int.from_bytes(fh.read(8), "little")
            header = json.loads(fh.read(n))
            data = fh.read()
        for k, e in header.items():
            b, end = e["data_offsets"]
            assert e["dtype"] == "BF16"
            bits = np.frombuffer(data[b:end], np.uint16).astype(np.uint32) << 16
            W[k] = bits.view(np.float32).reshape(e["shape"])
    return W


def read_llama2c(path, cfg):
    """The weights of a legacy llama2.c checkpoint, by Hugging Face name."""
    with open(path, "rb") as f:
        dim, hidden, layers, heads, kv, vocab, seq = struct.unpack("<7i", f.read(28))
        data = np.frombuffer(f.read(), np.float32)
    D = dim // heads
    off = 0

    def take(*shape):
        nonlocal off
        n = int(np.prod(shape))
        a = data[off:off + n].reshape(shape)
        off += n
        return a

    w = {"model.embed_tokens.weight": take(abs(vocab), dim)}
    groups = [("input_layernorm.weight", (dim,)), ("self_attn.q_proj.weight", (heads * D, dim)),
              ("self_attn.k_proj.weight", (kv * D, dim)), ("self_attn.v_proj.weight", (kv * D, dim)),
              ("self_attn.o_proj.weight", (dim, heads * D)), ("post_attention_layernorm.weight", (dim,)),
              ("mlp.gate_proj.weight", (hidden, dim)), ("mlp.down_proj.weight", (dim, hidden)),
              ("mlp.up_proj.weight", (hidden, dim))]
    for name, shape in groups:
        for l in range(layers):
            w["model.layers.%d.%s" % (l, name)] = take(*shape)
    w["model.norm.weight"] = take(dim)
    take(seq, D // 2)
    take(seq, D // 2)
    if vocab < 0:
        w["lm_head.weight"] = take(-vocab, dim)
    assert off == len(data), "model.bin size"
    return w


def reference(cfg, W, ids, pos, attn_hook=None):
    """Logits [T, V] of the tokens `ids` at positions `pos`, float64.
    `attn_hook(layer, query_head, kv_head, probs)`, if given, sees every
    head's attention probabilities [T, T] (bench/kv/calibrate.py)."""
    W = {k: v.astype(np.float64) for k, v in W.items()}
    E, Hq = cfg["hidden_size"], cfg["num_attention_heads"]
    Hk = cfg.get("num_key_value_heads", Hq)
    D = E // Hq
    eps, theta = cfg.get("rms_norm_eps", 1e-6), cfg.get("rope_theta", 10000.0)
    T = len(ids)
    # Mistral's sliding window: a query sees the `window` positions ending
    # at its own (q - k < window).
    window = cfg.get("sliding_window") if cfg["model_type"] == "mistral" else None
    # StreamingLLM (what tok-kv-evict's window policy keeps when one token
    # enters per step): the first `tok_sinks` positions plus a window.
    window = cfg.get("tok_window", window)
    sinks = cfg.get("tok_sinks", 0)
    # Per layer (tok-kv-evict with a profile): (sinks, window) or None (the
    # whole context) for each layer, or a list of those per KV head.
    layer_windows = cfg.get("tok_layer_windows")

    def rms(x, g):
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * g

    def rope(x):  # [H, T, D], Hugging Face rotate-half pairing
        inv = theta ** (-np.arange(0, D, 2) / D)
        ang = pos[:, None] * inv[None, :]
        c, s = np.cos(ang)[None], np.sin(ang)[None]
        a, b = x[..., : D // 2], x[..., D // 2:]
        return np.concatenate([a * c - b * s, b * c + a * s], -1)

    def proj(x, p, name):
        y = x @ W[p + name + ".weight"].T
        return y + W[p + name + ".bias"] if p + name + ".bias" in W else y

    x = W["model.embed_tokens.weight"][ids]
    for l in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % l
        lrule = layer_windows[l] if layer_windows else (sinks, window)
        head_rules = lrule if isinstance(lrule, list) else [lrule] * Hk
        h = rms(x, W[p + "input_layernorm.weight"])
        q = proj(h, p, "self_attn.q_proj").reshape(T, Hq, D).transpose(1, 0, 2)
        k = proj(h, p, "self_attn.k_proj").reshape(T, Hk, D).transpose(1, 0, 2)
        v = proj(h, p, "self_attn.v_proj").reshape(T, Hk, D).transpose(1, 0, 2)
        q, k = rope(q), rope(k)
        out = np.zeros((Hq, T, D))
        for hq in range(Hq):
            kv = hq // (Hq // Hk)
            z = q[hq] @ k[kv].T / np.sqrt(D)
            visible = pos[None, :] <= pos[:, None]
            lsinks, lwindow = head_rules[kv] or (0, None)
            if lwindow:
                visible &= (pos[:, None] - pos[None, :] < lwindow) | (pos[None, :] < lsinks)
            z = np.where(visible, z, -np.inf)
            pr = np.exp(z - z.max(-1, keepdims=True))
            pr /= pr.sum(-1, keepdims=True)
            if attn_hook:
                attn_hook(l, hq, kv, pr)
            out[hq] = pr @ v[kv]
        x = x + out.transpose(1, 0, 2).reshape(T, Hq * D) @ W[p + "self_attn.o_proj.weight"].T
        h = rms(x, W[p + "post_attention_layernorm.weight"])
        g = h @ W[p + "mlp.gate_proj.weight"].T
        u = h @ W[p + "mlp.up_proj.weight"].T
        x = x + (g / (1 + np.exp(-g)) * u) @ W[p + "mlp.down_proj.weight"].T
    x = rms(x, W["model.norm.weight"])
    head = W.get("lm_head.weight", W["model.embed_tokens.weight"])
    return x @ head.T


def main():
    tok_import, tok_run, work, model = sys.argv[1:5]
    llama2c = "--llama2c" in sys.argv[5:]
    os.makedirs(work, exist_ok=True)
    if model == "random-qwen2":
        model = random_qwen2(work)
    elif model == "random-mistral":
        model = random_qwen2(work, mistral=True)
    elif model == "builtin":
        model = os.path.join(work, "builtin")
        if not os.path.exists(os.path.join(model, "config.json")):
            subprocess.run([tok_import, "builtin", "--export-hf", model, "-o", os.devnull], check=True)
    elif model == "random-llama-bf16-sharded":
        model = random_llama_bf16_sharded(work)
    cfg = json.load(open(os.path.join(model, "config.json")))
    W = read_weights(model)
    mlir = os.path.join(work, "model.mlir")
    source = os.path.join(model, "model.bin") if llama2c else model
    # The weights go through .npy files as float32 (bf16 ones widened).
    subprocess.run([tok_import, source, "-o", mlir, "--cache-capacity=64", "--f32-weights", "--teacher"],
                   check=True)
    run_weights = read_llama2c(source, cfg) if llama2c else W
    # The argument order is the module's: read it off the tok.weight names.
    names = []
    for line in open(mlir):
        if line.lstrip().startswith("func.func @forward"):
            names = [s.split('"')[0] for s in line.split('tok.weight = "')[1:]]
    ids = np.frombuffer(b"def fib(n):\n    return", np.uint8).astype(np.int32) % cfg["vocab_size"]
    pos = np.arange(len(ids), dtype=np.int32)
    inputs = []
    for i, (name, arr) in enumerate([("ids", ids), ("pos", pos)] + [(n, run_weights[n]) for n in names]):
        path = os.path.join(work, "arg%d.npy" % i)
        np.save(path, np.ascontiguousarray(arr, np.int32 if i < 2 else np.float32))
        inputs.append("--input=" + path)
    out = os.path.join(work, "logits")
    if os.path.exists(out + "0.npy"):
        os.remove(out + "0.npy")
    r = subprocess.run([tok_run, mlir, "-e", "forward", "--output=" + out, "--print-results=false"]
                       + inputs, capture_output=True, text=True)
    if r.returncode != 0:
        print("tok-run failed:", r.stderr[-3000:])
        return 1
    got = np.load(out + "0.npy")
    want = reference(cfg, W, ids, pos)
    err = np.abs(got - want).max() / np.abs(want).max()
    ok = got.shape == want.shape and err <= 1e-4

    # The same prompt as a prefill of all but the last token, then one
    # decode step through the caches: the last row of logits again.
    cont = out + "_decode"
    if os.path.exists(cont + "0.npy"):
        os.remove(cont + "0.npy")
    split = [os.path.join(work, "split%d.npy" % i) for i in range(4)]
    for path, arr in zip(split, (ids[:-1], pos[:-1], ids[-1:], pos[-1:])):
        np.save(path, arr)
    r = subprocess.run([tok_run, mlir, "-e", "continue", "--output=" + cont, "--print-results=false"]
                       + ["--input=" + p for p in split] + inputs[2:], capture_output=True, text=True)
    if r.returncode != 0:
        print("tok-run failed:", r.stderr[-3000:])
        return 1
    dec = np.load(cont + "0.npy")

    # Teacher forcing, one step per token through the caches (@teacher):
    # the same logits as the one-step forward.
    teach = out + "_teacher"
    if os.path.exists(teach + "0.npy"):
        os.remove(teach + "0.npy")
    r = subprocess.run([tok_run, mlir, "-e", "teacher", "--output=" + teach, "--print-results=false",
                        inputs[0]] + inputs[2:], capture_output=True, text=True)
    if r.returncode != 0:
        print("tok-run failed:", r.stderr[-3000:])
        return 1
    tch = np.load(teach + "0.npy")
    terr = np.abs(tch - want).max() / np.abs(want).max()
    ok = ok and tch.shape == want.shape and terr <= 1e-4
    print("teacher forcing, one step per token: max relative error %.2e" % terr)
    derr = np.abs(dec[-1] - want[-1]).max() / np.abs(want).max()
    ok = ok and dec.shape == (1, want.shape[1]) and derr <= 1e-4
    print("decode step after a %d-token prefill: max relative error %.2e" % (len(ids) - 1, derr))
    print("%s%s: %d weights, logits %s, max relative error %.2e: %s"
          % (cfg["model_type"], " (llama2.c)" if llama2c else "", len(names), got.shape, err, "ok" if ok else "MISMATCH"))
    print("greedy next token: tok %d, numpy %d" % (got[-1].argmax(), want[-1].argmax()))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
