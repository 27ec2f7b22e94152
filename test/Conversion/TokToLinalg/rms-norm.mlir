// RUN: tok-opt %s --convert-tok-to-linalg --split-input-file | FileCheck %s

// CHECK-DAG: #[[$ID:.*]] = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-DAG: #[[$ROW:.*]] = affine_map<(d0, d1) -> (d0)>
// CHECK-DAG: #[[$COL:.*]] = affine_map<(d0, d1) -> (d1)>
// CHECK-LABEL: func.func @static_f32
// CHECK-SAME: (%[[X:.*]]: tensor<4x8xf32>, %[[W:.*]]: tensor<8xf32>)
// CHECK:       %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK:       %[[ACC0:.*]] = linalg.fill ins(%[[ZERO]] : f32) outs(%{{.*}} : tensor<4xf32>)
// CHECK:       %[[SUM:.*]] = linalg.generic
// CHECK-SAME:    indexing_maps = [#[[$ID]], #[[$ROW]]]
// CHECK-SAME:    iterator_types = ["parallel", "reduction"]
// CHECK-SAME:    ins(%[[X]] : tensor<4x8xf32>) outs(%[[ACC0]] : tensor<4xf32>)
// CHECK:         ^bb0(%[[A:.*]]: f32, %[[ACC:.*]]: f32):
// CHECK:           %[[SQ:.*]] = arith.mulf %[[A]], %[[A]]
// CHECK:           %[[ADD:.*]] = arith.addf %[[ACC]], %[[SQ]]
// CHECK:           linalg.yield %[[ADD]]
// CHECK-DAG:   %[[INV_D:.*]] = arith.constant 1.250000e-01 : f32
// CHECK-DAG:   %[[EPS:.*]] = arith.constant 9.99999974E-6 : f32
// CHECK:       %[[OUT:.*]] = linalg.generic
// CHECK-SAME:    indexing_maps = [#[[$ID]], #[[$ROW]], #[[$COL]], #[[$ID]]]
// CHECK-SAME:    iterator_types = ["parallel", "parallel"]
// CHECK-SAME:    ins(%[[X]], %[[SUM]], %[[W]] : tensor<4x8xf32>, tensor<4xf32>, tensor<8xf32>)
// CHECK:         ^bb0(%[[XI:.*]]: f32, %[[S:.*]]: f32, %[[WI:.*]]: f32, %{{.*}}: f32):
// CHECK:           %[[MEAN:.*]] = arith.mulf %[[S]], %[[INV_D]]
// CHECK:           %[[VAR:.*]] = arith.addf %[[MEAN]], %[[EPS]]
// CHECK:           %[[R:.*]] = math.rsqrt %[[VAR]]
// CHECK:           %[[XR:.*]] = arith.mulf %[[XI]], %[[R]]
// CHECK:           %[[Y:.*]] = arith.mulf %[[XR]], %[[WI]]
// CHECK:           linalg.yield %[[Y]]
// CHECK:       return %[[OUT]]
// CHECK-NOT: tok.
func.func @static_f32(%x: tensor<4x8xf32>, %w: tensor<8xf32>) -> tensor<4x8xf32> {
  %y = tok.rms_norm %x, %w : tensor<4x8xf32>, tensor<8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// Narrow floats accumulate in f32 and round once at the end; dynamic token
// dimensions size the temporaries from tensor.dim.
// CHECK-LABEL: func.func @dynamic_bf16
// CHECK-SAME: (%[[X:.*]]: tensor<2x?x16xbf16>, %[[W:.*]]: tensor<16xbf16>)
// CHECK:       %[[C1:.*]] = arith.constant 1 : index
// CHECK:       %[[N:.*]] = tensor.dim %[[X]], %[[C1]]
// CHECK:       tensor.empty(%[[N]]) : tensor<2x?xf32>
// CHECK:       linalg.generic
// CHECK-SAME:    iterator_types = ["parallel", "parallel", "reduction"]
// CHECK:         arith.extf %{{.*}} : bf16 to f32
// CHECK:       tensor.empty(%[[N]]) : tensor<2x?x16xbf16>
// CHECK:       linalg.generic
// CHECK:         math.rsqrt %{{.*}} : f32
// CHECK:         %[[T:.*]] = arith.truncf %{{.*}} : f32 to bf16
// CHECK:         linalg.yield %[[T]] : bf16
// CHECK:       -> tensor<2x?x16xbf16>
func.func @dynamic_bf16(%x: tensor<2x?x16xbf16>, %w: tensor<16xbf16>) -> tensor<2x?x16xbf16> {
  %y = tok.rms_norm %x, %w : tensor<2x?x16xbf16>, tensor<16xbf16>
  return %y : tensor<2x?x16xbf16>
}

// -----

// Rank 1: the row sum is a 0-d tensor.
// CHECK-LABEL: func.func @rank1
// CHECK:       linalg.fill {{.*}} -> tensor<f32>
// CHECK:       linalg.generic
// CHECK-SAME:    iterator_types = ["reduction"]
// CHECK:       linalg.generic
// CHECK-SAME:    iterator_types = ["parallel"]
func.func @rank1(%x: tensor<5xf32>, %w: tensor<5xf32>) -> tensor<5xf32> {
  %y = tok.rms_norm %x, %w : tensor<5xf32>, tensor<5xf32>
  return %y : tensor<5xf32>
}
