"""Writes the byte-level BPE fixtures of TokenizerTest with the Hugging Face
`tokenizers` library (the independent reference): for each pre-tokenizer
(GPT-2's ByteLevel regex, Llama 3's and Qwen2's Split patterns), a small
BPE trained on a fixed text, saved as <name>.tokenizer.json, and the ids
the library assigns to a set of test strings, in hf_encodings.json.

usage: python3 make_hf_tokenizers.py OUTDIR   (pip install tokenizers)
"""
import json
import os
import sys

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

LLAMA3 = ("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}|"
          " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+")
QWEN2 = LLAMA3.replace("\\p{N}{1,3}", "\\p{N}")

TRAIN = [
    "def fibonacci(n):\n    if n < 2:\n        return n\n    return fibonacci(n - 1) + fibonacci(n - 2)\n",
    "The quick brown fox jumps over the lazy dog. It's 12345 o'clock, isn't it? I'M SURE!!\n",
    "Caf\u00e9 na\u00efve r\u00e9sum\u00e9 \u00fcber \u4e2d\u6587\u6d4b\u8bd5 \u0645\u0631\u062d\u0628\u0627 \u0663\u0664\u0665 \u00bd\n",
    "    indented\tand\ttabbed   lines   \n\n\n  x = [1, 2, 3]  # comment\r\n",
] * 3

TESTS = [
    "Hello world",
    "def fibonacci(n):\n    return n",
    "It's 2026; they'RE here, we've 1234567 items!!",
    "  leading and trailing spaces   ",
    "tabs\tand\nnewlines\r\n\r\nend",
    "Caf\u00e9 \u4e2d\u6587 \u0663\u0664 \u00bd mixed",
    "(x) [y] {z} <a> 'quoted' \"double\"",
    "emoji \U0001f600 and symbols \u2211 \u20ac",
    "",
    "a",
]


def build(kind):
    tok = Tokenizer(models.BPE())
    if kind == "gpt2":
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    else:
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(LLAMA3 if kind == "llama3" else QWEN2), "isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    if kind == "qwen2":
        tok.normalizer = normalizers.NFC()
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(TRAIN, trainer)
    return tok


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    encodings = {}
    for kind in ("gpt2", "llama3", "qwen2"):
        tok = build(kind)
        tok.save(os.path.join(out, kind + ".tokenizer.json"))
        encodings[kind] = [{"text": t, "ids": tok.encode(t).ids} for t in TESTS]
    with open(os.path.join(out, "hf_encodings.json"), "w") as f:
        json.dump(encodings, f, ensure_ascii=False, indent=0)


if __name__ == "__main__":
    main()
