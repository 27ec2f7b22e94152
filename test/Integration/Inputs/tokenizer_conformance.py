"""tok's tokenizers against Hugging Face `tokenizers` (the reference).

Trains small tokenizers with `tokenizers`' own trainers on a multilingual
corpus, in the shapes real models use:

  gpt2         byte-level BPE, ByteLevel regex pre-tokenizer (GPT-2)
  roberta      the same with add_prefix_space and <s> $A </s>
  llama3       byte-level BPE, Llama 3's Split pattern, ignore_merges,
               <|begin_of_text|> $A
  qwen2        byte-level BPE, NFC, Qwen2's Split pattern
  llama2       SentencePiece-style BPE with byte fallback: normalizer
               Prepend("\u2581") + Replace(" ", "\u2581"), decoder Replace +
               ByteFallback + Fuse + Strip, <s> $A (Llama 2's tokenizer.json)
  llama2-nfkc  the same behind NFKC
  llama2-meta  the same with a Metaspace pre-tokenizer (prepend_scheme
               first) instead of the normalizer (tokenizers >= 0.19 style)
  gemma        SentencePiece-style BPE without the prepended space
               (Replace only, no Strip), <bos> $A
  unigram      Unigram (NFKC, Metaspace), unknown characters as <unk>
  unigram-bf   Unigram with byte fallback, Lowercase + NFKD + StripAccents

saves each tokenizer.json, runs `tok-run tokenize --decode` (and
`--special`) on held-out lines (other text, the same scripts), and requires
the ids of encode(add_special_tokens=False) / encode() and the text of
decode(ids, skip_special_tokens=False), character for character.

usage: tokenizer_conformance.py TOK_RUN WORKDIR
"""
import json
import os
import subprocess
import sys
import unicodedata

from tokenizers import (AddedToken, Regex, Tokenizer, decoders, models,
                        normalizers, pre_tokenizers, processors, trainers)

LLAMA3 = ("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}|"
          " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+")
QWEN2 = LLAMA3.replace("\\p{N}{1,3}", "\\p{N}")


def nfd(s):
    return unicodedata.normalize("NFD", s)


TRAIN = [
    "The quick brown fox jumps over the lazy dog. It's 12345 o'clock.\n",
    "I'M SURE THEY'RE HERE, WE'VE SEEN IT; YOU'LL SEE, HE'D SAY.\n",
    "Caf\u00e9, na\u00efve, r\u00e9sum\u00e9, \u00fcber, se\u00f1or, fa\u00e7ade, Bj\u00f6rk, \u00c5ngstr\u00f6m.\n",
    nfd("Cr\u00e8me br\u00fbl\u00e9e, pi\u00f1ata, co\u00f6perate, Vi\u1ec7t Nam.\n"),
    "\u4eca\u5929\u5929\u6c14\u5f88\u597d\uff0c\u6211\u4eec\u53bb\u516c\u56ed\u6563\u6b65\u5427\u3002\u6570\u636e\u5e93\u548c\u7f16\u8bd1\u5668\u3002\n",
    "\u6771\u4eac\u306f\u65e5\u672c\u306e\u9996\u90fd\u3067\u3059\u3002\u3072\u3089\u304c\u306a\u3068\u30ab\u30bf\u30ab\u30ca\u3002\n",
    "\ud55c\uad6d\uc5b4 \ubb38\uc7a5\uc744 \ud1a0\ud070\ud654\ud569\ub2c8\ub2e4.\n",
    "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645\u060c \u0647\u0630\u0647 \u062c\u0645\u0644\u0629 \u0639\u0631\u0628\u064a\u0629 \u0663\u0664\u0665.\n",
    "\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e, \u092f\u0939 \u0939\u093f\u0928\u094d\u0926\u0940 \u0935\u093e\u0915\u094d\u092f \u0939\u0948\u0964\n",
    "\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440! \u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac \u039a\u0395\u0399\u039c\u0395\u039d\u039f\u03a3.\n",
    "emoji \U0001f600\U0001f602 \U0001f44d\U0001f3fd \U0001f468\u200d\U0001f469\u200d\U0001f467 \u2764\ufe0f \U0001f1fa\U0001f1f8\n",
    "def fibonacci(n):\n    if n < 2:\n        return n\n    return fibonacci(n - 1) + fibonacci(n - 2)\n",
    "for (int i = 0; i < 10; ++i) { x[i] = y[i] * 2.5f; } // loop\r\n",
    "    indented\tand\ttabbed   lines   \n\n\n  x = [1, 2, 3]  # comment\r\n",
    "Numbers: 3.14159265358979 and 1234567890123 and 007 and 1,000,000.\n",
    "Compatibility: \ufb01ne \ufb02ow \uff21\uff22\uff23\uff11\uff12\uff13 \u2460\u2461 x\u00b2 \u00bd \u2026 \u212b\n",
]

