// RUN: tok-opt %s | tok-opt | FileCheck %s
// RUN: tok-opt %s --mlir-print-op-generic | tok-opt | FileCheck %s
// RUN: tok-opt %s --verify-roundtrip | FileCheck %s

// CHECK-LABEL: func.func @rms_norm_static
// CHECK-SAME: (%[[X:.*]]: tensor<4x8xf32>, %[[W:.*]]: tensor<8xf32>)
func.func @rms_norm_static(%x: tensor<4x8xf32>, %w: tensor<8xf32>) -> tensor<4x8xf32> {
  // The default epsilon is elided when printing.
  // CHECK: tok.rms_norm %[[X]], %[[W]] : tensor<4x8xf32>, tensor<8xf32>
  %y = tok.rms_norm %x, %w : tensor<4x8xf32>, tensor<8xf32>
  return %y : tensor<4x8xf32>
}

// CHECK-LABEL: func.func @rms_norm_dynamic_tokens
func.func @rms_norm_dynamic_tokens(%x: tensor<2x?x288xbf16>, %w: tensor<288xbf16>) -> tensor<2x?x288xbf16> {
  // CHECK: tok.rms_norm %{{.*}}, %{{.*}} {epsilon = 9.99999997E-7 : f32} : tensor<2x?x288xbf16>, tensor<288xbf16>
  %y = tok.rms_norm %x, %w {epsilon = 1.0e-6 : f32} : tensor<2x?x288xbf16>, tensor<288xbf16>
  return %y : tensor<2x?x288xbf16>
}

// CHECK-LABEL: func.func @rms_norm_rank1
func.func @rms_norm_rank1(%x: tensor<8xf16>, %w: tensor<8xf16>) -> tensor<8xf16> {
  // CHECK: tok.rms_norm {{.*}} : tensor<8xf16>, tensor<8xf16>
  %y = tok.rms_norm %x, %w : tensor<8xf16>, tensor<8xf16>
  return %y : tensor<8xf16>
}
