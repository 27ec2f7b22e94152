"""tok.merge, tok.unmerge and tok.prune, JIT-compiled through tok-run,
against a separately written NumPy statement of ToMe's bipartite soft
matching (docs/algorithms.md, "Bipartite soft matching (ToMe)") and of
score pruning ("Score pruning").

usage: token_ops_check.py <tok-run> <work dir>

Exact: the map, the kept indices and the merged sizes. Merged rows within
1e-5 (relative to the row scale) of the float64 reference; pruned rows
bitwise.
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from jit_entry import run_entry  # noqa: E402

tok_run, work = sys.argv[1], sys.argv[2]
os.makedirs(work, exist_ok=True)


def ref_merge(x, m, s, r, p):
    """ToMe bipartite soft matching; returns (rows, sizes, map)."""
    t = len(x)
    r = min(r, max(0, (t - p) // 2))
    a_set = [i for i in range(p, t) if i % 2 == 0]
    b_set = [i for i in range(p, t) if i % 2 == 1]
    norms = np.sqrt((m.astype(np.float64) ** 2).sum(1))
    best, dst = {}, {}
    for a in a_set:
        best[a], dst[a] = -np.inf, None
        for b in b_set:
            c = float(m[a].astype(np.float64) @ m[b]) / max(norms[a] * norms[b],
                                                            1e-30)
            if c > best[a]:  # first b wins ties
                best[a], dst[a] = c, b
    order = sorted(a_set, key=lambda a: (-best[a], a))
    sources = set(order[:r])
    kept = [i for i in range(t) if i not in sources]
    out_of = {i: k for k, i in enumerate(kept)}
    mp = np.array([out_of[dst[i]] if i in sources else out_of[i]
                   for i in range(t)], dtype=np.int32)
    rows = np.zeros((len(kept), x.shape[1]))
    sizes = np.zeros(len(kept))
    for i in range(t):
        rows[mp[i]] += s[i] * x[i].astype(np.float64)
        sizes[mp[i]] += s[i]
    return rows / sizes[:, None], sizes, mp


def ref_pitome(x, m, s, r, p, margin):
    """PiToMe (docs/algorithms.md, "PiToMe"): energy-ranked sources and
    destinations; returns (rows, sizes, map)."""
    t = len(x)
    r = min(r, max(0, (t - p) // 2))
    m64 = m.astype(np.float64)
    norms = np.sqrt((m64 ** 2).sum(1))
    cos = (m64 @ m64.T) / np.maximum(np.outer(norms, norms), 1e-30)
    free = list(range(p, t))
    elu = lambda v: v if v > 0 else np.exp(v) - 1.0  # noqa: E731
    energy = {i: sum(elu(cos[i, j] - margin) for j in free) / len(free)
              for i in free}
    ranked = sorted(free, key=lambda i: (-energy[i], i))[:2 * r]
    sources, dests = ranked[0::2], set(ranked[1::2])
    dst = {}
    for a in sources:
        best = -np.inf
        for b in range(p, t):  # the first most similar destination
            if b in dests and cos[a, b] > best:
                best, dst[a] = cos[a, b], b
    kept = [i for i in range(t) if i not in dst]
    out_of = {i: k for k, i in enumerate(kept)}
    mp = np.array([out_of[dst.get(i, i)] for i in range(t)], dtype=np.int32)
    rows = np.zeros((len(kept), x.shape[1]))
    sizes = np.zeros(len(kept))
    for i in range(t):
        rows[mp[i]] += s[i] * x[i].astype(np.float64)
        sizes[mp[i]] += s[i]
    return rows / sizes[:, None], sizes, mp


def ref_prune(x, scores, keep, pf, pl):
    t = len(x)
    n = min(max(int(np.ceil(keep * t - max(1e-9, keep * t * 1e-6))), pf + pl),
            t)
    free = max(n - pf - pl, 0)
    middle = list(range(pf, t - pl))
    ranked = sorted(middle, key=lambda i: (-scores[i], i))[:free]
    idx = sorted(set(range(min(pf, t))) | set(range(max(t - pl, 0), t))
                 | set(ranked))
    return x[idx], np.array(idx, dtype=np.int32)


MERGE = """
func.func @f(%x: tensor<?x{E}xf32>, %m: tensor<?x{M}xf32>, %s: tensor<?xf32>)
    -> (tensor<?x{E}xf32>, tensor<?xf32>, tensor<?xi32>, tensor<?x{E}xf32>) {{
  %y, %sz, %map = tok.merge %x, %m sizes(%s : tensor<?xf32>) {{r = {R} : i64,
      protect_first = {P} : i64{EXTRA}}} : tensor<?x{E}xf32>, tensor<?x{M}xf32>
      -> tensor<?x{E}xf32>, tensor<?xf32>, tensor<?xi32>
  %u = tok.unmerge %y, %map : tensor<?x{E}xf32>, tensor<?xi32>
  return %y, %sz, %map, %u
      : tensor<?x{E}xf32>, tensor<?xf32>, tensor<?xi32>, tensor<?x{E}xf32>
}}
"""

PRUNE = """
func.func @f(%x: tensor<?x{E}xf32>, %s: tensor<?xf32>)
    -> (tensor<?x{E}xf32>, tensor<?xi32>) {{
  %y, %i = tok.prune %x, %s {{keep = {K} : f32, protect_first = {PF} : i64,
      protect_last = {PL} : i64}} : tensor<?x{E}xf32>, tensor<?xf32>
      -> tensor<?x{E}xf32>, tensor<?xi32>
  return %y, %i : tensor<?x{E}xf32>, tensor<?xi32>
}}
"""

rng = np.random.default_rng(7)
passed = failed = 0


def report(ok, what):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print("MISMATCH " + what)


def check_merge(name, t, e, m_dim, r, p, metric=None, sizes=None,
                margin=None):
    x = rng.normal(size=(t, e)).astype(np.float32)
    m = metric if metric is not None else rng.normal(
        size=(t, m_dim)).astype(np.float32)
    s = sizes if sizes is not None else np.ones(t, np.float32)
    extra = ("" if margin is None else
             ", method = #tok.merge_method<pitome>, margin = %r : f32" % margin)
    outs, err = run_entry(tok_run, work, name,
                          MERGE.format(E=e, M=m.shape[1], R=r, P=p,
                                       EXTRA=extra),
                          [x, m, s], 4)
    if outs is None:
        report(False, "%s: tok-run failed: %s" % (name, err))
        return
    y, sz, mp, u = outs
    ry, rsz, rmp = (ref_merge(x, m, s, r, p) if margin is None else
                    ref_pitome(x, m, s, r, p, margin))
    ok = (mp.tolist() == rmp.tolist() and y.shape == ry.shape
          and np.array_equal(sz, rsz.astype(np.float32))
          and np.allclose(y, ry, rtol=1e-5, atol=1e-5)
          and np.array_equal(u, y[mp]))
    # Protected rows never merge and nothing merges into them: bitwise.
    ok = ok and np.array_equal(y[:p], x[:p])
    report(ok, "%s: merge T=%d r=%d p=%d" % (name, t, r, p))


def check_prune(name, t, e, keep, pf, pl, scores=None):
    x = rng.normal(size=(t, e)).astype(np.float32)
    s = scores if scores is not None else rng.normal(size=t).astype(
        np.float32)
    outs, err = run_entry(tok_run, work, name,
                          PRUNE.format(E=e, K=repr(float(keep)), PF=pf, PL=pl),
                          [x, s], 2)
    if outs is None:
        report(False, "%s: tok-run failed: %s" % (name, err))
        return
    y, idx = outs
    ry, ridx = ref_prune(x, s, keep, pf, pl)
    ok = (idx.tolist() == ridx.tolist() and np.array_equal(y, ry)
          and all(idx[i] < idx[i + 1] for i in range(len(idx) - 1)))
    report(ok, "%s: prune T=%d keep=%g pf=%d pl=%d (got %s, want %s)"
           % (name, t, keep, pf, pl, idx.tolist(), ridx.tolist()))


# Merging: plain, CLS-protected, odd T, r past the clamp, r = 0, two
# protected tokens, sizes from an earlier merge, exact ties.
check_merge("m_plain", 16, 8, 4, 4, 0)
check_merge("m_cls", 17, 8, 4, 5, 1)
check_merge("m_clamp", 9, 8, 4, 100, 1)
check_merge("m_zero", 10, 8, 4, 0, 1)
check_merge("m_p2", 12, 8, 4, 3, 2)
check_merge("m_sizes", 14, 8, 4, 4, 1,
            sizes=rng.integers(1, 5, size=14).astype(np.float32))
tie = np.zeros((12, 4), np.float32)
tie[:, 0] = 1.0  # every token equally similar: smaller indices win
check_merge("m_ties", 12, 8, 4, 3, 1, metric=tie)
dup = rng.normal(size=(12, 4)).astype(np.float32)
dup[5] = dup[2]  # an exact duplicate: merged first
check_merge("m_dup", 12, 8, 4, 1, 0, metric=dup)
check_merge("m_one", 1, 8, 4, 3, 0)
# The 16-lane similarity (metric width 32), and PiToMe (energy ranks, the
# margin, clamps, CLS protection; a cluster of near-duplicates merges first).
check_merge("m_wide", 40, 8, 32, 9, 1)
check_merge("pi_plain", 16, 8, 4, 4, 0, margin=0.5)
check_merge("pi_cls", 21, 8, 32, 6, 1, margin=0.9)
check_merge("pi_clamp", 9, 8, 4, 100, 1, margin=0.1)
cluster = rng.normal(size=(14, 4)).astype(np.float32)
cluster[3:8] = cluster[3] + 0.01 * rng.normal(size=(5, 4)).astype(np.float32)
check_merge("pi_cluster", 14, 8, 4, 2, 1, metric=cluster, margin=0.5)

# Pruning: ratio, protection at both ends, ties, keep = 1 (identity), a
# protection larger than the ratio asks for, keep rounding (0.1 of 10).
check_prune("p_half", 16, 8, 0.5, 0, 0)
check_prune("p_protect", 20, 8, 0.3, 1, 2)
check_prune("p_ties", 12, 8, 0.5, 1, 0, scores=np.ones(12, np.float32))
check_prune("p_all", 9, 8, 1.0, 0, 0)
check_prune("p_floor", 10, 8, 0.1, 2, 1)
check_prune("p_tenth", 10, 8, 0.1, 0, 0)
check_prune("p_one", 1, 8, 0.5, 0, 0)

# Gather (rows; dim 1 of a 3-D tensor) and scatter (rows), against NumPy
# indexing; an out-of-range index stops the program with a message.
GATHER = """
func.func @f(%x: tensor<?x6xf32>, %i: tensor<?xi32>, %y: tensor<3x?x4xf32>,
             %j: tensor<?xi32>) -> (tensor<?x6xf32>, tensor<3x?x4xf32>,
                                    tensor<?x6xf32>) {
  %g = tok.gather %x[%i] : tensor<?x6xf32>, tensor<?xi32>
  %h = tok.gather %y[%j] {dim = 1 : i64} : tensor<3x?x4xf32>, tensor<?xi32>
  %s = tok.scatter %g into %x[%i] : tensor<?x6xf32> into tensor<?x6xf32>, tensor<?xi32>
  return %g, %h, %s : tensor<?x6xf32>, tensor<3x?x4xf32>, tensor<?x6xf32>
}
"""
x = rng.normal(size=(9, 6)).astype(np.float32)
y = rng.normal(size=(3, 7, 4)).astype(np.float32)
i = np.array([8, 0, 3], np.int32)
j = np.array([6, 6, 1, 0], np.int32)
outs, err = run_entry(tok_run, work, "gather", GATHER, [x, i, y, j], 3)
if outs is None:
    report(False, "gather: tok-run failed: " + err)
else:
    s_ref = x.copy()
    s_ref[i] = x[i]
    report(np.array_equal(outs[0], x[i]) and np.array_equal(outs[1], y[:, j])
           and np.array_equal(outs[2], s_ref), "gather / scatter values")
SCATTER = """
func.func @f(%x: tensor<?x6xf32>, %z: tensor<?x6xf32>, %i: tensor<?xi32>)
    -> tensor<?x6xf32> {
  %s = tok.scatter %z into %x[%i] : tensor<?x6xf32> into tensor<?x6xf32>, tensor<?xi32>
  return %s : tensor<?x6xf32>
}
"""
z = rng.normal(size=(2, 6)).astype(np.float32)
outs, err = run_entry(tok_run, work, "scatter", SCATTER,
                      [x, z, np.array([4, 1], np.int32)], 1)
s_ref = x.copy()
s_ref[[4, 1]] = z
report(outs is not None and np.array_equal(outs[0], s_ref), "scatter rows")
outs, err = run_entry(tok_run, work, "scatter_bad", SCATTER,
                      [x, z, np.array([4, 9], np.int32)], 1)
report(outs is None and "tok.scatter: an index is out of range" in err,
       "scatter out of range: %s" % err)

UNMERGE = """
func.func @f(%y: tensor<?x6xf32>, %map: tensor<?xi32>) -> tensor<?x6xf32> {
  %u = tok.unmerge %y, %map : tensor<?x6xf32>, tensor<?xi32>
  return %u : tensor<?x6xf32>
}
"""
outs, err = run_entry(tok_run, work, "unmerge_bad", UNMERGE,
                      [x, np.array([0, 9, 2], np.int32)], 1)
report(outs is None and "tok.unmerge: an index is out of range" in err,
       "unmerge out of range: %s" % err)

print("%d of %d checks passed" % (passed, passed + failed))
sys.exit(1 if failed else 0)
