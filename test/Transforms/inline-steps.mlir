// RUN: tok-opt %s --tok-inline-steps --split-input-file | FileCheck %s

// A step (a function calling a layer function) is inlined into its
// callers; the layer stays one function, called from each copy; the dead
// private step is erased.
// CHECK-LABEL: func.func private @layer
// CHECK-NOT:   func.func private @step
// CHECK-LABEL: func.func @two_steps
// CHECK:         %[[A:.*]] = call @layer(%arg0)
// CHECK:         %[[B:.*]] = call @layer(%[[A]])
// CHECK:         %[[C:.*]] = call @layer(%[[B]])
// CHECK:         %[[D:.*]] = call @layer(%[[C]])
// CHECK:         return %[[D]]
func.func private @layer(%x: tensor<4xf32>) -> tensor<4xf32> attributes {no_inline, tok.layer} {
  %y = arith.addf %x, %x : tensor<4xf32>
  return %y : tensor<4xf32>
}
func.func private @step(%x: tensor<4xf32>) -> tensor<4xf32> {
  %a = call @layer(%x) {tok.layer = 0 : i64} : (tensor<4xf32>) -> tensor<4xf32>
  %b = call @layer(%a) {tok.layer = 1 : i64} : (tensor<4xf32>) -> tensor<4xf32>
  return %b : tensor<4xf32>
}
func.func @two_steps(%x: tensor<4xf32>) -> tensor<4xf32> {
  %s = call @step(%x) : (tensor<4xf32>) -> tensor<4xf32>
  %t = call @step(%s) : (tensor<4xf32>) -> tensor<4xf32>
  return %t : tensor<4xf32>
}

// -----

// Functions that call no layer function are not touched.
// CHECK-LABEL: func.func private @helper
// CHECK-LABEL: func.func @plain
// CHECK:         call @helper
func.func private @helper(%x: tensor<4xf32>) -> tensor<4xf32> {
  %y = arith.mulf %x, %x : tensor<4xf32>
  return %y : tensor<4xf32>
}
func.func @plain(%x: tensor<4xf32>) -> tensor<4xf32> {
  %y = call @helper(%x) : (tensor<4xf32>) -> tensor<4xf32>
  return %y : tensor<4xf32>
}
