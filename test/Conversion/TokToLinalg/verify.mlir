// RUN: tok-opt %s --convert-tok-to-linalg --canonicalize --cse --split-input-file | FileCheck %s

// Greedy verification: the arg-max of every row (tok.sample's lowering),
// one pass over the nodes computing each accepted depth from its parent's
// (a node is accepted iff its token is the arg-max of its parent's row and
// the parent is accepted or the root), the deepest node, the path read
// back up the parents, and the next token from the row after it.
// CHECK-LABEL: func.func @verify
// CHECK:       cf.assert %{{.*}}, "tok.verify: logits must have one row more than there are drafts"
// CHECK:       %[[AM:.*]]:2 = linalg.generic {{.*}} iterator_types = ["parallel", "reduction"]
// CHECK:       %[[SCAN:.*]]:3 = scf.for %[[I:.*]] = %c0 to %{{.*}} step %c1 iter_args(%[[DEPTH:.*]] = %{{.*}}, %{{.*}} = %c0, %{{.*}} = %c0_i32) -> (tensor<?xi32>, index, i32)
// CHECK:         %[[PARENT:.*]] = tensor.extract %{{.*}}[%[[I]]]
// CHECK:         %[[ISROOT:.*]] = arith.cmpi eq, %[[PARENT]], %c-1_i32
// CHECK:         arith.cmpi slt, %{{.*}}, %[[I]] : index
// CHECK:         %[[EXPECTED:.*]] = tensor.extract %[[AM]]#1[
// CHECK:         %[[TOKEN:.*]] = tensor.extract %{{.*}}[%[[I]]]
// CHECK:         arith.cmpi eq, %[[TOKEN]], %[[EXPECTED]]
// CHECK:         tensor.insert %{{.*}} into %[[DEPTH]][%[[I]]]
// CHECK:         arith.cmpi sgt
// CHECK:       %[[LEN:.*]] = arith.index_cast %[[SCAN]]#2 : i32 to index
// CHECK:       scf.for %{{.*}} = %c0 to %[[LEN]]
// CHECK:       tensor.from_elements %{{.*}} : tensor<i32>
func.func @verify(%l: tensor<?x16xf32>, %d: tensor<?xi32>, %p: tensor<?xi32>) -> (tensor<?xi32>, tensor<i32>) {
  %path, %next = tok.verify %l, %d, %p {sampler = #tok.sampler<>}
      : tensor<?x16xf32>, tensor<?xi32>, tensor<?xi32> -> tensor<?xi32>, tensor<i32>
  return %path, %next : tensor<?xi32>, tensor<i32>
}

// -----

// Stochastic verification walks down the tree: at each node the children
// are tried in node order against the weights plain sampling uses for the
// node's row (accept iff u * sum w < w[token]; a rejected token leaves w),
// an accepted child continues with its own row, and the next token is
// drawn from what is left. Uniforms are keyed by the counter and the node.
// CHECK-LABEL: func.func @stochastic
// CHECK:       scf.while
// CHECK:         scf.for %[[C:.*]] = %c0 to %{{.*}} step %c1 iter_args
// CHECK:           scf.if
// CHECK:             arith.cmpf olt
// CHECK:             tensor.insert %cst{{.*}} into
// CHECK:         scf.if
// CHECK:           tensor.insert %{{.*}} into
// CHECK:         } else {
// CHECK:           scf.for
// CHECK:       tensor.extract_slice
func.func @stochastic(%l: tensor<?x16xf32>, %d: tensor<?xi32>, %p: tensor<?xi32>, %n: i64) -> (tensor<?xi32>, tensor<i32>) {
  %path, %next = tok.verify %l, %d, %p counter(%n : i64) {sampler = #tok.sampler<temperature = 0.7, top_k = 4>}
      : tensor<?x16xf32>, tensor<?xi32>, tensor<?xi32> -> tensor<?xi32>, tensor<i32>
  return %path, %next : tensor<?xi32>, tensor<i32>
}
