"""Writes the Hugging Face conformance fixtures of the lit suite.

Usage: bench/.venv-hf/bin/python bench/conformance/make_fixtures.py [OUT [ARCH...]]
       (OUT defaults to test/Integration/Inputs/hf; with ARCHs only those
        are rewritten; the venv is made by bench/conformance/run.sh, which
        then runs this script)

For each architecture tok imports, a small random-weight checkpoint built
from the real model's config.json with the sizes reduced (layers, widths,
vocabulary, and the RoPE context lengths that a short prompt must reach
for the scaling to matter), by transformers' own `from_config` and
`save_pretrained`, and the reference transformers computes for it in
float32 on the CPU: the logits of a fixed prompt (every row) and the 32
tokens of a greedy continuation. The lit test
(test/Integration/hf_conformance.test) checks tok against these without
torch. Nothing of tok runs here.

Weights are drawn with a larger initializer_range than the default (a
training-only key) so that logits spread enough for greedy decoding to be
a stable reference: the script prints the smallest gap between the first
and second logit over the greedy steps. Norm weights, which transformers
initializes to constants, get noise, so that each norm's weight matters.
"""

import json
import os
import shutil
import sys

import numpy as np
import torch
import transformers

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# The published configs' architecture-defining fields, sizes reduced.
COMMON = dict(hidden_size=64, intermediate_size=160, num_hidden_layers=2, num_attention_heads=4,
              num_key_value_heads=2, vocab_size=320, max_position_embeddings=256,
              rms_norm_eps=1e-6, initializer_range=0.25, hidden_act="silu")
