"""Trains tok's default demo model, models/pystdlib, on the Python standard library.

Usage: bench/.venv-hf/bin/python bench/default_model/train.py [OUT] [--steps N]
       (OUT defaults to models/pystdlib; the venv is made by
        bench/default_model/run.sh, which then runs this script)

A small Llama (RMSNorm, RoPE, SwiGLU, grouped-query attention, tied
embeddings) over a byte vocabulary of 256 tokens (token id = byte value, so
tok reads it with its byte tokenizer: no tokenizer.json), built as
transformers' LlamaForCausalLM and trained from scratch on one CPU thread
for about 35-40 minutes. The corpus is the .py files of Debian 12's Python
3.11 standard library (/usr/lib/python3.11; on every Debian 12 machine),
without the test suites, the third-party dist-packages and two kinds of
generated files (pydoc_data's help text, the encodings' character tables). A
file belongs to the held-out set when the SHA-256 of its path relative to
the library starts with a byte below 13 (about 5%), so the split does not
depend on which other files a machine has.

Training: AdamW (betas 0.9 / 0.95, weight decay 0.1 on the matrices),
linear warmup and cosine decay of the learning rate, gradient clipping at
1, random 256-byte windows of the concatenated training files that start
at the beginning of a line (so that a prompt, which starts at position 0,
reads as starting in column 0: with windows cut anywhere the model cannot
tell a top-level `def` from an indented one, and greedy decoding of
"def fibonacci(n):" ran into endless indentation), bfloat16
autocast (about 1.4x faster than float32 on an AVX-512 BF16 CPU; the
weights and optimizer stay float32). The weights are saved in bfloat16 by
save_pretrained (config.json, model.safetensors), and the losses reported
(nats per byte) are those of the saved weights evaluated in float32: the
training loss on 64 fixed windows of the training files and the held-out
loss on every non-overlapping 256-byte window of the held-out files. The
script writes OUT/README.md (with these numbers and the greedy
continuation of "def fibonacci(n):") and OUT/train.log.
bench/default_model/reference.py compares tok-run's greedy tokens with
transformers'.
"""

import argparse
import hashlib
import json
import math
import os
import sys
import time

import torch
import transformers

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = "/usr/lib/python3.11"
# Directories left out wherever they occur: test suites, third-party
# packages, bytecode, and pydoc's generated help text (prose, not code).
EXCLUDED_DIRS = {"test", "tests", "idle_test", "dist-packages", "site-packages",
                 "__pycache__", "pydoc_data"}
# The charmap codecs of encodings/ are tables written by gencodec.py.
GENERATED_MARK = b"generated from"

MODEL = dict(vocab_size=256, hidden_size=256, intermediate_size=688, num_hidden_layers=4,
             num_attention_heads=8, num_key_value_heads=4, max_position_embeddings=256,
             rms_norm_eps=1e-5, rope_theta=10000.0, hidden_act="silu", tie_word_embeddings=True,
             bos_token_id=None, eos_token_id=None, pad_token_id=None)
CONTEXT = 256
BATCH = 16
STEPS = 2400
WARMUP = 100
LR, MIN_LR = 2e-3, 2e-4
WEIGHT_DECAY = 0.1
EVAL_EVERY, EVAL_BATCHES = 200, 8
SEED = 0


def held_out(relpath):
    """Whether a file (path relative to CORPUS) is in the held-out set."""
    return hashlib.sha256(relpath.encode()).digest()[0] < 13


def collect(corpus):
    """The corpus's training and held-out bytes, files in path order, and their paths."""
    files = []
    for dirpath, dirnames, filenames in os.walk(corpus):
        dirnames[:] = sorted(d for d in dirnames if d not in EXCLUDED_DIRS)
        for name in sorted(filenames):
            if name.endswith(".py"):
                files.append(os.path.relpath(os.path.join(dirpath, name), corpus))
    train, val, train_files, val_files = [], [], [], []
    for rel in sorted(files):
        with open(os.path.join(corpus, rel), "rb") as f:
            data = f.read()
        if rel.startswith("encodings/") and GENERATED_MARK in data[:400]:
            continue
        if not data.endswith(b"\n"):
            data += b"\n"
        data += b"\n"  # a blank line between files
        (val if held_out(rel) else train).append(data)
        (val_files if held_out(rel) else train_files).append(rel)
    return b"".join(train), b"".join(val), train_files, val_files


