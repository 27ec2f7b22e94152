// RUN: not tok-opt %s --split-input-file --tok-kv-evict="profile=%S/Inputs/kv-profile-heads.json chunk=1" 2>&1 | FileCheck %s

// The layer's cache must be followed everywhere before it is retyped or
// split; what cannot be is an error at the op, checked before anything is
// rewritten (nothing half-rewritten is printed).

// A declaration taking a cache: what it does with it is unknown.
// CHECK: error: cannot follow KV caches into a function without a body
// CHECK-NOT: {{^}}module {
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

// -----

// A cache chosen by scf.if: one thread for the layer (retyping follows
// it), but the head split does not rewrite scf.if.
// CHECK: error: tok-kv-evict: cannot split the KV cache by head through this op
// CHECK: note: see current operation:
// CHECK-NEXT: "scf.if"
// CHECK-NOT: {{^}}module {
func.func @pick(%q: tensor<6x?x4xf32>, %k: tensor<3x?x4xf32>, %p: tensor<?xi32>, %b: i1) -> tensor<6x?x4xf32> {
  %c = tok.kv.empty : !tok.kv_cache<3x64x4xf32>
  %d = tok.kv.empty : !tok.kv_cache<3x64x4xf32>
  %e = scf.if %b -> !tok.kv_cache<3x64x4xf32> {
    scf.yield %c : !tok.kv_cache<3x64x4xf32>
  } else {
    scf.yield %d : !tok.kv_cache<3x64x4xf32>
  }
  %a = tok.kv.append %e, %k, %k, %p : !tok.kv_cache<3x64x4xf32>, tensor<3x?x4xf32>, tensor<3x?x4xf32>, tensor<?xi32>
  %o = tok.cached_attention %q, %a, %p {mask = #tok.mask<causal>} : tensor<6x?x4xf32>, !tok.kv_cache<3x64x4xf32>, tensor<?xi32> -> tensor<6x?x4xf32>
  return %o : tensor<6x?x4xf32>
}
