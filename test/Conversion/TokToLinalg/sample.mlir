// RUN: tok-opt %s --convert-tok-to-linalg --split-input-file | FileCheck %s

// Greedy: one arg-max reduction; only a strictly greater logit replaces the
// best so far, so ties go to the lowest id.
// CHECK-LABEL: func.func @greedy
// CHECK:       %[[R:.*]]:2 = linalg.generic {{.*}} iterator_types = ["parallel", "reduction"]
// CHECK-SAME:    ins(%{{.*}} : tensor<?x256xf32>)
// CHECK:         %[[GT:.*]] = arith.cmpf ogt
// CHECK:         arith.select %[[GT]]
// CHECK:         arith.select %[[GT]]
// CHECK:       return %[[R]]#1
func.func @greedy(%l: tensor<?x256xf32>) -> tensor<?xi32> {
  %t = tok.sample %l {sampler = #tok.sampler<>} : tensor<?x256xf32>
  return %t : tensor<?xi32>
}

// -----

// Stochastic: a loop over rows; the uniform draw hashes (seed, counter,
// row) with SplitMix64, so the op stays a pure function of its operands.
// CHECK-LABEL: func.func @stochastic
// CHECK-SAME: (%[[L:.*]]: tensor<2x16xf32>, %[[N:.*]]: i64)
// CHECK:       scf.for %[[ROW:[a-z0-9]+]] =
// CHECK:         arith.xori %{{.*}}, %[[N]] : i64
// CHECK:         arith.constant -7046029254386353131 : i64
// CHECK:         arith.shrui
// CHECK:         arith.uitofp
// CHECK:         tensor.insert %{{.*}} into %{{.*}}[%[[ROW]]]
func.func @stochastic(%l: tensor<2x16xf32>, %n: i64) -> tensor<2xi32> {
  %t = tok.sample %l counter(%n : i64) {sampler = #tok.sampler<temperature = 0.8, top_k = 4, top_p = 0.9, seed = 3>} : tensor<2x16xf32>
  return %t : tensor<2xi32>
}
