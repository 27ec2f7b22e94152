// RUN: tok-opt %s --convert-tok-to-linalg="attention-dot=bf16" --canonicalize --cse --split-input-file | FileCheck %s
// RUN: tok-opt %s --convert-tok-to-linalg="attention-dot=f32" --split-input-file | FileCheck %s --check-prefix=F32
// RUN: tok-opt %s --convert-tok-to-linalg="attention-dot=auto bf16-dot=dot" --split-input-file | FileCheck %s --check-prefix=AUTO
// RUN: tok-opt %s --convert-tok-to-linalg="attention-dot=auto bf16-dot=widen" --split-input-file | FileCheck %s --check-prefix=F32
// RUN: not tok-opt %s --convert-tok-to-linalg="attention-dot=amx" --split-input-file 2>&1 | FileCheck %s --check-prefix=BAD

// BAD: convert-tok-to-linalg: attention-dot must be 'auto', 'f32' or 'bf16', got 'amx'

// The prefill kernel in bf16: K^T panels hold each key's pair of channels
// side by side (D / 2 pairs of 32 keys x 2), V is packed once per KV head
// as key pairs (keys 2p and 2p + 1 interleaved per channel), Q rows and P
// tiles are kept as i32 words of two bf16. Q K^T takes D / 2 steps of 24
// pair dot products (a pair of Q broadcast against 16 keys' pairs), P V 16
// steps (pairs of keys) per 32-key tile.
// CHECK-LABEL: func.func @prefill
// CHECK:       scf.forall
// CHECK:         memref.alloca() : memref<12x16xi32>
// CHECK:         memref.alloca() : memref<12x16xi32>
// CHECK:         memref.alloca() : memref<12x32xf32>
// CHECK:         %[[KT:.*]] = memref.alloc() : memref<4x16x64xbf16>
// CHECK:           arith.truncf {{.*}} : vector<16xf32> to vector<16xbf16>
// CHECK:           memref.store {{.*}}, %[[KT]]
// CHECK:         %[[VP:.*]] = memref.alloc() : memref<64x64xbf16>
// CHECK:           vector.interleave {{.*}} : vector<16xbf16> -> vector<32xbf16>
// CHECK:           vector.store {{.*}}, %[[VP]]
// CHECK:             scf.for %{{.*}} = %c0 to %c16 step %c1 iter_args
// CHECK-COUNT-2:       vector.load %[[KT]]{{.*}} : memref<4x16x64xbf16>, vector<32xbf16>
// CHECK:               vector.bitcast {{.*}} : vector<16xi32> to vector<32xbf16>
// CHECK-COUNT-24:      vector.contract
// CHECK:             math.exp
// CHECK:             vector.bitcast {{.*}} : vector<16xbf16> to vector<8xi32>
// CHECK:             scf.for %{{.*}} = %c0 to %c16 step %c1 iter_args
// CHECK:               vector.load %[[VP]]{{.*}} : memref<64x64xbf16>, vector<32xbf16>
// CHECK-COUNT-24:      vector.contract
// Decode rows under the same option stay f32: no bf16 anywhere in them.
// F32-LABEL: func.func @prefill
// F32-NOT:     bf16
// F32:         vector.fma
// F32-NOT:     bf16
// F32:       return
func.func @prefill(%q: tensor<8x128x32xf32>, %k: tensor<2x128x32xf32>, %v: tensor<2x128x32xf32>) -> tensor<8x128x32xf32> {
  %o = tok.attention %q, %k, %v {mask = #tok.mask<causal>}
      : tensor<8x128x32xf32>, tensor<2x128x32xf32>, tensor<2x128x32xf32> -> tensor<8x128x32xf32>
  return %o : tensor<8x128x32xf32>
}

// -----

// attention-dot=auto follows the weights: a module whose tok.linear takes
// bf16 weights (with bf16-dot resolving to dot) gets the bf16 kernel.
// AUTO-LABEL: func.func @bf16_model
// AUTO:         memref.alloc({{.*}}) : memref<?x16x64xbf16>
// AUTO:         vector.interleave
// F32-LABEL:  func.func @bf16_model
// F32-NOT:      vector.interleave
// F32:        return
func.func @bf16_model(%q: tensor<8x128x32xf32>, %k: tensor<2x128x32xf32>, %v: tensor<2x128x32xf32>,
                      %x: tensor<128x32xf32>, %w: tensor<32x32xbf16>) -> (tensor<8x128x32xf32>, tensor<128x32xf32>) {
  %o = tok.attention %q, %k, %v {mask = #tok.mask<causal>}
      : tensor<8x128x32xf32>, tensor<2x128x32xf32>, tensor<2x128x32xf32> -> tensor<8x128x32xf32>
  %y = tok.linear %x, %w : tensor<128x32xf32>, tensor<32x32xbf16>
  return %o, %y : tensor<8x128x32xf32>, tensor<128x32xf32>
}

// -----

// An f32 model keeps f32 attention under auto, whatever bf16-dot says.
// AUTO-LABEL: func.func @f32_model
// AUTO-NOT:     bf16
// AUTO:       return
func.func @f32_model(%q: tensor<8x128x32xf32>, %k: tensor<2x128x32xf32>, %v: tensor<2x128x32xf32>,
                     %x: tensor<128x32xf32>, %w: tensor<32x32xf32>) -> (tensor<8x128x32xf32>, tensor<128x32xf32>) {
  %o = tok.attention %q, %k, %v {mask = #tok.mask<causal>}
      : tensor<8x128x32xf32>, tensor<2x128x32xf32>, tensor<2x128x32xf32> -> tensor<8x128x32xf32>
  %y = tok.linear %x, %w : tensor<128x32xf32>, tensor<32x32xf32>
  return %o, %y : tensor<8x128x32xf32>, tensor<128x32xf32>
}
