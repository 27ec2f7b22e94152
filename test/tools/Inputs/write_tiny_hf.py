"""Writes a one-layer Hugging Face-layout Llama to DIR whose final norm has
7 elements instead of hidden_size = 8."""
import json
import os
import struct
import sys

import numpy as np

d = sys.argv[1]
os.makedirs(d, exist_ok=True)
json.dump({"model_type": "llama", "hidden_size": 8, "intermediate_size": 12,
           "num_hidden_layers": 1, "num_attention_heads": 2, "vocab_size": 10,
           "max_position_embeddings": 16, "tie_word_embeddings": True},
          open(os.path.join(d, "config.json"), "w"))
shapes = {"model.embed_tokens.weight": (10, 8), "model.norm.weight": (7,),
          "model.layers.0.input_layernorm.weight": (8,),
          "model.layers.0.post_attention_layernorm.weight": (8,),
          "model.layers.0.self_attn.q_proj.weight": (8, 8),
          "model.layers.0.self_attn.k_proj.weight": (8, 8),
          "model.layers.0.self_attn.v_proj.weight": (8, 8),
          "model.layers.0.self_attn.o_proj.weight": (8, 8),
          "model.layers.0.mlp.gate_proj.weight": (12, 8),
          "model.layers.0.mlp.up_proj.weight": (12, 8),
          "model.layers.0.mlp.down_proj.weight": (8, 12)}
header, blobs, off = {}, [], 0
for name, shape in shapes.items():
    raw = np.zeros(shape, np.float32).tobytes()
    header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [off, off + len(raw)]}
    blobs.append(raw)
    off += len(raw)
text = json.dumps(header).encode()
with open(os.path.join(d, "model.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))
