// RUN: tok-opt %s --convert-tok-to-linalg --canonicalize --split-input-file --verify-diagnostics | FileCheck %s
// RUN: tok-opt %s --convert-tok-to-linalg=vector-attention=false --canonicalize --split-input-file --verify-diagnostics | FileCheck %s --check-prefix=GENERAL

// A quantized cache is the full-precision tail (min(C, R + g - 1) = 31
// rows), positions, length, the quantized count, then int4 codes (two
// channels a byte), f16 key scales / mins per group of 16 tokens and value
// scales / mins per group of 16 channels.
// CHECK-LABEL: func.func @append(
// CHECK-SAME: %[[TK:[a-z0-9]+]]: tensor<2x31x32xf32>, %[[TV:[a-z0-9]+]]: tensor<2x31x32xf32>, %{{.*}}: tensor<2x64xi32>, %[[LEN:[a-z0-9]+]]: index, %[[Q:[a-z0-9]+]]: index, %{{.*}}: tensor<2x64x16xi8>, %{{.*}}: tensor<2x4x32xf16>, %{{.*}}: tensor<2x4x32xf16>, %{{.*}}: tensor<2x64x16xi8>, %{{.*}}: tensor<2x64x2xf16>, %{{.*}}: tensor<2x64x2xf16>
// The flush boundary: max(quantized, 16 * ((max(L', 16) - 16) / 16)).
// CHECK:       %[[NEWLEN:.*]] = arith.addi %[[LEN]]
// CHECK:       arith.maxui %[[NEWLEN]], %c16
// CHECK:       %[[NEXT:.*]] = arith.maxui %[[Q]],
// CHECK:       %[[SAME:.*]] = arith.cmpi eq, %[[NEXT]], %[[Q]]
// No group completes: the new rows go into the tail in place.
// CHECK:       scf.if %[[SAME]]
// CHECK:         tensor.insert_slice %{{.*}} into %[[TK]]
// CHECK:         tensor.insert_slice %{{.*}} into %[[TV]]
// Otherwise: min / max per key channel over 16 tokens, scale (range / 15)
// and min in f16, codes by roundeven, two nibbles packed per byte.
// CHECK:       } else {
// CHECK:         arith.minimumf
// CHECK:         arith.maximumf
// CHECK:         arith.divf %{{.*}}, %cst{{.*}} : f32
// CHECK:         arith.truncf %{{.*}} : f32 to f16
// CHECK:         math.roundeven
// CHECK:         arith.shli %{{.*}}, %c4_i32 : i32
// CHECK:         arith.ori
// CHECK:         arith.trunci %{{.*}} : i32 to i8
func.func @append(%c: !tok.kv_cache<2x64x32xf32, quant = #tok.kv_quant<bits = 4, group = 16, residual = 16>>, %k: tensor<2x?x32xf32>, %p: tensor<?xi32>) -> !tok.kv_cache<2x64x32xf32, quant = #tok.kv_quant<bits = 4, group = 16, residual = 16>> {
  %c1 = tok.kv.append %c, %k, %k, %p : !tok.kv_cache<2x64x32xf32, quant = #tok.kv_quant<bits = 4, group = 16, residual = 16>>, tensor<2x?x32xf32>, tensor<2x?x32xf32>, tensor<?xi32>
  return %c1 : !tok.kv_cache<2x64x32xf32, quant = #tok.kv_quant<bits = 4, group = 16, residual = 16>>
}

// -----

// A rollback may drop only tail slots: checked at run time.
// CHECK-LABEL: func.func @truncate(
// CHECK:       cf.assert %{{.*}}, "tok.kv.truncate: the slots to drop are already quantized
func.func @truncate(%c: !tok.kv_cache<2x64x32xf32, quant = #tok.kv_quant<bits = 8, group = 16, residual = 16>>, %n: index) -> !tok.kv_cache<2x64x32xf32, quant = #tok.kv_quant<bits = 8, group = 16, residual = 16>> {
  %c1 = tok.kv.truncate %c, %n : !tok.kv_cache<2x64x32xf32, quant = #tok.kv_quant<bits = 8, group = 16, residual = 16>>
  return %c1 : !tok.kv_cache<2x64x32xf32, quant = #tok.kv_quant<bits = 8, group = 16, residual = 16>>
}

// -----

// Attention over int4 codes, decode: per query row, each key group's
// per-channel scales are folded into the query once (q * s into a scratch,
// q . min); a quantized key is then its 8 code bytes split into nibbles,
// interleaved, converted and one fma per 16 channels with q * s; slots
// past the quantized prefix read the tail. No dequantized copy of the
// cache.
// CHECK-LABEL: func.func @attend(
// CHECK-NOT:   linalg.generic
// CHECK:       memref.alloc() : memref<4x32xf32>
// CHECK:       vector.transfer_read %{{.*}} : tensor<2x4x32xf16>, vector<16xf16>
// CHECK:       arith.extf %{{.*}} : vector<16xf16> to vector<16xf32>
// CHECK:       vector.store %{{.*}} : memref<4x32xf32>, vector<16xf32>
// CHECK:       vector.load %{{.*}} : memref<4x32xf32>, vector<16xf32>
// CHECK:       vector.transfer_read %{{.*}} : tensor<2x64x16xi8>, vector<8xi8>
// CHECK:       arith.shrui %{{.*}} : vector<8xi8>
// CHECK:       vector.interleave %{{.*}}, %{{.*}} : vector<8xi8> -> vector<16xi8>
// CHECK:       arith.uitofp %{{.*}} : vector<16xi32> to vector<16xf32>
// CHECK:       vector.fma
// The general lowering dequantizes once into [H, S, D] and attends to it.
// GENERAL-LABEL: func.func @attend(
// GENERAL:       linalg.generic
// GENERAL:         arith.extui %{{.*}} : i8 to i32
// GENERAL:         arith.shrui
// GENERAL:         math.fma
func.func @attend(%q: tensor<4x1x32xf32>, %c: !tok.kv_cache<2x64x32xf32, quant = #tok.kv_quant<bits = 4, group = 16, residual = 16>>, %p: tensor<1xi32>) -> tensor<4x1x32xf32> {
  %o = tok.cached_attention %q, %c, %p {mask = #tok.mask<causal>} : tensor<4x1x32xf32>, !tok.kv_cache<2x64x32xf32, quant = #tok.kv_quant<bits = 4, group = 16, residual = 16>>, tensor<1xi32> -> tensor<4x1x32xf32>
  return %o : tensor<4x1x32xf32>
}

// -----

func.func @scores(%q: tensor<4x1x32xf32>, %c: !tok.kv_cache<2x64x32xf32, quant = #tok.kv_quant<bits = 8, group = 16, residual = 16>>, %p: tensor<1xi32>) -> tensor<4x1x32xf32> {
  // expected-error @+1 {{'tok.cached_attention': no lowering yet for received attention scores over a quantized KV cache}}
  %o, %s = tok.cached_attention %q, %c, %p {mask = #tok.mask<causal>, scores = #tok.scores<>} : tensor<4x1x32xf32>, !tok.kv_cache<2x64x32xf32, quant = #tok.kv_quant<bits = 8, group = 16, residual = 16>>, tensor<1xi32> -> tensor<4x1x32xf32>, tensor<2x64xf32>
  return %o : tensor<4x1x32xf32>
}
