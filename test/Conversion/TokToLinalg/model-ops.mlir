// RUN: tok-opt %s --convert-tok-to-linalg --split-input-file | FileCheck %s

// Ids are range-checked (min >= 0, max < V) before the gather.
// CHECK-LABEL: func.func @embed
// CHECK-SAME: (%[[T:.*]]: tensor<256x32xf32>, %[[IDS:.*]]: tensor<?xi32>)
// CHECK:       arith.minsi
// CHECK:       arith.maxsi
// CHECK:       cf.assert %{{.*}}, "tok.embed: a token id is outside the vocabulary"
// CHECK:       linalg.generic {{.*}} ins(%[[IDS]] : tensor<?xi32>) outs(%{{.*}} : tensor<?x32xf32>)
// CHECK:         %[[ROW:.*]] = arith.index_cast
// CHECK:         %[[COL:.*]] = linalg.index 1
// CHECK:         tensor.extract %[[T]][%[[ROW]], %[[COL]]]
func.func @embed(%t: tensor<256x32xf32>, %ids: tensor<?xi32>) -> tensor<?x32xf32> {
  %e = tok.embed %t[%ids] : tensor<256x32xf32>, tensor<?xi32>
  return %e : tensor<?x32xf32>
}

// -----

// Each element reads its rotation partner; angles are f32.
// CHECK-LABEL: func.func @rope_half
// CHECK:       linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel"]
// CHECK:         arith.divui
// CHECK:         arith.cmpi ult
// CHECK:         math.exp
// CHECK:         math.cos
// CHECK:         math.sin
// CHECK:         tensor.extract
// CHECK:         arith.negf
func.func @rope_half(%x: tensor<8x?x32xf32>, %p: tensor<?xi32>) -> tensor<8x?x32xf32> {
  %r = tok.rope %x, %p : tensor<8x?x32xf32>, tensor<?xi32>
  return %r : tensor<8x?x32xf32>
}

// -----

// Interleaved pairs: partner i + 1 for even i, i - 1 for odd i.
// CHECK-LABEL: func.func @rope_interleaved
// CHECK:         arith.remui
// CHECK:         arith.cmpi eq
func.func @rope_interleaved(%x: tensor<8x?x32xbf16>, %p: tensor<?xi32>) -> tensor<8x?x32xbf16> {
  %r = tok.rope %x, %p {style = #tok.rope_style<interleaved>} : tensor<8x?x32xbf16>, tensor<?xi32>
  return %r : tensor<8x?x32xbf16>
}

// -----

// A contraction over the input features, started from the bias, in f32;
// narrow types round once at the end.
// CHECK-LABEL: func.func @linear_bias_bf16
// CHECK-SAME: (%[[X:.*]]: tensor<?x64xbf16>, %[[W:.*]]: tensor<128x64xbf16>, %[[B:.*]]: tensor<128xbf16>)
// CHECK:       %[[START:.*]] = linalg.generic {{.*}} ins(%[[B]] : tensor<128xbf16>) outs(%{{.*}} : tensor<?x128xf32>)
// CHECK:       %[[ACC:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction"]
// CHECK-SAME:    ins(%[[X]], %[[W]] : tensor<?x64xbf16>, tensor<128x64xbf16>) outs(%[[START]] : tensor<?x128xf32>)
// CHECK:       linalg.generic {{.*}} ins(%[[ACC]] : tensor<?x128xf32>) outs(%{{.*}} : tensor<?x128xbf16>)
// CHECK:         arith.truncf
func.func @linear_bias_bf16(%x: tensor<?x64xbf16>, %w: tensor<128x64xbf16>, %b: tensor<128xbf16>) -> tensor<?x128xbf16> {
  %y = tok.linear %x, %w, %b : tensor<?x64xbf16>, tensor<128x64xbf16>, tensor<128xbf16>
  return %y : tensor<?x128xbf16>
}