ARCHS = {
    # Llama 3.2 1B: llama3 RoPE scaling (factor 32, low 1, high 4), theta
    # 500000, tied embeddings, several eos ids. original_max_position_
    # embeddings 8192 -> 64 so that a 50-position prompt crosses the
    # scaled band.
    "llama3": ("LlamaConfig", dict(
        COMMON, model_type="llama", rms_norm_eps=1e-5, tie_word_embeddings=True,
        bos_token_id=1, eos_token_id=[2, 3, 4],
        rope_parameters=dict(rope_type="llama3", rope_theta=500000.0, factor=32.0,
                             low_freq_factor=1.0, high_freq_factor=4.0,
                             original_max_position_embeddings=64))),
    # Qwen2.5 0.5B: q/k/v biases, tied embeddings, theta 1e6.
    "qwen2": ("Qwen2Config", dict(
        COMMON, model_type="qwen2", tie_word_embeddings=True, use_sliding_window=False,
        rope_parameters=dict(rope_type="default", rope_theta=1000000.0))),
    # Qwen3 0.6B: per-head q_norm / k_norm, head_dim 128 with 16 heads
    # over hidden 1024 (here 32 x 4 over 64), no biases, tied.
    "qwen3": ("Qwen3Config", dict(
        COMMON, model_type="qwen3", head_dim=32, tie_word_embeddings=True,
        use_sliding_window=False, attention_bias=False,
        rope_parameters=dict(rope_type="default", rope_theta=1000000.0))),
    # Mistral 7B v0.1: sliding window (4096 -> 8, so the 52 positions
    # cross it many times), theta 10000, untied.
    "mistral": ("MistralConfig", dict(
        COMMON, model_type="mistral", sliding_window=8, tie_word_embeddings=False,
        rope_parameters=dict(rope_type="default", rope_theta=10000.0))),
    # Gemma 2 2B: GeGLU (tanh GELU), embeddings times sqrt(hidden), RMSNorm
    # by (1 + w), norms before and after attention and MLP, attention and
    # final logit soft-capping (50 and 30; here 4 and 8 so that the tanh
    # bends the logits of random weights), alternating sliding (4096 -> 8)
    # and global layers, queries scaled by query_pre_attn_scalar^-0.5 with
    # the scalar (24) unlike head_dim (32) as in Gemma 2 27B, head_dim *
    # heads != hidden, tied.
    "gemma2": ("Gemma2Config", dict(
        COMMON, model_type="gemma2", num_hidden_layers=3, head_dim=32,
        hidden_activation="gelu_pytorch_tanh", hidden_act=None, query_pre_attn_scalar=24,
        sliding_window=8, attn_logit_softcapping=4.0, final_logit_softcapping=8.0,
        tie_word_embeddings=True,
        rope_parameters=dict(rope_type="default", rope_theta=10000.0))),
    # Gemma 3 (text) 4B: per-head q/k norms by (1 + w), local layers with
    # RoPE theta 10000 and a window (1024 -> 8), every sixth layer global
    # (here the third) with theta 1e6 and linear scaling by 8, one KV head,
    # no soft-capping.
    "gemma3": ("Gemma3TextConfig", dict(
        COMMON, model_type="gemma3_text", num_hidden_layers=3, num_key_value_heads=1,
        head_dim=32, hidden_activation="gelu_pytorch_tanh", hidden_act=None,
        query_pre_attn_scalar=32, sliding_window=8,
        layer_types=["sliding_attention", "sliding_attention", "full_attention"],
        tie_word_embeddings=True,
        rope_parameters={"full_attention": dict(rope_type="linear", factor=8.0, rope_theta=1000000.0),
                         "sliding_attention": dict(rope_type="default", rope_theta=10000.0)})),
    # Phi-3.5 mini: fused qkv_proj and gate_up_proj, LongRoPE (per-pair
    # short / long factors; original context 4096 -> 64 under 256 positions,
    # so the cos / sin carry the attention factor sqrt(1 + ln 4 / ln 64)),
    # untied. A 52-position run stays within the original context: the
    # short factors apply, as transformers chooses them.
    "phi3": ("Phi3Config", dict(
        COMMON, model_type="phi3", num_key_value_heads=4, tie_word_embeddings=False,
        original_max_position_embeddings=64, bos_token_id=1, eos_token_id=2, pad_token_id=3,
        rope_parameters=dict(rope_type="longrope", rope_theta=10000.0,
                             short_factor=[1.0, 1.1, 1.3, 1.6, 2.0, 2.6, 3.3, 4.1],
                             long_factor=[1.2, 1.9, 3.0, 4.8, 7.5, 11.0, 16.0, 23.0]))),
}
SEEDS = {"phi3": 101}
EMBED_SHRINK = {"gemma2": 0.2, "gemma3": 0.1}  # chosen for top-2 gaps >= 0.01
PROMPT_LEN, NEW = 20, 32


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "test", "Integration", "Inputs", "hf")
    only = sys.argv[2:]
    for index, (name, (cls, cfg)) in enumerate(ARCHS.items()):
        if only and name not in only:
            continue
        # Each architecture its own seed: one can be regenerated alone (phi3
        # takes another: the first gave a greedy step with a top-2 gap of
        # 7e-4, too close to call in float32).
        torch.manual_seed(SEEDS.get(name, index))
        config = getattr(transformers, cls)(
            **{k: v for k, v in cfg.items() if k != "model_type" and v is not None})
        # Eager attention: the textbook path, including the sliding window.
        config._attn_implementation = "eager"
        model = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.float32).eval()
        # Norm weights start as ones (zeros for Gemma's 1 + w): random ones,
        # so that a norm applied with another's weight shows in the logits.
        with torch.no_grad():
            for pname, param in model.named_parameters():
                if "norm" in pname:
                    param.add_(torch.randn_like(param) * 0.3)
                # Gemma scales the (tied) embeddings by sqrt(hidden): at
                # random init the input token's own row then dominates the
                # logits and greedy decoding repeats it. Smaller rows leave
                # the layers in charge; the final norm's (1 + w) grows by
                # as much, so that the logits keep their spread.
                if name.startswith("gemma") and "embed_tokens" in pname:
                    param.mul_(EMBED_SHRINK[name])
                if name.startswith("gemma") and pname == "model.norm.weight":
                    param.copy_((1 + param) / EMBED_SHRINK[name] - 1)
        d = os.path.join(out, name)
        shutil.rmtree(d, ignore_errors=True)
        model.save_pretrained(d, safe_serialization=True)
        for extra in ("generation_config.json",):
            if os.path.exists(os.path.join(d, extra)):
                os.remove(os.path.join(d, extra))
        rng = np.random.default_rng(len(name))
        prompt = [int(x) for x in rng.integers(5, cfg["vocab_size"], PROMPT_LEN)]
        with torch.no_grad():
            ids = torch.tensor([prompt])
            logits = model(ids).logits[0].float().numpy()
            seq, gaps = list(prompt), []
            for _ in range(NEW):
                row = model(torch.tensor([seq])).logits[0, -1].float().numpy()
                top = np.sort(row)[-2:]
                gaps.append(float(top[1] - top[0]))
                seq.append(int(row.argmax()))
        np.save(os.path.join(d, "reference_logits.npy"), logits.astype(np.float32))
        with open(os.path.join(d, "reference.json"), "w") as f:
            json.dump({"transformers": transformers.__version__, "torch": torch.__version__,
                       "prompt": prompt, "greedy": seq[PROMPT_LEN:],
                       "min_top2_gap": min(gaps)}, f, indent=1)
        size = sum(os.path.getsize(os.path.join(d, x)) for x in os.listdir(d))
        print("%-8s %s: %d bytes, logit range %.2f, smallest top-2 gap %.4f"
              % (name, cls, size, float(np.ptp(logits)), min(gaps)))


if __name__ == "__main__":
    main()