def line_starts(data):
    """Offsets (a tensor) where a line begins and a whole window fits."""
    t = torch.frombuffer(bytearray(data), dtype=torch.uint8)
    starts = torch.cat([torch.zeros(1, dtype=torch.long), torch.nonzero(t[:-1] == 10).squeeze(1) + 1])
    return starts[starts <= len(data) - CONTEXT]


def windows_at(data, starts):
    """The CONTEXT-byte windows of data (a tensor) at offsets starts, stacked."""
    return torch.stack([data[s:s + CONTEXT] for s in starts.tolist()])


def lr_at(step, steps):
    """Linear warmup to LR, then cosine decay to MIN_LR at the last step."""
    if step < WARMUP:
        return LR * (step + 1) / WARMUP
    t = (step - WARMUP) / max(1, steps - WARMUP)
    return MIN_LR + 0.5 * (LR - MIN_LR) * (1 + math.cos(math.pi * t))


def loss_of(model, x, amp):
    """Mean next-byte cross entropy (nats) over a batch of windows."""
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
        logits = model(input_ids=x).logits
    return torch.nn.functional.cross_entropy(logits[:, :-1].float().reshape(-1, 256),
                                             x[:, 1:].reshape(-1))


@torch.no_grad()
def evaluate(model, windows, amp):
    """Mean loss over windows (a [n, CONTEXT] tensor), BATCH at a time."""
    model.eval()
    total, n = 0.0, 0
    for i in range(0, len(windows), BATCH):
        x = windows[i:i + BATCH]
        total += loss_of(model, x, amp).item() * len(x)
        n += len(x)
    model.train()
    return total / n


@torch.no_grad()
def greedy_text(model, prompt, new):
    """prompt and its greedy continuation of new bytes (whole forward passes, float32)."""
    ids = list(prompt.encode())
    for _ in range(new):
        logits = model(input_ids=torch.tensor([ids])).logits[0, -1]
        ids.append(int(logits.argmax()))
    return bytes(ids).decode("utf-8", "replace")


