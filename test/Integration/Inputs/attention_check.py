"""Checks JIT-compiled tok.attention against an independent NumPy reference.

Usage: attention_check.py <tok-run> <work-dir>

The reference is the textbook definition, in float64: it expands the KV
heads for GQA (repeat_kv), builds the full T x S logit matrix, applies the
mask by brute force on positions (tree masks by an explicit ancestor set),
adds log(size), and takes a plain softmax; a row with no visible key gives
zeros. Received scores are column sums of the softmax over the counted rows,
weighted and summed over the query heads of each KV head.

Cases cover every mask kind, GQA group sizes 1, 2 and 8, prefill and
decode, length-1 inputs, sizes that are no multiple of the tile sizes (also
run with small tiles: 5 query rows, 7 keys), permuted cache slots, a fully
masked row, scores with all rows, the last rows and a decay, and f16.
Tolerance: |got - want| <= 1e-5 + 1e-4 |want| for f32 (the printout has 6
significant digits), 2e-3 + 1e-2 |want| for f16.

The bf16 prefill kernel (attention-dot=bf16: Q scaled then rounded to bf16,
K, V and the probabilities rounded to bf16, products accumulated in f32) is
checked against the same float64 reference run on the rounded inputs
(bf16(scale * q) / scale, bf16(k), bf16(v), rounded here with NumPy,
nearest even). What is left is the probabilities' rounding, relative 2^-9
each: |got - want| <= 2^-8 sum_j p_j |v_j| + 1e-5, the bound computed by
the reference with |v| in place of v. Decode rows (T < 16) stay f32 under
that option and keep the f32 tolerance.
"""

import os
import re
import subprocess
import sys

import numpy as np

SMALL_TILES = "convert-tok-to-linalg{query-tile=5 key-tile=7},tok-to-llvm"
# The general lowering where the vectorized kernels would apply.
GENERAL = "convert-tok-to-linalg{vector-attention=0 query-tile=5 key-tile=7},tok-to-llvm"


def bf16_round(a):
    """float32 -> nearest bf16 (ties to even), returned as float32."""
    bits = np.ascontiguousarray(a, np.float32).view(np.uint32).astype(np.uint64)
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
    return bits.astype(np.uint32).view(np.float32)


def bf16_inputs(c):
    """The case as the bf16 kernel multiplies it (float64 arrays), and the
    same with |v| for the error bound."""
    d = c["q"].shape[2]
    scale = np.float32(c.get("scale", 1.0 / np.sqrt(d)))
    r = dict(c)
    r["q"] = bf16_round(c["q"] * scale).astype(np.float64) / np.float64(scale)
    r["k"] = bf16_round(c["k"]).astype(np.float64)
    r["v"] = bf16_round(c["v"]).astype(np.float64)
    a = dict(r)
    a["v"] = np.abs(r["v"])
    return r, a


def reference(c):
    q, k, v = c["q"].astype(np.float64), c["k"].astype(np.float64), c["v"].astype(np.float64)
    hq, t, d = q.shape
    hk, s, _ = k.shape
    g = hq // hk
    kk = np.repeat(k, g, axis=0)
    vv = np.repeat(v, g, axis=0)
    scale = c.get("scale", 1.0 / np.sqrt(d))
    z = np.einsum("htd,hsd->hts", q, kk) * scale
    if "softcap" in c:
        z = c["softcap"] * np.tanh(z / c["softcap"])
    qpos = c.get("qpos", np.arange(s - t, s))
    kpos = c.get("kpos", np.arange(s))
    vis = np.ones((t, s), bool)
    mask = c["mask"]
    if mask["kind"] == "causal":
        vis = kpos[None, :] <= qpos[:, None]
        if mask.get("window"):
            inwin = (qpos[:, None] - kpos[None, :]) < mask["window"]
            if mask.get("sinks"):
                inwin |= kpos[None, :] < mask["sinks"]
            vis &= inwin
        if "parents" in c:
            par = c["parents"]
            for i in range(t):
                # A pointer that does not point backwards ends the walk
                # (tok.attention's rule for malformed trees: never a hang).
                anc, x = set(), i
                while x >= 0:
                    anc.add(x)
                    x = par[x] if par[x] < x else -1
                for j in range(t):
                    vis[i, s - t + j] = j in anc
    if "qseg" in c:
        vis &= c["qseg"][:, None] == c["kseg"][None, :]
    if "sizes" in c:
        z = z + np.log(c["sizes"].astype(np.float64))[None, None, :]
    z = np.where(vis[None], z, -np.inf)
    out = np.zeros((hq, t, v.shape[2]))
    p = np.zeros_like(z)
    for h in range(hq):
        for i in range(t):
            if vis[i].any():
                e = np.exp(z[h, i] - z[h, i].max())
                p[h, i] = e / e.sum()
                out[h, i] = p[h, i] @ vv[h]
    scores = None
    if "scores" in c:
        rows, decay = c["scores"]
        w = decay ** (t - 1 - np.arange(t))
        if rows:
            w = np.where(np.arange(t) >= t - rows, w, 0.0)
        per_q = np.einsum("hts,t->hs", p, w)
        scores = per_q.reshape(hk, g, s).sum(axis=1)
    return out, scores


