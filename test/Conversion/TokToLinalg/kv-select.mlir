// RUN: tok-opt %s --convert-tok-to-linalg --canonicalize --split-input-file --verify-diagnostics | FileCheck %s

// A cache with page bounds carries [H, ceil(C / P), D] f32 minima and
// maxima after the plain parts; an append recomputes the pages from the
// one that held the old last slot to the new last one, over live slots.
// CHECK-LABEL: func.func @append(
// CHECK-SAME: %{{.*}}: tensor<2x64x32xf32>, %{{.*}}: tensor<2x64x32xf32>, %{{.*}}: tensor<2x64xi32>, %[[LEN:[a-z0-9]+]]: index, %[[MIN:[a-z0-9]+]]: tensor<2x4x32xf32>, %[[MAX:[a-z0-9]+]]: tensor<2x4x32xf32>
// CHECK:       %[[NEW:.*]] = arith.addi %[[LEN]]
// CHECK:       %[[FROM:.*]] = arith.minui %[[LEN]], %[[NEW]]
// CHECK:       %[[FIRST:.*]] = arith.divui %[[FROM]], %c16
// CHECK:       scf.for %{{.*}} = %[[FIRST]] to %{{.*}} step %c1 iter_args(%{{.*}} = %[[MIN]], %{{.*}} = %[[MAX]])
// CHECK:         arith.minimumf
// CHECK:         arith.maximumf
// CHECK:         tensor.insert
// CHECK:         tensor.insert
func.func @append(%c: !tok.kv_cache<2x64x32xf32, pages = 16>, %k: tensor<2x?x32xf32>, %p: tensor<?xi32>) -> !tok.kv_cache<2x64x32xf32, pages = 16> {
  %c1 = tok.kv.append %c, %k, %k, %p : !tok.kv_cache<2x64x32xf32, pages = 16>, tensor<2x?x32xf32>, tensor<2x?x32xf32>, tensor<?xi32>
  return %c1 : !tok.kv_cache<2x64x32xf32, pages = 16>
}

// -----

// Decode with select_budget = 48 (3 pages): when the live slots span more
// than 3 pages, each row computes every page's bound
// sum_d max(q_d max_d, q_d min_d) as an order-preserving integer key,
// marks the last page, finds the 2nd largest other key by bisection (32
// counting passes, 16 keys at a time), takes the keys above it and the
// equal ones from the lowest page on, then runs the online softmax over
// the marked pages only; otherwise the dense loop.
// CHECK-LABEL: func.func @decode(
// CHECK:       memref.alloc() : memref<16xi32>
// CHECK:       memref.alloc() : memref<4xi8>
// CHECK:       %[[MANY:.*]] = arith.cmpi ugt, %{{.*}}, %c3
// CHECK:       scf.if %[[MANY]]
// CHECK:         arith.maximumf %{{.*}}, %{{.*}} : vector<16xf32>
// CHECK:         arith.bitcast %{{.*}} : f32 to i32
// CHECK:         scf.for %{{.*}} = %c0 to %c32 step %c1
// CHECK:           arith.cmpi uge, %{{.*}}, %{{.*}} : vector<16xi32>
// CHECK:         arith.cmpi ugt, %{{.*}}, %{{.*}} : vector<16xi32>
// CHECK:         memref.load %{{.*}} : memref<4xi8>
// CHECK:         arith.cmpi ne
// CHECK:         scf.if
// CHECK:       } else {
func.func @decode(%q: tensor<4x1x32xf32>, %c: !tok.kv_cache<2x64x32xf32, pages = 16>, %p: tensor<1xi32>) -> tensor<4x1x32xf32> {
  %o = tok.cached_attention %q, %c, %p {mask = #tok.mask<causal>, select_budget = 48} : tensor<4x1x32xf32>, !tok.kv_cache<2x64x32xf32, pages = 16>, tensor<1xi32> -> tensor<4x1x32xf32>
  return %o : tensor<4x1x32xf32>
}

// -----

func.func @select_f16(%q: tensor<4x1x32xf16>, %c: !tok.kv_cache<2x64x32xf16, pages = 16>, %p: tensor<1xi32>) -> tensor<4x1x32xf16> {
  // expected-error @+1 {{select_budget is lowered by the vectorized attention kernels only: f32, a head dim (at most 256) and a page size that are multiples of 16, and vector-attention enabled}}
  %o = tok.cached_attention %q, %c, %p {mask = #tok.mask<causal>, select_budget = 48} : tensor<4x1x32xf16>, !tok.kv_cache<2x64x32xf16, pages = 16>, tensor<1xi32> -> tensor<4x1x32xf16>
  return %o : tensor<4x1x32xf16>
}

// -----

func.func @evict_pages(%c: !tok.kv_cache<2x64x32xf32, pages = 16>) -> !tok.kv_cache<2x64x32xf32, pages = 16> {
  // expected-error @+1 {{'tok.kv.evict': no lowering yet over a cache with page bounds (pages = 16)}}
  %e = tok.kv.evict %c {policy = #tok.evict<window, budget = 8, sinks = 2, recent = 6>} : !tok.kv_cache<2x64x32xf32, pages = 16>
  return %e : !tok.kv_cache<2x64x32xf32, pages = 16>
}
