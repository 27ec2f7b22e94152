"""Greedy continuation of models/pystdlib by transformers, the reference of tok's.

Usage: bench/.venv-hf/bin/python bench/default_model/reference.py
           [--model DIR] [--prompt TEXT] [--new N] [--tok PATH/TO/tok-run]

Loads the checkpoint with transformers' LlamaForCausalLM in float32 on the
CPU and decodes N tokens greedily with `generate` (no end-of-sequence
token: the vocabulary is bytes). Prints the generated ids, the text, the
smallest gap between the first and second logit over the steps (how close
greedy decoding came to a tie that rounding could flip), and the FileCheck
lines of test/Integration/demo.test. With --tok, also runs
`tok-run generate --print-ids` on the same model and prompt and reports
how many leading tokens agree.
"""

import argparse
import os
import re
import subprocess
import sys

import torch
import transformers

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def greedy(model_dir, prompt, new):
    """transformers' greedy ids for prompt and the smallest top-2 logit gap."""
    model = transformers.LlamaForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    ids = torch.tensor([list(prompt.encode())])
    with torch.no_grad():
        out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=new,
                             min_new_tokens=new, do_sample=False, eos_token_id=None,
                             pad_token_id=0, output_scores=True, return_dict_in_generate=True)
    tokens = out.sequences[0, ids.shape[1]:].tolist()
    gaps = [float(s[0].topk(2).values[0] - s[0].topk(2).values[1]) for s in out.scores]
    return tokens, min(gaps)


def tok_ids(tok_run, model_dir, prompt, new):
    """The ids tok-run generate prints for the same greedy continuation."""
    out = subprocess.run([tok_run, "generate", "--model", model_dir, "--prompt", prompt,
                          "--max-new-tokens", str(new), "--print-ids", "--quiet"],
                         capture_output=True, check=True).stdout.decode("latin-1")
    line = [l for l in out.splitlines() if l.startswith("ids:")][-1]
    return [int(t) for t in line.split()[1:]]


def filecheck_lines(prefix, prompt, tokens):
    """CHECK lines: the text line by line (FileCheck syntax escaped), then the ids."""
    text = (prompt.encode() + bytes(tokens)).decode("utf-8", "replace")
    lines = text.split("\n")
    out = []
    for i, line in enumerate(lines):
        # A regex-free pattern: {{ and [[ would start FileCheck syntax.
        line = re.sub(r"(\{\{|\[\[)", lambda m: "{{" + re.escape(m.group(0)) + "}}", line)
        if not line.strip():
            out.append(f"# {prefix}-EMPTY:")
        else:
            out.append(f"# {prefix}{'-NEXT' if i else ''}: {line}")
    out.append(f"# {prefix}-NEXT: {{{{^}}}}ids: {' '.join(map(str, tokens))}{{{{$}}}}")
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=os.path.join(ROOT, "models", "pystdlib"))
    parser.add_argument("--prompt", default="def fibonacci(n):")
    parser.add_argument("--new", type=int, default=64)
    parser.add_argument("--prefix", default="PYSTDLIB")
    parser.add_argument("--tok", help="tok-run binary to compare with")
    args = parser.parse_args()
    torch.set_num_threads(1)
    tokens, gap = greedy(args.model, args.prompt, args.new)
    print("ids:", " ".join(map(str, tokens)))
    print("text:", repr((args.prompt.encode() + bytes(tokens)).decode("utf-8", "replace")))
    print(f"smallest top-2 logit gap: {gap:.4f}")
    print("\n".join(filecheck_lines(args.prefix, args.prompt, tokens)))
    if args.tok:
        theirs = tok_ids(args.tok, args.model, args.prompt, args.new)
        same = next((i for i, (a, b) in enumerate(zip(tokens, theirs)) if a != b),
                    min(len(tokens), len(theirs)))
        print(f"tok-run: {same} of {len(tokens)} tokens equal transformers'"
              + ("" if same == len(tokens) == len(theirs) else f" (tok: {theirs})"))
        return 0 if same == len(tokens) == len(theirs) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