def dense(a):
    return "dense<%s>" % np.array2string(
        a, separator=", ", threshold=sys.maxsize, floatmode="unique"
    ).replace("\n", "")


def ttype(shape, elem):
    return "tensor<%sx%s>" % ("x".join(str(x) for x in shape), elem)


def module(c):
    et = c.get("dtype", "f32")
    qt, kt, vt = (ttype(c[n].shape, et) for n in "qkv")
    hq, t, _ = c["q"].shape
    hk, s, _ = c["k"].shape
    ot = ttype((hq, t, c["v"].shape[2]), et)
    lines = ["func.func private @printMemrefF32(tensor<*xf32>)", "func.func @main() {"]
    for n in "qkv":
        lines.append("  %%%s = arith.constant %s : %s" % (n, dense(c[n]), ttype(c[n].shape, et)))
    extra = ""
    if "qpos" in c:
        lines.append("  %%qp = arith.constant %s : tensor<%dxi32>" % (dense(c["qpos"].astype(np.int32)), t))
        lines.append("  %%kp = arith.constant %s : tensor<%dxi32>" % (dense(c["kpos"].astype(np.int32)), s))
        extra += " positions(%%qp, %%kp : tensor<%dxi32>, tensor<%dxi32>)" % (t, s)
    if "parents" in c:
        lines.append("  %%par = arith.constant %s : tensor<%dxi32>" % (dense(np.array(c["parents"], np.int32)), t))
        extra += " tree(%%par : tensor<%dxi32>)" % t
    if "qseg" in c:
        lines.append("  %%qs = arith.constant %s : tensor<%dxi32>" % (dense(c["qseg"].astype(np.int32)), t))
        lines.append("  %%ks = arith.constant %s : tensor<%dxi32>" % (dense(c["kseg"].astype(np.int32)), s))
        extra += " segments(%%qs, %%ks : tensor<%dxi32>, tensor<%dxi32>)" % (t, s)
    if "sizes" in c:
        lines.append("  %%sz = arith.constant %s : tensor<%dxf32>" % (dense(c["sizes"]), s))
        extra += " sizes(%%sz : tensor<%dxf32>)" % s
    m = c["mask"]
    mask = "#tok.mask<%s" % m["kind"]
    for key in ("window", "sinks"):
        if m.get(key):
            mask += ", %s = %d" % (key, m[key])
    if "qseg" in c:
        mask += ", block_diagonal = true"
    mask += ">"
    attrs = "mask = %s" % mask
    if "scale" in c:
        attrs += ", scale = %.8e : f32" % c["scale"]
    if "softcap" in c:
        attrs += ", softcap = %.8e : f32" % c["softcap"]
    results, rtypes = "%o", ot
    if "scores" in c:
        rows, decay = c["scores"]
        attrs += ", scores = #tok.scores<rows = %d, decay = %.8e>" % (rows, decay)
        results, rtypes = "%o, %s", "%s, tensor<%dx%dxf32>" % (ot, hk, s)
    lines.append("  %s = tok.attention %%q, %%k, %%v%s {%s} : %s, %s, %s -> %s"
                 % (results, extra, attrs, qt, kt, vt, rtypes))
    if et == "f32":
        lines.append("  %%of = tensor.cast %%o : %s to tensor<*xf32>" % ot)
    else:
        ft = ttype((hq, t, c["v"].shape[2]), "f32")
        lines.append("  %%e = tensor.empty() : %s" % ft)
        lines.append(
            "  %%w = linalg.generic {indexing_maps = [affine_map<(a, b, c) -> (a, b, c)>, "
            "affine_map<(a, b, c) -> (a, b, c)>], iterator_types = [\"parallel\", \"parallel\", "
            "\"parallel\"]} ins(%%o : %s) outs(%%e : %s) {\n  ^bb0(%%x: %s, %%y: f32):\n"
            "    %%z = arith.extf %%x : %s to f32\n    linalg.yield %%z : f32\n  } -> %s"
            % (ot, ft, et, et, ft))
        lines.append("  %%of = tensor.cast %%w : %s to tensor<*xf32>" % ft)
    lines.append("  call @printMemrefF32(%of) : (tensor<*xf32>) -> ()")
    if "scores" in c:
        lines.append("  %%sf = tensor.cast %%s : tensor<%dx%dxf32> to tensor<*xf32>" % (hk, s))
        lines.append("  call @printMemrefF32(%sf) : (tensor<*xf32>) -> ()")
    lines += ["  return", "}"]
    return "\n".join(lines) + "\n"


