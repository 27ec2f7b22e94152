// RUN: tok-opt %s --convert-tok-to-linalg --split-input-file -verify-diagnostics

// A tok op without a CPU lowering is an error at its location, not IR left
// for a later pass to fail on.
func.func @scatter_dim1(%x: tensor<4x10xf32>, %y: tensor<4x3xf32>, %i: tensor<3xi32>) -> tensor<4x10xf32> {
  // expected-error @+1 {{'tok.scatter' has no CPU lowering yet along dimension 1 (dimension 0 only)}}
  %r = tok.scatter %y into %x[%i] {dim = 1 : i64}
      : tensor<4x3xf32> into tensor<4x10xf32>, tensor<3xi32>
  return %r : tensor<4x10xf32>
}

// -----

func.func @merge_f16(%x: tensor<?x16xf16>, %m: tensor<?x4xf16>) -> tensor<?x16xf16> {
  // expected-error @+1 {{'tok.merge' has no CPU lowering yet for 'f16' token rows (f32 only)}}
  %y, %sz, %map = tok.merge %x, %m {r = 2 : i64}
      : tensor<?x16xf16>, tensor<?x4xf16> -> tensor<?x16xf16>, tensor<?xf32>, tensor<?xi32>
  return %y : tensor<?x16xf16>
}

// -----

func.func @draft(%out: tensor<?xi32>) -> tensor<4xi32> {
  // expected-error @+1 {{'tok.draft' op the lowering drafts a run-time number of tokens; results must be tensor<?x...>}}
  %d, %p, %q = tok.draft %out {drafter = #tok.drafter<ngram, k = 4>}
      : tensor<?xi32> -> tensor<4xi32>, tensor<4xi32>, tensor<4xf32>
  return %d : tensor<4xi32>
}

// -----

func.func private @dstep(tensor<?xi32>, tensor<?xi32>, !tok.kv_cache<4x64x8xf32>) -> (tensor<?x16xf32>, !tok.kv_cache<4x64x8xf32>)
func.func @model_drafter(%out: tensor<?xi32>, %c: !tok.kv_cache<4x64x8xf32>) -> tensor<?xi32> {
  // expected-error @+1 {{'tok.draft' op a model drafter has no CPU lowering yet; use an ngram drafter}}
  %d, %p, %q, %c2 = tok.draft %out caches(%c : !tok.kv_cache<4x64x8xf32>) {drafter = #tok.drafter<model, k = 4, step = @dstep>}
      : tensor<?xi32> -> tensor<?xi32>, tensor<?xi32>, tensor<?xf32>, !tok.kv_cache<4x64x8xf32>
  return %d : tensor<?xi32>
}

// -----

func.func @draft_probs(%l: tensor<5x16xf32>, %d: tensor<4xi32>, %p: tensor<4xi32>, %q: tensor<4x16xf32>, %n: i64) -> tensor<?xi32> {
  // expected-error @+1 {{'tok.verify' op verification against drafter distributions ('draft_probs') has no CPU lowering yet; only one-hot drafts (n-gram) are lowered}}
  %path, %next = tok.verify %l, %d, %p draft_probs(%q : tensor<4x16xf32>) counter(%n : i64) {sampler = #tok.sampler<temperature = 1.0>}
      : tensor<5x16xf32>, tensor<4xi32>, tensor<4xi32> -> tensor<?xi32>, tensor<i32>
  return %path : tensor<?xi32>
}
