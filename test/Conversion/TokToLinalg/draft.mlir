// RUN: tok-opt %s --convert-tok-to-linalg --canonicalize --cse | FileCheck %s

// The ngram drafter, match = earliest (vLLM's rule): one search per suffix
// length, longest first (n_max = 2, then 1), each an scf.while over earlier
// start positions upwards comparing n tokens (unrolled), skipped once a
// longer suffix matched; then up to k = 4 tokens copied from after the
// match, a chain of parents, probabilities 1.
// CHECK-LABEL: func.func @earliest
// CHECK:       %[[L:.*]] = tensor.dim %[[H:.*]], %c0
// CHECK:       %[[LONG2:.*]] = arith.cmpi sgt, %[[L]], %c2
// CHECK:       %[[TWO:.*]]:2 = scf.if %[[LONG2]] -> (i1, index)
// CHECK:         scf.while (%{{.*}} = %c0)
// CHECK-COUNT-2:   arith.cmpi eq, {{.*}} : i32
// CHECK:           scf.condition
// CHECK:         arith.addi %{{.*}}, %c1
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
func.func @earliest(%h: tensor<?xi32>) -> (tensor<?xi32>, tensor<?xi32>, tensor<?xf32>) {
  %d, %p, %q = tok.draft %h {drafter = #tok.drafter<ngram, k = 4, n_max = 2, match = earliest>}
      : tensor<?xi32> -> tensor<?xi32>, tensor<?xi32>, tensor<?xf32>
  return %d, %p, %q : tensor<?xi32>, tensor<?xi32>, tensor<?xf32>
}

// match = recent (the default) with a limit: the round takes
// need = max(min(k, limit), 0) drafts. Per suffix length, a downward scan
// from the latest start with `need` tokens after the occurrence
// (s = L - n - max(need, 1)) to 0; when it finds nothing, the upward scan
// of the starts after it (the earliest of those). At most `need` drafts.
// CHECK-LABEL: func.func @recent
// CHECK-SAME:    (%[[H:.*]]: tensor<?xi32>, %[[LIMIT:.*]]: index)
// CHECK:       %[[L:.*]] = tensor.dim %[[H]], %c0
// CHECK:       %[[MIN:.*]] = arith.minsi %[[LIMIT]], %c4
// CHECK:       %[[NEED:.*]] = arith.maxsi %[[MIN]], %c0
// CHECK:       scf.if
// CHECK:         %[[SUFFIX:.*]] = arith.subi %[[L]], %c2
// CHECK:         %[[AFTER:.*]] = arith.maxsi %[[NEED]], %c1
// CHECK:         %[[LAST:.*]] = arith.subi %[[SUFFIX]], %[[AFTER]]
// CHECK:         %[[DOWN:.*]] = scf.while (%[[S:.*]] = %[[LAST]])
// CHECK:           arith.cmpi sge, %[[S]], %c0
// CHECK:           arith.maxsi %[[S]], %c0
// CHECK-COUNT-2:   arith.cmpi eq, {{.*}} : i32
// CHECK:           scf.condition
// CHECK:           arith.addi %{{.*}}, %c-1
// CHECK:         %[[FOUND:.*]] = arith.cmpi sge, %[[DOWN]], %c0
// CHECK:         scf.if %[[FOUND]]
// CHECK:           arith.addi %[[DOWN]], %c2
// CHECK:         } else {
// CHECK:           %[[NEXT:.*]] = arith.addi %[[LAST]], %c1
// CHECK:           %[[FROM:.*]] = arith.maxsi %[[NEXT]], %c0
// CHECK:           scf.while (%{{.*}} = %[[FROM]])
// CHECK:             arith.cmpi slt, %{{.*}}, %[[SUFFIX]]
// CHECK:       arith.minsi %[[NEED]], %{{.*}}
func.func @recent(%h: tensor<?xi32>, %limit: index) -> (tensor<?xi32>, tensor<?xi32>, tensor<?xf32>) {
  %d, %p, %q = tok.draft %h limit %limit {drafter = #tok.drafter<ngram, k = 4, n_max = 2>}
      : tensor<?xi32> -> tensor<?xi32>, tensor<?xi32>, tensor<?xf32>
  return %d, %p, %q : tensor<?xi32>, tensor<?xi32>, tensor<?xf32>
}
