"""Checks speculative decoding against independent references.

Usage: speculative_check.py <tok-run> <work-dir> [--model <model dir>]

1. tok.draft (ngram), JIT-compiled, against a separate Python statement of
   the rule (docs/algorithms.md, "N-gram drafting (prompt lookup)"): for n =
   n_max .. n_min, the earliest earlier occurrence of the last n tokens (the
   suffix itself excluded); the first n that matches drafts up to k
   following tokens; parents form a chain, probabilities are 1. Random
   histories over a 3-token vocabulary (many matches), lengths 0 .. 40,
   several k / n_max / n_min.
2. tok.verify (greedy), against a Python statement of "Greedy verification"
   / "Token trees" (docs/algorithms.md): node i is accepted iff its token is
   the arg-max (lowest id on ties) of its parent's row and its parent is
   accepted; the path ends at the deepest accepted node (first in node order
   on ties); the next token is the arg-max after it. Chains with everything
   / nothing / a prefix accepted, ties, trees, a malformed tree.
3. tok-run generate with --pipeline tok-speculative-decoding against plain
   greedy decoding of the same model: token-identical ids for several
   prompts and k, a budget smaller than k, an eos inside the drafts; on the
   built-in model, or with --model only (1 and 2 skipped) on that model
   (the trained pyllama-4m, whose drafts are often accepted).
4. The same for self-speculation (drafter=layer_skip), see
   check_layer_skip, and for a separate draft model (drafter=model), see
   check_draft_model.
"""

import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from jit_entry import run_entry  # noqa: E402


def draft_ref(history, k, n_max, n_min, match="recent", limit=None):
    """The drafts for `history`: `need` = min(k, limit) tokens after an
    earlier occurrence of the longest suffix (n_max .. n_min) that has one.
    earliest: the first occurrence; recent: the last occurrence with at
    least max(need, 1) tokens after it, else the first."""
    h = list(history)
    L = len(h)
    need = k if limit is None else max(min(k, limit), 0)
    for n in range(n_max, n_min - 1, -1):
        if L <= n:
            continue
        starts = [s for s in range(L - n) if h[s:s + n] == h[L - n:]]
        if not starts:
            continue
        full = [s for s in starts if L - (s + n) >= max(need, 1)]
        s = full[-1] if match == "recent" and full else starts[0]
        return h[s + n: s + n + need]
    return []


DRAFT = """func.func @f(%%h: tensor<?xi32>, %%m: tensor<i64>) -> (tensor<?xi32>, tensor<?xi32>, tensor<?xf32>) {
  %%mi = tensor.extract %%m[] : tensor<i64>
  %%limit = arith.index_cast %%mi : i64 to index
  %%d, %%p, %%q = tok.draft %%h %s{drafter = #tok.drafter<ngram, k = %d, n_max = %d, n_min = %d, match = %s>}
      : tensor<?xi32> -> tensor<?xi32>, tensor<?xi32>, tensor<?xf32>
  return %%d, %%p, %%q : tensor<?xi32>, tensor<?xi32>, tensor<?xf32>
}
"""

VERIFY = """func.func @f(%%l: tensor<?x%dxf32>, %%d: tensor<?xi32>, %%p: tensor<?xi32>) -> (tensor<?xi32>, tensor<i32>) {
  %%path, %%next = tok.verify %%l, %%d, %%p {sampler = #tok.sampler<>}
      : tensor<?x%dxf32>, tensor<?xi32>, tensor<?xi32> -> tensor<?xi32>, tensor<i32>
  return %%path, %%next : tensor<?xi32>, tensor<i32>
}
"""


def verify_ref(logits, drafts, parents):
    best = [int(np.argmax(row)) for row in logits]  # first maximum
    n = len(drafts)
    depth = [0] * n
    last, last_depth = 0, 0
    for i in range(n):
        p = parents[i]
        if p == -1:
            d = 1 if drafts[i] == best[0] else 0
        elif 0 <= p < i:
            d = depth[p] + 1 if depth[p] > 0 and drafts[i] == best[p + 1] else 0
        else:
            d = 0
        depth[i] = d
        if d > last_depth:
            last, last_depth = i, d
    path = []
    node = last
    for _ in range(last_depth):
        path.append(node)
        node = parents[node]
    path.reverse()
    nxt = best[last + 1] if last_depth else best[0]
    return path, nxt


