// RUN: tok-opt %s --canonicalize --split-input-file | FileCheck %s

// CHECK-LABEL: func.func @truncate_by_zero
// CHECK-SAME: (%[[C:.*]]: !tok.kv_cache<4x64x8xf32>)
// CHECK-NEXT: return %[[C]]
func.func @truncate_by_zero(%c: !tok.kv_cache<4x64x8xf32>) -> !tok.kv_cache<4x64x8xf32> {
  %zero = arith.constant 0 : index
  %t = tok.kv.truncate %c, %zero : !tok.kv_cache<4x64x8xf32>
  return %t : !tok.kv_cache<4x64x8xf32>
}

// -----

// An empty cache has nothing to drop and a length of zero.
// CHECK-LABEL: func.func @empty_cache
// CHECK-DAG: %[[ZERO:.*]] = arith.constant 0 : index
// CHECK-DAG: %[[E:.*]] = tok.kv.empty : !tok.kv_cache<4x64x8xf32>
// CHECK-NOT: tok.kv.truncate
// CHECK-NOT: tok.kv.length
// CHECK: return %[[E]], %[[ZERO]]
func.func @empty_cache(%n: index) -> (!tok.kv_cache<4x64x8xf32>, index) {
  %e = tok.kv.empty : !tok.kv_cache<4x64x8xf32>
  %t = tok.kv.truncate %e, %n : !tok.kv_cache<4x64x8xf32>
  %len = tok.kv.length %t : !tok.kv_cache<4x64x8xf32>
  return %t, %len : !tok.kv_cache<4x64x8xf32>, index
}

// -----

// CHECK-LABEL: func.func @combine_truncations
// CHECK-SAME: (%[[C:.*]]: !tok.kv_cache<4x64x8xf32>)
// CHECK: %[[FIVE:.*]] = arith.constant 5 : index
// CHECK: %[[T:.*]] = tok.kv.truncate %[[C]], %[[FIVE]]
// CHECK-NOT: tok.kv.truncate
// CHECK: return %[[T]]
func.func @combine_truncations(%c: !tok.kv_cache<4x64x8xf32>) -> !tok.kv_cache<4x64x8xf32> {
  %two = arith.constant 2 : index
  %three = arith.constant 3 : index
  %t1 = tok.kv.truncate %c, %two : !tok.kv_cache<4x64x8xf32>
  %t2 = tok.kv.truncate %t1, %three : !tok.kv_cache<4x64x8xf32>
  return %t2 : !tok.kv_cache<4x64x8xf32>
}

// -----

// Counts whose sum would overflow stay apart (the lowering clamps each).
// CHECK-LABEL: func.func @keep_huge_truncations
// CHECK-COUNT-2: tok.kv.truncate
func.func @keep_huge_truncations(%c: !tok.kv_cache<4x64x8xf32>) -> !tok.kv_cache<4x64x8xf32> {
  %big = arith.constant 9223372036854775807 : index
  %two = arith.constant 2 : index
  %t1 = tok.kv.truncate %c, %big : !tok.kv_cache<4x64x8xf32>
  %t2 = tok.kv.truncate %t1, %two : !tok.kv_cache<4x64x8xf32>
  return %t2 : !tok.kv_cache<4x64x8xf32>
}

// -----

// A count only known at run time stays.
// CHECK-LABEL: func.func @truncate_dynamic
// CHECK: tok.kv.truncate
// CHECK: tok.kv.truncate
func.func @truncate_dynamic(%c: !tok.kv_cache<4x64x8xf32>, %n: index) -> !tok.kv_cache<4x64x8xf32> {
  %two = arith.constant 2 : index
  %t1 = tok.kv.truncate %c, %two : !tok.kv_cache<4x64x8xf32>
  %t2 = tok.kv.truncate %t1, %n : !tok.kv_cache<4x64x8xf32>
  return %t2 : !tok.kv_cache<4x64x8xf32>
}

// -----

