// RUN: tok-opt %s --tok-speculative-decoding="drafter=model k=3 branch=3" --split-input-file -verify-diagnostics | FileCheck %s
// RUN: not tok-opt %s --split-input-file --tok-speculative-decoding="branch=2" 2>&1 | FileCheck %s --check-prefix=NGRAM
// NGRAM: error: tok-speculative-decoding: the ngram drafter proposes a chain; token trees (branch > 1) need a model drafter (layer_skip or model)
// RUN: not tok-opt %s --split-input-file --tok-speculative-decoding="drafter=model branch=0" 2>&1 | FileCheck %s --check-prefix=ZERO
// ZERO: error: tok-speculative-decoding: branch must be in [1, 64], got 0

// Token trees (branch = 3): the target verifies in @step_tree, a copy of
// @step whose parents argument (after the positions) is the tree mask of
// every tok.cached_attention; each draft row also gives the next two most
// likely tokens (the arg-max masked out, then the arg-max again) as leaves
// of that level; the nodes are the chain, then the leaves; the round keeps
// the accepted path with tok.kv.commit at base `known` (node j in slot
// known + j) instead of truncating.
// CHECK-LABEL: func.func private @step(
// CHECK-SAME:    %{{.*}}: tensor<?xi32>, %{{.*}}: tensor<?xi32>, %{{.*}}: tensor<4xf32>, %{{.*}}: !tok.kv_cache<2x64x16xf32>)
// CHECK:         tok.cached_attention
// CHECK-NOT:     tree
// CHECK:         return
// CHECK-LABEL: func.func private @step_tree(
// CHECK-SAME:    %{{.*}}: tensor<?xi32>, %{{.*}}: tensor<?xi32>, %[[PARENTS:.*]]: tensor<?xi32>, %{{.*}}: tensor<4xf32>, %{{.*}}: !tok.kv_cache<2x64x16xf32>)
// CHECK:         tok.cached_attention {{.*}} tree(%[[PARENTS]] : tensor<?xi32>)
// CHECK-LABEL: func.func @generate
// CHECK:         scf.while
// CHECK:           call @draft_step
// CHECK:           tok.sample
// CHECK:           tensor.insert %cst{{.*}} : tensor<1x32xf32>
// CHECK:           tok.sample
// CHECK:           tensor.insert %cst{{.*}} : tensor<1x32xf32>
// CHECK:           tok.sample
// CHECK:           %[[NODES:.*]] = arith.muli %[[KEPT:.*]], %c3{{.*}} : index
// CHECK:           scf.for %{{.*}} = %c0{{.*}} to %[[KEPT]]
// CHECK:           %[[CALL:.*]]:2 = func.call @step_tree(
// CHECK:           %[[PATH:.*]], %{{.*}} = tok.verify
// CHECK:           tok.kv.commit %[[CALL]]#1, %[[KNOWN:.*]], %[[PATH]]
// CHECK-NOT:       tok.kv.truncate %[[CALL]]#1
// CHECK:           tok.kv.truncate
func.func private @step(%ids: tensor<?xi32>, %pos: tensor<?xi32>, %w: tensor<4xf32>, %c: !tok.kv_cache<2x64x16xf32>) -> (tensor<?x32xf32>, !tok.kv_cache<2x64x16xf32>) {
  %zero = arith.constant 0 : index
  %t = tensor.dim %ids, %zero : tensor<?xi32>
  %kv = tensor.empty(%t) : tensor<2x?x16xf32>
  %q = tensor.empty(%t) : tensor<2x?x16xf32>
  %c2 = tok.kv.append %c, %kv, %kv, %pos : !tok.kv_cache<2x64x16xf32>, tensor<2x?x16xf32>, tensor<2x?x16xf32>, tensor<?xi32>
  %a = tok.cached_attention %q, %c2, %pos {mask = #tok.mask<causal>} : tensor<2x?x16xf32>, !tok.kv_cache<2x64x16xf32>, tensor<?xi32> -> tensor<2x?x16xf32>
  %l = tensor.empty(%t) : tensor<?x32xf32>
  return %l, %c2 : tensor<?x32xf32>, !tok.kv_cache<2x64x16xf32>
}
func.func private @draft_step(tensor<?xi32>, tensor<?xi32>, tensor<8xf32>, !tok.kv_cache<1x64x8xf32>) -> (tensor<?x32xf32>, !tok.kv_cache<1x64x8xf32>)
func.func @generate(%prompt: tensor<?xi32>, %w: tensor<4xf32>, %dw: tensor<8xf32>) -> tensor<?xi32> {
  %c = tok.kv.empty : !tok.kv_cache<2x64x16xf32>
  %out = tok.generate @step(%prompt) params(%w : tensor<4xf32>) caches(%c : !tok.kv_cache<2x64x16xf32>)
      draft_params(%dw : tensor<8xf32>) {max_new_tokens = 20 : i64, sampler = #tok.sampler<>}
      : tensor<?xi32> -> tensor<?xi32>
  return %out : tensor<?xi32>
}

// -----

// The tree mask goes into the step's attention: a step without a body
// cannot take it.
func.func private @step(tensor<?xi32>, tensor<?xi32>, !tok.kv_cache<2x64x16xf32>) -> (tensor<?x32xf32>, !tok.kv_cache<2x64x16xf32>)
func.func private @draft_step(tensor<?xi32>, tensor<?xi32>, tensor<8xf32>, !tok.kv_cache<1x64x8xf32>) -> (tensor<?x32xf32>, !tok.kv_cache<1x64x8xf32>)
func.func @external(%prompt: tensor<?xi32>, %dw: tensor<8xf32>) -> tensor<?xi32> {
  %c = tok.kv.empty : !tok.kv_cache<2x64x16xf32>
  // expected-error @+1 {{'tok.generate' op token trees need the body of @step (its attention takes the tree mask)}}
  %out = tok.generate @step(%prompt) caches(%c : !tok.kv_cache<2x64x16xf32>) draft_params(%dw : tensor<8xf32>)
      {max_new_tokens = 20 : i64, sampler = #tok.sampler<>} : tensor<?xi32> -> tensor<?xi32>
  return %out : tensor<?xi32>
}

// -----

func.func private @step(%ids: tensor<?xi32>, %pos: tensor<?xi32>, %c: !tok.kv_cache<2x64x16xf32>) -> (tensor<?x2xf32>, !tok.kv_cache<2x64x16xf32>) {
  %zero = arith.constant 0 : index
  %t = tensor.dim %ids, %zero : tensor<?xi32>
  %l = tensor.empty(%t) : tensor<?x2xf32>
  return %l, %c : tensor<?x2xf32>, !tok.kv_cache<2x64x16xf32>
}
func.func private @draft_step(tensor<?xi32>, tensor<?xi32>, tensor<8xf32>, !tok.kv_cache<1x64x8xf32>) -> (tensor<?x2xf32>, !tok.kv_cache<1x64x8xf32>)
func.func @vocab(%prompt: tensor<?xi32>, %dw: tensor<8xf32>) -> tensor<?xi32> {
  %c = tok.kv.empty : !tok.kv_cache<2x64x16xf32>
  // expected-error @+1 {{'tok.generate' op branch 3 exceeds the vocabulary of 2}}
  %out = tok.generate @step(%prompt) caches(%c : !tok.kv_cache<2x64x16xf32>) draft_params(%dw : tensor<8xf32>)
      {max_new_tokens = 20 : i64, sampler = #tok.sampler<>} : tensor<?xi32> -> tensor<?xi32>
  return %out : tensor<?xi32>
}

// -----

func.func private @step(%ids: tensor<?xi32>, %pos: tensor<?xi32>, %c: !tok.kv_cache<2x64x16xf32>) -> (tensor<?x32xf32>, !tok.kv_cache<2x64x16xf32>) {
  %zero = arith.constant 0 : index
  %t = tensor.dim %ids, %zero : tensor<?xi32>
  %l = tensor.empty(%t) : tensor<?x32xf32>
  return %l, %c : tensor<?x32xf32>, !tok.kv_cache<2x64x16xf32>
}
func.func private @draft_step(tensor<?xi32>, tensor<?xi32>, tensor<8xf32>, !tok.kv_cache<1x64x8xf32>) -> (tensor<?x32xf32>, !tok.kv_cache<1x64x8xf32>)
func.func @no_attention(%prompt: tensor<?xi32>, %dw: tensor<8xf32>) -> tensor<?xi32> {
  %c = tok.kv.empty : !tok.kv_cache<2x64x16xf32>
  // expected-error @+1 {{'tok.generate' op token trees need every attention of @step to be a tok.cached_attention without a tree mask of its own}}
  %out = tok.generate @step(%prompt) caches(%c : !tok.kv_cache<2x64x16xf32>) draft_params(%dw : tensor<8xf32>)
      {max_new_tokens = 20 : i64, sampler = #tok.sampler<>} : tensor<?xi32> -> tensor<?xi32>
  return %out : tensor<?xi32>
}
