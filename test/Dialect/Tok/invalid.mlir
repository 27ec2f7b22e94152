// RUN: tok-opt %s -split-input-file -verify-diagnostics

func.func @rms_norm_weight_size(%x: tensor<4x8xf32>, %w: tensor<16xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{'tok.rms_norm' op expects 'weight' of 8 elements (the last dimension of 'input'), got 'tensor<16xf32>'}}
  %y = tok.rms_norm %x, %w : tensor<4x8xf32>, tensor<16xf32>
  return %y : tensor<4x8xf32>
}

// -----

func.func @rms_norm_weight_rank(%x: tensor<4x8xf32>, %w: tensor<1x8xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{'tok.rms_norm' op expects 'weight' of rank 1, got rank 2}}
  %y = tok.rms_norm %x, %w : tensor<4x8xf32>, tensor<1x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

func.func @rms_norm_dynamic_features(%x: tensor<4x?xf32>, %w: tensor<8xf32>) -> tensor<4x?xf32> {
  // expected-error @+1 {{'tok.rms_norm' op expects a static last (feature) dimension of 'input', got 'tensor<4x?xf32>'}}
  %y = tok.rms_norm %x, %w : tensor<4x?xf32>, tensor<8xf32>
  return %y : tensor<4x?xf32>
}

// -----

func.func @rms_norm_rank0(%x: tensor<f32>, %w: tensor<8xf32>) -> tensor<f32> {
  // expected-error @+1 {{'tok.rms_norm' op expects 'input' of rank >= 1, got rank 0}}
  %y = tok.rms_norm %x, %w : tensor<f32>, tensor<8xf32>
  return %y : tensor<f32>
}

// -----

func.func @rms_norm_epsilon(%x: tensor<4x8xf32>, %w: tensor<8xf32>) -> tensor<4x8xf32> {
  // expected-error @+1 {{'tok.rms_norm' op expects a positive 'epsilon', got 0}}
  %y = tok.rms_norm %x, %w {epsilon = 0.0 : f32} : tensor<4x8xf32>, tensor<8xf32>
  return %y : tensor<4x8xf32>
}

// -----

func.func @rms_norm_element_types(%x: tensor<4x8xf32>, %w: tensor<8xf16>) -> tensor<4x8xf32> {
  // expected-error @+1 {{'tok.rms_norm' op failed to verify that all of {input, weight, result} have same element type}}
  %y = tok.rms_norm %x, %w : tensor<4x8xf32>, tensor<8xf16>
  return %y : tensor<4x8xf32>
}

// -----

func.func @rms_norm_integer(%x: tensor<4x8xi32>, %w: tensor<8xi32>) -> tensor<4x8xi32> {
  // expected-error @+1 {{'tok.rms_norm' op operand #0 must be ranked tensor of floating-point values, but got 'tensor<4x8xi32>'}}
  %y = tok.rms_norm %x, %w : tensor<4x8xi32>, tensor<8xi32>
  return %y : tensor<4x8xi32>
}
