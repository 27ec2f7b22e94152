// RUN: tok-opt %s --tok-kv-evict="profile=%S/Inputs/kv-profile.json chunk=2" | FileCheck %s
// RUN: tok-opt %s --tok-kv-evict="policy=window profile=%S/Inputs/kv-profile-windows.json chunk=1" | FileCheck %s --check-prefix=WINDOWS

// Per-layer budgets from a profile: layer 0 (the first attention's cache)
// is kept whole, layer 1 evicts by h2o to 6 slots. Each layer's cache keeps
// one type along its whole thread: the step's signature, the call in
// @step2, tok.generate's caches, the scf.for of @teacher and the empty
// caches that start them.
// CHECK-LABEL: func.func private @step(
// CHECK-SAME:    %[[C0:[^:]*]]: !tok.kv_cache<1x64x4xf32>, %[[C1:[^:]*]]: !tok.kv_cache<1x8x4xf32, scores>)
// CHECK-SAME:    -> (tensor<?x8xf32>, !tok.kv_cache<1x64x4xf32>, !tok.kv_cache<1x8x4xf32, scores>)
// CHECK:         %[[A0:.*]] = tok.kv.append %[[C0]]
// CHECK-NEXT:    tok.cached_attention %{{.*}}, %[[A0]], %{{.*}} {mask = #tok.mask<causal>} :
// CHECK-NOT:     tok.kv.evict %[[A0]]
// CHECK:         %[[A1:.*]] = tok.kv.append %[[C1]]
// CHECK-NEXT:    %{{.*}}, %[[S:.*]] = tok.cached_attention %{{.*}}, %[[A1]], %{{.*}} {mask = #tok.mask<causal>, scores = #tok.scores<>}
// CHECK-NEXT:    %[[E:.*]] = tok.kv.evict %[[A1]] scores(%[[S]] : tensor<1x8xf32>) {policy = #tok.evict<h2o, budget = 6, recent = 2>}
// CHECK:         return %{{.*}}, %[[A0]], %[[E]]
// CHECK-LABEL: func.func @main(
// CHECK:         tok.kv.empty : !tok.kv_cache<1x64x4xf32>
// CHECK:         tok.kv.empty : !tok.kv_cache<1x8x4xf32, scores>
// CHECK:         tok.generate @step2(%{{.*}}) params({{.*}}) caches(%{{.*}}, %{{.*}} : !tok.kv_cache<1x64x4xf32>, !tok.kv_cache<1x8x4xf32, scores>) {max_new_tokens = 4 : i64, prefill_chunk = 2 : i64
// CHECK-LABEL: func.func private @step2(
// CHECK-SAME:    -> (tensor<?x8xf32>, !tok.kv_cache<1x64x4xf32>, !tok.kv_cache<1x8x4xf32, scores>)
// CHECK:         call @step({{.*}}) : ({{.*}}, !tok.kv_cache<1x64x4xf32>, !tok.kv_cache<1x8x4xf32, scores>) -> (tensor<?x8xf32>, !tok.kv_cache<1x64x4xf32>, !tok.kv_cache<1x8x4xf32, scores>)
// CHECK-LABEL: func.func @teacher(
// CHECK:         scf.for {{.*}} iter_args(%{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}) -> (!tok.kv_cache<1x64x4xf32>, !tok.kv_cache<1x8x4xf32, scores>)
// CHECK:           scf.yield {{.*}} : !tok.kv_cache<1x64x4xf32>, !tok.kv_cache<1x8x4xf32, scores>
// CHECK:         tok.kv.length %{{.*}} : !tok.kv_cache<1x8x4xf32, scores>

