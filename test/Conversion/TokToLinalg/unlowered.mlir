// RUN: tok-opt %s --convert-tok-to-linalg --split-input-file -verify-diagnostics

// A tok op without a CPU lowering is an error at its location, not IR left
// for a later pass to fail on.
func.func @prune(%x: tensor<10x16xf32>, %s: tensor<10xf32>) -> tensor<5x16xf32> {
  // expected-error @+1 {{'tok.prune' has no CPU lowering yet}}
  %kept, %ki = tok.prune %x, %s {keep = 0.5 : f32}
      : tensor<10x16xf32>, tensor<10xf32> -> tensor<5x16xf32>, tensor<5xi32>
  return %kept : tensor<5x16xf32>
}

// -----

func.func @draft(%out: tensor<?xi32>) -> tensor<4xi32> {
  // expected-error @+1 {{'tok.draft' has no CPU lowering yet}}
  %d, %p, %q = tok.draft %out {drafter = #tok.drafter<ngram, k = 4>}
      : tensor<?xi32> -> tensor<4xi32>, tensor<4xi32>, tensor<4xf32>
  return %d : tensor<4xi32>
}
