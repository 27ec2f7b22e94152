"""A one-layer decoder written in tok IR, generated with seeded random
weights, run with tok-run and checked against a NumPy forward pass.

Usage:
  tiny_decoder.py check <tok-run> <work-dir>   run it and compare tokens
  tiny_decoder.py emit <file.mlir>             write the module (seed 0)

The module exercises the ops of a real decode loop together: embed,
rms_norm, linear, rope (half-split), kv.append into a cache, cached causal
attention with GQA (2 query heads, 1 KV head), residual adds, greedy
sampling, and an scf.for generation loop that carries the cache. @step is a
private function that takes and returns the cache (so bufferization updates
it in place). The reference is an independent NumPy implementation of the
same model (float64, full causal attention over the token history).
"""

import os
import re
import subprocess
import sys

import numpy as np

V, E, HQ, HK, D, CAP = 16, 8, 2, 1, 4, 32
PROMPT = [1, 5, 9, 3]
NEW = 8


def weights(seed):
    rng = np.random.default_rng(seed)
    f = lambda *s: (rng.standard_normal(s) / np.sqrt(s[-1])).astype(np.float32)
    return dict(emb=f(V, E), wq=f(HQ * D, E), wk=f(HK * D, E), wv=f(HK * D, E),
                wo=f(E, HQ * D), n1=(1 + 0.1 * rng.standard_normal(E)).astype(np.float32),
                n2=(1 + 0.1 * rng.standard_normal(E)).astype(np.float32), head=f(V, E) * 4)


def rmsnorm(x, w):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + 1e-5) * w


