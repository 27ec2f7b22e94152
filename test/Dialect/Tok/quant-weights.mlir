// RUN: tok-opt %s -split-input-file -verify-diagnostics | FileCheck %s

// Block-quantized weights (#tok.quant) are accepted by tok.linear and
// tok.embed, and only there.

// CHECK-LABEL: func.func @accepted(
// CHECK-SAME:    tensor<16x64xf32, #tok.quant<q8_0>>
// CHECK-SAME:    tensor<100x256xf32, #tok.quant<q4_k>>
// CHECK:         tok.linear %{{.*}}, %{{.*}} : tensor<?x64xf32>, tensor<16x64xf32, #tok.quant<q8_0>>
// CHECK:         tok.embed %{{.*}}[%{{.*}}] : tensor<100x256xf32, #tok.quant<q4_k>>, tensor<?xi32>
func.func @accepted(%x: tensor<?x64xf32>,
                    %w: tensor<16x64xf32, #tok.quant<q8_0>>,
                    %t: tensor<100x256xf32, #tok.quant<q4_k>>,
                    %ids: tensor<?xi32>) -> (tensor<?x16xf32>, tensor<?x256xf32>) {
  %y = tok.linear %x, %w : tensor<?x64xf32>, tensor<16x64xf32, #tok.quant<q8_0>>
  %e = tok.embed %t[%ids] : tensor<100x256xf32, #tok.quant<q4_k>>, tensor<?xi32>
  return %y, %e : tensor<?x16xf32>, tensor<?x256xf32>
}

// CHECK-LABEL: func.func @schemes(
// CHECK-SAME:    #tok.quant<q4_0>
// CHECK-SAME:    #tok.quant<q6_k>
// CHECK-SAME:    #tok.quant<i8_channel>
func.func @schemes(%a: tensor<8x32xf32, #tok.quant<q4_0>>,
                   %b: tensor<8x512xf32, #tok.quant<q6_k>>,
                   %c: tensor<8x96xf32, #tok.quant<i8_channel>>) {
  return
}

// -----

// expected-error @+1 {{a #tok.quant<q8_0> weight needs a static K that is a multiple of its block size 32, got K = 48}}
func.func @k_not_multiple(%w: tensor<16x48xf32, #tok.quant<q8_0>>) {
  return
}

// -----

// expected-error @+1 {{a #tok.quant<i8_channel> weight needs a static K that is a multiple of its block size 32, got K = 40}}
func.func @channel_k_not_multiple(%w: tensor<16x40xf32, #tok.quant<i8_channel>>) {
  return
}

// -----

// expected-error @+1 {{a #tok.quant<q4_k> weight needs a static K that is a multiple of its block size 256, got K = 128}}
func.func @k_not_superblock(%w: tensor<16x128xf32, #tok.quant<q4_k>>) {
  return
}

// -----

// expected-error @+1 {{a #tok.quant weight dequantizes to f32, got element type 'f16'}}
func.func @not_f32(%w: tensor<16x64xf16, #tok.quant<q8_0>>) {
  return
}

// -----

// expected-error @+1 {{a #tok.quant weight is a matrix (N x K), got rank 3}}
func.func @not_matrix(%w: tensor<2x16x64xf32, #tok.quant<q8_0>>) {
  return
}

// -----

// expected-error @+1 {{a #tok.quant<q4_0> weight needs a static K that is a multiple of its block size 32, got K = ?}}
func.func @dynamic_k(%w: tensor<16x?xf32, #tok.quant<q4_0>>) {
  return
}

// -----

func.func @other_op(%x: tensor<?x64xf32>, %w: tensor<16x64xf32, #tok.quant<q8_0>>) -> tensor<?x64xf32> {
  // expected-error @+1 {{'tok.rms_norm' op operand #1 must be ranked tensor of f16, bf16 or f32 values}}
  %y = tok.rms_norm %x, %w : tensor<?x64xf32>, tensor<16x64xf32, #tok.quant<q8_0>>
  return %y : tensor<?x64xf32>
}

// -----

func.func @bf16_input(%x: tensor<?x64xbf16>, %w: tensor<16x64xf32, #tok.quant<q8_0>>) -> tensor<?x16xbf16> {
  // expected-error @+1 {{'tok.linear' op expects f32 'input' with a #tok.quant 'weight', got 'tensor<?x64xbf16>'}}
  %y = tok.linear %x, %w : tensor<?x64xbf16>, tensor<16x64xf32, #tok.quant<q8_0>>
  return %y : tensor<?x16xbf16>
}

// -----

// expected-error @+2 {{expected ::mlir::tok::WeightScheme to be one of: q8_0, q4_0, q4_k, q6_k}}
// expected-error @+1 {{failed to parse Tok_WeightQuantAttr parameter 'scheme'}}
func.func @unknown_scheme(%w: tensor<16x64xf32, #tok.quant<q5_1>>) {
  return
}
