"""Checks `tok-run generate` against greedy decoding with the independent
NumPy forward pass of llama_forward.py (float64, the whole sequence
recomputed at every step: no cache).

usage: generate_check.py TOK_RUN TOK_IMPORT WORKDIR MODEL [--llama2c] [--new N]

MODEL is "builtin" (exported with tok-import --export-hf for the
reference), "random-qwen2" (GQA, q/k/v biases, untied head),
"random-llama-bf16-sharded" (tied embeddings, bf16 weights in two shards
with an index), or a Hugging Face directory. With --llama2c tok-run reads
MODEL/model.bin while the reference reads the Hugging Face copy.

Tokens must be identical, except where the reference's top two logits are
within 1e-5 of the largest logit (a float32 near-tie, reported); the
reference then follows tok's choice.
"""
import json
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from llama_forward import random_qwen2, read_safetensors, reference  # noqa: E402


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


def main():
    tok_run, tok_import, work, model = sys.argv[1:5]
    rest = sys.argv[5:]
    llama2c = "--llama2c" in rest
    new = int(rest[rest.index("--new") + 1]) if "--new" in rest else 12
    os.makedirs(work, exist_ok=True)
    run_model = model
    if model == "builtin":
        model = os.path.join(work, "builtin")
        if not os.path.exists(os.path.join(model, "config.json")):
            subprocess.run([tok_import, "builtin", "--export-hf", model, "-o", os.devnull], check=True)
    elif model == "random-qwen2":
        model = run_model = random_qwen2(work)
    elif model == "random-llama-bf16-sharded":
        model = run_model = random_llama_bf16_sharded(work)
    if llama2c:
        run_model = os.path.join(model, "model.bin")
    cfg = json.load(open(os.path.join(model, "config.json")))
    W = read_weights(model)
    V = cfg["vocab_size"]
    prompt = [int(b) % V for b in b"def fib(n):"]

    r = subprocess.run([tok_run, "generate", "--model", run_model, "--ids", ",".join(map(str, prompt)),
                        "--max-new-tokens", str(new), "--print-ids", "--quiet", "--eos", "-1"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        print("tok-run failed:", r.stderr[-3000:])
        return 1
    got = [int(t) for t in r.stdout.strip().splitlines()[-1].split()[1:]]

    ids, ties, ok = list(prompt), 0, len(got) == new
    for i in range(min(new, len(got))):
        logits = reference(cfg, W, np.array(ids), np.arange(len(ids)))[-1]
        want = int(logits.argmax())
        if got[i] != want:
            gap = logits[want] - logits[got[i]]
            if gap <= 1e-5 * np.abs(logits).max():
                ties += 1
            else:
                print("MISMATCH at token %d: tok %d, numpy %d (logit gap %.3g)" % (i, got[i], want, gap))
                ok = False
                break
        ids.append(got[i])
    print("%s%s: %d tokens after a %d-token prompt, %d near-ties: %s"
          % (cfg["model_type"], " (llama2.c)" if llama2c else "", len(got), len(prompt), ties,
             "identical" if ok else "DIFFERENT"))
    print("ids:", " ".join(map(str, got)))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
