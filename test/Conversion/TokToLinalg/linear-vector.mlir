// RUN: tok-opt %s --convert-tok-to-linalg | FileCheck %s
// RUN: tok-opt %s --convert-tok-to-linalg="bf16-dot=dot" | FileCheck %s --check-prefix=DOT
// RUN: tok-opt %s --convert-tok-to-linalg="bf16-dot=widen" | FileCheck %s --check-prefix=WIDEN
// RUN: not tok-opt %s --convert-tok-to-linalg="bf16-dot=amx" 2>&1 | FileCheck %s --check-prefix=BAD

// BAD: convert-tok-to-linalg: bf16-dot must be 'auto', 'widen' or 'dot', got 'amx'

// An f32 tok.linear with a static [N, K] weight becomes the threaded,
// vectorized kernel: an scf.forall over chunks of output features (here
// N = 10: 3 chunks of 4 rows), blocks of 4 W rows. K = 40 is not a whole
// number of 16-lane steps, so there is no blocked (GEMM) variant: one
// kernel for every T. Within a block of 4 rows: 5 tokens as one group
// (4 x 5 accumulators: a verification step reads each W vector once), else
// groups of 4 tokens (4 x 4 accumulators; a second group finds the block
// in L1 / L2) and the last T mod 4 as one group; reassociated horizontal sums, a scalar tail for K % 16 (40 = 2 x
// 16 + 8), the bias; the rows left over one token at a time.

// CHECK-LABEL: func.func @linear(
// CHECK-SAME:    %[[X:.*]]: tensor<?x40xf32>, %[[W:.*]]: tensor<10x40xf32>, %[[B:.*]]: tensor<10xf32>)
// CHECK-NOT:     scf.if
// CHECK:         scf.forall (%{{.*}}) in (3) shared_outs(%[[O:.*]] = %{{.*}}) -> (tensor<?x10xf32>)
// CHECK:           scf.for
// 5 tokens (a verification of 4 drafted tokens): one group of 4 rows x 5
// tokens, 20 accumulators.
// CHECK:             %[[SPAN:.*]] = arith.subi
// CHECK:             scf.index_switch %[[SPAN]] -> tensor<?x?xf32>
// CHECK-NEXT:        case 5 {
// CHECK:               scf.for {{.*}} -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>)
// CHECK-COUNT-20:        vector.fma
// CHECK:             default {
// Groups of 4 tokens: 4 rows x 4 tokens = 16 accumulators, each x vector
// feeding the 4 rows.
// CHECK:               scf.for %[[T:.*]] = %{{.*}} to %{{.*}} step
// CHECK:                 scf.for %{{.*}} = %{{.*}} to %c32 step %c16 iter_args({{.*}}) -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>)
// CHECK-COUNT-16:          vector.fma
// The last T mod 4 tokens as one group of 1, 2 or 3 (4, 8, 12 accumulators).
// CHECK:               scf.index_switch %{{.*}} -> tensor<?x?xf32>
// CHECK-NEXT:          case 1 {
// CHECK:                 %[[ACC:.*]]:4 = scf.for %[[K:.*]] = %{{.*}} to %c32 step %c16 iter_args({{.*}}) -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>)
// CHECK:                   %[[XV:.*]] = vector.transfer_read %[[X]][%{{.*}}, %[[K]]], %{{.*}} {in_bounds = [true]} : tensor<?x40xf32>, vector<16xf32>
// CHECK-COUNT-4:           vector.fma %{{.*}}, %[[XV]], %{{.*}} : vector<16xf32>
// CHECK:                 vector.reduction <add>, %[[ACC]]#0 fastmath<reassoc> : vector<16xf32> into f32
// CHECK:                 scf.for %{{.*}} = %c32{{.*}} to %c40 step
// CHECK-COUNT-4:           math.fma
// CHECK:                 tensor.extract %[[B]]
// CHECK:                 tensor.insert
// CHECK:               case 2 {
// CHECK:               case 3 {
// CHECK:               default {
// The rows left over: one accumulator, one token at a time.
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

