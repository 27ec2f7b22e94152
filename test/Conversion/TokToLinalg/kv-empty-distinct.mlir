// RUN: tok-opt %s --convert-tok-to-linalg --cse | FileCheck %s

// Every buffer of every empty cache is its own allocation, even after CSE:
// tensor.empty ops of one type would merge, and bufferization would then
// store keys and values (or two layers' caches) in one buffer.
// CHECK-LABEL: func.func @two_caches
// CHECK-COUNT-4: bufferization.alloc_tensor() : tensor<2x8x4xf32>
// CHECK-NOT:     tensor.empty() : tensor<2x8x4xf32>
func.func @two_caches() -> (!tok.kv_cache<2x8x4xf32>, !tok.kv_cache<2x8x4xf32>) {
  %a = tok.kv.empty : !tok.kv_cache<2x8x4xf32>
  %b = tok.kv.empty : !tok.kv_cache<2x8x4xf32>
  return %a, %b : !tok.kv_cache<2x8x4xf32>, !tok.kv_cache<2x8x4xf32>
}
