// RUN: tok-opt %s --tok-kv-evict="policy=window budget=6 sinks=2 recent=4 chunk=3" | FileCheck %s

// A use of the cache nested in a region after the attention (here a
// second attention under scf.if) reads the evicted cache, as uses in the
// attention's own block do (was: only those; the nested one kept the
// un-evicted cache).
func.func private @step(%ids: tensor<?xi32>, %pos: tensor<?xi32>, %q: tensor<2x?x4xf32>, %k: tensor<1x?x4xf32>, %c: !tok.kv_cache<1x64x4xf32>, %again: i1)
    -> (tensor<?x8xf32>, !tok.kv_cache<1x64x4xf32>) {
  %c1 = tok.kv.append %c, %k, %k, %pos : !tok.kv_cache<1x64x4xf32>, tensor<1x?x4xf32>, tensor<1x?x4xf32>, tensor<?xi32>
  %o = tok.cached_attention %q, %c1, %pos {mask = #tok.mask<causal>} : tensor<2x?x4xf32>, !tok.kv_cache<1x64x4xf32>, tensor<?xi32> -> tensor<2x?x4xf32>
  %o2 = scf.if %again -> (tensor<2x?x4xf32>) {
    %r = tok.cached_attention %q, %c1, %pos {mask = #tok.mask<causal>} : tensor<2x?x4xf32>, !tok.kv_cache<1x64x4xf32>, tensor<?xi32> -> tensor<2x?x4xf32>
    scf.yield %r : tensor<2x?x4xf32>
  } else {
    scf.yield %o : tensor<2x?x4xf32>
  }
  %z = arith.constant 0 : index
  %t = tensor.dim %ids, %z : tensor<?xi32>
  %l = tensor.empty(%t) : tensor<?x8xf32>
  return %l, %c1 : tensor<?x8xf32>, !tok.kv_cache<1x64x4xf32>
}
// CHECK-LABEL: func.func private @step(
// CHECK:         %[[C1:.*]] = tok.kv.append
// CHECK-NEXT:    tok.cached_attention %{{.*}}, %[[C1]], %{{.*}} {mask = #tok.mask<causal>}
// CHECK-NEXT:    %[[E:.*]] = tok.kv.evict %[[C1]]
// CHECK:         scf.if
// CHECK-NEXT:      tok.cached_attention %{{.*}}, %[[E]], %{{.*}}
// CHECK:         return %{{.*}}, %[[E]]
