// RUN: tok-opt %s --convert-tok-to-linalg --canonicalize --cse | FileCheck %s

// The ngram drafter: one search per suffix length, longest first (n_max =
// 2, then 1), each an scf.while over earlier start positions comparing n
// tokens (unrolled), skipped once a longer suffix matched; then up to k = 4
// tokens copied from after the match, a chain of parents, probabilities 1.
// CHECK-LABEL: func.func @draft
// CHECK:       %[[L:.*]] = tensor.dim %[[H:.*]], %c0
// CHECK:       %[[LONG2:.*]] = arith.cmpi sgt, %[[L]], %c2
// CHECK:       %[[TWO:.*]]:2 = scf.if %[[LONG2]] -> (i1, index)
// CHECK:         scf.while
// CHECK-COUNT-2:   arith.cmpi eq, {{.*}} : i32
// CHECK:           scf.condition
// CHECK:       %[[NOT:.*]] = arith.xori %[[TWO]]#0, %true
// CHECK:       %[[SEARCH1:.*]] = arith.andi %{{.*}}, %[[NOT]]
// CHECK:       %[[ONE:.*]]:2 = scf.if %[[SEARCH1]] -> (i1, index)
// CHECK:         scf.while
// CHECK:           arith.cmpi ne, {{.*}} : i32
// CHECK:       } else {
// CHECK:         scf.yield %[[TWO]]#0, %[[TWO]]#1
// CHECK:       %[[AVAIL:.*]] = arith.subi %[[L]], %[[ONE]]#1
// CHECK:       %[[UPTO:.*]] = arith.minsi %[[AVAIL]], %c4
// CHECK:       %[[COUNT:.*]] = arith.select %[[ONE]]#0, %[[UPTO]], %c0
// CHECK:       linalg.generic
// CHECK:         tensor.extract %[[H]]
// CHECK:       linalg.generic
// CHECK:       linalg.fill ins(%cst : f32)
func.func @draft(%h: tensor<?xi32>) -> (tensor<?xi32>, tensor<?xi32>, tensor<?xf32>) {
  %d, %p, %q = tok.draft %h {drafter = #tok.drafter<ngram, k = 4, n_max = 2>}
      : tensor<?xi32> -> tensor<?xi32>, tensor<?xi32>, tensor<?xf32>
  return %d, %p, %q : tensor<?xi32>, tensor<?xi32>, tensor<?xf32>
}
