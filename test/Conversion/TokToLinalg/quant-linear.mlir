// RUN: tok-opt %s --convert-tok-to-linalg=quant-dot=f32 | FileCheck %s
// RUN: tok-opt %s --convert-tok-to-linalg=quant-dot=vnni | FileCheck %s --check-prefix=INT8
// RUN: tok-opt %s --convert-tok-to-linalg="quant-dot=f32 bf16-dot=dot" | FileCheck %s --check-prefix=TILED
// RUN: tok-opt %s --convert-tok-to-linalg="quant-dot=f32 bf16-dot=widen" | FileCheck %s --check-prefix=WIDE
// RUN: not tok-opt %s --convert-tok-to-linalg=quant-dot=amx 2>&1 | FileCheck %s --check-prefix=BAD

// A #tok.quant weight lowers to its bytes (q4_0: 64 / 32 blocks of 18
// bytes = 36 per row), and tok.linear to a threaded kernel over them: an
// scf.forall over chunks of rows, a loop over a chunk's rows, tokens in
// groups of 4 then one at a time, and per block the f16 scale, 16 code
// bytes split into two groups of 16 nibbles (low: weights 0-15, high:
// 16-31), minus 8, widened to f32 once and multiplied with each token's x.

// CHECK-LABEL: func.func @linear(
// CHECK-SAME:    %[[X:.*]]: tensor<?x64xf32>, %[[W:.*]]: tensor<10x36xi8>) -> tensor<?x10xf32>
// CHECK:         scf.forall (%{{.*}}) in (5)
// CHECK:           scf.for
// CHECK:             scf.for %{{.*}} step %c4
// 4 tokens x 2 independent accumulators (the block's two groups).
// CHECK:               scf.for %{{.*}} = %c0 to %c2{{.*}} iter_args({{.*}}) -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>)
// CHECK:                 %[[D2:.*]] = vector.transfer_read %[[W]]{{.*}} : tensor<10x36xi8>, vector<2xi8>
// CHECK:                 %[[D:.*]] = vector.bitcast %[[D2]] : vector<2xi8> to vector<1xf16>
// CHECK:                 %[[Q:.*]] = vector.transfer_read %[[W]]{{.*}} : tensor<10x36xi8>, vector<16xi8>
// CHECK:                 %[[LO:.*]] = arith.andi %[[Q]], %{{.*}} : vector<16xi8>
// CHECK:                 %[[LO8:.*]] = arith.subi %[[LO]], %{{.*}} : vector<16xi8>
// CHECK:                 %[[LOF:.*]] = arith.sitofp %[[LO8]] : vector<16xi8> to vector<16xf32>
// CHECK-COUNT-4:         arith.mulf %[[LOF]]
// CHECK:                 arith.shrui %[[Q]]
// CHECK:                 vector.reduction <add>
// CHECK:             scf.for
// CHECK:               vector.reduction <add>
// The int8 kernel: the activations are quantized once per call (per row
// and block of 32: the largest magnitude, a scale, codes rounded to even,
// the sum of x per block), then per block the 16 code bytes become
// 32 nibbles (low, then high) whose dot product with 32 activation codes is
// one u8 x s8 contraction of [8 x 4] into 8 i32 lanes; the zero point 8 is
// subtracted through the block's sum of x.
// INT8-LABEL: func.func @linear(
// INT8:         scf.for
// INT8:           scf.for
// INT8:             vector.reduction <maximumf>
// INT8:             math.roundeven
// INT8:             arith.fptosi
// INT8:             arith.trunci {{.*}} : vector<16xi32> to vector<16xi8>
// INT8:         scf.forall (%{{.*}}) in (5)
// INT8:               %[[Q:.*]] = vector.transfer_read %{{.*}} : tensor<10x36xi8>, vector<16xi8>
// INT8:               %[[LO:.*]] = arith.andi %[[Q]]
// INT8:               %[[HI:.*]] = arith.shrui %[[Q]]
// INT8:               vector.shuffle %[[LO]], %[[HI]] [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31] : vector<16xi8>, vector<16xi8>
// INT8:               arith.extui {{.*}} : vector<8x4xi8> to vector<8x4xi32>
// INT8:               arith.extsi {{.*}} : vector<8x4xi8> to vector<8x4xi32>
// INT8:               vector.contract {{.*}} : vector<8x4xi32>, vector<8x4xi32> into vector<8xi32>
// INT8:               math.fma
// More than 8 tokens (prefill) take the tiled kernel of bf16 prefill: x
// rounded to bf16 once, blocks of 256 tokens and 1024 of K (here all 64),
// and per block of 4 rows a panel dequantized once (scale times codes,
// rounded to bf16) that the token groups then read with bf16 pair dot
// products. With bf16-dot=widen the panel stays f32 and the products are
// f32 FMAs.
// TILED-LABEL: func.func @linear(
// TILED:         %[[MANY:.*]] = arith.cmpi ugt, %{{.*}}, %c8
// TILED:         scf.if %[[MANY]]
// TILED:           arith.truncf {{.*}} : vector<16xf32> to vector<16xbf16>
// TILED:           scf.forall (%{{.*}}) in (3)
// TILED:             scf.for %{{.*}} step %c256
// TILED:               %[[P:.*]] = tensor.empty() : tensor<4x64xbf16>
// TILED:               scf.for {{.*}} iter_args(%{{.*}} = %[[P]]) -> (tensor<4x64xbf16>)
// TILED:                 arith.mulf {{.*}} : vector<16xf32>
// TILED:                 arith.truncf {{.*}} : vector<16xf32> to vector<16xbf16>
// TILED:                 vector.transfer_write {{.*}} : vector<16xbf16>, tensor<4x64xbf16>
// TILED:               vector.transfer_read {{.*}} : tensor<4x64xbf16>, vector<32xbf16>
// TILED:               vector.contract {{.*}} : vector<16x2xf32>, vector<16x2xf32> into vector<16xf32>
// TILED:         } else {
// TILED:           scf.forall (%{{.*}}) in (5)
// WIDE-LABEL: func.func @linear(
// WIDE:         scf.if
// WIDE-NOT:       bf16
// WIDE:           tensor.empty() : tensor<4x64xf32>
// WIDE:           vector.transfer_read {{.*}} : tensor<4x64xf32>, vector<16xf32>
// WIDE:           vector.fma
// WIDE:         } else {
// BAD: convert-tok-to-linalg: quant-dot must be 'auto', 'f32' or 'vnni', got 'amx'
func.func @linear(%x: tensor<?x64xf32>, %w: tensor<10x64xf32, #tok.quant<q4_0>>) -> tensor<?x10xf32> {
  %y = tok.linear %x, %w : tensor<?x64xf32>, tensor<10x64xf32, #tok.quant<q4_0>>
  return %y : tensor<?x10xf32>
}

// Weights cross calls as their bytes; a q6_k embedding reads one weight at
// a time from its super-block (210 bytes per 256 weights).

// CHECK-LABEL: func.func private @layer(
// CHECK-SAME:    tensor<8x420xi8>
// CHECK-LABEL: func.func @embed(
// CHECK-SAME:    %[[T:.*]]: tensor<8x420xi8>
// CHECK:         call @layer(%[[T]]
// CHECK:         linalg.generic
// CHECK:           tensor.extract %[[T]]
func.func private @layer(%t: tensor<8x512xf32, #tok.quant<q6_k>>) -> ()
func.func @embed(%t: tensor<8x512xf32, #tok.quant<q6_k>>, %ids: tensor<?xi32>) -> tensor<?x512xf32> {
  call @layer(%t) : (tensor<8x512xf32, #tok.quant<q6_k>>) -> ()
  %e = tok.embed %t[%ids] : tensor<8x512xf32, #tok.quant<q6_k>>, tensor<?xi32>
  return %e : tensor<?x512xf32>
}