HELD_OUT = [
    "Hello world",
    "A lazy fox's 98765 dogs can't JUMP; THEY'LL TRY, SHE'S READY.",
    "R\u00e9sum\u00e9 of the na\u00efve caf\u00e9 owner, Se\u00f1ora Mu\u00f1oz.",
    nfd("R\u00e9sum\u00e9 of the na\u00efve caf\u00e9 owner, Se\u00f1ora Mu\u00f1oz."),
    nfd("Ti\u1ebfng Vi\u1ec7t c\u00f3 d\u1ea5u: \u0111\u01b0\u1eddng ph\u1ed1."),
    "e\u0301 a\u0308 o\u0302\u0323 \u212b \u0041\u030a",
    "\u6211\u4eec\u660e\u5929\u53bb\u5317\u4eac\u5403\u996d\uff0c\u597d\u5417\uff1f",
    "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u3092\u5206\u5272\u3059\u308b\u3002",
    "\u1112\u1161\u11ab\u1100\u1173\u11af \ud55c\uae00 \ub370\uc774\ud130",
    "\u0627\u0644\u0644\u063a\u0629 \u0627\u0644\u0639\u0631\u0628\u064a\u0629 \u062c\u0645\u064a\u0644\u0629 \u0661\u0662\u0663",
    "\u0939\u093f\u0928\u094d\u0926\u0940 \u092e\u0947\u0902 \u0932\u093f\u0916\u093e \u0917\u092f\u093e \u0935\u093e\u0915\u094d\u092f",
    "\u0413\u0440\u0435\u0447\u0435\u0441\u043a\u0438\u0439 \u03a3\u039f\u03a6\u0399\u0391 \u0399\u03a3\u03a4\u039f\u03a3",
    "family \U0001f469\u200d\U0001f469\u200d\U0001f466\u200d\U0001f466 thumbs \U0001f44d\U0001f3ff\U0001f44b\U0001f3fb flags \U0001f1ef\U0001f1f5 \U0001f3f3\ufe0f\u200d\U0001f308",
    "while (x != 0) {\n\tx >>= 1;\n\tcount++;\n}\r\n",
    "    return [a + b for a, b in zip(xs, ys)]  # pairs\n",
    "pi = 3.14159265358979323846264338327950288419716939937510",
    "id 98765432109876543210 and 1e-10, 0x1F, 42.",
    "tabs\t\tand  \t mixed   \n\n   whitespace    ",
    "line one\r\nline two\r\n\r\nline four",
    "   leading spaces and trailing   ",
    " ",
    "\n",
    "\ufb01nal \uff34\uff45\uff58\uff54 \u2462 m\u00b3 \u00bc \u2122 \u2160\u2161",
    "\u00c9COLE \u0130STANBUL \u00df\u1e9e \u01c5",
    "mixed \u4e2d\u6587 and English \u0639\u0631\u0628\u064a and \u0939\u093f\u0928\u094d\u0926\u0940 \U0001f600 together",
    "",
    "a",
]


def random_lines(count=150, seed=0):
    """Lines drawn at random from the corpus' characters and the tricky
    ones (other whitespace, apostrophes, combining marks, digits, line
    breaks), for the pre-tokenizers' corner cases."""
    import random
    rng = random.Random(seed)
    pool = sorted(set("".join(TRAIN + HELD_OUT)))
    tricky = [" ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u3000", "\u2028",
              "'", "'s", "'LL", "'Re", "\u0301", "\u0308", "\u200d",
              "\ufe0f", "\U0001f3fd", "7", "123456", "\u0663", "\u00bd",
              "...", "!!", "\u2581", "<", ">", "_", "-"]
    lines = []
    for _ in range(count):
        parts = []
        for _ in range(rng.randint(1, 60)):
            parts.append(rng.choice(pool) if rng.random() < 0.6
                         else rng.choice(tricky))
        lines.append("".join(parts))
    return lines


