// RUN: tok-opt %s --tok-speculative-decoding="k=4" --tok-bufferize | FileCheck %s

// Speculative rounds keep every cache in place: the loop carries only the
// cache's length (an index), each round's step works on the same K, V and
// position buffers, and rolling back the rejected drafts is arithmetic on
// that length. Nothing the size of the capacity is allocated or copied
// inside the loop.
// CHECK-LABEL: func.func @generate
// CHECK:       %[[K:.*]] = memref.alloc() {{.*}} : memref<2x1024x16xf32>
// CHECK:       %[[V:.*]] = memref.alloc() {{.*}} : memref<2x1024x16xf32>
// CHECK:       %[[P:.*]] = memref.alloc() {{.*}} : memref<2x1024xi32>
// CHECK:       call @step({{.*}}, %[[K]], %[[V]], %[[P]], %c0)
// CHECK:       scf.while ({{.*}}) : (index, i32, i1, index, index) -> (index, i32, i1, index, index)
// CHECK:       } do {
// CHECK-NOT:     memref.alloc{{.*}}1024
// CHECK-NOT:     memref.copy{{.*}}1024x16xf32>)
// CHECK:         %[[STEP:.*]]:2 = func.call @step({{.*}}, %[[K]], %[[V]], %[[P]], %{{.*}})
// CHECK-NOT:     memref.alloc{{.*}}1024
// CHECK-NOT:     memref.copy{{.*}}1024x16xf32>)
// CHECK:         arith.subi
// CHECK:         scf.yield
func.func private @step(%t: tensor<?xi32>, %pos: tensor<?xi32>, %c: !tok.kv_cache<2x1024x16xf32>) -> (tensor<?x16xf32>, !tok.kv_cache<2x1024x16xf32>) {
  %c0 = arith.constant 0 : index
  %z = arith.constant 0.5 : f32
  %n = tensor.dim %t, %c0 : tensor<?xi32>
  %e = tensor.empty(%n) : tensor<2x?x16xf32>
  %kv = linalg.fill ins(%z : f32) outs(%e : tensor<2x?x16xf32>) -> tensor<2x?x16xf32>
  %c1 = tok.kv.append %c, %kv, %kv, %pos : !tok.kv_cache<2x1024x16xf32>, tensor<2x?x16xf32>, tensor<2x?x16xf32>, tensor<?xi32>
  %o = tok.cached_attention %kv, %c1, %pos {mask = #tok.mask<causal>}
      : tensor<2x?x16xf32>, !tok.kv_cache<2x1024x16xf32>, tensor<?xi32> -> tensor<2x?x16xf32>
  %l = tensor.empty(%n) : tensor<?x16xf32>
  %logits = linalg.fill ins(%z : f32) outs(%l : tensor<?x16xf32>) -> tensor<?x16xf32>
  return %logits, %c1 : tensor<?x16xf32>, !tok.kv_cache<2x1024x16xf32>
}
func.func @generate(%prompt: tensor<?xi32>) -> tensor<?xi32> {
  %c = tok.kv.empty : !tok.kv_cache<2x1024x16xf32>
  %out = tok.generate @step(%prompt) caches(%c : !tok.kv_cache<2x1024x16xf32>)
      {max_new_tokens = 32 : i64, sampler = #tok.sampler<>} : tensor<?xi32> -> tensor<?xi32>
  return %out : tensor<?xi32>
}