def check_drafts(tok_run, work, rng):
    failures, cases = 0, 0
    # (k, n_max, n_min, match, limit): None = no limit operand.
    configs = [(4, 3, 1, "earliest", None), (1, 3, 1, "earliest", None), (6, 2, 2, "earliest", None),
               (3, 1, 1, "earliest", None), (4, 3, 1, "recent", None), (6, 2, 1, "recent", 3),
               (3, 3, 1, "recent", 0), (2, 1, 1, "recent", 9)]
    lengths = [0, 1, 2, 3, 7, 19, 40]
    for ci, (k, n_max, n_min, match, limit) in enumerate(configs):
        for li, length in enumerate(lengths):
            if (ci + li) % 2:  # half the grid keeps the JIT runs few
                continue
            history = rng.integers(0, 3, length).astype(np.int32)
            name = "draft_%d_%d" % (ci, li)
            text = DRAFT % ("" if limit is None else "limit %limit ", k, n_max, n_min, match)
            got, err = run_entry(tok_run, work, name, text, [history, np.array(limit or 0, np.int64)], 3)
            want = draft_ref(history.tolist(), k, n_max, n_min, match, limit)
            cases += 1
            ok = got is not None
            if ok:
                d, p, q = got
                ok = (d.tolist() == want and p.tolist() == list(range(-1, len(want) - 1))
                      and q.tolist() == [1.0] * len(want))
            if not ok:
                failures += 1
                print("draft k=%d n=%d..%d match=%s limit=%s L=%d: MISMATCH got %s want %s %s"
                      % (k, n_max, n_min, match, limit, length, None if got is None else got[0].tolist(),
                         want, err[-500:] if got is None else ""))
    print("draft: %d of %d cases match the reference" % (cases - failures, cases))
    return failures


def check_verify(tok_run, work, rng):
    V = 8
    cases = []
    # Chains: logits random, drafts built to accept a chosen prefix.
    for accept in (0, 1, 3, 5):
        n = 5
        logits = rng.standard_normal((n + 1, V)).astype(np.float32)
        best = logits.argmax(axis=1)
        drafts = [int(best[i]) if i < accept else int((best[i] + 1) % V) for i in range(n)]
        cases.append(("chain accepts %d of 5" % accept, logits, drafts, list(range(-1, n - 1))))
    # No drafts at all: the next token is the arg-max of the only row.
    cases.append(("no drafts", rng.standard_normal((1, V)).astype(np.float32), [], []))
    # Ties: equal maxima go to the lowest id.
    logits = np.zeros((3, V), np.float32)
    logits[:, 2] = logits[:, 5] = 1.0
    cases.append(("ties to the lowest id", logits, [2, 5], [-1, 0]))
    # Trees: random parents (parent < i), drafts mostly correct.
    for t in range(3):
        n = 7
        logits = rng.standard_normal((n + 1, V)).astype(np.float32)
        best = logits.argmax(axis=1)
        parents = [-1] + [int(rng.integers(-1, i)) for i in range(1, n)]
        drafts = [int(best[p + 1]) if rng.random() < 0.8 else int(rng.integers(0, V)) for p in parents]
        cases.append(("tree %d" % t, logits, drafts, parents))
    # Malformed: node 2 points forward, node 3 at itself.
    logits = rng.standard_normal((5, V)).astype(np.float32)
    best = logits.argmax(axis=1)
    parents = [-1, 0, 3, 3]
    drafts = [int(best[0]), int(best[1]), int(best[4]), int(best[4])]
    cases.append(("malformed tree", logits, drafts, parents))

    failures = 0
    for i, (name, logits, drafts, parents) in enumerate(cases):
        got, err = run_entry(tok_run, work, "verify_%d" % i, VERIFY % (V, V),
                             [logits, np.array(drafts, np.int32), np.array(parents, np.int32)], 2)
        want_path, want_next = verify_ref(logits, drafts, parents)
        ok = got is not None and got[0].tolist() == want_path and int(got[1]) == want_next
        if not ok:
            failures += 1
            print("verify %s: MISMATCH got %s want %s %s" % (
                name, None if got is None else (got[0].tolist(), int(got[1])),
                (want_path, want_next), err[-500:] if got is None else ""))
    print("verify: %d of %d cases match the reference" % (len(cases) - failures, len(cases)))
    return failures


def generate(tok_run, args):
    r = subprocess.run([tok_run, "generate", "--print-ids"] + args, capture_output=True, text=True)
    if r.returncode != 0:
        return None, r.stderr
    m = re.search(r"^ids:(.*)$", r.stdout, re.M)
    return (m.group(1).split() if m else None), r.stderr


