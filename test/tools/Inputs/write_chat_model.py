"""The tiny chat models of tok-run-chat.test, and their reference ids.

  write_chat_model.py hf DIR TEMPLATE   a one-layer Hugging Face Llama (zero
      weights) whose tokenizer.json is test/unit/Frontend/Inputs'
      gpt2.tokenizer.json plus the added special tokens <s>, </s>,
      <|im_start|> and <|im_end|>; tokenizer_config.json names <s> / </s>
      as BOS / EOS and holds TEMPLATE (a file; "none": no chat_template).
  write_chat_model.py gguf OUT.gguf TEMPLATE   scripts/hf_to_gguf.py's
      conversion of test/Integration/Inputs/hf/mistral with
      tokenizer.chat_template = TEMPLATE's text.
  write_chat_model.py expect TOKENIZER.json TEXT   TEXT (Python escapes
      decoded), then "ids: ..." as the Hugging Face tokenizers library
      encodes it with add_special_tokens=False (apply_chat_template's
      tokenize=True): the reference of tok-run generate --print-prompt.
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SPECIAL = ["<s>", "</s>", "<|im_start|>", "<|im_end|>"]


def write_hf(d, template):
    import numpy as np

    os.makedirs(d, exist_ok=True)
    tok = json.load(open(os.path.join(HERE, "..", "..", "unit", "Frontend", "Inputs", "gpt2.tokenizer.json")))
    base = len(tok["model"]["vocab"])
    tok["added_tokens"] = [{"id": base + i, "content": s, "single_word": False, "lstrip": False,
                            "rstrip": False, "normalized": False, "special": True}
                           for i, s in enumerate(SPECIAL)]
    json.dump(tok, open(os.path.join(d, "tokenizer.json"), "w"))
    vocab = base + len(SPECIAL)
    config = {"bos_token": "<s>", "eos_token": {"__type": "AddedToken", "content": "</s>"}}
    if template != "none":
        config["chat_template"] = open(template).read()
    json.dump(config, open(os.path.join(d, "tokenizer_config.json"), "w"))
    json.dump({"model_type": "llama", "hidden_size": 8, "intermediate_size": 12,
               "num_hidden_layers": 1, "num_attention_heads": 2, "vocab_size": vocab,
               "max_position_embeddings": 256, "tie_word_embeddings": True,
               "bos_token_id": base, "eos_token_id": base + 1},
              open(os.path.join(d, "config.json"), "w"))
    shapes = {"model.embed_tokens.weight": (vocab, 8), "model.norm.weight": (8,),
              "model.layers.0.input_layernorm.weight": (8,),
              "model.layers.0.post_attention_layernorm.weight": (8,),
              "model.layers.0.self_attn.q_proj.weight": (8, 8),
              "model.layers.0.self_attn.k_proj.weight": (8, 8),
              "model.layers.0.self_attn.v_proj.weight": (8, 8),
              "model.layers.0.self_attn.o_proj.weight": (8, 8),
              "model.layers.0.mlp.gate_proj.weight": (12, 8),
              "model.layers.0.mlp.up_proj.weight": (12, 8),
              "model.layers.0.mlp.down_proj.weight": (8, 12)}
    sys.path.insert(0, os.path.join(HERE, "..", "..", "Integration", "Inputs"))
    from llama_forward import write_safetensors

    write_safetensors(os.path.join(d, "model.safetensors"),
                      {name: np.zeros(shape, np.float32) for name, shape in shapes.items()})


def write_gguf(out, template):
    sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "scripts"))
    import hf_to_gguf

    add_vocabulary = hf_to_gguf.add_vocabulary

    def with_template(w, vocab, add_bos=None):
        add_vocabulary(w, vocab, add_bos)
        w.add_chat_template(open(template).read())

    hf_to_gguf.add_vocabulary = with_template
    hf_to_gguf.convert(os.path.join(HERE, "..", "..", "Integration", "Inputs", "hf", "mistral"), out)


def expect(tokenizer, text):
    from tokenizers import Tokenizer

    text = text.encode("latin-1", "backslashreplace").decode("unicode_escape")
    ids = Tokenizer.from_file(tokenizer).encode(text, add_special_tokens=False).ids
    sys.stdout.write(text + "\n" + "ids: " + " ".join(map(str, ids)) + "\n")


if __name__ == "__main__":
    {"hf": write_hf, "gguf": write_gguf, "expect": expect}[sys.argv[1]](*sys.argv[2:])
