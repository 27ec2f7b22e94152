"""JIT-compiled tok.kv_pool.write + tok.paged_attention against NumPy.

Usage: paged_attention_check.py TOK_RUN WORKDIR

Each case is a batch of sequences in one page pool: every sequence's pages
are drawn at random from the pool (so a sequence's positions are scattered
over non-adjacent, out-of-order pages), two sequences may share the pages
of a common prefix (written once), and the step's query rows are packed
from several sequences: decode rows (one position) next to prefill chunks
(several consecutive positions), in a shuffled order. All keys and values
are written with one tok.kv_pool.write (shared prefix slots once), then
tok.paged_attention computes the rows.

The reference (float64, written here without tok): for row t of sequence b
at position p, the keys and values of b's positions 0..p (as the mask
allows: window, sinks), softmax(scale * q.k) (soft-capped if asked) times
V. Tolerance: 1e-5 absolute + 1e-4 relative.

Run-time checks: a slot outside the pool, a page table entry outside it and
a row whose position runs past its table stop the program with a message
(not a wrong read).
"""
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from attention_check import dense, parse  # noqa: E402


def make_case(rng, hq, hk, d, pages, page_size, lengths, chunks, share=None, mask=None,
              scale=None, softcap=None):
    """lengths[b]: positions of sequence b after this step; chunks[b]: how
    many of its last positions are query rows this step (0: not in the
    step). share=(a, b, n): sequence b's first n pages are a's."""
    b_count = len(lengths)
    max_pages = max((n + page_size - 1) // page_size for n in lengths)
    free = list(rng.permutation(pages))
    tables = np.zeros((b_count, max_pages), np.int32)
    kv = {}  # slot -> (k [hk, d], v [hk, d])
    keys_of = []  # per sequence: [n, hk, d]
    vals_of = []
    for b, n in enumerate(lengths):
        need = (n + page_size - 1) // page_size
        shared = 0
        if share and share[1] == b:
            shared = share[2]
            tables[b, :shared] = tables[share[0], :shared]
        for i in range(shared, need):
            tables[b, i] = free.pop()
        # Stale entries past the sequence's pages: never read.
        for i in range(need, max_pages):
            tables[b, i] = 10 ** 6
        ks = rng.standard_normal((n, hk, d)).astype(np.float32)
        vs = rng.standard_normal((n, hk, d)).astype(np.float32)
        if shared:
            a = share[0]
            m = shared * page_size
            ks[:m] = keys_of[a][:m]
            vs[:m] = vals_of[a][:m]
        keys_of.append(ks)
        vals_of.append(vs)
        for p in range(n):
            slot = int(tables[b, p // page_size]) * page_size + p % page_size
            kv[slot] = (ks[p], vs[p])
    slots = np.array(sorted(kv), np.int32)
    k_all = np.stack([kv[s][0] for s in slots], axis=1)  # [hk, n, d]
    v_all = np.stack([kv[s][1] for s in slots], axis=1)
    rows = [(b, p) for b, (n, c) in enumerate(zip(lengths, chunks)) for p in range(n - c, n)]
    rows = [rows[i] for i in rng.permutation(len(rows))]
    q = rng.standard_normal((hq, len(rows), d)).astype(np.float32)
    return dict(hq=hq, hk=hk, d=d, pages=pages, page_size=page_size, tables=tables,
                slots=slots, k=k_all, v=v_all, q=q,
                row_seqs=np.array([r[0] for r in rows], np.int32),
                positions=np.array([r[1] for r in rows], np.int32),
                keys_of=keys_of, vals_of=vals_of, mask=mask or {}, scale=scale, softcap=softcap)


def reference(c):
    hq, hk, d = c["hq"], c["hk"], c["d"]
    g = hq // hk
    scale = c["scale"] if c["scale"] is not None else 1.0 / np.sqrt(d)
    out = np.zeros((hq, len(c["positions"]), d))
    window, sinks = c["mask"].get("window", 0), c["mask"].get("sinks", 0)
    for t, (b, p) in enumerate(zip(c["row_seqs"], c["positions"])):
        ks = c["keys_of"][b][: p + 1].astype(np.float64)
        vs = c["vals_of"][b][: p + 1].astype(np.float64)
        j = np.arange(p + 1)
        vis = np.ones(p + 1, bool)
        if window:
            vis = (p - j < window) | (j < sinks)
        for h in range(hq):
            z = ks[:, h // g] @ c["q"][h, t].astype(np.float64) * scale
            if c["softcap"]:
                z = c["softcap"] * np.tanh(z / c["softcap"])
            z = np.where(vis, z, -np.inf)
            e = np.exp(z - z.max())
            out[h, t] = (e / e.sum()) @ vs[:, h // g]
    return out


def module(c, bad=None):
    hq, hk, d = c["hq"], c["hk"], c["d"]
    t = len(c["positions"])
    n = len(c["slots"])
    pool = "!tok.kv_pool<%dx%dx%dx%dxf32>" % (hk, c["pages"], c["page_size"], d)
    slots, tables, positions = c["slots"].copy(), c["tables"].copy(), c["positions"].copy()
    if bad == "slot":
        slots[0] = c["pages"] * c["page_size"]
    if bad == "table":
        b, p = int(c["row_seqs"][0]), int(c["positions"][0])
        tables[b, p // c["page_size"]] = c["pages"]
    if bad == "position":
        positions[0] = tables.shape[1] * c["page_size"]
    lines = ["func.func private @printMemrefF32(tensor<*xf32>)", "func.func @main() {"]
    lines.append("  %%q0 = arith.constant %s : tensor<%dx%dx%dxf32>" % (dense(c["q"]), hq, t, d))
    lines.append("  %%k0 = arith.constant %s : tensor<%dx%dx%dxf32>" % (dense(c["k"]), hk, n, d))
    lines.append("  %%v0 = arith.constant %s : tensor<%dx%dx%dxf32>" % (dense(c["v"]), hk, n, d))
    lines.append("  %%s0 = arith.constant %s : tensor<%dxi32>" % (dense(slots), n))
    lines.append("  %%tb = arith.constant %s : tensor<%dx%dxi32>" % (dense(tables), *tables.shape))
    lines.append("  %%rs0 = arith.constant %s : tensor<%dxi32>" % (dense(c["row_seqs"]), t))
    lines.append("  %%ps0 = arith.constant %s : tensor<%dxi32>" % (dense(positions), t))
    # Dynamic token counts, as a batch step has them.
    lines.append("  %%q = tensor.cast %%q0 : tensor<%dx%dx%dxf32> to tensor<%dx?x%dxf32>" % (hq, t, d, hq, d))
    lines.append("  %%k = tensor.cast %%k0 : tensor<%dx%dx%dxf32> to tensor<%dx?x%dxf32>" % (hk, n, d, hk, d))
    lines.append("  %%v = tensor.cast %%v0 : tensor<%dx%dx%dxf32> to tensor<%dx?x%dxf32>" % (hk, n, d, hk, d))
    lines.append("  %%s = tensor.cast %%s0 : tensor<%dxi32> to tensor<?xi32>" % n)
    lines.append("  %%rs = tensor.cast %%rs0 : tensor<%dxi32> to tensor<?xi32>" % t)
    lines.append("  %%ps = tensor.cast %%ps0 : tensor<%dxi32> to tensor<?xi32>" % t)
    lines.append("  %%p0 = tok.kv_pool.empty : %s" % pool)
    lines.append("  %%p1 = tok.kv_pool.write %%p0, %%k, %%v, %%s : %s, tensor<%dx?x%dxf32>, "
                 "tensor<%dx?x%dxf32>, tensor<?xi32>" % (pool, hk, d, hk, d))
    m = "#tok.mask<causal"
    for key in ("window", "sinks"):
        if c["mask"].get(key):
            m += ", %s = %d" % (key, c["mask"][key])
    attrs = "mask = %s>" % m
    if c["scale"] is not None:
        attrs += ", scale = %.8e : f32" % c["scale"]
    if c["softcap"]:
        attrs += ", softcap = %.8e : f32" % c["softcap"]
    lines.append("  %%o = tok.paged_attention %%q, %%p1, %%tb, %%rs, %%ps {%s} : tensor<%dx?x%dxf32>, %s, "
                 "tensor<%dx%dxi32>, tensor<?xi32>, tensor<?xi32> -> tensor<%dx?x%dxf32>"
                 % (attrs, hq, d, pool, *tables.shape, hq, d))
    lines.append("  %%of = tensor.cast %%o : tensor<%dx?x%dxf32> to tensor<*xf32>" % (hq, d))
    lines.append("  call @printMemrefF32(%of) : (tensor<*xf32>) -> ()")
    lines += ["  return", "}"]
    return "\n".join(lines) + "\n"


def cases(rng):
    out = []
    # Decode rows of four sequences of different lengths, GQA 2.
    out.append(("decode, 4 sequences", make_case(rng, 8, 4, 16, 32, 4, [5, 17, 1, 30], [1, 1, 1, 1])))
    # Prefill chunks mixed with decodes (Sarathi), a sequence not in the step.
    out.append(("prefill chunks + decodes", make_case(rng, 4, 2, 32, 40, 8, [40, 9, 23, 64], [12, 1, 0, 7])))
    # Two sequences sharing a 2-page prefix, both decoding, one page each after.
    out.append(("shared prefix pages", make_case(rng, 4, 4, 16, 16, 8, [21, 19], [3, 1], share=(0, 1, 2))))
    # A window with sinks on positions (Gemma / Mistral local layers).
    out.append(("window + sinks", make_case(rng, 4, 2, 16, 24, 4, [50, 13], [5, 2],
                                            mask=dict(window=7, sinks=2))))
    # Soft-capping and an explicit scale; MQA (one KV head); page size 1.
    out.append(("softcap, scale, MQA, page size 1",
                make_case(rng, 6, 1, 8, 64, 1, [20, 33], [4, 1], scale=0.4, softcap=1.5)))
    # D = 128 (vector<128xf32> rows), 16-slot pages.
    out.append(("D = 128", make_case(rng, 2, 1, 128, 12, 16, [70, 33], [2, 17])))
    return out


def main():
    tok_run, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    rng = np.random.default_rng(7)
    failures = 0
    all_cases = cases(rng)
    for i, (name, c) in enumerate(all_cases):
        path = os.path.join(work, "case%d.mlir" % i)
        with open(path, "w") as f:
            f.write(module(c))
        run = subprocess.run([tok_run, path], capture_output=True, text=True)
        if run.returncode != 0:
            print("%s: tok-run failed: %s" % (name, run.stderr[-2000:]))
            failures += 1
            continue
        got = parse(run.stdout)[0]
        want = reference(c).reshape(-1)
        ok = got.shape == want.shape and bool(np.all(np.abs(got - want) <= 1e-5 + 1e-4 * np.abs(want)))
        err = float(np.abs(got - want).max()) if got.shape == want.shape else float("inf")
        print("%s: %s (max abs err %.3g)" % (name, "ok" if ok else "MISMATCH", err))
        failures += 0 if ok else 1
    for bad in ("slot", "table", "position"):
        path = os.path.join(work, "bad_%s.mlir" % bad)
        with open(path, "w") as f:
            f.write(module(all_cases[0][1], bad))
        run = subprocess.run([tok_run, path], capture_output=True, text=True)
        msg = [l for l in run.stderr.splitlines() if "tok." in l]
        print("bad %s: exit %s, %s" % (bad, "non-zero" if run.returncode else "0", msg[0].strip() if msg else run.stderr[-300:]))
    print("%d of %d cases within tolerance" % (len(all_cases) - failures, len(all_cases)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