def replay_rounds(prompt, plain, k, new, match):
    """The rounds of tok-speculative-decoding{k, match} (ngram, adaptive
    draft length, greedy) replayed from the tokens plain greedy decoding
    emits: each round drafts with draft_ref from the context so far, within
    the round's length and the budget left; the target accepts the drafts
    that equal the plain tokens and adds one. Returns (target calls, tokens
    after the first, drafts accepted, drafts), as tok-run reports them."""
    out = plain[:new]
    context = list(prompt) + out[:1]
    count, length, calls, accepted, drafted = 1, k, 0, 0, 0
    while count < len(out):
        limit = max(min(new - (count + 1), length), 0)
        drafts = draft_ref(context, k, 3, 1, match, limit)[:limit]
        a = 0
        while a < len(drafts) and count + a < len(out) and drafts[a] == out[count + a]:
            a += 1
        calls, accepted, drafted = calls + 1, accepted + a, drafted + len(drafts)
        context += out[count:count + a + 1]
        count += a + 1
        if drafts:
            length = min(k, length + 2) if a == len(drafts) else max(1, length - 1)
    return calls, len(out) - 1, accepted, drafted


def check_generate(tok_run, model):
    """Token identity with plain greedy decoding, and the reported round
    statistics against replay_rounds (the prompts are ASCII: a byte-level
    vocabulary's ids are the bytes)."""
    where = ["--model", model] if model else []
    label = os.path.basename(model) if model else "built-in"
    prompts = ["def f(x):\n    return x\ndef f", "for i in range(10):\n    print(i)\nfor i in range("]
    failures, cases = 0, 0
    for pi, prompt in enumerate(prompts):
        plain, err = generate(tok_run, where + ["--prompt", prompt, "--max-new-tokens", "48", "--eos", "-1"])
        if plain is None:
            print("%s plain: failed: %s" % (label, err[-500:]))
            return 1
        # (k, max new tokens, eos, match)
        runs = [(k, 48, None, "recent") for k in ((1, 10) if pi == 0 else (4,))]
        if pi == 0:
            runs.append((10, 3, None, "recent"))  # the budget is smaller than k
        else:
            runs.append((4, 48, None, "earliest"))
        # An eos that plain decoding emits mid-way: speculation must stop
        # at the same token even when the eos sits inside accepted drafts.
        eos = plain[len(plain) // 2]
        runs.append((6, 48, eos, "recent"))
        for k, new, stop, match in runs:
            want = plain[:new]
            if stop is not None:
                want = plain[:plain.index(stop) + 1]
            got, err = generate(tok_run, where + [
                "--prompt", prompt, "--max-new-tokens", str(new), "--eos", str(stop if stop else -1),
                "--pipeline", "tok-speculative-decoding{k=%d match=%s}" % (k, match)])
            cases += 1
            stats = re.search(r"speculative: (\d+) target calls for (\d+) tokens after the first.*?; "
                              r"(\d+) of (\d+) drafts accepted", err or "")
            if got != want:
                failures += 1
                print("%s prompt %d k=%d max=%d eos=%s match=%s: MISMATCH\n  got  %s\n  want %s\n%s"
                      % (label, pi, k, new, stop, match, got, want, (err or "")[-800:]))
            elif stats is None and len(want) > 1:
                failures += 1
                print("%s prompt %d k=%d: no speculative statistics reported" % (label, pi, k))
            elif stats and stop is None:
                ids = [int(t) for t in plain]
                expect = replay_rounds(prompt.encode(), ids, k, new, match)
                reported = tuple(int(g) for g in stats.groups())
                if reported != expect:
                    failures += 1
                    print("%s prompt %d k=%d max=%d match=%s: ROUNDS MISMATCH reported (calls, tokens, accepted, "
                          "drafted) %s, replayed %s" % (label, pi, k, new, match, reported, expect))
                else:
                    print("%s prompt %d k=%d max=%d match=%s: rounds as replayed, %d calls, %d of %d accepted"
                          % (label, pi, k, new, match, expect[0], expect[2], expect[3]))
    print("generate %s: %d of %d speculative runs equal plain greedy decoding"
          % (label, cases - failures, cases))
    return failures


def check_layer_skip(tok_run, model):
    """Self-speculation (drafter=layer_skip): the draft is the model without
    some layers (tok-run generate --draft-skip), with caches of its own.
    Token-identical to plain greedy decoding for several skip lists and k;
    skipping every layer (drafts from embeddings alone: most rounds reject
    everything, so the draft caches roll back every round), a draft step
    that is the target itself (draft-step=step: every draft accepted), a
    budget below k, an eos inside the drafts."""
    where = ["--model", model] if model else []
    label = os.path.basename(model) if model else "built-in"
    layers = 6
    prompts = ["def f(x):\n    return x\ndef f", "for i in range(10):\n    print(i)\nfor i in range("]
    failures, cases = 0, 0
    for pi, prompt in enumerate(prompts):
        plain, err = generate(tok_run, where + ["--prompt", prompt, "--max-new-tokens", "40", "--eos", "-1"])
        if plain is None:
            print("%s plain: failed: %s" % (label, err[-500:]))
            return 1
        eos = plain[len(plain) // 2]
        # (skip, k, max new, eos, draft step, confidence)
        if pi == 0:
            runs = [(",".join(map(str, range(layers))), 3, 40, None, None, 0.0),
                    ("1", 5, 40, None, "step", 0.0), ("2,3", 10, 3, None, None, 0.4),
                    ("4", 6, 40, eos, None, 0.4)]
        else:
            # confidence 1: every round stops after its first draft.
            runs = [("2,3", 4, 40, None, None, 0.4), ("1", 5, 40, None, "step", 1.0)]
        for skip, k, new, stop, step, conf in runs:
            want = plain[:new] if stop is None else plain[:plain.index(stop) + 1]
            pipe = "tok-speculative-decoding{drafter=layer_skip k=%d confidence=%g%s}" % (
                k, conf, " draft-step=" + step if step else "")
            got, err = generate(tok_run, where + [
                "--prompt", prompt, "--max-new-tokens", str(new), "--eos", str(stop if stop else -1),
                "--draft-skip=" + skip, "--pipeline", pipe])
            cases += 1
            stats = re.search(r"(\d+) of (\d+) drafts accepted", err or "")
            calls = re.search(r"speculative: (\d+) target calls", err or "")
            if got != want:
                failures += 1
                print("%s layer_skip prompt %d skip=%s k=%d max=%d eos=%s: MISMATCH\n  got  %s\n  want %s\n%s"
                      % (label, pi, skip, k, new, stop, got, want, (err or "")[-800:]))
            elif conf == 1.0 and (not stats or not calls or int(stats.group(2)) > int(calls.group(1))):
                failures += 1
                print("%s layer_skip prompt %d: confidence 1 must draft at most one token per round (%s)"
                      % (label, pi, err[-300:]))
            elif step == "step" and (not stats or stats.group(1) != stats.group(2)):
                failures += 1
                print("%s layer_skip prompt %d: the target as its own draft must accept every draft (%s)"
                      % (label, pi, stats.group(0) if stats else "no statistics"))
            elif stats is None and len(want) > 1:
                failures += 1
                print("%s layer_skip prompt %d: no speculative statistics reported" % (label, pi))
            else:
                print("%s layer_skip prompt %d skip=%s k=%d confidence=%g: identical, %s, %s" % (
                    label, pi, skip, k, conf, stats.group(0) if stats else "no rounds",
                    calls.group(0) if calls else "-"))
    print("layer_skip %s: %d of %d self-speculative runs equal plain greedy decoding"
          % (label, cases - failures, cases))
    return failures


def truncated_copy(model, layers, out):
    """A Hugging Face copy of `model` with only its first `layers` layers
    (and its final norm and head): a separate, smaller draft model with the
    same vocabulary."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import llama_forward as lf
    cfg = json.load(open(os.path.join(model, "config.json")))
    w = lf.read_weights(model)
    keep = {n: t for n, t in w.items()
            if not n.startswith("model.layers.") or int(n.split(".")[2]) < layers}
    cfg["num_hidden_layers"] = layers
    os.makedirs(out, exist_ok=True)
    json.dump(cfg, open(os.path.join(out, "config.json"), "w"))
    lf.write_safetensors(os.path.join(out, "model.safetensors"), keep)
    return out


def random_draft(out, vocab):
    """A tiny random draft of another shape (1 layer, dim 32, GQA 4/2, an
    untied head) with the target's vocabulary: its drafts are mostly
    rejected."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import llama_forward as lf
    rng = np.random.default_rng(11)
    E, F, D = 32, 48, 8
    f = lambda *s: rng.standard_normal(s) / np.sqrt(s[-1])
    w = {"model.embed_tokens.weight": f(vocab, E), "model.norm.weight": np.ones(E),
         "lm_head.weight": 3 * f(vocab, E),
         "model.layers.0.input_layernorm.weight": np.ones(E),
         "model.layers.0.post_attention_layernorm.weight": np.ones(E),
         "model.layers.0.self_attn.q_proj.weight": f(4 * D, E),
         "model.layers.0.self_attn.k_proj.weight": f(2 * D, E),
         "model.layers.0.self_attn.v_proj.weight": f(2 * D, E),
         "model.layers.0.self_attn.o_proj.weight": f(E, 4 * D),
         "model.layers.0.mlp.gate_proj.weight": f(F, E),
         "model.layers.0.mlp.up_proj.weight": f(F, E),
         "model.layers.0.mlp.down_proj.weight": f(E, F)}
    cfg = {"model_type": "llama", "hidden_size": E, "intermediate_size": F, "num_hidden_layers": 1,
           "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": vocab,
           "max_position_embeddings": 512, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
           "tie_word_embeddings": False, "hidden_act": "silu"}
    os.makedirs(out, exist_ok=True)
    json.dump(cfg, open(os.path.join(out, "config.json"), "w"))
    lf.write_safetensors(os.path.join(out, "model.safetensors"), w)
    return out


def check_draft_model(tok_run, model, work):
    """A separate draft model (drafter=model, tok-run generate
    --draft-model): the target's first two layers as a checkpoint of their
    own, a tiny random model of another shape (most drafts rejected), and
    the target itself (every draft accepted); a budget below k, an eos
    inside the drafts, confidence 1. Token-identical to plain greedy
    decoding every time."""
    where = ["--model", model] if model else []
    label = os.path.basename(model) if model else "built-in"
    hf = model
    if model is None:
        hf = os.path.join(work, "builtin-hf")
        shutil.rmtree(hf, ignore_errors=True)  # tok-import never overwrites
        # tok-import sits next to tok-run (lit passes tok-run's full path).
        tok_import = os.path.join(os.path.dirname(tok_run), "tok-import")
        if not os.path.isfile(tok_import):
            tok_import = shutil.which("tok-import") or "tok-import"
        r = subprocess.run([tok_import, "builtin", "--export-hf", hf, "-o", os.devnull],
                           capture_output=True, text=True)
        if r.returncode != 0:
            print("built-in export failed: %s" % r.stderr[-500:])
            return 1
    drafts = {"first-2-layers": truncated_copy(hf, 2, os.path.join(work, label + "-draft2")),
              "random": random_draft(os.path.join(work, label + "-random-draft"), 256),
              "itself": model or "builtin"}
    prompts = ["def f(x):\n    return x\ndef f", "for i in range(10):\n    print(i)\nfor i in range("]
    failures, cases = 0, 0
    for pi, prompt in enumerate(prompts):
        plain, err = generate(tok_run, where + ["--prompt", prompt, "--max-new-tokens", "40", "--eos", "-1"])
        if plain is None:
            print("%s plain: failed: %s" % (label, err[-500:]))
            return 1
        eos = plain[len(plain) // 2]
        # (draft, k, max new, eos, confidence, prefill chunk)
        if pi == 0:
            runs = [("first-2-layers", 4, 40, None, 0.4, 0), ("random", 3, 40, None, 0.0, 0),
                    ("itself", 5, 40, None, 0.0, 0), ("itself", 10, 3, None, 0.0, 0),
                    ("itself", 6, 40, eos, 0.0, 0)]
        else:
            # Chunked prefill: the draft catches up on the prompt 3 tokens
            # per call too.
            runs = [("first-2-layers", 4, 40, None, 0.4, 3), ("random", 5, 40, None, 1.0, 0)]
        for draft, k, new, stop, conf, chunk in runs:
            want = plain[:new] if stop is None else plain[:plain.index(stop) + 1]
            got, err = generate(tok_run, where + [
                "--prompt", prompt, "--max-new-tokens", str(new), "--eos", str(stop if stop else -1),
                "--draft-model", drafts[draft], "--prefill-chunk", str(chunk),
                "--pipeline", "tok-speculative-decoding{drafter=model k=%d confidence=%g}" % (k, conf)])
            cases += 1
            stats = re.search(r"(\d+) of (\d+) drafts accepted", err or "")
            calls = re.search(r"speculative: (\d+) target calls", err or "")
            if got != want:
                failures += 1
                print("%s draft model %s prompt %d k=%d max=%d eos=%s: MISMATCH\n  got  %s\n  want %s\n%s"
                      % (label, draft, pi, k, new, stop, got, want, (err or "")[-800:]))
            elif stats is None and len(want) > 1:
                failures += 1
                print("%s draft model %s prompt %d: no speculative statistics reported" % (label, draft, pi))
            elif conf == 1.0 and (not calls or int(stats.group(2)) > int(calls.group(1))):
                failures += 1
                print("%s draft model prompt %d: confidence 1 must draft at most one token per round (%s)"
                      % (label, pi, err[-300:]))
            elif draft == "itself" and stats.group(1) != stats.group(2):
                failures += 1
                print("%s draft model: the target as its own draft must accept every draft (%s)"
                      % (label, stats.group(0)))
            elif draft == "random" and conf == 0.0 and int(stats.group(1)) * 2 > int(stats.group(2)):
                failures += 1
                print("%s draft model: a random draft should be mostly rejected (%s)" % (label, stats.group(0)))
            else:
                print("%s draft model %s prompt %d k=%d confidence=%g chunk=%d: identical, %s, %s" % (
                    label, draft, pi, k, conf, chunk, stats.group(0) if stats else "no rounds",
                    calls.group(0) if calls else "-"))
    print("draft model %s: %d of %d runs with a separate draft model equal plain greedy decoding"
          % (label, cases - failures, cases))
    return failures + check_trees(tok_run, where, label, drafts, prompts[0])


def check_trees(tok_run, where, label, drafts, prompt):
    """Token trees (branch > 1): the chain of a model drafter plus the
    next branch - 1 tokens of each draft row as leaves, verified in one
    target call under a tree mask, the accepted path kept with
    tok.kv.commit. Token-identical to plain greedy decoding with a separate
    draft and with self-speculation, with the budget and an eos inside the
    tree."""
    plain, err = generate(tok_run, where + ["--prompt", prompt, "--max-new-tokens", "40", "--eos", "-1"])
    if plain is None:
        print("%s plain: failed: %s" % (label, err[-500:]))
        return 1
    eos = plain[len(plain) // 2]
    # (extra arguments, drafter, branch, k, max new, eos)
    runs = [(["--draft-model", drafts["first-2-layers"]], "model", 2, 4, 40, None),
            (["--draft-model", drafts["random"]], "model", 3, 3, 40, None),
            (["--draft-model", drafts["itself"]], "model", 2, 6, 40, eos),
            (["--draft-model", drafts["first-2-layers"]], "model", 3, 10, 5, None),
            (["--draft-skip=3,4,5"], "layer_skip", 2, 4, 40, None)]
    failures = 0
    for extra, kind, branch, k, new, stop in runs:
        want = plain[:new] if stop is None else plain[:plain.index(stop) + 1]
        got, err = generate(tok_run, where + [
            "--prompt", prompt, "--max-new-tokens", str(new), "--eos", str(stop if stop else -1)] + extra + [
            "--pipeline", "tok-speculative-decoding{drafter=%s k=%d branch=%d confidence=0}" % (kind, k, branch)])
        stats = re.search(r"(\d+) of (\d+) drafts accepted", err or "")
        if got != want:
            failures += 1
            print("%s tree %s branch=%d k=%d max=%d eos=%s: MISMATCH\n  got  %s\n  want %s\n%s"
                  % (label, kind, branch, k, new, stop, got, want, (err or "")[-800:]))
        elif stats is None and len(want) > 1:
            failures += 1
            print("%s tree %s branch=%d: no speculative statistics reported" % (label, kind, branch))
        else:
            print("%s tree %s branch=%d k=%d: identical, %s" % (
                label, kind, branch, k, stats.group(0) if stats else "no rounds"))
    print("trees %s: %d of %d token-tree runs equal plain greedy decoding" % (label, len(runs) - failures, len(runs)))
    return failures


def main():
    tok_run, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    rng = np.random.default_rng(3)
    if len(sys.argv) > 4 and sys.argv[3] == "--model":
        failures = check_generate(tok_run, sys.argv[4])
        failures += check_layer_skip(tok_run, sys.argv[4])
        failures += check_draft_model(tok_run, sys.argv[4], work)
    else:
        failures = check_drafts(tok_run, work, rng)
        failures += check_verify(tok_run, work, rng)
        failures += check_generate(tok_run, None)
        failures += check_layer_skip(tok_run, None)
        failures += check_draft_model(tok_run, None, work)
    print("%d failed" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