def special_line(token):
    return [f"Before{token}after and {token} spaced, {token}{token}end",
            f"{token} at the start", f"at the end {token}"]


def train_bpe_bytelevel(kind, vocab_size=700):
    tok = Tokenizer(models.BPE())
    if kind in ("gpt2", "roberta"):
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(
            add_prefix_space=(kind == "roberta"), use_regex=True)
    else:
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(LLAMA3 if kind == "llama3" else QWEN2),
                                 "isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    if kind == "qwen2":
        tok.normalizer = normalizers.NFC()
    tok.decoder = decoders.ByteLevel()
    specials = {"gpt2": ["<|endoftext|>"], "roberta": ["<s>", "</s>"],
                "llama3": ["<|begin_of_text|>", "<|end_of_text|>"],
                "qwen2": ["<|endoftext|>", "<|im_start|>"]}[kind]
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=specials, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(TRAIN * 3, trainer)
    if kind == "roberta":
        # RoBERTa's mask takes the space before it.
        tok.add_special_tokens([AddedToken("<mask>", lstrip=True)])
        specials = specials + ["<mask>"]
        tok.post_processor = processors.TemplateProcessing(
            single="<s> $A </s>",
            special_tokens=[("<s>", tok.token_to_id("<s>")),
                            ("</s>", tok.token_to_id("</s>"))])
    if kind == "llama3":
        bos = "<|begin_of_text|>"
        tok.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", special_tokens=[(bos, tok.token_to_id(bos))])
        spec = json.loads(tok.to_str())
        spec["model"]["ignore_merges"] = True
        tok = Tokenizer.from_str(json.dumps(spec))
    return tok, specials


def with_byte_tokens(tok, specials, model_fields):
    """A BPE tokenizer whose vocabulary holds the specials, then <0x00> ..
    <0xFF>, then the trained tokens (Llama 2's layout)."""
    spec = json.loads(tok.to_str())
    trained = sorted(spec["model"]["vocab"].items(), key=lambda kv: kv[1])
    vocab = {}
    for s in specials:
        vocab[s] = len(vocab)
    for b in range(256):
        vocab[f"<0x{b:02X}>"] = len(vocab)
    for t, _ in trained:
        if t not in vocab:
            vocab[t] = len(vocab)
    spec["model"]["vocab"] = vocab
    spec["model"].update(model_fields)
    spec["added_tokens"] = [
        {"id": vocab[s], "content": s, "single_word": False, "lstrip": False,
         "rstrip": False, "normalized": False, "special": True}
        for s in specials]
    return Tokenizer.from_str(json.dumps(spec))


def train_sentencepiece_bpe(kind):
    specials = ["<unk>", "<s>", "</s>"] if kind != "gemma" else \
        ["<pad>", "<eos>", "<bos>", "<unk>"]
    tok = Tokenizer(models.BPE())
    # Train on words (Metaspace splits before each U+2581), then tokenize
    # whole lines as the real models do.
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=specials,
                                  limit_alphabet=120, show_progress=False)
    tok.train_from_iterator(TRAIN * 3, trainer)
    unk = "<unk>"
    tok = with_byte_tokens(tok, specials, {"byte_fallback": True,
                                           "fuse_unk": True,
                                           "unk_token": unk})
    meta = "\u2581"
    steps = [normalizers.Prepend(meta), normalizers.Replace(" ", meta)]
    if kind == "llama2-nfkc":
        steps.insert(0, normalizers.NFKC())
    if kind == "gemma":
        steps = [normalizers.Replace(" ", meta)]
    if kind == "llama2-meta":
        tok.normalizer = None
        tok.pre_tokenizer = pre_tokenizers.Metaspace(
            replacement=meta, prepend_scheme="first", split=False)
    else:
        tok.normalizer = normalizers.Sequence(steps)
        tok.pre_tokenizer = None
    dec = [decoders.Replace(meta, " "), decoders.ByteFallback(),
           decoders.Fuse()]
    if kind != "gemma":
        dec.append(decoders.Strip(" ", 1, 0))
    tok.decoder = decoders.Sequence(dec)
    bos = "<bos>" if kind == "gemma" else "<s>"
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", special_tokens=[(bos, tok.token_to_id(bos))])
    return tok, specials


