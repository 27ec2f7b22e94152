// RUN: not tok-opt %s --tok-kv-evict="profile=%S/Inputs/kv-profile-heads.json chunk=1" 2>&1 | FileCheck %s

// A per-head split must follow the layer's cache everywhere; a call to a
// function without a body cannot be rewritten to pass both parts, so the
// pass stops with an error at the call (nothing half-rewritten is printed).
// CHECK: error: tok-kv-evict: cannot split the KV cache by head through a call to a function without a body
// CHECK-NOT: func.func
func.func private @step(%q: tensor<6x?x4xf32>, %k: tensor<3x?x4xf32>, %p: tensor<?xi32>, %c: !tok.kv_cache<3x64x4xf32>)
    -> (tensor<6x?x4xf32>, !tok.kv_cache<3x64x4xf32>) {
  %a = tok.kv.append %c, %k, %k, %p : !tok.kv_cache<3x64x4xf32>, tensor<3x?x4xf32>, tensor<3x?x4xf32>, tensor<?xi32>
  %o = tok.cached_attention %q, %a, %p {mask = #tok.mask<causal>} : tensor<6x?x4xf32>, !tok.kv_cache<3x64x4xf32>, tensor<?xi32> -> tensor<6x?x4xf32>
  return %o, %a : tensor<6x?x4xf32>, !tok.kv_cache<3x64x4xf32>
}
func.func private @save(!tok.kv_cache<3x64x4xf32>)
func.func @main(%q: tensor<6x?x4xf32>, %k: tensor<3x?x4xf32>, %p: tensor<?xi32>) {
  %c = tok.kv.empty : !tok.kv_cache<3x64x4xf32>
  %s:2 = func.call @step(%q, %k, %p, %c) : (tensor<6x?x4xf32>, tensor<3x?x4xf32>, tensor<?xi32>, !tok.kv_cache<3x64x4xf32>) -> (tensor<6x?x4xf32>, !tok.kv_cache<3x64x4xf32>)
  func.call @save(%s#1) : (!tok.kv_cache<3x64x4xf32>) -> ()
  return
}
