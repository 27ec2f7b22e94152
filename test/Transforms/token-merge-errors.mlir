// RUN: tok-opt %s --split-input-file --tok-token-merge="r=2" --verify-diagnostics
// RUN: not tok-opt %s --split-input-file --tok-token-merge="r=2" 2>/dev/null | FileCheck %s --check-prefix=CAUSAL
// RUN: not tok-opt %s --split-input-file --tok-token-merge="schedule=linear" 2>&1 | FileCheck %s --check-prefix=SCHEDULE
// RUN: not tok-opt %s --split-input-file --tok-token-merge="method=bipartite" 2>&1 | FileCheck %s --check-prefix=METHOD
// RUN: not tok-opt %s --split-input-file --tok-token-merge="r=-1" 2>&1 | FileCheck %s --check-prefix=NEGATIVE

// SCHEDULE: error: tok-token-merge: unknown schedule 'linear' (constant, decreasing, increasing)
// METHOD: error: tok-token-merge: unknown method 'bipartite' (tome, pitome)
// NEGATIVE: error: tok-token-merge: r must be non-negative, got -1

// A static token count cannot shrink.
func.func @static_rows(%x: tensor<8x4xf32>, %q: tensor<1x8x4xf32>) -> tensor<8x4xf32> {
  // expected-error @+1 {{tok-token-merge: the token rows after this attention have a static count ('tensor<8x4xf32>'); merging needs a dynamic token dimension}}
  %a = tok.attention %q, %q, %q {mask = #tok.mask<full>} : tensor<1x8x4xf32>, tensor<1x8x4xf32>, tensor<1x8x4xf32> -> tensor<1x8x4xf32>
  %r = tensor.collapse_shape %a [[0, 1], [2]] : tensor<1x8x4xf32> into tensor<8x4xf32>
  %h = arith.addf %x, %r : tensor<8x4xf32>
  return %h : tensor<8x4xf32>
}

// -----

// No residual add: nothing says where the block's stream is.
func.func @no_residual(%q: tensor<1x?x4xf32>) -> tensor<1x?x4xf32> {
  // expected-error @+1 {{cannot find the residual add after this attention}}
  %a = tok.attention %q, %q, %q {mask = #tok.mask<full>} : tensor<1x?x4xf32>, tensor<1x?x4xf32>, tensor<1x?x4xf32> -> tensor<1x?x4xf32>
  return %a : tensor<1x?x4xf32>
}

// -----

// An op after the merge sized by the original token count (%n, from the
// caller) would read past the merged rows: reported, not miscompiled.
func.func @outside_size(%x: tensor<?x4xf32>, %q: tensor<1x?x4xf32>, %n: index) -> tensor<?x4xf32> {
  %a = tok.attention %q, %q, %q {mask = #tok.mask<full>} : tensor<1x?x4xf32>, tensor<1x?x4xf32>, tensor<1x?x4xf32> -> tensor<1x?x4xf32>
  %r = tensor.collapse_shape %a [[0, 1], [2]] : tensor<1x?x4xf32> into tensor<?x4xf32>
  %h = arith.addf %x, %r : tensor<?x4xf32>
  %e = tensor.empty(%n) : tensor<?x4xf32>
  // expected-error @+1 {{tok-token-merge: this op takes a size that is not computed from the reduced tokens}}
  %c = tensor.extract_slice %h[0, 0] [%n, 4] [1, 1] : tensor<?x4xf32> to tensor<?x4xf32>
  return %c : tensor<?x4xf32>
}

// -----

// A returned value computed from merged tokens that is not token rows.
func.func @returns_scalar(%x: tensor<?x4xf32>, %q: tensor<1x?x4xf32>) -> tensor<f32> {
  %a = tok.attention %q, %q, %q {mask = #tok.mask<full>} : tensor<1x?x4xf32>, tensor<1x?x4xf32>, tensor<1x?x4xf32> -> tensor<1x?x4xf32>
  %r = tensor.collapse_shape %a [[0, 1], [2]] : tensor<1x?x4xf32> into tensor<?x4xf32>
  %h = arith.addf %x, %r : tensor<?x4xf32>
  %c0 = arith.constant 0 : index
  %v = tensor.extract %h[%c0, %c0] : tensor<?x4xf32>
  %t = tensor.from_elements %v : tensor<f32>
  // expected-error @+1 {{tok-token-merge: result #0 is computed from the reduced tokens but is not one row per token}}
  return %t : tensor<f32>
}

// -----

// Causal attention (a decoder) is left alone.
// CAUSAL-LABEL: func.func @causal
// CAUSAL-NOT:   tok.merge
// CAUSAL:       return
func.func @causal(%x: tensor<?x4xf32>, %q: tensor<1x?x4xf32>) -> tensor<?x4xf32> {
  %a = tok.attention %q, %q, %q {mask = #tok.mask<causal>} : tensor<1x?x4xf32>, tensor<1x?x4xf32>, tensor<1x?x4xf32> -> tensor<1x?x4xf32>
  %r = tensor.collapse_shape %a [[0, 1], [2]] : tensor<1x?x4xf32> into tensor<?x4xf32>
  %h = arith.addf %x, %r : tensor<?x4xf32>
  return %h : tensor<?x4xf32>
}
