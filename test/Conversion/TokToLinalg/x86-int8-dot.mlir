// RUN: tok-opt %s --tok-x86-int8-dot=mode=vnni | FileCheck %s
// RUN: tok-opt %s --tok-x86-int8-dot=mode=generic | FileCheck %s --check-prefix=GENERIC
// RUN: not tok-opt %s --tok-x86-int8-dot=mode=avx 2>&1 | FileCheck %s --check-prefix=BAD

// The generic u8 x s8 dot product of the int8 quantized kernel becomes
// vpdpbusd; other contractions stay.

// CHECK-LABEL: func.func @dot(
// CHECK-SAME:    %[[ACC:.*]]: vector<8xi32>, %[[A:.*]]: vector<32xi8>, %[[B:.*]]: vector<32xi8>)
// CHECK:         %[[R:.*]] = llvm.call_intrinsic "llvm.x86.avx512.vpdpbusd.256"(%[[ACC]], %[[A]], %[[B]]) : (vector<8xi32>, vector<32xi8>, vector<32xi8>) -> vector<8xi32>
// CHECK:         return %[[R]]
// GENERIC-LABEL: func.func @dot(
// GENERIC:       vector.contract
// GENERIC-NOT:   llvm.call_intrinsic
#lhs = affine_map<(i, j) -> (i, j)>
#acc = affine_map<(i, j) -> (i)>
func.func @dot(%acc: vector<8xi32>, %a: vector<32xi8>, %b: vector<32xi8>) -> vector<8xi32> {
  %a2 = vector.shape_cast %a : vector<32xi8> to vector<8x4xi8>
  %b2 = vector.shape_cast %b : vector<32xi8> to vector<8x4xi8>
  %a32 = arith.extui %a2 : vector<8x4xi8> to vector<8x4xi32>
  %b32 = arith.extsi %b2 : vector<8x4xi8> to vector<8x4xi32>
  %r = vector.contract {indexing_maps = [#lhs, #lhs, #acc], iterator_types = ["parallel", "reduction"], kind = #vector.kind<add>} %a32, %b32, %acc : vector<8x4xi32>, vector<8x4xi32> into vector<8xi32>
  return %r : vector<8xi32>
}

// Both operands signed: not vpdpbusd's semantics, left alone.
// CHECK-LABEL: func.func @signed_signed(
// CHECK:         vector.contract
// CHECK-NOT:     llvm.call_intrinsic
func.func @signed_signed(%acc: vector<8xi32>, %a: vector<32xi8>, %b: vector<32xi8>) -> vector<8xi32> {
  %a2 = vector.shape_cast %a : vector<32xi8> to vector<8x4xi8>
  %b2 = vector.shape_cast %b : vector<32xi8> to vector<8x4xi8>
  %a32 = arith.extsi %a2 : vector<8x4xi8> to vector<8x4xi32>
  %b32 = arith.extsi %b2 : vector<8x4xi8> to vector<8x4xi32>
  %r = vector.contract {indexing_maps = [#lhs, #lhs, #acc], iterator_types = ["parallel", "reduction"], kind = #vector.kind<add>} %a32, %b32, %acc : vector<8x4xi32>, vector<8x4xi32> into vector<8xi32>
  return %r : vector<8xi32>
}

// BAD: tok-x86-int8-dot: mode must be 'auto', 'vnni' or 'generic', got 'avx'