// K a multiple of 16: more than 8 tokens take the blocked variant (blocks
// of 256 tokens and of 256 of K; past the first K block each output adds
// the partial sum already written, the first adds the bias); 8 or fewer the
// unblocked one. A block's rows x tokens sums come out of one butterfly of
// shuffles (no horizontal reductions), and each token's 4 outputs are one
// vector<4xf32> write.
// CHECK-LABEL: func.func @whole_steps(
// CHECK-SAME:    %[[X:.*]]: tensor<?x32xf32>, %[[W:.*]]: tensor<8x32xf32>, %[[B:.*]]: tensor<8xf32>)
// CHECK:         %[[T:.*]] = tensor.dim %[[X]], %c0
// CHECK:         %[[MANY:.*]] = arith.cmpi ugt, %[[T]], %c8
// CHECK:         scf.if %[[MANY]] -> (tensor<?x8xf32>) {
// CHECK:           scf.forall (%{{.*}}) in (2)
// CHECK:             scf.for %{{.*}} = %{{.*}} to %[[T]] step %c256
// CHECK:               scf.for %[[K0:.*]] = %{{.*}} to %c32 step %c256
// CHECK:                 %[[FIRST:.*]] = arith.cmpi eq, %[[K0]]
// CHECK:                 scf.for
// CHECK:                   scf.for
// CHECK:                     scf.for %{{.*}} = %[[K0]] to %{{.*}} step %c16 iter_args({{.*}}) -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>)
// CHECK-COUNT-30:            vector.shuffle
// CHECK:                     %[[BV:.*]] = vector.transfer_read %[[B]][%{{.*}}], %{{.*}} {in_bounds = [true]} : tensor<8xf32>, vector<4xf32>
// CHECK:                     %[[Y:.*]] = vector.shuffle %{{.*}}, %{{.*}} [{{.*}}] : vector<16xf32>, vector<16xf32>
// CHECK:                     %[[OLD:.*]] = vector.transfer_read {{.*}} : tensor<?x?xf32>, vector<4xf32>
// CHECK:                     %[[ADD:.*]] = arith.select %[[FIRST]], %[[BV]], %[[OLD]] : vector<4xf32>
// CHECK:                     %[[YB:.*]] = arith.addf %[[Y]], %[[ADD]] : vector<4xf32>
// CHECK:                     vector.transfer_write %[[YB]], %{{.*}}[%{{.*}}, %{{.*}}] {in_bounds = [true]} : vector<4xf32>, tensor<?x?xf32>
// CHECK-NOT:                 vector.reduction
// CHECK:         } else {
// CHECK:           scf.forall (%{{.*}}) in (2)
// CHECK-NOT:         arith.select
// CHECK:             scf.index_switch
// CHECK-NEXT:        case 5 {
// CHECK:               scf.for {{.*}} -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>)
func.func @whole_steps(%x: tensor<?x32xf32>, %w: tensor<8x32xf32>, %b: tensor<8xf32>) -> tensor<?x8xf32> {
  %y = tok.linear %x, %w, %b : tensor<?x32xf32>, tensor<8x32xf32>, tensor<8xf32>
  return %y : tensor<?x8xf32>
}

// bf16 weights, K a multiple of 32. With bf16-dot=dot the blocked variant
// rounds x to bf16 once (16 lanes at a time) and takes 32 values of x and
// of W per step as 16 lanes of pair products (the generic form of
// vdpbf16ps), in K blocks of 1024; the unblocked variant widens W to f32.
// DOT-LABEL: func.func @bf16_weights(
// DOT:         scf.if
// DOT:           arith.truncf %{{.*}} : vector<16xf32> to vector<16xbf16>
// DOT:           scf.forall
// DOT:             step %c1024
// DOT:               vector.transfer_read %{{.*}} : tensor<?x64xbf16>, vector<32xbf16>
// DOT:               vector.shape_cast %{{.*}} : vector<32xbf16> to vector<16x2xbf16>
// DOT:               arith.extf %{{.*}} : vector<16x2xbf16> to vector<16x2xf32>
// DOT:               vector.contract {{.*}} : vector<16x2xf32>, vector<16x2xf32> into vector<16xf32>
// DOT:         } else {
// DOT-NOT:       vector.contract
// DOT:           arith.extf %{{.*}} : vector<16xbf16> to vector<16xf32>
// DOT:           vector.fma
// With bf16-dot=widen, both variants widen W.
// WIDEN-LABEL: func.func @bf16_weights(
// WIDEN-NOT:     vector.contract
// WIDEN-NOT:     arith.truncf
// WIDEN:         arith.extf %{{.*}} : vector<16xbf16> to vector<16xf32>
// WIDEN:       return
func.func @bf16_weights(%x: tensor<?x64xf32>, %w: tensor<8x64xbf16>) -> tensor<?x8xf32> {
  %y = tok.linear %x, %w : tensor<?x64xf32>, tensor<8x64xbf16>
  return %y : tensor<?x8xf32>
}