def rope(x, pos):  # x [H, T, D], half-split pairing, theta 10000
    j = np.arange(D // 2)
    ang = pos[:, None] * 10000.0 ** (-2.0 * j / D)
    c, s = np.cos(ang)[None], np.sin(ang)[None]
    a, b = x[..., : D // 2], x[..., D // 2:]
    return np.concatenate([a * c - b * s, b * c + a * s], -1)


def reference(w):
    w = {k: v.astype(np.float64) for k, v in w.items()}
    tokens = list(PROMPT)
    keys, values = [], []

    def forward(ids, pos):
        h = w["emb"][ids]
        x = rmsnorm(h, w["n1"])
        q = (x @ w["wq"].T).reshape(len(ids), HQ, D).transpose(1, 0, 2)
        k = (x @ w["wk"].T).reshape(len(ids), HK, D).transpose(1, 0, 2)
        v = (x @ w["wv"].T).reshape(len(ids), HK, D).transpose(1, 0, 2)
        q, k = rope(q, pos), rope(k, pos)
        keys.append(k)
        values.append(v)
        K, Vv = np.concatenate(keys, 1), np.concatenate(values, 1)
        kpos = np.arange(K.shape[1])
        out = np.zeros((HQ, len(ids), D))
        for hq in range(HQ):
            z = q[hq] @ K[hq * HK // HQ].T / np.sqrt(D)
            z = np.where(kpos[None, :] <= pos[:, None], z, -np.inf)
            p = np.exp(z - z.max(-1, keepdims=True))
            out[hq] = (p / p.sum(-1, keepdims=True)) @ Vv[hq * HK // HQ]
        h = h + out.transpose(1, 0, 2).reshape(len(ids), HQ * D) @ w["wo"].T
        return rmsnorm(h, w["n2"]) @ w["head"].T

    logits = forward(np.array(PROMPT), np.arange(len(PROMPT)))
    generated = []
    nxt = int(np.argmax(logits[-1]))
    for i in range(NEW):
        generated.append(nxt)
        logits = forward(np.array([nxt]), np.array([len(PROMPT) + i]))
        nxt = int(np.argmax(logits[-1]))
    return generated


def dense(a):
    return "dense<%s>" % np.array2string(a, separator=", ", threshold=sys.maxsize,
                                         floatmode="unique").replace("\n", "")


def module(w):
    cache = "!tok.kv_cache<%dx%dx%dxf32>" % (HK, CAP, D)
    L = []
    L.append("// A one-layer decoder in tok IR (seeded random weights), generating")
    L.append("// %d tokens greedily after a %d-token prompt. Written by" % (NEW, len(PROMPT)))
    L.append("// test/Integration/Inputs/tiny_decoder.py, which checks the tokens")
    L.append("// against a NumPy forward pass.")
    L.append("")
    L.append("// One forward pass over new tokens at `pos`; returns the logits and")
    L.append("// the cache with the tokens' keys and values appended.")
    L.append("func.func private @step(%%ids: tensor<?xi32>, %%pos: tensor<?xi32>, %%c: %s)" % cache)
    L.append("    -> (tensor<?x%dxf32>, %s) {" % (V, cache))
    for name, shape in (("emb", (V, E)), ("wq", (HQ * D, E)), ("wk", (HK * D, E)), ("wv", (HK * D, E)),
                        ("wo", (E, HQ * D)), ("n1", (E,)), ("n2", (E,)), ("head", (V, E))):
        L.append("  %%%s = arith.constant %s : tensor<%sxf32>" % (name, dense(w[name]), "x".join(map(str, shape))))
    L += [
        "  %c0 = arith.constant 0 : index",
        "  %t = tensor.dim %ids, %c0 : tensor<?xi32>",
        "  %%h = tok.embed %%emb[%%ids] : tensor<%dx%dxf32>, tensor<?xi32>" % (V, E),
        "  %%x = tok.rms_norm %%h, %%n1 : tensor<?x%dxf32>, tensor<%dxf32>" % (E, E),
    ]
    for nm, heads in (("q", HQ), ("k", HK), ("v", HK)):
        L += [
            "  %%%s0 = tok.linear %%x, %%w%s : tensor<?x%dxf32>, tensor<%dx%dxf32>" % (nm, nm, E, heads * D, E),
            "  %%%s1 = tensor.expand_shape %%%s0 [[0], [1, 2]] output_shape [%%t, %d, %d] : tensor<?x%dxf32> into tensor<?x%dx%dxf32>"
            % (nm, nm, heads, D, heads * D, heads, D),
            "  %%%se = tensor.empty(%%t) : tensor<%dx?x%dxf32>" % (nm, heads, D),
            "  %%%s2 = linalg.transpose ins(%%%s1 : tensor<?x%dx%dxf32>) outs(%%%se : tensor<%dx?x%dxf32>) permutation = [1, 0, 2]"
            % (nm, nm, heads, D, nm, heads, D),
        ]
    L += [
        "  %%q = tok.rope %%q2, %%pos : tensor<%dx?x%dxf32>, tensor<?xi32>" % (HQ, D),
        "  %%k = tok.rope %%k2, %%pos : tensor<%dx?x%dxf32>, tensor<?xi32>" % (HK, D),
        "  %%c1 = tok.kv.append %%c, %%k, %%v2, %%pos : %s, tensor<%dx?x%dxf32>, tensor<%dx?x%dxf32>, tensor<?xi32>"
        % (cache, HK, D, HK, D),
        "  %%a = tok.cached_attention %%q, %%c1, %%pos {mask = #tok.mask<causal>} : tensor<%dx?x%dxf32>, %s, tensor<?xi32> -> tensor<%dx?x%dxf32>"
        % (HQ, D, cache, HQ, D),
        "  %%ae = tensor.empty(%%t) : tensor<?x%dx%dxf32>" % (HQ, D),
        "  %%a1 = linalg.transpose ins(%%a : tensor<%dx?x%dxf32>) outs(%%ae : tensor<?x%dx%dxf32>) permutation = [1, 0, 2]"
        % (HQ, D, HQ, D),
        "  %%a2 = tensor.collapse_shape %%a1 [[0], [1, 2]] : tensor<?x%dx%dxf32> into tensor<?x%dxf32>" % (HQ, D, HQ * D),
        "  %%o = tok.linear %%a2, %%wo : tensor<?x%dxf32>, tensor<%dx%dxf32>" % (HQ * D, E, HQ * D),
        "  %%r = arith.addf %%h, %%o : tensor<?x%dxf32>" % E,
        "  %%y = tok.rms_norm %%r, %%n2 : tensor<?x%dxf32>, tensor<%dxf32>" % (E, E),
        "  %%logits = tok.linear %%y, %%head : tensor<?x%dxf32>, tensor<%dx%dxf32>" % (E, V, E),
        "  return %%logits, %%c1 : tensor<?x%dxf32>, %s" % (V, cache),
        "}",
        "",
        "// The greedy token after the last row of `logits`.",
        "func.func private @next(%%logits: tensor<?x%dxf32>) -> tensor<1xi32> {" % V,
        "  %c0 = arith.constant 0 : index",
        "  %c1 = arith.constant 1 : index",
        "  %%t = tensor.dim %%logits, %%c0 : tensor<?x%dxf32>" % V,
        "  %last = arith.subi %t, %c1 : index",
        "  %%row = tensor.extract_slice %%logits[%%last, 0] [1, %d] [1, 1] : tensor<?x%dxf32> to tensor<1x%dxf32>" % (V, V, V),
        "  %%tok = tok.sample %%row {sampler = #tok.sampler<>} : tensor<1x%dxf32>" % V,
        "  return %tok : tensor<1xi32>",
        "}",
        "",
        "// The generated tokens (tok-run prints the result).",
        "func.func @main() -> tensor<%dxi32> {" % NEW,
        "  %%prompt = arith.constant dense<%s> : tensor<%dxi32>" % (PROMPT, len(PROMPT)),
        "  %%ppos = arith.constant dense<%s> : tensor<%dxi32>" % (list(range(len(PROMPT))), len(PROMPT)),
        "  %%p = tensor.cast %%prompt : tensor<%dxi32> to tensor<?xi32>" % len(PROMPT),
        "  %%pp = tensor.cast %%ppos : tensor<%dxi32> to tensor<?xi32>" % len(PROMPT),
        "  %%c0 = tok.kv.empty : %s" % cache,
        "  %%l0, %%c1 = call @step(%%p, %%pp, %%c0) : (tensor<?xi32>, tensor<?xi32>, %s) -> (tensor<?x%dxf32>, %s)"
        % (cache, V, cache),
        "  %%firstv = call @next(%%l0) : (tensor<?x%dxf32>) -> tensor<1xi32>" % V,
        "  %z = arith.constant 0 : index",
        "  %first = tensor.extract %firstv[%z] : tensor<1xi32>",
        "  %%out0 = tensor.empty() : tensor<%dxi32>" % NEW,
        "  %lb = arith.constant 0 : index",
        "  %%ub = arith.constant %d : index" % NEW,
        "  %one = arith.constant 1 : index",
        "  %%start = arith.constant %d : i32" % len(PROMPT),
        "  %%gen:3 = scf.for %%i = %%lb to %%ub step %%one iter_args(%%tv = %%first, %%cache = %%c1, %%out = %%out0)"
        " -> (i32, %s, tensor<%dxi32>) {" % (cache, NEW),
        "    %%out1 = tensor.insert %%tv into %%out[%%i] : tensor<%dxi32>" % NEW,
        "    %tok = tensor.from_elements %tv : tensor<1xi32>",
        "    %ii = arith.index_cast %i : index to i32",
        "    %pv = arith.addi %start, %ii : i32",
        "    %pos = tensor.from_elements %pv : tensor<1xi32>",
        "    %t1 = tensor.cast %tok : tensor<1xi32> to tensor<?xi32>",
        "    %p1 = tensor.cast %pos : tensor<1xi32> to tensor<?xi32>",
        "    %%l, %%c2 = func.call @step(%%t1, %%p1, %%cache) : (tensor<?xi32>, tensor<?xi32>, %s) -> (tensor<?x%dxf32>, %s)"
        % (cache, V, cache),
        "    %%nv = func.call @next(%%l) : (tensor<?x%dxf32>) -> tensor<1xi32>" % V,
        "    %zero = arith.constant 0 : index",
        "    %n = tensor.extract %nv[%zero] : tensor<1xi32>",
        "    scf.yield %%n, %%c2, %%out1 : i32, %s, tensor<%dxi32>" % (cache, NEW),
        "  }",
        "  return %%gen#2 : tensor<%dxi32>" % NEW,
        "}",
    ]
    return "\n".join(L) + "\n"


def main():
    if sys.argv[1] == "emit":
        with open(sys.argv[2], "w") as f:
            f.write(module(weights(0)))
        return 0
    tok_run, work = sys.argv[2], sys.argv[3]
    os.makedirs(work, exist_ok=True)
    failures = 0
    for seed in (0, 1, 2):
        w = weights(seed)
        path = os.path.join(work, "decoder%d.mlir" % seed)
        with open(path, "w") as f:
            f.write(module(w))
        r = subprocess.run([tok_run, path], capture_output=True, text=True)
        want = reference(w)
        if r.returncode != 0:
            print("seed %d: tok-run failed: %s" % (seed, r.stderr[-2000:]))
            failures += 1
            continue
        got = [int(x) for x in re.findall(r"-?\d+", r.stdout.split("=", 1)[1])]
        ok = got == want
        print("seed %d: %s (tok %s, numpy %s)" % (seed, "ok" if ok else "MISMATCH", got, want))
        failures += 0 if ok else 1
    print("%d of 3 generations identical" % (3 - failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