def parse(text):
    blocks = text.split("Unranked Memref")[1:]
    num = r"-?(?:nan|inf|\d+\.?\d*(?:e[-+]?\d+)?)"
    return [np.array([float(x) for x in re.findall(num, blk.split("data =", 1)[1])]) for blk in blocks]


def cases(rng):
    def qkv(hq, hk, t, s, d, dv=None):
        dv = dv or d
        return dict(q=rng.standard_normal((hq, t, d)).astype(np.float32),
                    k=rng.standard_normal((hk, s, d)).astype(np.float32),
                    v=rng.standard_normal((hk, s, dv)).astype(np.float32))
    out = []
    out.append(("causal prefill GQA 2", dict(qkv(4, 2, 37, 37, 16), mask=dict(kind="causal"))))
    out.append(("causal prefill small tiles", dict(qkv(4, 2, 37, 37, 16), mask=dict(kind="causal"), pipeline=SMALL_TILES)))
    out.append(("full, sizes, G=1", dict(qkv(3, 3, 20, 20, 8), mask=dict(kind="full"),
                                         sizes=rng.integers(1, 5, 20).astype(np.float32))))
    out.append(("decode MQA G=8", dict(qkv(8, 1, 1, 70, 16), mask=dict(kind="causal"))))
    out.append(("length 1", dict(qkv(2, 1, 1, 1, 4), mask=dict(kind="causal"))))
    out.append(("window + sinks", dict(qkv(4, 2, 50, 50, 8), mask=dict(kind="causal", window=8, sinks=3), pipeline=SMALL_TILES)))
    # Without sinks the key loop starts at the first row's window.
    out.append(("window, no sinks", dict(qkv(2, 1, 43, 60, 8), mask=dict(kind="causal", window=9), pipeline=SMALL_TILES)))
    # A non-contiguous cache: slots permuted together with their positions.
    c = dict(qkv(4, 2, 6, 30, 8), mask=dict(kind="causal"))
    perm = rng.permutation(30)
    c["kpos"] = perm.astype(np.int32)
    c["qpos"] = np.arange(24, 30, dtype=np.int32)
    out.append(("permuted cache slots", c))
    c = dict(qkv(2, 2, 4, 10, 8), mask=dict(kind="causal"))
    c["qpos"] = np.array([0, 5, 9, 3], np.int32)
    c["kpos"] = np.arange(1, 11, dtype=np.int32)
    out.append(("fully masked row", c))
    c = dict(qkv(4, 2, 30, 30, 8), mask=dict(kind="causal"), pipeline=SMALL_TILES)
    c["qseg"] = c["kseg"] = np.array([0] * 10 + [1] * 12 + [2] * 8, np.int32)
    out.append(("block diagonal", c))
    c = dict(qkv(4, 2, 6, 14, 8), mask=dict(kind="causal"), pipeline=SMALL_TILES)
    c["parents"] = [-1, 0, 0, 1, 2, 1]
    out.append(("tree", c))
    # Malformed: node 1 points forward, node 4 at itself.
    c = dict(qkv(2, 1, 5, 9, 8), mask=dict(kind="causal"))
    c["parents"] = [-1, 3, 0, 2, 4]
    out.append(("malformed tree terminates", c))
    c = dict(qkv(4, 2, 21, 21, 8), mask=dict(kind="causal"), scores=(0, 1.0), pipeline=SMALL_TILES)
    out.append(("scores, all rows", c))
    c = dict(qkv(8, 2, 9, 40, 8), mask=dict(kind="causal"), scores=(3, 1.0))
    out.append(("scores, last 3 rows", c))
    c = dict(qkv(2, 1, 12, 12, 8), mask=dict(kind="full"), scores=(0, 0.5), scale=0.3)
    out.append(("scores, decay, explicit scale", c))
    # The vectorized kernels (f32, head dims multiples of 16): prefill from
    # 16 query rows (8-row blocks, 32-key tiles), row at a time below.
    out.append(("causal prefill GQA 2, general lowering",
                dict(qkv(4, 2, 37, 37, 16), mask=dict(kind="causal"), pipeline=GENERAL)))
    out.append(("vector prefill GQA 3, Dv = 48",
                dict(qkv(6, 2, 45, 45, 32, 48), mask=dict(kind="causal"))))
    out.append(("vector prefill T < S, window + sinks",
                dict(qkv(2, 1, 20, 75, 16), mask=dict(kind="causal", window=10, sinks=2))))
    out.append(("vector prefill window, no sinks",
                dict(qkv(2, 2, 40, 40, 16), mask=dict(kind="causal", window=9))))
    out.append(("vector prefill S < 16",
                dict(qkv(2, 1, 16, 16, 16), mask=dict(kind="full"), scale=0.2)))
    out.append(("vector prefill full mask, T < S",
                dict(qkv(3, 1, 18, 33, 64), mask=dict(kind="full"))))
    out.append(("vector decode rows, full mask",
                dict(qkv(2, 2, 3, 40, 16, 32), mask=dict(kind="full"))))
    out.append(("vector decode window + sinks",
                dict(qkv(4, 4, 1, 90, 32), mask=dict(kind="causal", window=20, sinks=4))))
    out.append(("vector length 1", dict(qkv(2, 1, 1, 1, 16), mask=dict(kind="causal"))))
    # ToMe key sizes (log size added to the logits) in both kernels; S is
    # no multiple of 32, so the padded log-size reads past S are exercised.
    out.append(("vector prefill, sizes",
                dict(qkv(4, 2, 45, 45, 32), mask=dict(kind="full"),
                     sizes=rng.integers(1, 6, 45).astype(np.float32))))
    out.append(("vector decode, sizes",
                dict(qkv(2, 1, 5, 37, 16), mask=dict(kind="full"),
                     sizes=rng.integers(1, 6, 37).astype(np.float32))))
    for t, name in ((17, "vector prefill"), (3, "vector decode")):
        c = dict(qkv(4, 2, t, 50, 16), mask=dict(kind="causal", window=30, sinks=2))
        perm = rng.permutation(50)
        c["kpos"] = perm.astype(np.int32)
        c["qpos"] = np.arange(50 - t, 50, dtype=np.int32)
        c["qpos"][0] = 0  # sees only the key at position 0
        out.append(("%s, permuted cache slots" % name, c))
    c = dict(qkv(2, 1, 16, 20, 16), mask=dict(kind="causal"))
    c["qpos"] = np.arange(4, 20, dtype=np.int32)
    c["qpos"][3] = -1  # no visible key: zeros
    c["kpos"] = np.arange(20, dtype=np.int32)
    out.append(("vector prefill, fully masked row", c))
    # Received scores in the vectorized prefill kernel (12-row blocks,
    # padded rows weigh 0; tiles past S; last rows and decay; with sizes).
    c = dict(qkv(4, 2, 37, 37, 16), mask=dict(kind="causal"), scores=(0, 1.0))
    out.append(("vector prefill scores, GQA 2", c))
    c = dict(qkv(2, 1, 40, 50, 16), mask=dict(kind="causal", window=12, sinks=2),
             scores=(5, 0.9))
    out.append(("vector prefill scores, last rows + decay, window", c))
    c = dict(qkv(2, 2, 20, 45, 32), mask=dict(kind="full"), scores=(0, 1.0),
             sizes=rng.integers(1, 6, 45).astype(np.float32))
    out.append(("vector prefill scores + sizes", c))
    # Received scores: the vectorized row-at-a-time kernel below 16 rows
    # (decode), the prefill kernel from 16 rows.
    out.append(("vector decode scores, GQA 2",
                dict(qkv(4, 2, 1, 45, 16), mask=dict(kind="causal"), scores=(0, 1.0))))
    out.append(("vector rows scores, last 2 rows, decay",
                dict(qkv(2, 1, 5, 37, 32), mask=dict(kind="causal", window=12, sinks=2), scores=(2, 0.5))))
    out.append(("scores from 16 rows, general lowering",
                dict(qkv(2, 1, 18, 30, 16), mask=dict(kind="causal"), scores=(0, 1.0))))
    # The prefill kernel in bf16 (pair dot products; vdpbf16ps on this
    # host, the generic contraction forced), decode rows unchanged.
    bf16 = "tok-to-llvm{attention-dot=bf16}"
    generic = "tok-to-llvm{attention-dot=bf16 bf16-instruction=generic}"
    out.append(("bf16 prefill GQA 2, Dv = 48",
                dict(qkv(4, 2, 37, 37, 32, 48), mask=dict(kind="causal"), pipeline=bf16, bf16=True)))
    out.append(("bf16 prefill generic instruction",
                dict(qkv(4, 2, 37, 37, 32, 48), mask=dict(kind="causal"), pipeline=generic, bf16=True)))
    out.append(("bf16 prefill T < S, odd S, window + sinks",
                dict(qkv(2, 1, 20, 75, 16), mask=dict(kind="causal", window=10, sinks=2),
                     pipeline=bf16, bf16=True)))
    out.append(("bf16 prefill full mask, D = 64, explicit scale",
                dict(qkv(3, 1, 18, 33, 64), mask=dict(kind="full"), scale=0.3, pipeline=bf16, bf16=True)))
    c = dict(qkv(2, 2, 20, 45, 32), mask=dict(kind="full"), scores=(0, 1.0),
             sizes=rng.integers(1, 6, 45).astype(np.float32), pipeline=bf16, bf16=True)
    out.append(("bf16 prefill scores + sizes", c))
    c = dict(qkv(2, 1, 300, 300, 128), mask=dict(kind="causal"), pipeline=bf16, bf16=True)
    c["v"] = c["v"] * 100.0
    out.append(("bf16 prefill 300 rows, D = 128, large values", c))
    out.append(("bf16 option, decode rows stay f32",
                dict(qkv(4, 2, 5, 40, 16), mask=dict(kind="causal"), pipeline=bf16)))
    # Gemma 2's soft-capping (c tanh(z / c), before the mask), at a cap the
    # logits of 3x larger queries cross: the general lowering, both vector
    # kernels (with a window, as Gemma's local layers), the bf16 prefill.
    for name, t, extra in (("general", 9, dict(pipeline=GENERAL)),
                           ("vector prefill", 33, {}),
                           ("vector decode", 2, {}),
                           ("bf16 prefill", 33, dict(pipeline=bf16, bf16=True))):
        c = dict(qkv(4, 2, t, 50, 32), mask=dict(kind="causal", window=24), softcap=1.5, **extra)
        c["q"] = c["q"] * 3.0
        out.append(("softcap, " + name, c))
    c = dict(qkv(4, 2, 19, 19, 16), mask=dict(kind="causal"), dtype="f16")
    for n in "qkv":
        c[n] = c[n].astype(np.float16).astype(np.float32)
    out.append(("f16", c))
    return out