// A budget of the whole capacity never evicts; only accumulating policies
// (h2o, a2sf) still update the cache.
// CHECK-LABEL: func.func @evict_full_budget
// CHECK-SAME: (%[[C:.*]]: !tok.kv_cache<4x64x8xf32, scores>, %[[S:.*]]: tensor<4x64xf32>)
// CHECK-NOT: policy = #tok.evict<window
// CHECK-NOT: policy = #tok.evict<snapkv
// CHECK: %[[H:.*]] = tok.kv.evict %[[C]] scores(%[[S]] : tensor<4x64xf32>) {policy = #tok.evict<h2o, budget = 64, recent = 16>}
// CHECK-NOT: tok.kv.evict
// CHECK: return %[[H]]
func.func @evict_full_budget(%c: !tok.kv_cache<4x64x8xf32, scores>, %s: tensor<4x64xf32>) -> !tok.kv_cache<4x64x8xf32, scores> {
  %w = tok.kv.evict %c {policy = #tok.evict<window, budget = 64, sinks = 4, recent = 60>} : !tok.kv_cache<4x64x8xf32, scores>
  %k = tok.kv.evict %w scores(%s : tensor<4x64xf32>) {policy = #tok.evict<snapkv, budget = 64, observe = 8, pool = 3>} : !tok.kv_cache<4x64x8xf32, scores>
  %h = tok.kv.evict %k scores(%s : tensor<4x64xf32>) {policy = #tok.evict<h2o, budget = 64, recent = 16>} : !tok.kv_cache<4x64x8xf32, scores>
  return %h : !tok.kv_cache<4x64x8xf32, scores>
}

// -----

// CHECK-LABEL: func.func @evict_smaller_budget
// CHECK: tok.kv.evict
func.func @evict_smaller_budget(%c: !tok.kv_cache<4x64x8xf32>) -> !tok.kv_cache<4x64x8xf32> {
  %w = tok.kv.evict %c {policy = #tok.evict<window, budget = 32, sinks = 4, recent = 28>} : !tok.kv_cache<4x64x8xf32>
  return %w : !tok.kv_cache<4x64x8xf32>
}

// -----

// r = 0 merges nothing: the tokens, sizes of one, the identity map.
// CHECK-LABEL: func.func @merge_r0
// CHECK-SAME: (%[[X:.*]]: tensor<5x8xf32>, %[[M:.*]]: tensor<5x4xf32>)
// CHECK-DAG: %[[ONES:.*]] = arith.constant dense<1.000000e+00> : tensor<5xf32>
// CHECK-DAG: %[[IOTA:.*]] = arith.constant dense<[0, 1, 2, 3, 4]> : tensor<5xi32>
// CHECK-NOT: tok.merge
// CHECK: return %[[X]], %[[ONES]], %[[IOTA]]
func.func @merge_r0(%x: tensor<5x8xf32>, %m: tensor<5x4xf32>) -> (tensor<5x8xf32>, tensor<5xf32>, tensor<5xi32>) {
  %y, %s, %map = tok.merge %x, %m {r = 0} : tensor<5x8xf32>, tensor<5x4xf32> -> tensor<5x8xf32>, tensor<5xf32>, tensor<5xi32>
  return %y, %s, %map : tensor<5x8xf32>, tensor<5xf32>, tensor<5xi32>
}

// -----

// r clamps to (T - protect_first) / 2 = 0: still the identity, and given
// sizes pass through.
// CHECK-LABEL: func.func @merge_clamped_to_zero
// CHECK-SAME: (%[[X:.*]]: tensor<2x8xf32>, %[[M:.*]]: tensor<2x4xf32>, %[[SZ:.*]]: tensor<2xf32>)
// CHECK-NOT: tok.merge
// CHECK: return %[[X]], %[[SZ]]
func.func @merge_clamped_to_zero(%x: tensor<2x8xf32>, %m: tensor<2x4xf32>, %sz: tensor<2xf32>) -> (tensor<2x8xf32>, tensor<2xf32>, tensor<2xi32>) {
  %y, %s, %map = tok.merge %x, %m sizes(%sz : tensor<2xf32>) {r = 4, protect_first = 1} : tensor<2x8xf32>, tensor<2x4xf32> -> tensor<2x8xf32>, tensor<2xf32>, tensor<2xi32>
  return %y, %s, %map : tensor<2x8xf32>, tensor<2xf32>, tensor<2xi32>
}

// -----

// With a dynamic token count the sizes and map are built at run time.
// CHECK-LABEL: func.func @merge_r0_dynamic
// CHECK-SAME: (%[[X:.*]]: tensor<?x8xf32>, %{{.*}}: tensor<?x4xf32>)
// CHECK-DAG: %[[N:.*]] = tensor.dim %[[X]], %{{.*}} : tensor<?x8xf32>
// CHECK-DAG: %[[ONES:.*]] = tensor.splat %{{.*}}[%[[N]]] : tensor<?xf32>
// CHECK-DAG: %[[IOTA:.*]] = tensor.generate %[[N]]
// CHECK: arith.index_cast
// CHECK-NOT: tok.merge
// CHECK: return %[[X]], %[[ONES]], %[[IOTA]]
func.func @merge_r0_dynamic(%x: tensor<?x8xf32>, %m: tensor<?x4xf32>) -> (tensor<?x8xf32>, tensor<?xf32>, tensor<?xi32>) {
  %y, %s, %map = tok.merge %x, %m {r = 0} : tensor<?x8xf32>, tensor<?x4xf32> -> tensor<?x8xf32>, tensor<?xf32>, tensor<?xi32>
  return %y, %s, %map : tensor<?x8xf32>, tensor<?xf32>, tensor<?xi32>
}

// -----

// CHECK-LABEL: func.func @merge_stays
// CHECK: tok.merge
func.func @merge_stays(%x: tensor<5x8xf32>, %m: tensor<5x4xf32>) -> tensor<3x8xf32> {
  %y, %s, %map = tok.merge %x, %m {r = 2} : tensor<5x8xf32>, tensor<5x4xf32> -> tensor<3x8xf32>, tensor<3xf32>, tensor<5xi32>
  return %y : tensor<3x8xf32>
}

// -----

// keep = 1.0 keeps everything in order.
// CHECK-LABEL: func.func @prune_keep_all
// CHECK-SAME: (%[[X:.*]]: tensor<4x8xf32>, %{{.*}}: tensor<4xf32>)
// CHECK: %[[IOTA:.*]] = arith.constant dense<[0, 1, 2, 3]> : tensor<4xi32>
// CHECK-NOT: tok.prune
// CHECK: return %[[X]], %[[IOTA]]
func.func @prune_keep_all(%x: tensor<4x8xf32>, %s: tensor<4xf32>) -> (tensor<4x8xf32>, tensor<4xi32>) {
  %k, %i = tok.prune %x, %s {keep = 1.0 : f32} : tensor<4x8xf32>, tensor<4xf32> -> tensor<4x8xf32>, tensor<4xi32>
  return %k, %i : tensor<4x8xf32>, tensor<4xi32>
}

// -----

// The protected rows alone cover every token.
// CHECK-LABEL: func.func @prune_all_protected
// CHECK-NOT: tok.prune
func.func @prune_all_protected(%x: tensor<4x8xf32>, %s: tensor<4xf32>) -> (tensor<4x8xf32>, tensor<4xi32>) {
  %k, %i = tok.prune %x, %s {keep = 0.25 : f32, protect_first = 2, protect_last = 2} : tensor<4x8xf32>, tensor<4xf32> -> tensor<4x8xf32>, tensor<4xi32>
  return %k, %i : tensor<4x8xf32>, tensor<4xi32>
}

// -----

// CHECK-LABEL: func.func @prune_stays
// CHECK: tok.prune
func.func @prune_stays(%x: tensor<4x8xf32>, %s: tensor<4xf32>) -> tensor<2x8xf32> {
  %k, %i = tok.prune %x, %s {keep = 0.5 : f32} : tensor<4x8xf32>, tensor<4xf32> -> tensor<2x8xf32>, tensor<2xi32>
  return %k : tensor<2x8xf32>
}

// -----

// Writing back what was just gathered is a no-op.
// CHECK-LABEL: func.func @scatter_of_gather
// CHECK-SAME: (%[[X:.*]]: tensor<10x8xf32>, %{{.*}}: tensor<3xi32>)
// CHECK-NOT: tok.scatter
// CHECK: return %[[X]]
func.func @scatter_of_gather(%x: tensor<10x8xf32>, %i: tensor<3xi32>) -> tensor<10x8xf32> {
  %g = tok.gather %x[%i] : tensor<10x8xf32>, tensor<3xi32>
  %s = tok.scatter %g into %x[%i] : tensor<3x8xf32> into tensor<10x8xf32>, tensor<3xi32>
  return %s : tensor<10x8xf32>
}

// -----

// CHECK-LABEL: func.func @scatter_other_indices
// CHECK: tok.scatter
func.func @scatter_other_indices(%x: tensor<10x8xf32>, %i: tensor<3xi32>, %j: tensor<3xi32>) -> tensor<10x8xf32> {
  %g = tok.gather %x[%i] : tensor<10x8xf32>, tensor<3xi32>
  %s = tok.scatter %g into %x[%j] : tensor<3x8xf32> into tensor<10x8xf32>, tensor<3xi32>
  return %s : tensor<10x8xf32>
}
