// RUN: tok-opt %s --tok-x86-bf16-dot=mode=avx512bf16 | FileCheck %s
// RUN: tok-opt %s --tok-x86-bf16-dot=mode=generic | FileCheck %s --check-prefix=GENERIC
// RUN: not tok-opt %s --tok-x86-bf16-dot=mode=amx 2>&1 | FileCheck %s --check-prefix=BAD

// BAD: tok-x86-bf16-dot: mode must be 'auto', 'avx512bf16' or 'generic', got 'amx'

// The generic bf16 pair dot product of the linear kernel becomes
// vdpbf16ps; other contractions stay.

// CHECK-LABEL: func.func @dot(
// CHECK-SAME:    %[[ACC:.*]]: vector<16xf32>, %[[A:.*]]: vector<32xbf16>, %[[B:.*]]: vector<32xbf16>)
// CHECK:         %[[R:.*]] = llvm.call_intrinsic "llvm.x86.avx512bf16.dpbf16ps.512"(%[[ACC]], %[[A]], %[[B]]) : (vector<16xf32>, vector<32xbf16>, vector<32xbf16>) -> vector<16xf32>
// CHECK:         return %[[R]]
// GENERIC-LABEL: func.func @dot(
// GENERIC:       vector.contract
// GENERIC-NOT:   llvm.call_intrinsic
#lhs = affine_map<(i, j) -> (i, j)>
#acc = affine_map<(i, j) -> (i)>
func.func @dot(%acc: vector<16xf32>, %a: vector<32xbf16>, %b: vector<32xbf16>) -> vector<16xf32> {
  %a2 = vector.shape_cast %a : vector<32xbf16> to vector<16x2xbf16>
  %b2 = vector.shape_cast %b : vector<32xbf16> to vector<16x2xbf16>
  %a32 = arith.extf %a2 : vector<16x2xbf16> to vector<16x2xf32>
  %b32 = arith.extf %b2 : vector<16x2xbf16> to vector<16x2xf32>
  %r = vector.contract {indexing_maps = [#lhs, #lhs, #acc], iterator_types = ["parallel", "reduction"], kind = #vector.kind<add>} %a32, %b32, %acc : vector<16x2xf32>, vector<16x2xf32> into vector<16xf32>
  return %r : vector<16xf32>
}

// f16 pairs: not vdpbf16ps's operands, left alone.
// CHECK-LABEL: func.func @half_pairs(
// CHECK:         vector.contract
// CHECK-NOT:     llvm.call_intrinsic
func.func @half_pairs(%acc: vector<16xf32>, %a: vector<32xf16>, %b: vector<32xf16>) -> vector<16xf32> {
  %a2 = vector.shape_cast %a : vector<32xf16> to vector<16x2xf16>
  %b2 = vector.shape_cast %b : vector<32xf16> to vector<16x2xf16>
  %a32 = arith.extf %a2 : vector<16x2xf16> to vector<16x2xf32>
  %b32 = arith.extf %b2 : vector<16x2xf16> to vector<16x2xf32>
  %r = vector.contract {indexing_maps = [#lhs, #lhs, #acc], iterator_types = ["parallel", "reduction"], kind = #vector.kind<add>} %a32, %b32, %acc : vector<16x2xf32>, vector<16x2xf32> into vector<16xf32>
  return %r : vector<16xf32>
}

// Pairs over 8 lanes (vector<16xbf16>): not the 512-bit shape, left alone.
// CHECK-LABEL: func.func @narrow(
// CHECK:         vector.contract
// CHECK-NOT:     llvm.call_intrinsic
func.func @narrow(%acc: vector<8xf32>, %a: vector<16xbf16>, %b: vector<16xbf16>) -> vector<8xf32> {
  %a2 = vector.shape_cast %a : vector<16xbf16> to vector<8x2xbf16>
  %b2 = vector.shape_cast %b : vector<16xbf16> to vector<8x2xbf16>
  %a32 = arith.extf %a2 : vector<8x2xbf16> to vector<8x2xf32>
  %b32 = arith.extf %b2 : vector<8x2xbf16> to vector<8x2xf32>
  %r = vector.contract {indexing_maps = [#lhs, #lhs, #acc], iterator_types = ["parallel", "reduction"], kind = #vector.kind<add>} %a32, %b32, %acc : vector<8x2xf32>, vector<8x2xf32> into vector<8xf32>
  return %r : vector<8xf32>
}
