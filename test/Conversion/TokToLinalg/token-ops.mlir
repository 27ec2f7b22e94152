// RUN: tok-opt %s --convert-tok-to-linalg | FileCheck %s

// ToMe's matching, the |A| x |B| cosines, runs on the thread pool: an
// scf.forall over chunks of 16 A tokens, each writing its slice of the best
// similarities and destinations; the metric dot is 16 lanes wide when the
// metric width is a static multiple of 16. The ranking and the merge itself
// stay serial loops after it. (Numerics: test/Integration/token_ops.test.)

// CHECK-LABEL: func.func @tome
// CHECK:         %[[CHUNKS:.*]] = arith.ceildivsi %{{.*}}, %c16
// CHECK:         %[[FOUND:.*]]:2 = scf.forall (%[[C:.*]]) in (%[[CHUNKS]]) shared_outs(%[[BEST:.*]] = %{{.*}}, %[[DST:.*]] = %{{.*}}) -> (tensor<?xf32>, tensor<?xindex>)
// CHECK:           scf.for
// CHECK:             scf.for
// CHECK:               vector.fma {{.*}} : vector<16xf32>
// CHECK:           scf.forall.in_parallel
// CHECK-NEXT:        tensor.parallel_insert_slice %{{.*}} into %[[BEST]]
// CHECK-NEXT:        tensor.parallel_insert_slice %{{.*}} into %[[DST]]
// CHECK:         scf.for
// CHECK:           tensor.extract %[[FOUND]]#0
func.func @tome(%x: tensor<?x64xf32>, %m: tensor<?x32xf32>)
    -> (tensor<?x64xf32>, tensor<?xf32>, tensor<?xi32>) {
  %y, %sz, %map = tok.merge %x, %m {r = 4 : i64, protect_first = 1 : i64}
      : tensor<?x64xf32>, tensor<?x32xf32>
      -> tensor<?x64xf32>, tensor<?xf32>, tensor<?xi32>
  return %y, %sz, %map : tensor<?x64xf32>, tensor<?xf32>, tensor<?xi32>
}

// A metric width that is no multiple of 16: the same parallel matching with
// a scalar dot.
// CHECK-LABEL: func.func @tome_odd_metric
// CHECK:         scf.forall
// CHECK-NOT:       vector.fma
// CHECK:           scf.forall.in_parallel
func.func @tome_odd_metric(%x: tensor<?x8xf32>, %m: tensor<?x5xf32>)
    -> (tensor<?x8xf32>, tensor<?xf32>, tensor<?xi32>) {
  %y, %sz, %map = tok.merge %x, %m {r = 2 : i64}
      : tensor<?x8xf32>, tensor<?x5xf32>
      -> tensor<?x8xf32>, tensor<?xf32>, tensor<?xi32>
  return %y, %sz, %map : tensor<?x8xf32>, tensor<?xf32>, tensor<?xi32>
}