// Window budgets per layer, the policy from the options: 10 + 1 and 4 + 1
// slots.
// WINDOWS-LABEL: func.func private @step(
// WINDOWS-SAME:    !tok.kv_cache<1x11x4xf32>, %{{.*}}: !tok.kv_cache<1x5x4xf32>)
// WINDOWS:         tok.kv.evict %{{.*}} {policy = #tok.evict<window, budget = 10, sinks = 2, recent = 8>} : !tok.kv_cache<1x11x4xf32>
// WINDOWS:         tok.kv.evict %{{.*}} {policy = #tok.evict<window, budget = 4, sinks = 1, recent = 3>} : !tok.kv_cache<1x5x4xf32>
func.func private @step(%ids: tensor<?xi32>, %pos: tensor<?xi32>, %q: tensor<2x?x4xf32>, %k: tensor<1x?x4xf32>,
                        %c0: !tok.kv_cache<1x64x4xf32>, %c1: !tok.kv_cache<1x64x4xf32>)
    -> (tensor<?x8xf32>, !tok.kv_cache<1x64x4xf32>, !tok.kv_cache<1x64x4xf32>) {
  %a0 = tok.kv.append %c0, %k, %k, %pos : !tok.kv_cache<1x64x4xf32>, tensor<1x?x4xf32>, tensor<1x?x4xf32>, tensor<?xi32>
  %o0 = tok.cached_attention %q, %a0, %pos {mask = #tok.mask<causal>} : tensor<2x?x4xf32>, !tok.kv_cache<1x64x4xf32>, tensor<?xi32> -> tensor<2x?x4xf32>
  %a1 = tok.kv.append %c1, %k, %k, %pos : !tok.kv_cache<1x64x4xf32>, tensor<1x?x4xf32>, tensor<1x?x4xf32>, tensor<?xi32>
  %o1 = tok.cached_attention %o0, %a1, %pos {mask = #tok.mask<causal>} : tensor<2x?x4xf32>, !tok.kv_cache<1x64x4xf32>, tensor<?xi32> -> tensor<2x?x4xf32>
  %z = arith.constant 0 : index
  %t = tensor.dim %ids, %z : tensor<?xi32>
  %l = tensor.empty(%t) : tensor<?x8xf32>
  return %l, %a0, %a1 : tensor<?x8xf32>, !tok.kv_cache<1x64x4xf32>, !tok.kv_cache<1x64x4xf32>
}
func.func @main(%p: tensor<?xi32>, %q: tensor<2x?x4xf32>, %k: tensor<1x?x4xf32>) -> tensor<?xi32> {
  %c0 = tok.kv.empty : !tok.kv_cache<1x64x4xf32>
  %c1 = tok.kv.empty : !tok.kv_cache<1x64x4xf32>
  %o = tok.generate @step2(%p) params(%q, %k : tensor<2x?x4xf32>, tensor<1x?x4xf32>) caches(%c0, %c1 : !tok.kv_cache<1x64x4xf32>, !tok.kv_cache<1x64x4xf32>) {max_new_tokens = 4, sampler = #tok.sampler<>} : tensor<?xi32> -> tensor<?xi32>
  return %o : tensor<?xi32>
}
func.func private @step2(%ids: tensor<?xi32>, %pos: tensor<?xi32>, %q: tensor<2x?x4xf32>, %k: tensor<1x?x4xf32>,
                         %c0: !tok.kv_cache<1x64x4xf32>, %c1: !tok.kv_cache<1x64x4xf32>)
    -> (tensor<?x8xf32>, !tok.kv_cache<1x64x4xf32>, !tok.kv_cache<1x64x4xf32>) {
  %r:3 = func.call @step(%ids, %pos, %q, %k, %c0, %c1) : (tensor<?xi32>, tensor<?xi32>, tensor<2x?x4xf32>, tensor<1x?x4xf32>, !tok.kv_cache<1x64x4xf32>, !tok.kv_cache<1x64x4xf32>) -> (tensor<?x8xf32>, !tok.kv_cache<1x64x4xf32>, !tok.kv_cache<1x64x4xf32>)
  return %r#0, %r#1, %r#2 : tensor<?x8xf32>, !tok.kv_cache<1x64x4xf32>, !tok.kv_cache<1x64x4xf32>
}
func.func @teacher(%ids: tensor<?xi32>, %q: tensor<2x?x4xf32>, %k: tensor<1x?x4xf32>, %n: index) -> index {
  %c0 = tok.kv.empty : !tok.kv_cache<1x64x4xf32>
  %c1 = tok.kv.empty : !tok.kv_cache<1x64x4xf32>
  %lb = arith.constant 0 : index
  %one = arith.constant 1 : index
  %r:2 = scf.for %i = %lb to %n step %one iter_args(%a = %c0, %b = %c1) -> (!tok.kv_cache<1x64x4xf32>, !tok.kv_cache<1x64x4xf32>) {
    %s:3 = func.call @step(%ids, %ids, %q, %k, %a, %b) : (tensor<?xi32>, tensor<?xi32>, tensor<2x?x4xf32>, tensor<1x?x4xf32>, !tok.kv_cache<1x64x4xf32>, !tok.kv_cache<1x64x4xf32>) -> (tensor<?x8xf32>, !tok.kv_cache<1x64x4xf32>, !tok.kv_cache<1x64x4xf32>)
    scf.yield %s#1, %s#2 : !tok.kv_cache<1x64x4xf32>, !tok.kv_cache<1x64x4xf32>
  }
  %len = tok.kv.length %r#1 : !tok.kv_cache<1x64x4xf32>
  return %len : index
}