def train_unigram(kind):
    specials = ["<unk>", "<s>", "</s>"]
    tok = Tokenizer(models.Unigram())
    if kind == "unigram":
        tok.normalizer = normalizers.NFKC()
    else:
        tok.normalizer = normalizers.Sequence([
            normalizers.Lowercase(), normalizers.NFKD(),
            normalizers.StripAccents()])
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace() if kind == "unigram" else \
        decoders.Sequence([decoders.ByteFallback(), decoders.Metaspace()])
    trainer = trainers.UnigramTrainer(
        vocab_size=500, special_tokens=specials, unk_token="<unk>",
        show_progress=False, max_piece_length=8)
    tok.train_from_iterator(TRAIN * 3, trainer)
    if kind == "unigram-bf":
        spec = json.loads(tok.to_str())
        vocab = spec["model"]["vocab"]
        # Drop some rare characters so that byte fallback has work to do.
        low = min(s for _, s in vocab)
        vocab = [v for v in vocab if not (len(v[0]) == 1 and ord(v[0]) > 0x3000)]
        vocab += [[f"<0x{b:02X}>", low - 1.0] for b in range(256)]
        spec["model"]["vocab"] = vocab
        spec["model"]["byte_fallback"] = True
        spec["model"]["unk_id"] = 0
        tok = Tokenizer.from_str(json.dumps(spec))
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        special_tokens=[("<s>", tok.token_to_id("<s>")),
                        ("</s>", tok.token_to_id("</s>"))])
    return tok, specials


KINDS = ["gpt2", "roberta", "llama3", "qwen2", "llama2", "llama2-nfkc",
         "llama2-meta", "gemma", "unigram", "unigram-bf"]


def build(kind):
    if kind in ("gpt2", "roberta", "llama3", "qwen2"):
        return train_bpe_bytelevel(kind)
    if kind.startswith("unigram"):
        return train_unigram(kind)
    return train_sentencepiece_bpe(kind)


def run_tok(tok_run, path, lines, workdir, special):
    inp = os.path.join(workdir, "input.jsonl")
    with open(inp, "w", encoding="utf-8") as f:
        for line in lines:
            f.write(json.dumps(line) + "\n")
    cmd = [tok_run, "tokenize", "--tokenizer", path, "--decode", inp]
    if special:
        cmd.insert(2, "--special")
    res = subprocess.run(cmd, capture_output=True, text=True,
                         encoding="utf-8")
    if res.returncode != 0:
        return None, res.stderr.strip()
    # split("\n"), not splitlines(): the text may hold U+2028.
    out = [json.loads(l) for l in res.stdout.split("\n") if l]
    return out, None


def show(s):
    return json.dumps(s, ensure_ascii=False)


def main():
    tok_run, workdir = sys.argv[1], sys.argv[2]
    os.makedirs(workdir, exist_ok=True)
    failures = 0
    for kind in KINDS:
        tok, specials = build(kind)
        d = os.path.join(workdir, kind)
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, "tokenizer.json")
        tok.save(path)
        ref = Tokenizer.from_file(path)
        lines = HELD_OUT + random_lines() + [
            l for s in specials[1:] or specials for l in special_line(s)]
        problems = []
        checked = 0
        for special in (False, True):
            got, err = run_tok(tok_run, path, lines, workdir, special)
            if got is None:
                problems.append(f"tok-run tokenize failed: {err}")
                continue
            if len(got) != len(lines):
                problems.append(f"{len(got)} outputs for {len(lines)} lines")
                continue
            for line, g in zip(lines, got):
                want = ref.encode(line, add_special_tokens=special).ids
                text = ref.decode(want, skip_special_tokens=False)
                mode = "special" if special else "plain"
                if g.get("ids") != want:
                    problems.append(
                        f"[{mode}] ids of {show(line)}\n"
                        f"    tokenizers: {want}\n          tok: {g.get('ids')}\n"
                        f"    tokenizers pieces: {ref.encode(line, add_special_tokens=special).tokens}")
                elif g.get("text") != text:
                    problems.append(
                        f"[{mode}] decoded text of {show(line)}\n"
                        f"    tokenizers: {show(text)}\n          tok: {show(g.get('text'))}")
                checked += 1
        n_tokens = ref.get_vocab_size()
        if problems:
            failures += 1
            print(f"{kind}: MISMATCH ({len(problems)} of {checked} encodings)")
            for p in problems:
                print("  " + p)
        else:
            print(f"{kind}: {checked} encodings of {len(lines)} lines "
                  f"({n_tokens} tokens): ids and decoded text identical")
    print(f"{len(KINDS) - failures} of {len(KINDS)} tokenizers conform")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
