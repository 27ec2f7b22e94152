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

// One cos / sin table over (token, pair) from the positions, shared by the
// heads; then each element reads its rotation partner and its pair's entry.
// Angles are f32.
// CHECK-LABEL: func.func @rope_half
// CHECK-SAME: (%[[X:.*]]: tensor<8x?x32xf32>, %[[P:.*]]: tensor<?xi32>)
// CHECK:       %[[PAIRS:.*]] = arith.divui %{{.*}}, %c2
// CHECK:       %[[T:.*]] = tensor.empty(%{{.*}}, %[[PAIRS]]) : tensor<?x?xf32>
// CHECK:       %[[TAB:.*]]:2 = linalg.generic {{.*}} iterator_types = ["parallel", "parallel"]
// CHECK-SAME:    ins(%[[P]] : tensor<?xi32>) outs(%[[T]], %[[T]] : tensor<?x?xf32>, tensor<?x?xf32>)
// CHECK:         math.exp
// CHECK:         %[[COS:.*]] = math.cos
// CHECK:         %[[SIN:.*]] = math.sin
// CHECK:         linalg.yield %[[COS]], %[[SIN]]
// CHECK:       linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel"]
// CHECK-SAME:    ins(%[[X]] : tensor<8x?x32xf32>)
// CHECK:         arith.cmpi ult
// CHECK:         tensor.extract %[[TAB]]#0
// CHECK:         tensor.extract %[[TAB]]#1
// CHECK:         tensor.extract %[[X]]
// CHECK:         arith.negf
// CHECK-NOT:     math.cos
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