def main():
    tok_run, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    rng = np.random.default_rng(1)
    failures = 0
    all_cases = cases(rng)
    for i, (name, c) in enumerate(all_cases):
        path = os.path.join(work, "case%d.mlir" % i)
        with open(path, "w") as f:
            f.write(module(c))
        cmd = [tok_run, path]
        if "pipeline" in c:
            cmd.append("--pipeline=" + c["pipeline"])
        run = subprocess.run(cmd, capture_output=True, text=True)
        if run.returncode != 0:
            print("%s: tok-run failed: %s" % (name, run.stderr[-2000:]))
            failures += 1
            continue
        got = parse(run.stdout)
        if c.get("bf16"):
            rounded, magnitudes = bf16_inputs(c)
            want_o, want_s = reference(rounded)
            bound_o, bound_s = reference(magnitudes)
            # Received scores come from the f32 logits of the rounded Q, K.
            bounds = [2.0 ** -8 * bound_o.reshape(-1) + 1e-5]
            if want_s is not None:
                bounds.append(1e-5 + 1e-4 * np.abs(want_s.reshape(-1)))
        else:
            want_o, want_s = reference(c)
        wants = [want_o.reshape(-1)] + ([want_s.reshape(-1)] if want_s is not None else [])
        rtol, atol = (1e-2, 2e-3) if c.get("dtype") == "f16" else (1e-4, 1e-5)
        if not c.get("bf16"):
            bounds = [atol + rtol * np.abs(w) for w in wants]
        ok = len(got) == len(wants)
        worst = 0.0
        for g, w, bound in zip(got, wants, bounds):
            if g.shape != w.shape or not np.all(np.isfinite(g)):
                ok = False
                continue
            err = np.abs(g - w)
            worst = max(worst, float(err.max()))
            ok &= bool(np.all(err <= bound))
        print("%s: %s (max abs err %.3g)" % (name, "ok" if ok else "MISMATCH", worst))
        failures += 0 if ok else 1
    print("%d of %d cases within tolerance" % (len(all_cases) - failures, len(all_cases)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
