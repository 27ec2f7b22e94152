// RUN: tok-opt %s --convert-tok-to-linalg | FileCheck %s

// An f32 tok.linear with a static [N, K] weight becomes the threaded,
// vectorized kernel: an scf.forall over chunks of output features (here
// N = 10: 3 chunks of 4 rows), blocks of 4 W rows with 4 vector<16xf32>
// FMA accumulators per token over K in steps of 16 (tokens in groups of 4,
// then the last T mod 4 as one group), reassociated horizontal sums, a
// scalar tail for K % 16 (40 = 2 x 16 + 8), the bias, and single rows for
// what is left of a chunk.

// CHECK-LABEL: func.func @linear(
// CHECK-SAME:    %[[X:.*]]: tensor<?x40xf32>, %[[W:.*]]: tensor<10x40xf32>, %[[B:.*]]: tensor<10xf32>)
// CHECK:         scf.forall (%{{.*}}) in (3) shared_outs(%[[O:.*]] = %{{.*}}) -> (tensor<?x10xf32>)
// CHECK:           scf.for
// Groups of 4 tokens: 4 rows x 4 tokens = 16 accumulators, each x vector
// feeding the 4 rows.
// CHECK:             scf.for %[[T:.*]] = %{{.*}} to %{{.*}} step
// CHECK:               scf.for %{{.*}} = %{{.*}} to %c32 step %c16 iter_args({{.*}}) -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>)
// CHECK-COUNT-16:        vector.fma
// The last T mod 4 tokens as one group of 1, 2 or 3 (4, 8, 12 accumulators).
// CHECK:             scf.index_switch %{{.*}} -> tensor<?x?xf32>
// CHECK-NEXT:        case 1 {
// CHECK:               %[[ACC:.*]]:4 = scf.for %[[K:.*]] = %{{.*}} to %c32 step %c16 iter_args({{.*}}) -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>)
// CHECK:                 %[[XV:.*]] = vector.transfer_read %[[X]][%{{.*}}, %[[K]]], %{{.*}} {in_bounds = [true]} : tensor<?x40xf32>, vector<16xf32>
// CHECK-COUNT-4:         vector.fma %{{.*}}, %[[XV]], %{{.*}} : vector<16xf32>
// CHECK:               vector.reduction <add>, %[[ACC]]#0 fastmath<reassoc> : vector<16xf32> into f32
// CHECK:               scf.for %{{.*}} = %c32{{.*}} to %c40 step
// CHECK-COUNT-4:         math.fma
// CHECK:               tensor.extract %[[B]]
// CHECK:               tensor.insert
// CHECK:             case 2 {
// CHECK:               scf.for {{.*}} -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>)
// CHECK:             case 3 {
// CHECK:               scf.for {{.*}} -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>)
// CHECK:             default {
// The rows left over, one accumulator each.
// CHECK:           scf.for
// CHECK:             scf.for
// CHECK:               scf.for {{.*}} -> (vector<16xf32>) {
// CHECK:           scf.forall.in_parallel
// CHECK-NEXT:        tensor.parallel_insert_slice %{{.*}} into %[[O]]
// CHECK-NOT:     linalg.generic
func.func @linear(%x: tensor<?x40xf32>, %w: tensor<10x40xf32>, %b: tensor<10xf32>) -> tensor<?x10xf32> {
  %y = tok.linear %x, %w, %b : tensor<?x40xf32>, tensor<10x40xf32>, tensor<10xf32>
  return %y : tensor<?x10xf32>
}

// A dynamic weight shape or f16 keeps the generic lowering.
// CHECK-LABEL: func.func @dynamic_weight(
// CHECK-NOT:     vector.fma
// CHECK:         linalg.generic
func.func @dynamic_weight(%x: tensor<?x40xf32>, %w: tensor<?x40xf32>) -> tensor<?x?xf32> {
  %y = tok.linear %x, %w : tensor<?x40xf32>, tensor<?x40xf32>
  return %y : tensor<?x?xf32>
}

// CHECK-LABEL: func.func @half(
// CHECK-NOT:     vector.fma
// CHECK:         linalg.generic
func.func @half(%x: tensor<4x32xf16>, %w: tensor<8x32xf16>) -> tensor<4x8xf16> {
  %y = tok.linear %x, %w : tensor<4x32xf16>, tensor<8x32xf16>
  return %y : tensor<4x8xf16>
}

// K a multiple of 16 (no scalar tail): a block's rows x tokens sums come
// out of one butterfly of shuffles (no horizontal reductions), and each
// token's 4 outputs plus the bias are one vector<4xf32> write.
// CHECK-LABEL: func.func @whole_steps(
// CHECK-SAME:    %[[X:.*]]: tensor<?x32xf32>, %[[W:.*]]: tensor<8x32xf32>, %[[B:.*]]: tensor<8xf32>)
// CHECK:         scf.forall (%{{.*}}) in (2)
// CHECK:             scf.index_switch %{{.*}} -> tensor<?x?xf32>
// CHECK-NEXT:        case 1 {
// One token: 4 accumulators, 2 + 1 two-source shuffle pairs, then the
// one vector left adds itself with swapped halves (2 shuffles), then one
// pick.
// CHECK:               %[[ACC:.*]]:4 = scf.for
// CHECK-COUNT-8:       vector.shuffle
// CHECK:               %[[BV:.*]] = vector.transfer_read %[[B]][%{{.*}}], %{{.*}} {in_bounds = [true]} : tensor<8xf32>, vector<4xf32>
// CHECK:               %[[Y:.*]] = vector.shuffle %{{.*}}, %{{.*}} [{{.*}}] : vector<16xf32>, vector<16xf32>
// CHECK:               %[[YB:.*]] = arith.addf %[[Y]], %[[BV]] : vector<4xf32>
// CHECK:               vector.transfer_write %[[YB]], %{{.*}}[%{{.*}}, %{{.*}}] {in_bounds = [true]} : vector<4xf32>, tensor<?x?xf32>
// CHECK-NOT:           vector.reduction
// CHECK:             case 2 {
// CHECK-COUNT-2:       vector.transfer_write {{.*}} : vector<4xf32>, tensor<?x?xf32>
// CHECK:             case 3 {
// CHECK-COUNT-3:       vector.transfer_write {{.*}} : vector<4xf32>, tensor<?x?xf32>
// CHECK:             default {
func.func @whole_steps(%x: tensor<?x32xf32>, %w: tensor<8x32xf32>, %b: tensor<8xf32>) -> tensor<?x8xf32> {
  %y = tok.linear %x, %w, %b : tensor<?x32xf32>, tensor<8x32xf32>, tensor<8xf32>
  return %y : tensor<?x8xf32>
}