def write_readme(out, s):
    """OUT/README.md: what the model is, how it was trained, its losses."""
    text = f"""# pystdlib: tok's default demo model

A {s['params'] / 1e6:.2f}M-parameter Llama trained from scratch on the Python
standard library, byte by byte. `scripts/demo.sh` generates with it by
default:

```sh
build/bin/tok-run generate --model models/pystdlib --max-new-tokens 200
```

- Architecture: Llama ({MODEL['num_hidden_layers']} layers, hidden size {MODEL['hidden_size']}, \
{MODEL['num_attention_heads']} heads of {MODEL['hidden_size'] // MODEL['num_attention_heads']}
  with {MODEL['num_key_value_heads']} key/value heads, SwiGLU {MODEL['intermediate_size']}, RMSNorm eps \
{MODEL['rms_norm_eps']}, RoPE theta {MODEL['rope_theta']:g},
  tied embeddings), {MODEL['max_position_embeddings']} positions (the training context).
- Vocabulary: the 256 byte values (token id = byte); no tokenizer.json, no
  BOS or EOS token. tok-run uses its byte tokenizer for it.
- Weights: bfloat16, `model.safetensors` ({s['bytes']} bytes), written by
  transformers' `save_pretrained` (config.json as LlamaForCausalLM).
- Corpus: the `.py` files of `/usr/lib/python3.11` on Debian 12 (without
  test directories, dist-packages, pydoc_data and the generated charmap
  tables of encodings/): {s['train_files']} training files ({s['train_bytes']} bytes),
  {s['val_files']} held-out files ({s['val_bytes']} bytes), held out by the SHA-256 of the path.
- Training: {s['steps']} steps of {BATCH} windows of {CONTEXT} bytes, each starting at
  the beginning of a line ({s['tokens'] / 1e6:.1f}M bytes, \
{s['tokens'] / s['train_bytes']:.2f} epochs), AdamW,
  learning rate {LR:g} (warmup {WARMUP}, cosine to {MIN_LR:g}), bfloat16 autocast, one CPU
  thread: {s['minutes']:.1f} minutes ({s['cpu']}), seed {SEED}.
- Loss of the saved weights in float32, nats per byte: training
  {s['train_loss']:.4f}, held-out {s['val_loss']:.4f} ({s['val_loss'] / math.log(2):.3f} bits per byte).

Its greedy continuation of tok-run's default prompt (200 bytes; tok-run's
tokens equal transformers', `bench/default_model/reference.py --tok`):

```python
{s['sample']}
```

A prompt is read as starting a line in column 0 (the training windows
start at line beginnings); prompt and continuation together must fit in
the {MODEL['max_position_embeddings']} positions. Greedy decoding of a model this small repeats
itself sooner or later; `--temperature 0.7` varies the text.

Retrain ({s['minutes']:.0f} minutes here on one thread; overwrites this directory):

```sh
bench/default_model/run.sh            # bench/.venv-hf: torch, transformers
```

`train.log` is the log of the run that produced these weights.
"""
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", nargs="?", default=os.path.join(ROOT, "models", "pystdlib"))
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--no-amp", action="store_true", help="train in float32")
    args = parser.parse_args()
    amp = not args.no_amp
    torch.set_num_threads(1)
    torch.manual_seed(SEED)
    log_lines = []

    def log(msg):
        print(msg, flush=True)
        log_lines.append(msg)

    train, val, train_files, val_files = collect(CORPUS)
    log(f"corpus {CORPUS}: {len(train_files)} training files, {len(train)} bytes; "
        f"{len(val_files)} held-out files, {len(val)} bytes; sha256 "
        f"{hashlib.sha256(train + val).hexdigest()[:16]}")
    train_t = torch.frombuffer(bytearray(train), dtype=torch.uint8).long()
    val_t = torch.frombuffer(bytearray(val), dtype=torch.uint8).long()
    val_windows = val_t[:len(val_t) // CONTEXT * CONTEXT].view(-1, CONTEXT)
    g = torch.Generator().manual_seed(SEED)
    # Fixed windows for the periodic estimates and the final training loss.
    val_probe = val_windows[torch.randperm(len(val_windows), generator=g)[:EVAL_BATCHES * BATCH]]
    train_starts = line_starts(train)
    pick = torch.randint(0, len(train_starts), (4 * BATCH,), generator=g)
    train_probe = windows_at(train_t, train_starts[pick])

    config = transformers.LlamaConfig(**MODEL)
    config._attn_implementation = "sdpa"
    model = transformers.LlamaForCausalLM(config).train()
    params = sum(p.numel() for p in model.parameters())
    log(f"{len(train_starts)} line starts; model: {params} parameters ({params / 1e6:.2f}M), {MODEL}")
    decay = [p for n, p in model.named_parameters() if p.dim() == 2 and "embed" not in n]
    rest = [p for n, p in model.named_parameters() if not (p.dim() == 2 and "embed" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": WEIGHT_DECAY},
                             {"params": rest, "weight_decay": 0.0}], lr=LR, betas=(0.9, 0.95))

    t0 = time.time()
    for step in range(args.steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(step, args.steps)
        pick = torch.randint(0, len(train_starts), (BATCH,), generator=g)
        x = windows_at(train_t, train_starts[pick])
        loss = loss_of(model, x, amp)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if (step + 1) % 50 == 0 or step == 0:
            msg = f"step {step + 1} loss {loss.item():.4f} lr {lr_at(step, args.steps):.2e} min {(time.time() - t0) / 60:.1f}"
            if (step + 1) % EVAL_EVERY == 0 or step + 1 == args.steps:
                msg += f" held-out {evaluate(model, val_probe, amp):.4f}"
            log(msg)
    minutes = (time.time() - t0) / 60

    os.makedirs(args.out, exist_ok=True)
    for name in ("config.json", "model.safetensors", "generation_config.json"):
        if os.path.exists(os.path.join(args.out, name)):
            os.remove(os.path.join(args.out, name))
    model.to(torch.bfloat16).save_pretrained(args.out, safe_serialization=True)
    # Generation defaults are tok-run's options; keep only the model.
    os.remove(os.path.join(args.out, "generation_config.json"))
    saved = transformers.LlamaForCausalLM.from_pretrained(args.out, dtype=torch.float32)
    saved.config._attn_implementation = "sdpa"
    stats = dict(params=params, bytes=os.path.getsize(os.path.join(args.out, "model.safetensors")),
                 train_files=len(train_files), val_files=len(val_files), train_bytes=len(train),
                 val_bytes=len(val), steps=args.steps, tokens=args.steps * BATCH * CONTEXT,
                 minutes=minutes, train_loss=evaluate(saved, train_probe, False),
                 val_loss=evaluate(saved, val_windows, False), cpu=cpu_name(),
                 sample=greedy_text(saved, "def fibonacci(n):", 200))
    log(f"saved {args.out}: " + json.dumps(stats))
    with open(os.path.join(args.out, "train.log"), "w") as f:
        f.write("\n".join(log_lines) + "\n")
    write_readme(args.out, stats)


def cpu_name():
    """The CPU's model name from /proc/cpuinfo."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


if __name__ == "__main__":
    sys.exit(main())
