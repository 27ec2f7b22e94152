"""Trains a small draft model for speculative decoding with a separate draft
model (tok-speculative-decoding{drafter=model}, tok-run generate
--draft-model): a Llama-architecture byte-level decoder, ten times smaller
than pyllama-4m, on the same kind of text (Python standard-library sources,
tests excluded), written in Hugging Face layout (config.json +
model.safetensors, rotate-half RoPE) for tok-import / tok-run.

Usage: python3 bench/speculative/train_draft.py OUT_DIR [--minutes 8] [--seed 0]

No checkpoint of such a draft ships with the project or in ../shared; the
bench writes its own (a few minutes on 2 cores). The numbers it reaches go
to OUT_DIR/train.log.
"""

import argparse
import glob
import json
import os
import sys
import time
import zlib

import numpy as np

CONFIG = dict(hidden_size=128, intermediate_size=344, num_hidden_layers=2, num_attention_heads=4,
              num_key_value_heads=2, vocab_size=256, max_position_embeddings=512, rms_norm_eps=1e-5,
              rope_theta=10000.0)


def corpus():
    """Python standard-library sources, tests excluded; files whose path
    hash is 0 mod 20 held out (as pyllama-4m's corpus)."""
    root = os.path.dirname(os.__file__)
    train, held = [], []
    for path in sorted(glob.glob(os.path.join(root, "**", "*.py"), recursive=True)):
        rel = os.path.relpath(path, root)
        if "test" in rel.split(os.sep)[0] or "/test" in rel or "site-packages" in rel:
            continue
        with open(path, "rb") as f:
            data = f.read()
        (held if zlib.crc32(rel.encode()) % 20 == 0 else train).append(data)
    return np.frombuffer(b"".join(train), np.uint8), np.frombuffer(b"".join(held), np.uint8)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--minutes", type=float, default=8.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    import torch
    import torch.nn.functional as F
    from safetensors.torch import save_file

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    c = CONFIG
    e, f, L = c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"]
    H, Hk = c["num_attention_heads"], c["num_key_value_heads"]
    D = e // H
    V = c["vocab_size"]

    def param(*shape, scale=None):
        t = torch.randn(*shape) * (scale if scale is not None else shape[-1] ** -0.5)
        return torch.nn.Parameter(t)

    w = {"model.embed_tokens.weight": param(V, e, scale=0.02), "model.norm.weight": torch.nn.Parameter(torch.ones(e))}
    for l in range(L):
        p = "model.layers.%d." % l
        w[p + "input_layernorm.weight"] = torch.nn.Parameter(torch.ones(e))
        w[p + "post_attention_layernorm.weight"] = torch.nn.Parameter(torch.ones(e))
        w[p + "self_attn.q_proj.weight"] = param(H * D, e)
        w[p + "self_attn.k_proj.weight"] = param(Hk * D, e)
        w[p + "self_attn.v_proj.weight"] = param(Hk * D, e)
        w[p + "self_attn.o_proj.weight"] = param(e, H * D, scale=(H * D) ** -0.5 / (2 * L) ** 0.5)
        w[p + "mlp.gate_proj.weight"] = param(f, e)
        w[p + "mlp.up_proj.weight"] = param(f, e)
        w[p + "mlp.down_proj.weight"] = param(e, f, scale=f ** -0.5 / (2 * L) ** 0.5)

    def rms(x, g):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + c["rms_norm_eps"]) * g

    def forward(ids):
        B, T = ids.shape
        inv = c["rope_theta"] ** (-torch.arange(0, D, 2).float() / D)
        ang = torch.arange(T).float()[:, None] * inv[None, :]
        cos = torch.cat([ang.cos(), ang.cos()], -1)
        sin = torch.cat([ang.sin(), ang.sin()], -1)

        def rope(x):  # [B, h, T, D], Hugging Face rotate-half
            x1, x2 = x[..., : D // 2], x[..., D // 2:]
            return x * cos + torch.cat([-x2, x1], -1) * sin

        x = w["model.embed_tokens.weight"][ids]
        for l in range(L):
            p = "model.layers.%d." % l
            h = rms(x, w[p + "input_layernorm.weight"])
            q = (h @ w[p + "self_attn.q_proj.weight"].T).view(B, T, H, D).transpose(1, 2)
            k = (h @ w[p + "self_attn.k_proj.weight"].T).view(B, T, Hk, D).transpose(1, 2)
            v = (h @ w[p + "self_attn.v_proj.weight"].T).view(B, T, Hk, D).transpose(1, 2)
            q, k = rope(q), rope(k)
            k = k.repeat_interleave(H // Hk, dim=1)
            v = v.repeat_interleave(H // Hk, dim=1)
            a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + a.transpose(1, 2).reshape(B, T, H * D) @ w[p + "self_attn.o_proj.weight"].T
            h = rms(x, w[p + "post_attention_layernorm.weight"])
            m = F.silu(h @ w[p + "mlp.gate_proj.weight"].T) * (h @ w[p + "mlp.up_proj.weight"].T)
            x = x + m @ w[p + "mlp.down_proj.weight"].T
        return rms(x, w["model.norm.weight"]) @ w["model.embed_tokens.weight"].T

    train, held = corpus()
    seq, batch = 256, 32

    def sample(data, n):
        starts = rng.integers(0, len(data) - seq - 1, n)
        chunk = np.stack([data[s: s + seq + 1] for s in starts]).astype(np.int64)
        return torch.from_numpy(chunk[:, :-1]), torch.from_numpy(chunk[:, 1:])

    eval_x, eval_y = sample(held, 64)
    opt = torch.optim.AdamW(list(w.values()), lr=3e-3, betas=(0.9, 0.95), weight_decay=0.01)
    os.makedirs(args.out, exist_ok=True)
    log = open(os.path.join(args.out, "train.log"), "w")
    params = sum(t.numel() for t in w.values())
    print("params %.2fM train %.1fMB held out %.2fMB" % (params / 1e6, len(train) / 1e6, len(held) / 1e6), file=log)
    start, budget, step, ev = time.time(), args.minutes * 60, 0, float("nan")
    while time.time() - start < budget:
        frac = (time.time() - start) / budget
        for g in opt.param_groups:  # warm-up, then cosine
            g["lr"] = 3e-3 * min(1.0, (step + 1) / 50) * (0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * frac)))
        x, y = sample(train, batch)
        loss = F.cross_entropy(forward(x).reshape(-1, V), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(w.values()), 1.0)
        opt.step()
        step += 1
        if step % 100 == 0:
            with torch.no_grad():
                ev = F.cross_entropy(forward(eval_x).reshape(-1, V), eval_y.reshape(-1)).item()
            line = "step %d loss %.4f eval %.4f min %.1f" % (step, loss.item(), ev, (time.time() - start) / 60)
            print(line, file=log, flush=True)
            print(line, file=sys.stderr, flush=True)
    with torch.no_grad():
        ev = F.cross_entropy(forward(eval_x).reshape(-1, V), eval_y.reshape(-1)).item()
    print("final step %d held-out loss %.4f nats/byte" % (step, ev), file=log)
    log.close()
    save_file({k: t.detach().contiguous() for k, t in w.items()}, os.path.join(args.out, "model.safetensors"))
    cfg = dict(architectures=["LlamaForCausalLM"], model_type="llama", tie_word_embeddings=True,
               hidden_act="silu", torch_dtype="float32", bos_token_id=None, eos_token_id=None,
               training_steps=step, **c)
    with open(os.path.join(args.out, "config.json"), "w") as fcfg:
        json.dump(cfg, fcfg, indent=1)
    print("wrote %s (%d steps, held-out loss %.4f)" % (args.out, step, ev))


if __name__ == "__main__":
    main()
