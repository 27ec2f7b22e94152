// RUN: tok-opt %s --convert-tok-to-linalg --canonicalize --cse --split-input-file | FileCheck %s

// f32 attention with head dims that are multiples of 16 takes the
// vectorized kernels (AttentionToVector.cpp). Prefill (T >= 16): per KV
// head, K is packed once as K^T panels of 32 keys; per block of 12 query
// rows and tile of 32 keys, Q K^T is a 12 x 2 register tile of 16-lane
// FMAs over the head dim, the online softmax runs on vectors, and P V
// accumulates into a scratch [12][Dv]. Nothing T x S exists.
// CHECK-LABEL: func.func @prefill
// CHECK:       scf.forall (%[[G:.*]]) in (2) shared_outs
// Scratch once per task (Q rows, P tile, O accumulator, row sums), not per
// loop:
// CHECK-COUNT-3: memref.alloca() : memref<12x32xf32>
// CHECK:         memref.alloca() : memref<12xf32>
// CHECK:         %[[KT:.*]] = memref.alloc() : memref<4x32x32xf32>
// K^T packing: one key row at a time, scattered into its panel column.
// CHECK:         scf.for
// CHECK:           vector.transfer_read %{{.*}}[%[[G]], {{.*}}], %{{.*}} {in_bounds = [true]} : tensor<2x128x32xf32>, vector<16xf32>
// CHECK:           memref.store {{.*}}, %[[KT]]
// Query heads of the group, 12-row blocks, 32-key tiles up to the diagonal:
// CHECK:         scf.for
// CHECK:           scf.for %[[I0:.*]] = %c0 to %c128 step %c12
// CHECK:             %[[TILES:.*]]:24 = scf.for %[[J0:.*]] = {{.*}} step %c32 iter_args
// CHECK:               %[[QK:.*]]:24 = scf.for %{{.*}} = %c0 to %c32 step %c1 iter_args
// CHECK-COUNT-2:         vector.load %[[KT]]
// CHECK-COUNT-24:        vector.fma
// Mask on positions (causal: key <= query), -inf where hidden:
// CHECK:               arith.cmpi sle
// CHECK:               arith.select
// CHECK:               vector.reduction <maxnumf>, {{.*}} fastmath<nnan,nsz>
// CHECK:               math.exp {{.*}} : vector<16xf32>
// CHECK:               vector.reduction <add>, {{.*}} fastmath<reassoc>
// P V: 12 rows x 32 value columns per key.
// CHECK:               scf.for %{{.*}} = %c0 to %c32 step %c1 iter_args
// CHECK-COUNT-24:        vector.fma
// Rows that exist are divided by the row sum and written, in a loop over
// the block's rows (one scf.if per row, each yielding the output tensor,
// made bufferization's analysis explode with the head dimension):
// CHECK-COUNT-12:    memref.store {{.*}} : memref<12xf32>
// CHECK-NOT:         scf.if
// CHECK:             scf.for %{{.*}} = %c0 to %{{.*}} step %c1 iter_args
// CHECK:               memref.load {{.*}} : memref<12xf32>
// CHECK:               vector.transfer_write {{.*}} {in_bounds = [true]} : vector<16xf32>, tensor<4x128x32xf32>
// CHECK:       tensor.parallel_insert_slice
func.func @prefill(%q: tensor<8x128x32xf32>, %k: tensor<2x128x32xf32>, %v: tensor<2x128x32xf32>) -> tensor<8x128x32xf32> {
  %o = tok.attention %q, %k, %v {mask = #tok.mask<causal>}
      : tensor<8x128x32xf32>, tensor<2x128x32xf32>, tensor<2x128x32xf32> -> tensor<8x128x32xf32>
  return %o : tensor<8x128x32xf32>
}

// -----

// Decode (T = 1, static): no packing; per row, 16 keys at a time: 16
// lane-wise products with q held in registers (a mul and D / 16 - 1 FMAs
// each), summed across into one vector of 16 logits by a butterfly (30
// two-source shuffles, 15 adds; no horizontal sum, no inserts), softmax on
// the 16 logits, O in registers.
// CHECK-LABEL: func.func @decode
// CHECK-NOT:   memref.alloc
// CHECK:       scf.forall
// CHECK:         %[[ROWS:.*]] = scf.for
// CHECK:           scf.for %{{.*}} = %c0 to %{{.*}} step %c16 iter_args({{.*}}) -> (f32, f32, vector<16xf32>, vector<16xf32>)
// CHECK-COUNT-16:    vector.fma {{.*}} : vector<16xf32>
// CHECK-COUNT-30:    vector.shuffle {{.*}} : vector<16xf32>, vector<16xf32>
// CHECK-NOT:         vector.from_elements
// CHECK-NOT:         vector.reduction <add>
// CHECK:             math.exp {{.*}} : f32
// CHECK:             math.exp {{.*}} : vector<16xf32>
// CHECK-COUNT-32:    vector.fma
func.func @decode(%q: tensor<4x1x32xf32>, %k: tensor<2x?x32xf32>, %v: tensor<2x?x32xf32>) -> tensor<4x1x32xf32> {
  %o = tok.attention %q, %k, %v {mask = #tok.mask<causal>}
      : tensor<4x1x32xf32>, tensor<2x?x32xf32>, tensor<2x?x32xf32> -> tensor<4x1x32xf32>
  return %o : tensor<4x1x32xf32>
}

// -----

// A dynamic T chooses the kernel at run time.
// CHECK-LABEL: func.func @dynamic_tokens
// CHECK:       %[[T:.*]] = tensor.dim %{{.*}}, %c1 : tensor<2x?x16xf32>
// CHECK:       %[[MANY:.*]] = arith.cmpi sge, %[[T]], %c16
// CHECK:       scf.if %[[MANY]]
// CHECK:         memref.alloc
// CHECK:       } else {
// CHECK-NOT:     memref.alloc
// CHECK:       }
func.func @dynamic_tokens(%q: tensor<2x?x16xf32>, %k: tensor<2x?x16xf32>, %v: tensor<2x?x16xf32>) -> tensor<2x?x16xf32> {
  %o = tok.attention %q, %k, %v {mask = #tok.mask<causal, window = 8, sinks = 2>}
      : tensor<2x?x16xf32>, tensor<2x?x16xf32>, tensor<2x?x16xf32> -> tensor<2x?x16xf32>
  return %o : tensor<2x?x16xf32>
}

// -----

// What the kernels do not handle keeps the general lowering: a head dim
// that is no multiple of 16, f16.
// CHECK-LABEL: func.func @general
// CHECK-NOT:   vector.fma
// CHECK-COUNT-2: scf.forall
// CHECK-NOT:   vector.fma
func.func @general(%q: tensor<2x8x8xf32>, %k: tensor<2x8x8xf32>, %v: tensor<2x8x8xf32>,
                   %q16: tensor<2x8x16xf16>, %k16: tensor<2x8x16xf16>, %v16: tensor<2x8x16xf16>)
    -> (tensor<2x8x8xf32>, tensor<2x8x16xf16>) {
  %a = tok.attention %q, %k, %v {mask = #tok.mask<causal>}
      : tensor<2x8x8xf32>, tensor<2x8x8xf32>, tensor<2x8x8xf32> -> tensor<2x8x8xf32>
  %b = tok.attention %q16, %k16, %v16 {mask = #tok.mask<causal>}
      : tensor<2x8x16xf16>, tensor<2x8x16xf16>, tensor<2x8x16xf16> -> tensor<2x8x16xf16>
  return %a, %b : tensor<2x8x8xf32>, tensor<2x8x16xf16>
}

// -----

// Received scores in prefill: the 12-row kernel keeps the block's masked
// logits in a [12][S + 64] scratch and, after the block's key tiles, adds
// every row's w * exp(s - lse) into the task's accumulator.
// CHECK-LABEL: func.func @prefill_scores
// CHECK:       scf.forall
// CHECK:         %[[ACC:.*]] = memref.alloc() : memref<80xf32>
// CHECK:         %[[BLOCK:.*]] = memref.alloc() : memref<12x80xf32>
// CHECK:         vector.store %{{.*}}, %[[BLOCK]]
// CHECK:         math.log
// CHECK:         scf.for
// CHECK:           vector.load %[[ACC]]
// CHECK-COUNT-12:  vector.load %[[BLOCK]]
// CHECK:           vector.store %{{.*}}, %[[ACC]]
func.func @prefill_scores(%q: tensor<2x16x16xf32>, %k: tensor<2x16x16xf32>, %v: tensor<2x16x16xf32>)
    -> (tensor<2x16x16xf32>, tensor<2x16xf32>) {
  %c, %s = tok.attention %q, %k, %v {mask = #tok.mask<causal>, scores = #tok.scores<rows = 0, decay = 1.0>}
      : tensor<2x16x16xf32>, tensor<2x16x16xf32>, tensor<2x16x16xf32> -> tensor<2x16x16xf32>, tensor<2x16xf32>
  return %c, %s : tensor<2x16x16xf32>, tensor<2x16xf32>
}

// -----

// Received scores in decode: the row-at-a-time kernel stores each block's
// masked logits, and after the row's key loop adds w * exp(s - lse) into a
// task-local accumulator, copied into the KV head's row of the scores.
// CHECK-LABEL: func.func @decode_scores
// CHECK:       scf.forall (%[[G:.*]]) in (2) shared_outs(%{{.*}} = %{{.*}}, %[[RECV:.*]] = %{{.*}}) -> (tensor<4x1x32xf32>, tensor<2x64xf32>)
// CHECK:         %[[ACC:.*]] = memref.alloc() : memref<128xf32>
// CHECK:         %[[LOGITS:.*]] = memref.alloc() : memref<128xf32>
// CHECK:         linalg.fill ins(%{{.*}} : f32) outs(%[[ACC]] : memref<128xf32>)
// CHECK:         scf.for
// CHECK:           vector.store %{{.*}}, %[[LOGITS]]
// CHECK:           math.log
// CHECK:           scf.for
// CHECK:             vector.load %[[LOGITS]]
// CHECK:             math.exp
// CHECK:             vector.fma
// CHECK:             vector.store %{{.*}}, %[[ACC]]
// CHECK:         tensor.extract_slice %[[RECV]][%[[G]], 0]
// CHECK:         memref.load %[[ACC]]
// CHECK:         tensor.parallel_insert_slice %{{.*}} into %[[RECV]][%[[G]], 0]
func.func @decode_scores(%q: tensor<4x1x32xf32>, %k: tensor<2x64x32xf32>, %v: tensor<2x64x32xf32>) -> (tensor<4x1x32xf32>, tensor<2x64xf32>) {
  %o, %s = tok.attention %q, %k, %v {mask = #tok.mask<causal>, scores = #tok.scores<rows = 0, decay = 1.0>}
      : tensor<4x1x32xf32>, tensor<2x64x32xf32>, tensor<2x64x32xf32> -> tensor<4x1x32xf32>, tensor<2x64xf32>
  return %o, %s : tensor<4x1x32xf32>, tensor<2x64xf32>
}
