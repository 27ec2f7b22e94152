// RUN: tok-opt %s --tok-bufferize --split-input-file | FileCheck %s

// A decode step on a 1024-slot cache allocates and copies nothing whose size
// depends on the capacity: the new token's K, V and position are written
// into the cache buffers in place (memref<2x1x8xf32> copies into subviews),
// and attention temporaries are tile-sized. The updated cache is the
// argument buffer, so it is no longer returned (drop-equivalent-buffer-
// results; public functions keep their signature and would clone it).
// CHECK-LABEL: func.func private @decode_step
// CHECK-SAME: %[[K:[a-z0-9]+]]: memref<2x1024x8xf32>, %[[V:[a-z0-9]+]]: memref<2x1024x8xf32>, %[[P:[a-z0-9]+]]: memref<2x1024xi32>, %[[LEN:[a-z0-9]+]]: index
// CHECK-SAME: -> (memref<4x1x8xf32>, index)
// CHECK-NOT:   memref.alloc{{.*}}1024
// CHECK-NOT:   memref.copy{{.*}}1024x8xf32>)
// CHECK:       %[[SUB:.*]] = memref.subview %[[K]][0, %[[LEN]], 0] [2, 1, 8]
// CHECK:       memref.copy %{{.*}}, %[[SUB]] : memref<2x1x8xf32> to memref<2x1x8xf32, strided<[8192, 8, 1], offset: ?>>
// CHECK-NOT:   memref.alloc{{.*}}1024
// CHECK-NOT:   memref.copy{{.*}}1024x8xf32>)
// CHECK-NOT:   bufferization.clone
// CHECK:       return %{{.*}}, %{{.*}} : memref<4x1x8xf32>, index
func.func private @decode_step(%c: !tok.kv_cache<2x1024x8xf32>, %q: tensor<4x1x8xf32>, %k: tensor<2x1x8xf32>,
                       %v: tensor<2x1x8xf32>, %pos: tensor<1xi32>)
    -> (tensor<4x1x8xf32>, !tok.kv_cache<2x1024x8xf32>) {
  %c1 = tok.kv.append %c, %k, %v, %pos : !tok.kv_cache<2x1024x8xf32>, tensor<2x1x8xf32>, tensor<2x1x8xf32>, tensor<1xi32>
  %o = tok.cached_attention %q, %c1, %pos {mask = #tok.mask<causal>}
      : tensor<4x1x8xf32>, !tok.kv_cache<2x1024x8xf32>, tensor<1xi32> -> tensor<4x1x8xf32>
  return %o, %c1 : tensor<4x1x8xf32>, !tok.kv_cache<2x1024x8xf32>
}

// -----

// The check above can fail: reading the cache as it was before the append
// forces bufferization to copy the whole cache.
// CHECK-LABEL: func.func private @old_cache_read
// CHECK:       memref.alloc() {{.*}} : memref<2x1024x8xf32>
// CHECK:       memref.copy {{.*}} : memref<2x1024x8xf32> to memref<2x1024x8xf32>
func.func private @old_cache_read(%c: !tok.kv_cache<2x1024x8xf32>, %q: tensor<4x1x8xf32>, %k: tensor<2x1x8xf32>,
                          %v: tensor<2x1x8xf32>, %pos: tensor<1xi32>)
    -> (tensor<4x1x8xf32>, !tok.kv_cache<2x1024x8xf32>) {
  %c1 = tok.kv.append %c, %k, %v, %pos : !tok.kv_cache<2x1024x8xf32>, tensor<2x1x8xf32>, tensor<2x1x8xf32>, tensor<1xi32>
  %o = tok.cached_attention %q, %c, %pos {mask = #tok.mask<causal>}
      : tensor<4x1x8xf32>, !tok.kv_cache<2x1024x8xf32>, tensor<1xi32> -> tensor<4x1x8xf32>
  return %o, %c1 : tensor<4x1x8xf32>, !tok.kv_cache<2x1024x8xf32>
}

// -----

// A StreamingLLM decode step (4 sinks + 1019 recent of a 1024-slot cache):
// the eviction moves the recent slots in place, one D-vector at a time, with
// no temporary of the window's size and no copy of the cache.
// CHECK-LABEL: func.func private @window_step
// CHECK-NOT:   memref.alloc{{.*}}1019
// CHECK-NOT:   memref.alloc{{.*}}1024
// CHECK-NOT:   memref.copy{{.*}}1019
// CHECK-NOT:   memref.copy{{.*}}1024x8xf32>)
// CHECK:       vector.transfer_read %{{.*}} : memref<2x1024x8xf32>, vector<8xf32>
// CHECK:       vector.transfer_write %{{.*}} : vector<8xf32>, memref<2x1024x8xf32>
// CHECK-NOT:   memref.alloc{{.*}}1019
// CHECK-NOT:   bufferization.clone
// CHECK:       return
func.func private @window_step(%c: !tok.kv_cache<2x1024x8xf32>, %q: tensor<4x1x8xf32>, %k: tensor<2x1x8xf32>,
                       %v: tensor<2x1x8xf32>, %pos: tensor<1xi32>)
    -> (tensor<4x1x8xf32>, !tok.kv_cache<2x1024x8xf32>) {
  %c1 = tok.kv.append %c, %k, %v, %pos : !tok.kv_cache<2x1024x8xf32>, tensor<2x1x8xf32>, tensor<2x1x8xf32>, tensor<1xi32>
  %o = tok.cached_attention %q, %c1, %pos {mask = #tok.mask<causal>}
      : tensor<4x1x8xf32>, !tok.kv_cache<2x1024x8xf32>, tensor<1xi32> -> tensor<4x1x8xf32>
  %e = tok.kv.evict %c1 {policy = #tok.evict<window, budget = 1023, sinks = 4, recent = 1019>} : !tok.kv_cache<2x1024x8xf32>
  return %o, %e : tensor<4x1x8xf32>, !tok.kv_cache<2x1024x8xf32>
}

// -----

// A step over a dynamic number of tokens (decode or verification) with
// grouped queries (8 query heads over 4 KV heads, head dim 16: the vector
// kernels). Each KV head's task writes its group's output rows in place:
// no copy inside the forall (the prefill / decode branch used to yield a
// ?-typed slice, and the copy of the slice onto itself survived).
// CHECK-LABEL: func.func private @gqa_step
// CHECK:       scf.forall (%{{.*}}) in (4)
// CHECK-NOT:   memref.copy
// CHECK:       return %{{.*}}, %{{.*}} : memref<8x?x16xf32>, index
func.func private @gqa_step(%c: !tok.kv_cache<4x64x16xf32>, %q: tensor<8x?x16xf32>, %k: tensor<4x?x16xf32>,
                    %v: tensor<4x?x16xf32>, %pos: tensor<?xi32>)
    -> (tensor<8x?x16xf32>, !tok.kv_cache<4x64x16xf32>) {
  %c1 = tok.kv.append %c, %k, %v, %pos : !tok.kv_cache<4x64x16xf32>, tensor<4x?x16xf32>, tensor<4x?x16xf32>, tensor<?xi32>
  %o = tok.cached_attention %q, %c1, %pos {mask = #tok.mask<causal>}
      : tensor<8x?x16xf32>, !tok.kv_cache<4x64x16xf32>, tensor<?xi32> -> tensor<8x?x16xf32>
  return %o, %c1 : tensor<8x?x16xf32>, !tok.kv_cache<4x64x16xf32>
}
