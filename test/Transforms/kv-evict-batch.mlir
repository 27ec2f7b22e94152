// tok-kv-evict{policy=window} on a batch step: every tok.paged_attention's
// mask gets the window (recent + 1 positions) and the sinks, and every
// function that runs one, itself or through a call, records the policy
// (tok.kv_window) for the host's scheduler, which releases the pages a
// sequence no longer sees. The single-sequence cache path beside it is
// evicted as usual.
// RUN: tok-opt %s --split-input-file --tok-kv-evict="policy=window budget=36 sinks=4 recent=32" | FileCheck %s

!pool = !tok.kv_pool<2x8x4x16xf32>

// CHECK-LABEL: func.func private @batch_layer
// CHECK-SAME: tok.kv_window = #tok.evict<window, budget = 36, sinks = 4, recent = 32>
// CHECK: tok.kv_pool.write
// CHECK: tok.paged_attention {{.*}} {mask = #tok.mask<causal, window = 33, sinks = 4>}
func.func private @batch_layer(%q: tensor<4x?x16xf32>, %k: tensor<2x?x16xf32>,
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

// A narrower model window without sinks already hides what eviction would.
// CHECK-LABEL: func.func private @narrow_layer
// CHECK-SAME: tok.kv_window
// CHECK: tok.paged_attention {{.*}} {mask = #tok.mask<causal, window = 20>}
func.func private @narrow_layer(%q: tensor<4x?x16xf32>, %tables: tensor<?x?xi32>,
    %seqs: tensor<?xi32>, %pos: tensor<?xi32>, %p: !pool) -> tensor<4x?x16xf32> {
  %o = tok.paged_attention %q, %p, %tables, %seqs, %pos
      {mask = #tok.mask<causal, window = 20>}
      : tensor<4x?x16xf32>, !pool, tensor<?x?xi32>, tensor<?xi32>, tensor<?xi32>
      -> tensor<4x?x16xf32>
  return %o : tensor<4x?x16xf32>
}

// CHECK-LABEL: func.func @batch_step
// CHECK-SAME: tok.kv_window = #tok.evict<window, budget = 36, sinks = 4, recent = 32>
func.func @batch_step(%q: tensor<4x?x16xf32>, %k: tensor<2x?x16xf32>,
    %v: tensor<2x?x16xf32>, %slots: tensor<?xi32>, %tables: tensor<?x?xi32>,
    %seqs: tensor<?xi32>, %pos: tensor<?xi32>, %p0: !pool)
    -> tensor<4x?x16xf32> {
  %o, %p1 = call @batch_layer(%q, %k, %v, %slots, %tables, %seqs, %pos, %p0)
      : (tensor<4x?x16xf32>, tensor<2x?x16xf32>, tensor<2x?x16xf32>,
         tensor<?xi32>, tensor<?x?xi32>, tensor<?xi32>, tensor<?xi32>, !pool)
      -> (tensor<4x?x16xf32>, !pool)
  %o2 = call @narrow_layer(%o, %tables, %seqs, %pos, %p1)
      : (tensor<4x?x16xf32>, tensor<?x?xi32>, tensor<?xi32>, tensor<?xi32>, !pool)
      -> tensor<4x?x16xf32>
  return %o2 : tensor<4x?x16xf32>
}

// A function that runs no paged attention records nothing.
// CHECK-LABEL: func.func @unrelated
// CHECK-NOT: tok.kv_window
// CHECK: return
func.func @unrelated(%x: tensor<4xf32>) -> tensor<4xf32> {
  return %x : tensor<4xf32>
}

// -----

// The single-sequence step beside a batch step: its cache is evicted as
// without one.
// CHECK-LABEL: func.func @step
// CHECK: tok.cached_attention
// CHECK: tok.kv.evict
// CHECK-LABEL: func.func @batch
// CHECK: tok.paged_attention {{.*}} {mask = #tok.mask<causal, window = 33, sinks = 4>}
func.func @step(%q: tensor<2x?x4xf32>, %k: tensor<1x?x4xf32>, %v: tensor<1x?x4xf32>,
    %pos: tensor<?xi32>, %c0: !tok.kv_cache<1x64x4xf32>)
    -> (tensor<2x?x4xf32>, !tok.kv_cache<1x64x4xf32>) {
  %c1 = tok.kv.append %c0, %k, %v, %pos
      : !tok.kv_cache<1x64x4xf32>, tensor<1x?x4xf32>, tensor<1x?x4xf32>, tensor<?xi32>
  %o = tok.cached_attention %q, %c1, %pos {mask = #tok.mask<causal>}
      : tensor<2x?x4xf32>, !tok.kv_cache<1x64x4xf32>, tensor<?xi32> -> tensor<2x?x4xf32>
  return %o, %c1 : tensor<2x?x4xf32>, !tok.kv_cache<1x64x4xf32>
}
func.func @batch(%q: tensor<4x?x16xf32>, %tables: tensor<?x?xi32>,
    %seqs: tensor<?xi32>, %pos: tensor<?xi32>, %p: !tok.kv_pool<2x8x4x16xf32>)
    -> tensor<4x?x16xf32> {
  %o = tok.paged_attention %q, %p, %tables, %seqs, %pos {mask = #tok.mask<causal>}
      : tensor<4x?x16xf32>, !tok.kv_pool<2x8x4x16xf32>, tensor<?x?xi32>,
        tensor<?xi32>, tensor<?xi32> -> tensor<4x?x16xf32>
  return %o : tensor<4x?x16xf32>
}
