// RUN: tok-opt %s --convert-tok-to-linalg --canonicalize --split-input-file --verify-diagnostics | FileCheck %s

// A cache becomes keys, values, per-head positions, the length and the
// scores; each op writes only the slots it changes.
// CHECK-LABEL: func.func @ops
// CHECK-SAME: (%[[K:[a-z0-9]+]]: tensor<2x64x8xf32>, %[[V:[a-z0-9]+]]: tensor<2x64x8xf32>, %[[P:[a-z0-9]+]]: tensor<2x64xi32>, %[[LEN:[a-z0-9]+]]: index, %[[S:[a-z0-9]+]]: tensor<2x64xf32>,
// CHECK-SAME: %[[NK:[a-z0-9]+]]: tensor<2x?x8xf32>, %[[NV:[a-z0-9]+]]: tensor<2x?x8xf32>, %[[NP:[a-z0-9]+]]: tensor<?xi32>, %[[DROP:[a-z0-9]+]]: index, %[[BASE:[a-z0-9]+]]: index, %[[PATH:[a-z0-9]+]]: tensor<?xi32>)
// CHECK-SAME: -> (tensor<2x64x8xf32>, tensor<2x64x8xf32>, tensor<2x64xi32>, index, tensor<2x64xf32>, index)
//
// append: capacity check, then the T new slots at [length, length + T).
// CHECK:       %[[T:.*]] = tensor.dim %[[NK]]
// CHECK:       %[[END:.*]] = arith.addi %[[LEN]], %[[T]]
// CHECK:       %[[FITS:.*]] = arith.cmpi ule, %[[END]], %c64
// CHECK:       cf.assert %[[FITS]], "tok.kv.append: the cache capacity of 64 slots is exceeded"
// CHECK:       %[[K1:.*]] = tensor.insert_slice %[[NK]] into %[[K]][0, %[[LEN]], 0]
// CHECK:       %[[V1:.*]] = tensor.insert_slice %[[NV]] into %[[V]][0, %[[LEN]], 0]
// CHECK:       %[[B:.*]] = linalg.broadcast ins(%[[NP]] : tensor<?xi32>) {{.*}} dimensions = [0]
// CHECK:       %[[P1:.*]] = tensor.insert_slice %[[B]] into %[[P]][0, %[[LEN]]]
// CHECK:       %[[S1:.*]] = tensor.insert_slice %{{.*}} into %[[S]][0, %[[LEN]]]
//
// truncate: only the length changes.
// CHECK:       %[[D:.*]] = arith.minui %[[DROP]], %[[END]]
// CHECK:       %[[LEN2:.*]] = arith.subi %[[END]], %[[D]]
//
// commit: one slot moved per path node, each move checked.
// CHECK:       cf.assert %{{.*}}, "tok.kv.commit: the tree base is past the live slots"
// CHECK:       %[[C:.*]]:4 = scf.for %[[J:.*]] = %c0 to %{{.*}} step %c1 iter_args(%[[AK:.*]] = %[[K1]], %[[AV:.*]] = %[[V1]], %[[AP:.*]] = %[[P1]], %[[AS:.*]] = %[[S1]])
// CHECK:         cf.assert %{{.*}}, "tok.kv.commit: a path node is not a live tree slot or the path is not increasing"
// CHECK:         tensor.extract_slice %[[AK]][0, %{{.*}}, 0] [2, 1, 8]
// CHECK:         tensor.insert_slice %{{.*}} into %[[AK]][0, %{{.*}}, 0] [2, 1, 8]
// CHECK:       %[[LEN3:.*]] = arith.addi %[[BASE]], %{{.*}}
//
// window eviction: when over budget, the 12 recent slots move behind the
// 4 sinks, slot by slot upwards (a memmove: each head's D-vector is read
// into a register, then written), so no temporary is needed; a loop of 12
// or 0 iterations, not an scf.if, keeps the parts equivalent to the
// incoming ones for bufferization; the length becomes the budget.
// CHECK:       %[[OVER:.*]] = arith.cmpi ugt, %[[LEN3]], %c16
// CHECK:       %[[COUNT:.*]] = arith.select %[[OVER]], %c12, %c0
// CHECK:       %[[FROM:.*]] = arith.subi %[[LEN3]], %c12
// CHECK:       %[[E:.*]]:4 = scf.for %[[S:.*]] = %c0 to %[[COUNT]] step %c1 iter_args(%[[MK:.*]] = %[[C]]#0,
// CHECK:         %[[SRC:.*]] = arith.addi %[[FROM]], %[[S]]
// CHECK:         %[[DST:.*]] = arith.addi %[[S]], %c4
// CHECK:         scf.for %[[H:.*]] = %c0 to %c2 step %c1 iter_args(%[[HK:.*]] = %[[MK]],
// CHECK:           %[[VEC:.*]] = vector.transfer_read %[[HK]][%[[H]], %[[SRC]], %c0]{{.*}} : tensor<2x64x8xf32>, vector<8xf32>
// CHECK:           vector.transfer_write %[[VEC]], %[[HK]][%[[H]], %[[DST]], %c0]
// CHECK:           tensor.extract %{{.*}}[%[[H]], %[[SRC]]] : tensor<2x64xi32>
// CHECK:       %[[LEN4:.*]] = arith.select %[[OVER]], %c16, %[[LEN3]]
// CHECK:       return %[[E]]#0, %[[E]]#1, %[[E]]#2, %[[LEN4]], %[[E]]#3, %[[LEN4]]
func.func @ops(%c: !tok.kv_cache<2x64x8xf32, scores>, %k: tensor<2x?x8xf32>, %v: tensor<2x?x8xf32>, %pos: tensor<?xi32>, %n: index, %base: index, %path: tensor<?xi32>) -> (!tok.kv_cache<2x64x8xf32, scores>, index) {
  %c1 = tok.kv.append %c, %k, %v, %pos : !tok.kv_cache<2x64x8xf32, scores>, tensor<2x?x8xf32>, tensor<2x?x8xf32>, tensor<?xi32>
  %c2 = tok.kv.truncate %c1, %n : !tok.kv_cache<2x64x8xf32, scores>
  %c3 = tok.kv.commit %c2, %base, %path : !tok.kv_cache<2x64x8xf32, scores>, tensor<?xi32>
  %c4 = tok.kv.evict %c3 {policy = #tok.evict<window, budget = 16, sinks = 4, recent = 12>} : !tok.kv_cache<2x64x8xf32, scores>
  %len = tok.kv.length %c4 : !tok.kv_cache<2x64x8xf32, scores>
  return %c4, %len : !tok.kv_cache<2x64x8xf32, scores>, index
}

// -----

// An empty cache: buffers of its capacity, length 0, zero scores.
// CHECK-LABEL: func.func @empty
// CHECK-DAG:   %[[K:.*]] = bufferization.alloc_tensor() : tensor<4x32x16xf32>
// CHECK-DAG:   %[[V:.*]] = bufferization.alloc_tensor() : tensor<4x32x16xf32>
// CHECK-DAG:   %[[P:.*]] = bufferization.alloc_tensor() : tensor<4x32xi32>
// CHECK-DAG:   %[[S:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%{{.*}} : tensor<4x32xf32>)
// CHECK:       return %[[K]], %[[V]], %[[P]], %c0, %[[S]]
func.func @empty() -> !tok.kv_cache<4x32x16xf32, scores> {
  %c = tok.kv.empty : !tok.kv_cache<4x32x16xf32, scores>
  return %c : !tok.kv_cache<4x32x16xf32, scores>
}

// -----

// Cached attention reads the live prefix of keys, values and positions.
// CHECK-LABEL: func.func @cached_attention
// CHECK-SAME: (%[[K:[a-z0-9]+]]: tensor<2x64x8xf32>, %[[V:[a-z0-9]+]]: tensor<2x64x8xf32>, %[[P:[a-z0-9]+]]: tensor<2x64xi32>, %[[LEN:[a-z0-9]+]]: index
// CHECK-DAG:   tensor.extract_slice %[[K]][0, 0, 0] [2, %[[LEN]], 8]
// CHECK-DAG:   tensor.extract_slice %[[V]][0, 0, 0] [2, %[[LEN]], 8]
// CHECK-DAG:   tensor.extract_slice %[[P]][0, 0] [2, %[[LEN]]]
// CHECK:       scf.for
func.func @cached_attention(%c: !tok.kv_cache<2x64x8xf32>, %q: tensor<4x1x8xf32>, %pos: tensor<1xi32>) -> tensor<4x1x8xf32> {
  %o = tok.cached_attention %q, %c, %pos {mask = #tok.mask<causal>} : tensor<4x1x8xf32>, !tok.kv_cache<2x64x8xf32>, tensor<1xi32> -> tensor<4x1x8xf32>
  return %o : tensor<4x1x8xf32>
}

// -----

// H2O: accumulate this step's scores into the cache; over budget, per KV
// head, argmin passes mark the evicted slots, then the kept ones are
// compacted in slot order (keys, values, positions and scores together).
// CHECK-LABEL: func.func @h2o
// CHECK-SAME: (%[[K:[a-z0-9]+]]: tensor<2x64x8xf32>, %[[V:[a-z0-9]+]]: tensor<2x64x8xf32>, %[[P:[a-z0-9]+]]: tensor<2x64xi32>, %[[LEN:[a-z0-9]+]]: index, %[[ACC:[a-z0-9]+]]: tensor<2x64xf32>, %[[S:[a-z0-9]+]]: tensor<2x64xf32>)
// CHECK:       %[[OVER:.*]] = arith.cmpi ugt, %[[LEN]], %c32
// CHECK:       %[[SUM:.*]] = linalg.generic {{.*}} ins(%[[S]] : tensor<2x64xf32>) outs(%[[ACC]] : tensor<2x64xf32>)
// CHECK:         arith.addf
// CHECK:       scf.if %[[OVER]]
// CHECK:         scf.for %[[H:.*]] = %c0 to %c2
// CHECK:           scf.for {{.*}} iter_args(%[[MASK:.*]] = %{{.*}}) -> (tensor<64xi1>)
// CHECK:             scf.for
// CHECK:               tensor.extract %[[SUM]][%[[H]], %{{.*}}]
// CHECK:               arith.cmpf ole
// CHECK:             tensor.insert %true into
// CHECK:           scf.for
// CHECK:             scf.if
// CHECK:               tensor.extract_slice %{{.*}}[%[[H]], %{{.*}}, 0] [1, 1, 8]
// CHECK:       } else {
// CHECK:         scf.yield %[[K]], %[[V]], %[[P]], %[[SUM]]
func.func @h2o(%c: !tok.kv_cache<2x64x8xf32, scores>, %s: tensor<2x64xf32>) -> !tok.kv_cache<2x64x8xf32, scores> {
  %c1 = tok.kv.evict %c scores(%s : tensor<2x64xf32>) {policy = #tok.evict<h2o, budget = 32, recent = 16>} : !tok.kv_cache<2x64x8xf32, scores>
  return %c1 : !tok.kv_cache<2x64x8xf32, scores>
}

// -----

// SnapKV ranks by scores max-pooled over 3 neighbours among the candidates
// before the observation window, which always stays.
// CHECK-LABEL: func.func @snapkv
// CHECK-SAME: %[[LEN:[a-z0-9]+]]: index, %[[S:[a-z0-9]+]]: tensor<2x64xf32>
// CHECK:       %[[END:.*]] = arith.subi %[[LEN]], %c8
// CHECK:       %[[POOLED:.*]] = linalg.generic
// CHECK-COUNT-3: arith.maxnumf
// CHECK:       scf.if
// CHECK:           tensor.extract %[[POOLED]]
func.func @snapkv(%c: !tok.kv_cache<2x64x8xf32>, %s: tensor<2x64xf32>) -> !tok.kv_cache<2x64x8xf32> {
  %c1 = tok.kv.evict %c scores(%s : tensor<2x64xf32>) {policy = #tok.evict<snapkv, budget = 32, observe = 8, pool = 3>} : !tok.kv_cache<2x64x8xf32>
  return %c1 : !tok.kv_cache<2x64x8xf32>
}

// -----

func.func @quantized_evict(%c: !tok.kv_cache<2x256x32xf32, quant = #tok.kv_quant<bits = 8>>) -> !tok.kv_cache<2x256x32xf32, quant = #tok.kv_quant<bits = 8>> {
  // expected-error @+1 {{'tok.kv.evict': no lowering yet for eviction over a quantized KV cache}}
  %e = tok.kv.evict %c {policy = #tok.evict<window, budget = 8, sinks = 2, recent = 6>} : !tok.kv_cache<2x256x32xf32, quant = #tok.kv_quant<bits = 8>>
  return %e : !tok.kv_cache<2x256x32xf32, quant = #tok.kv_quant<bits = 8>>
}

// -----

// New slots with dynamic heads and head dim take the cache's static sizes
// before they are written.
// CHECK-LABEL: func.func @append_dynamic_heads
// CHECK-SAME: %[[NK:[a-z0-9]+]]: tensor<?x?x?xf32>, %[[NV:[a-z0-9]+]]: tensor<?x?x?xf32>
// CHECK:       %[[CK:.*]] = tensor.cast %[[NK]] : tensor<?x?x?xf32> to tensor<2x?x8xf32>
// CHECK:       tensor.insert_slice %[[CK]] into %{{.*}}[0, %{{.*}}, 0] [2, %{{.*}}, 8]
// CHECK:       %[[CV:.*]] = tensor.cast %[[NV]] : tensor<?x?x?xf32> to tensor<2x?x8xf32>
// CHECK:       tensor.insert_slice %[[CV]] into %{{.*}}[0, %{{.*}}, 0] [2, %{{.*}}, 8]
func.func @append_dynamic_heads(%c: !tok.kv_cache<2x64x8xf32>, %k: tensor<?x?x?xf32>, %v: tensor<?x?x?xf32>, %pos: tensor<?xi32>) -> !tok.kv_cache<2x64x8xf32> {
  %c1 = tok.kv.append %c, %k, %v, %pos : !tok.kv_cache<2x64x8xf32>, tensor<?x?x?xf32>, tensor<?x?x?xf32>, tensor<?xi32>
  return %c1 : !tok.kv_cache<2x64x8xf32>
}
