"""Writes the Hugging Face conformance fixtures of the lit suite.

Usage: bench/.venv-hf/bin/python bench/conformance/make_fixtures.py [OUT]
       (OUT defaults to test/Integration/Inputs/hf; the venv is made by
        bench/conformance/run.sh, which then runs this script)

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
and second logit over the greedy steps.
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
}
PROMPT_LEN, NEW = 20, 32


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "test", "Integration", "Inputs", "hf")
    torch.manual_seed(0)
    for name, (cls, cfg) in ARCHS.items():
        config = getattr(transformers, cls)(**{k: v for k, v in cfg.items() if k != "model_type"})
        # Eager attention: the textbook path, including the sliding window.
        config._attn_implementation = "eager"
        model = transformers.AutoModelForCausalLM.from_config(config, torch_dtype=torch.float32).eval()
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
