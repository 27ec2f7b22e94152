// Passes with no rule for paged KV memory refuse a batch step, naming
// themselves and why, at its first paged op; tok-kv-evict takes the window
// policy only, without a profile, and only over masks it can narrow.
// RUN: not tok-opt %s --split-input-file --tok-kv-evict="policy=h2o budget=16 recent=8" 2>&1 | FileCheck %s --check-prefix=H2O
// H2O: kv-pool-pass-errors.mlir:{{[0-9]+}}:{{[0-9]+}}: error: tok-kv-evict: policy 'h2o' ranks slots by the attention they received, which tok.paged_attention does not compute
// H2O-SAME: a batch step takes policy=window only
// RUN: not tok-opt %s --split-input-file --tok-kv-evict="policy=a2sf budget=16 recent=8 decay=0.9" 2>&1 | FileCheck %s --check-prefix=A2SF
// A2SF: error: tok-kv-evict: policy 'a2sf' ranks slots by the attention they received
// RUN: not tok-opt %s --split-input-file --tok-kv-evict="policy=tova budget=16" 2>&1 | FileCheck %s --check-prefix=TOVA
// TOVA: error: tok-kv-evict: policy 'tova' ranks slots
// RUN: not tok-opt %s --split-input-file --tok-kv-evict="profile=%S/Inputs/kv-profile.json" 2>&1 | FileCheck %s --check-prefix=PROFILE
// PROFILE: error: tok-kv-evict: per-layer profiles do not apply to a batch step (tok.paged_attention)
// RUN: not tok-opt %s --split-input-file --tok-kv-evict="policy=window budget=12 sinks=4 recent=8" --tok-kv-evict="policy=window budget=12 sinks=4 recent=8" 2>&1 | FileCheck %s --check-prefix=TWICE
// TWICE: error: tok-kv-evict: the batch step already has window eviction; apply one eviction pass
// RUN: not tok-opt %s --split-input-file --tok-kv-select="page=16 budget=64" 2>&1 | FileCheck %s --check-prefix=SELECT
// SELECT: kv-pool-pass-errors.mlir:{{[0-9]+}}:{{[0-9]+}}: error: tok-kv-select: the module has a batch step over paged KV memory (tok.kv_pool.write); Quest selection reads per-page key bounds
// RUN: not tok-opt %s --split-input-file --tok-token-merge="r=2" 2>&1 | FileCheck %s --check-prefix=MERGE
// MERGE: error: tok-token-merge: the module has a batch step over paged KV memory (tok.kv_pool.write); merging tokens would mix rows of different sequences
// RUN: not tok-opt %s --split-input-file --tok-token-prune="keep=0.5" 2>&1 | FileCheck %s --check-prefix=PRUNE
// PRUNE: error: tok-token-prune: the module has a batch step over paged KV memory (tok.kv_pool.write); pruning drops rows of a step
// RUN: not tok-opt %s --split-input-file --tok-speculative-decoding="drafter=ngram k=4" 2>&1 | FileCheck %s --check-prefix=SPEC
// SPEC: error: tok-speculative-decoding: the module has a batch step over paged KV memory (tok.kv_pool.write); draft / verify rounds rewrite @generate's decoding loop
// RUN: not tok-opt %s --split-input-file --tok-kv-quantize="bits=4" 2>&1 | FileCheck %s --check-prefix=QUANT
// QUANT: kv-pool-pass-errors.mlir:{{[0-9]+}}:{{[0-9]+}}: error: tok-kv-quantize: the module has a batch step over paged KV memory (tok.kv_pool.write); quantized pages are not implemented yet

!pool = !tok.kv_pool<2x8x4x16xf32>

func.func @batch_step(%q: tensor<4x?x16xf32>, %k: tensor<2x?x16xf32>,
    %v: tensor<2x?x16xf32>, %slots: tensor<?xi32>, %tables: tensor<?x?xi32>,
    %seqs: tensor<?xi32>, %pos: tensor<?xi32>, %p0: !pool)
    -> (tensor<4x?x16xf32>, !pool) {
  %p1 = tok.kv_pool.write %p0, %k, %v, %slots
      : !pool, tensor<2x?x16xf32>, tensor<2x?x16xf32>, tensor<?xi32>
  %o = tok.paged_attention %q, %p1, %tables, %seqs, %pos {mask = #tok.mask<causal>}
      : tensor<4x?x16xf32>, !pool, tensor<?x?xi32>, tensor<?xi32>, tensor<?xi32>
      -> tensor<4x?x16xf32>
  return %o, %p1 : tensor<4x?x16xf32>, !pool
}

// -----

// RUN: not tok-opt %s --split-input-file --tok-kv-evict="policy=window budget=12 sinks=4 recent=8" 2>&1 | FileCheck %s --check-prefix=MASK
// MASK: error: tok-kv-evict: the attention already has #tok.mask<causal, window = 16>; window eviction over a batch step composes only with a model window of at most recent + 1 = 9 positions and no sinks
// MASK: error: tok-kv-evict: the attention already has #tok.mask<causal, window = 4, sinks = 2>
func.func @wider(%q: tensor<4x?x16xf32>, %tables: tensor<?x?xi32>,
    %seqs: tensor<?xi32>, %pos: tensor<?xi32>, %p: !tok.kv_pool<2x8x4x16xf32>)
    -> tensor<4x?x16xf32> {
  %o = tok.paged_attention %q, %p, %tables, %seqs, %pos
      {mask = #tok.mask<causal, window = 16>}
      : tensor<4x?x16xf32>, !tok.kv_pool<2x8x4x16xf32>, tensor<?x?xi32>,
        tensor<?xi32>, tensor<?xi32> -> tensor<4x?x16xf32>
  return %o : tensor<4x?x16xf32>
}

// -----

func.func @sinks(%q: tensor<4x?x16xf32>, %tables: tensor<?x?xi32>,
    %seqs: tensor<?xi32>, %pos: tensor<?xi32>, %p: !tok.kv_pool<2x8x4x16xf32>)
    -> tensor<4x?x16xf32> {
  %o = tok.paged_attention %q, %p, %tables, %seqs, %pos
      {mask = #tok.mask<causal, window = 4, sinks = 2>}
      : tensor<4x?x16xf32>, !tok.kv_pool<2x8x4x16xf32>, tensor<?x?xi32>,
        tensor<?xi32>, tensor<?xi32> -> tensor<4x?x16xf32>
  return %o : tensor<4x?x16xf32>
}
