"""Writes the tokenizer_config.json fixtures of TokenizerTest: a small
Llama 2 style tokenizer.json (SentencePiece-style BPE trained by
`tokenizers`, post-processor "<s> $A"; and a copy without a
post-processor), and the prompt ids transformers gives with
tokenizer_config.json's add_bos_token / add_eos_token in force, in
tokenizer_config_cases.json.

transformers 5 ignores those two keys of tokenizer_config.json when a
tokenizer.json is present; given to from_pretrained they rebuild the
post-processor from both flags (an absent one counting as false), as
transformers 4's LlamaTokenizerFast does with the file's keys (there an
absent add_bos_token counts as true, an absent add_eos_token as false).
tok follows the flags that are present and leaves a side whose flag is
absent as tokenizer.json's post-processor has it (docs/tokenizers.md says
why). So each case's "ids" are transformers 5's with the present flags
given to from_pretrained and each absent one given as what the
post-processor does on that side (transformers' own encoding without the
flags decides it); with both absent, no flags are given. Each case also
records, for the comparison in the docs, "transformers5_file_ids" (the
flags only in tokenizer_config.json, which transformers 5 ignores) and
"transformers4_llama_ids" (LlamaTokenizerFast's defaults filled in for
absent flags: add_bos_token true, add_eos_token false; computed with
transformers 5 given them, which rebuilds the post-processor the same
way).

usage: python make_tokenizer_config.py OUTDIR   (tokenizers, transformers)
"""
import json
import os
import sys
import tempfile

from tokenizers import Tokenizer, decoders, models, normalizers, processors, trainers
from transformers import AutoTokenizer

TRAIN = ["hello world, this is a small test of the tokenizer config",
         "the quick brown fox jumps over the lazy dog"] * 5
TEXTS = ["hello world", "the lazy fox", ""]


def main():
    out = sys.argv[1]
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("\u2581"),
                                           normalizers.Replace(" ", "\u2581")])
    tok.decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(),
                                     decoders.Fuse(), decoders.Strip(" ", 1, 0)])
    tok.train_from_iterator(TRAIN, trainers.BpeTrainer(
        vocab_size=80, special_tokens=["<unk>", "<s>", "</s>", "<bos>", "<eos>"],
        show_progress=False))
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", special_tokens=[("<s>", tok.token_to_id("<s>"))])
    with_pp = os.path.join(out, "llama2.tokenizer.json")
    tok.save(with_pp)
    tok.post_processor = None
    without_pp = os.path.join(out, "llama2-nopp.tokenizer.json")
    tok.save(without_pp)

    configs = [
        {"add_bos_token": True, "add_eos_token": False},
        {"add_bos_token": False, "add_eos_token": True},
        {"add_bos_token": True, "add_eos_token": True},
        {"add_bos_token": False, "add_eos_token": False},
        {"add_bos_token": True, "add_eos_token": True,
         "bos_token": {"__type": "AddedToken", "content": "<bos>"},
         "eos_token": "<eos>"},
        # One or both flags absent.
        {},
        {"add_bos_token": True},
        {"add_bos_token": False},
        {"add_eos_token": True},
        {"add_eos_token": False},
    ]
    cases = []
    for tokenizer_file in (with_pp, without_pp):
        for config in configs:
            with tempfile.TemporaryDirectory() as d:
                with open(tokenizer_file) as f:
                    text = f.read()
                with open(os.path.join(d, "tokenizer.json"), "w") as f:
                    f.write(text)
                full = dict(config)
                full.setdefault("bos_token", "<s>")
                full.setdefault("eos_token", "</s>")
                full["tokenizer_class"] = "LlamaTokenizerFast"
                with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
                    json.dump(full, f)
                flags = {k: v for k, v in config.items()
                         if k.startswith("add_")}
                names = {}
                for k in ("bos_token", "eos_token"):
                    if k in config:
                        v = config[k]
                        names[k] = v["content"] if isinstance(v, dict) else v
                file_only = AutoTokenizer.from_pretrained(d)
                if flags:
                    # An absent flag: the side as the post-processor has it.
                    probe = file_only("x")["input_ids"]
                    flags.setdefault("add_bos_token",
                                     probe[0] == file_only.bos_token_id)
                    flags.setdefault("add_eos_token",
                                     probe[-1] == file_only.eos_token_id)
                hf = AutoTokenizer.from_pretrained(d, **flags, **names)
                llama4 = AutoTokenizer.from_pretrained(
                    d, add_bos_token=config.get("add_bos_token", True),
                    add_eos_token=config.get("add_eos_token", False), **names)
                for t in TEXTS:
                    cases.append({
                        "tokenizer": os.path.basename(tokenizer_file),
                        "config": full, "text": t,
                        "ids": hf(t)["input_ids"],
                        "transformers5_file_ids": file_only(t)["input_ids"],
                        "transformers4_llama_ids": llama4(t)["input_ids"]})
    with open(os.path.join(out, "tokenizer_config_cases.json"), "w") as f:
        json.dump(cases, f, indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
