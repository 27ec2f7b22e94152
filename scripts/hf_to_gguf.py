"""Writes a Hugging Face Llama-family checkpoint as a GGUF file.

Usage: python3 scripts/hf_to_gguf.py <hf-dir> <out.gguf> [--type f32|f16|q8_0|q4_0]

A small converter for tok's tests and benchmarks (llama.cpp's own
convert_hf_to_gguf.py is the full one): llama / mistral / qwen2 configs,
float32 / float16 / bfloat16 model.safetensors (one file), written with the
`gguf` package. The tokenizer is not converted: byte-vocabulary models get
none, others a synthetic vocabulary of the right size (add_vocabulary). As llama.cpp's converter does for the llama architecture,
q_proj and k_proj rows are permuted so that each head's rotary pairs are
adjacent (GGUF's llama layout). With --type q8_0 / q4_0, matrices whose rows
are a multiple of 32 are quantized (by the gguf package) and the rest stay
float32, as do vectors. The file is written beside the output and
renamed into place; an existing output is not overwritten.
"""

import argparse
import json
import os
import struct
import sys

import numpy as np


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        base = 8 + n
        out = {}
        for name, info in header.items():
            if name == "__metadata__":
                continue
            a, b = info["data_offsets"]
            f.seek(base + a)
            raw = f.read(b - a)
            if info["dtype"] == "BF16":
                u = np.frombuffer(raw, np.uint16).astype(np.uint32) << 16
                arr = u.view(np.float32)
            else:
                arr = np.frombuffer(raw, {"F32": np.float32, "F16": np.float16}[info["dtype"]])
            out[name] = arr.astype(np.float32).reshape(info["shape"])
    return out


def permute_rotary(w, heads):
    """Hugging Face's half-split rotary layout to adjacent pairs."""
    rows = w.shape[0]
    return w.reshape(heads, 2, rows // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def gguf_name(hf):
    fixed = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
             "lm_head.weight": "output.weight"}
    if hf in fixed:
        return fixed[hf]
    parts = hf.split(".")
    layer, tail = parts[2], ".".join(parts[3:])
    table = {"input_layernorm.weight": "attn_norm.weight", "self_attn.q_proj.weight": "attn_q.weight",
             "self_attn.k_proj.weight": "attn_k.weight", "self_attn.v_proj.weight": "attn_v.weight",
             "self_attn.q_proj.bias": "attn_q.bias", "self_attn.k_proj.bias": "attn_k.bias",
             "self_attn.v_proj.bias": "attn_v.bias", "self_attn.o_proj.weight": "attn_output.weight",
             "post_attention_layernorm.weight": "ffn_norm.weight", "mlp.gate_proj.weight": "ffn_gate.weight",
             "mlp.up_proj.weight": "ffn_up.weight", "mlp.down_proj.weight": "ffn_down.weight"}
    return "blk.%s.%s" % (layer, table[tail])


def add_vocabulary(w, vocab, add_bos=None):
    """The tokenizer metadata llama.cpp needs to load a file. A 256-token
    model is a byte model: no vocabulary ("none"; tok uses its byte
    tokenizer). Otherwise a synthetic SentencePiece vocabulary: <unk>,
    <s>, </s>, the 256 byte tokens, then distinct filler pieces (enough to
    run from token ids; benchmarks and tests with random weights need no
    real text). `add_bos` (if not None) is written as add_bos_token."""
    import gguf

    if vocab == 256:
        w.add_tokenizer_model("none")
        w.add_vocab_size(vocab)
        return
    tokens = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % b for b in range(256)]
    types = [2, 3, 3] + [6] * 256
    tokens += ["\u2581t%d" % i for i in range(vocab - len(tokens))]
    types += [1] * (vocab - len(types))
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens[:vocab])
    w.add_token_scores([0.0] * 3 + [0.0] * 256 + [-float(i) for i in range(vocab - 259)])
    w.add_token_types(types[:vocab])
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    if add_bos is not None:
        w.add_add_bos_token(add_bos)


def convert(hf_dir, out, qtype="f32", add_bos=None):
    import gguf

    cfg = json.load(open(os.path.join(hf_dir, "config.json")))
    arch = cfg["model_type"]
    if arch not in ("llama", "mistral", "qwen2"):
        raise SystemExit("hf_to_gguf: model_type '%s' is not supported" % arch)
    if os.path.exists(out):
        raise SystemExit("hf_to_gguf: %s exists; not overwritten" % out)
    weights = read_safetensors(os.path.join(hf_dir, "model.safetensors"))
    heads, kv = cfg["num_attention_heads"], cfg.get("num_key_value_heads", cfg["num_attention_heads"])
    dim = cfg["hidden_size"]
    head_dim = cfg.get("head_dim") or dim // heads
    tmp = out + ".partial"
    w = gguf.GGUFWriter(tmp, "llama" if arch == "mistral" else arch)
    w.add_block_count(cfg["num_hidden_layers"])
    w.add_context_length(cfg.get("max_position_embeddings", 4096))
    w.add_embedding_length(dim)
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(heads)
    w.add_head_count_kv(kv)
    w.add_layer_norm_rms_eps(cfg.get("rms_norm_eps", 1e-5))
    w.add_rope_freq_base(cfg.get("rope_theta", 10000.0))
    w.add_rope_dimension_count(head_dim)
    if cfg.get("head_dim"):
        w.add_key_length(head_dim)
        w.add_value_length(head_dim)
    if cfg.get("sliding_window"):
        w.add_sliding_window(cfg["sliding_window"])
    add_vocabulary(w, cfg["vocab_size"], add_bos)
    qt = {"q8_0": gguf.GGMLQuantizationType.Q8_0, "q4_0": gguf.GGMLQuantizationType.Q4_0}.get(qtype)
    for name, arr in weights.items():
        if arch != "qwen2" and name.endswith(("q_proj.weight", "q_proj.bias")):
            arr = permute_rotary(arr, heads)
        elif arch != "qwen2" and name.endswith(("k_proj.weight", "k_proj.bias")):
            arr = permute_rotary(arr, kv)
        if arr.ndim == 1 or qtype == "f32":
            w.add_tensor(gguf_name(name), np.ascontiguousarray(arr, np.float32))
        elif qt is not None and arr.shape[-1] % 32 == 0:
            data = gguf.quants.quantize(np.ascontiguousarray(arr, np.float32), qt)
            w.add_tensor(gguf_name(name), data, raw_shape=data.shape, raw_dtype=qt)
        elif qt is not None:
            # Rows that are not whole blocks stay float32 (llama.cpp's
            # converter would write f16; f32 is what tok-quantize-weights
            # leaves, so the two can be compared exactly).
            w.add_tensor(gguf_name(name), np.ascontiguousarray(arr, np.float32))
        else:
            w.add_tensor(gguf_name(name), np.ascontiguousarray(arr, np.float16))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    os.rename(tmp, out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("hf_dir")
    ap.add_argument("out")
    ap.add_argument("--type", default="f32", choices=["f32", "f16", "q8_0", "q4_0"])
    args = ap.parse_args()
    convert(args.hf_dir, args.out, args.type)


if __name__ == "__main__":
    sys.exit(main())
