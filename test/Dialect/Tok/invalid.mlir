// RUN: tok-opt %s -split-input-file -verify-diagnostics

// One case per verifier rule of the tok ops (types and attributes:
// invalid-attrs.mlir).

func.func @case0(%x: tensor<4x8xf32>, %w: tensor<16xf32>) {
  // expected-error @+1 {{'tok.rms_norm' op expects 'weight' of 8 elements (the last dimension of 'input'), got 'tensor<16xf32>'}}
  %y = tok.rms_norm %x, %w : tensor<4x8xf32>, tensor<16xf32>
  return
}

// -----

func.func @layer_norm_bias(%x: tensor<4x8xf32>, %w: tensor<8xf32>, %b: tensor<4xf32>) {
  // expected-error @+1 {{'tok.layer_norm' op expects 'bias' of 8 elements (the last dimension of 'input'), got 'tensor<4xf32>'}}
  %y = tok.layer_norm %x, %w, %b : tensor<4x8xf32>, tensor<8xf32>, tensor<4xf32>
  return
}

// -----

func.func @layer_norm_eps(%x: tensor<?x8xf32>, %w: tensor<8xf32>) {
  // expected-error @+1 {{'tok.layer_norm' op expects a positive 'epsilon', got -1}}
  %y = tok.layer_norm %x, %w, %w {epsilon = -1.0 : f32} : tensor<?x8xf32>, tensor<8xf32>, tensor<8xf32>
  return
}

// -----

func.func @case1(%x: tensor<4x8xf32>, %w: tensor<1x8xf32>) {
  // expected-error @+1 {{'tok.rms_norm' op expects 'weight' of rank 1, got rank 2}}
  %y = tok.rms_norm %x, %w : tensor<4x8xf32>, tensor<1x8xf32>
  return
}

// -----

func.func @case2(%x: tensor<4x?xf32>, %w: tensor<8xf32>) {
  // expected-error @+1 {{'tok.rms_norm' op expects a static last (feature) dimension of 'input', got 'tensor<4x?xf32>'}}
  %y = tok.rms_norm %x, %w : tensor<4x?xf32>, tensor<8xf32>
  return
}

// -----

func.func @case3(%x: tensor<f32>, %w: tensor<8xf32>) {
  // expected-error @+1 {{'tok.rms_norm' op expects 'input' of rank >= 1, got rank 0}}
  %y = tok.rms_norm %x, %w : tensor<f32>, tensor<8xf32>
  return
}

// -----

func.func @case4(%x: tensor<4x8xf32>, %w: tensor<8xf32>) {
  // expected-error @+1 {{'tok.rms_norm' op expects a positive 'epsilon', got 0}}
  %y = tok.rms_norm %x, %w {epsilon = 0.0 : f32} : tensor<4x8xf32>, tensor<8xf32>
  return
}

// -----

func.func @case5(%x: tensor<4x8xf32>, %w: tensor<8xf16>) {
  // expected-error @+1 {{'tok.rms_norm' op failed to verify that all of {input, weight, result} have same element type}}
  %y = tok.rms_norm %x, %w : tensor<4x8xf32>, tensor<8xf16>
  return
}

// -----

func.func @case6(%x: tensor<4x8xi32>, %w: tensor<8xi32>) {
  // expected-error @+1 {{'tok.rms_norm' op operand #0 must be ranked tensor of f16, bf16 or f32 values, but got 'tensor<4x8xi32>'}}
  %y = tok.rms_norm %x, %w : tensor<4x8xi32>, tensor<8xi32>
  return
}

// -----

func.func @case7(%t: tensor<256xf32>, %ids: tensor<?xi32>) {
  // expected-error @+1 {{expects a rank-2 'table' (vocabulary x model dim) and rank-1 'ids', got 'tensor<256xf32>' and 'tensor<?xi32>'}}
  %h = tok.embed %t[%ids] : tensor<256xf32>, tensor<?xi32>
  return
}

// -----

func.func @case8(%t: tensor<256x8xf32>, %ids: tensor<?xi64>) {
  // expected-error @+1 {{'tok.embed' op operand #1 must be 1D tensor of 32-bit signless integer values, but got 'tensor<?xi64>'}}
  %h = tok.embed %t[%ids] : tensor<256x8xf32>, tensor<?xi64>
  return
}

// -----

func.func @case9(%x: tensor<8x4x31xf32>, %p: tensor<4xi32>) {
  // expected-error @+1 {{'tok.rope' op expects an even head dimension to rotate in pairs, got 31}}
  %y = tok.rope %x, %p : tensor<8x4x31xf32>, tensor<4xi32>
  return
}

// -----

func.func @case10(%x: tensor<8x4x32xf32>, %p: tensor<5xi32>) {
  // expected-error @+1 {{'tok.rope' op expects 'positions' of 4 elements (one per token of 'input'), got 'tensor<5xi32>'}}
  %y = tok.rope %x, %p : tensor<8x4x32xf32>, tensor<5xi32>
  return
}

// -----

func.func @case11(%x: tensor<8x4x32xf32>, %p: tensor<4xi32>) {
  // expected-error @+1 {{'tok.rope' op expects a positive 'theta', got -1}}
  %y = tok.rope %x, %p {theta = -1.0 : f32} : tensor<8x4x32xf32>, tensor<4xi32>
  return
}

// -----

func.func @case12(%x: tensor<8x4x32xf32>, %p: tensor<4xi32>) {
  // expected-error @+1 {{'tok.rope' op expects a positive position 'scale', got 0}}
  %y = tok.rope %x, %p {scale = 0.0 : f32} : tensor<8x4x32xf32>, tensor<4xi32>
  return
}

// -----

func.func @rope_frequencies_count(%x: tensor<8x4x8xf32>, %p: tensor<4xi32>) {
  // expected-error @+1 {{'tok.rope' op expects 'frequencies' to hold one value per pair of the head dimension (4), got 3}}
  %y = tok.rope %x, %p {frequencies = array<f32: 1.0, 0.5, 0.25>} : tensor<8x4x8xf32>, tensor<4xi32>
  return
}

// -----

func.func @rope_frequencies_positive(%x: tensor<8x4x4xf32>, %p: tensor<4xi32>) {
  // expected-error @+1 {{'tok.rope' op expects positive finite 'frequencies', got 0.000000e+00 at 1}}
  %y = tok.rope %x, %p {frequencies = array<f32: 1.0, 0.0>} : tensor<8x4x4xf32>, tensor<4xi32>
  return
}

// -----

func.func @case13(%x: tensor<4x16xf32>, %w: tensor<8x12xf32>) {
  // expected-error @+1 {{'tok.linear' op expects 'weight' of N x 16 (the last dimension of 'input'), got 'tensor<8x12xf32>'}}
  %y = tok.linear %x, %w : tensor<4x16xf32>, tensor<8x12xf32>
  return
}

// -----

func.func @case14(%x: tensor<4x16xf32>, %w: tensor<8x16xf32>, %b: tensor<8xf16>) {
  // expected-error @+1 {{'tok.linear' op expects 'bias' of element type 'f32', got 'tensor<8xf16>'}}
  %y = tok.linear %x, %w, %b : tensor<4x16xf32>, tensor<8x16xf32>, tensor<8xf16>
  return
}

// -----

func.func @case15(%x: tensor<4x16xf32>, %w: tensor<8x16xf32>, %b: tensor<16xf32>) {
  // expected-error @+1 {{'tok.linear' op expects 'bias' of 8 elements (the output features of 'weight'), got 'tensor<16xf32>'}}
  %y = tok.linear %x, %w, %b : tensor<4x16xf32>, tensor<8x16xf32>, tensor<16xf32>
  return
}

// -----

func.func @case16(%q: tensor<8x4x32xf16>, %k: tensor<4x6x32xf32>, %v: tensor<4x6x32xf32>) {
  // expected-error @+1 {{'tok.attention' op expects 'query' of element type 'f32' (that of the keys), got 'tensor<8x4x32xf16>'}}
  %o = tok.attention %q, %k, %v {mask = #tok.mask<causal>} : tensor<8x4x32xf16>, tensor<4x6x32xf32>, tensor<4x6x32xf32> -> tensor<8x4x32xf16>
  return
}

// -----

func.func @case17(%q: tensor<8x4x32xf32>, %k: tensor<4x6x32xf32>, %v: tensor<4x6x32xbf16>) {
  // expected-error @+1 {{'tok.attention' op expects 'key' and 'value' of one element type, got 'tensor<4x6x32xf32>' and 'tensor<4x6x32xbf16>'}}
  %o = tok.attention %q, %k, %v {mask = #tok.mask<causal>} : tensor<8x4x32xf32>, tensor<4x6x32xf32>, tensor<4x6x32xbf16> -> tensor<8x4x32xf32>
  return
}

// -----

func.func @case18(%q: tensor<8x4x32xf32>, %k: tensor<4x6x32xf32>, %v: tensor<2x6x32xf32>) {
  // expected-error @+1 {{'tok.attention' op expects 'key' and 'value' with the same number of KV heads, got 'tensor<4x6x32xf32>' and 'tensor<2x6x32xf32>'}}
  %o = tok.attention %q, %k, %v {mask = #tok.mask<causal>} : tensor<8x4x32xf32>, tensor<4x6x32xf32>, tensor<2x6x32xf32> -> tensor<8x4x32xf32>
  return
}

// -----

func.func @case19(%q: tensor<8x4x32xf32>, %k: tensor<4x6x32xf32>, %v: tensor<4x7x32xf32>) {
  // expected-error @+1 {{'tok.attention' op expects 'key' and 'value' with the same number of tokens, got 'tensor<4x6x32xf32>' and 'tensor<4x7x32xf32>'}}
  %o = tok.attention %q, %k, %v {mask = #tok.mask<causal>} : tensor<8x4x32xf32>, tensor<4x6x32xf32>, tensor<4x7x32xf32> -> tensor<8x4x32xf32>
  return
}

// -----

func.func @case20(%q: tensor<8x4x32xf32>, %k: tensor<3x6x32xf32>, %v: tensor<3x6x32xf32>) {
  // expected-error @+1 {{'tok.attention' op expects the query heads (8) to be a multiple of the KV heads (3)}}
  %o = tok.attention %q, %k, %v {mask = #tok.mask<causal>} : tensor<8x4x32xf32>, tensor<3x6x32xf32>, tensor<3x6x32xf32> -> tensor<8x4x32xf32>
  return
}

// -----

func.func @case21(%q: tensor<8x4x32xf32>, %k: tensor<4x6x64xf32>, %v: tensor<4x6x64xf32>) {
  // expected-error @+1 {{'tok.attention' op expects the query head dim (32) to equal the key head dim (64)}}
  %o = tok.attention %q, %k, %v {mask = #tok.mask<causal>} : tensor<8x4x32xf32>, tensor<4x6x64xf32>, tensor<4x6x64xf32> -> tensor<8x4x32xf32>
  return
}

// -----

func.func @case22(%q: tensor<8x4x32xf32>, %k: tensor<4x6x32xf32>, %v: tensor<4x6x32xf32>) {
  // expected-error @+1 {{'tok.attention' op expects 'output' of type 'tensor<8x4x32xf32>' (query heads x tokens x value dim), got 'tensor<4x4x32xf32>'}}
  %o = tok.attention %q, %k, %v {mask = #tok.mask<causal>} : tensor<8x4x32xf32>, tensor<4x6x32xf32>, tensor<4x6x32xf32> -> tensor<4x4x32xf32>
  return
}

// -----

func.func @case23(%q: tensor<8x4x32xf32>, %k: tensor<4x6x32xf32>, %v: tensor<4x6x32xf32>) {
  // expected-error @+1 {{'tok.attention' op expects a positive 'scale', got -5.000000e-01}}
  %o = tok.attention %q, %k, %v {mask = #tok.mask<causal>, scale = -0.5 : f32} : tensor<8x4x32xf32>, tensor<4x6x32xf32>, tensor<4x6x32xf32> -> tensor<8x4x32xf32>
  return
}

// -----

func.func @softcap_negative(%q: tensor<8x4x32xf32>, %k: tensor<4x6x32xf32>, %v: tensor<4x6x32xf32>) {
  // expected-error @+1 {{'tok.attention' op expects a positive finite 'softcap', got -5.000000e+01}}
  %o = tok.attention %q, %k, %v {mask = #tok.mask<causal>, softcap = -50.0 : f32} : tensor<8x4x32xf32>, tensor<4x6x32xf32>, tensor<4x6x32xf32> -> tensor<8x4x32xf32>
  return
}

// -----

func.func @softcap_inf(%q: tensor<8x1x32xf32>, %c: !tok.kv_cache<4x16x32xf32>, %pos: tensor<1xi32>) {
  // expected-error @+1 {{'tok.cached_attention' op expects a positive finite 'softcap', got INF}}
  %o = tok.cached_attention %q, %c, %pos {mask = #tok.mask<causal>, softcap = 0x7F800000 : f32} : tensor<8x1x32xf32>, !tok.kv_cache<4x16x32xf32>, tensor<1xi32> -> tensor<8x1x32xf32>
  return
}

// -----

func.func @case24(%q: tensor<8x4x32xf32>, %k: tensor<4x6x32xf32>, %v: tensor<4x6x32xf32>) {
  // expected-error @+1 {{'tok.attention' op the 'scores' attribute requests a 'received' result, but the op has none}}
  %o = tok.attention %q, %k, %v {mask = #tok.mask<causal>, scores = #tok.scores<>} : tensor<8x4x32xf32>, tensor<4x6x32xf32>, tensor<4x6x32xf32> -> tensor<8x4x32xf32>
  return
}

// -----

func.func @case25(%q: tensor<8x4x32xf32>, %k: tensor<4x6x32xf32>, %v: tensor<4x6x32xf32>) {
  // expected-error @+1 {{'tok.attention' op a 'received' result needs the 'scores' attribute to say which rows count}}
  %o, %sc = tok.attention %q, %k, %v {mask = #tok.mask<causal>} : tensor<8x4x32xf32>, tensor<4x6x32xf32>, tensor<4x6x32xf32> -> tensor<8x4x32xf32>, tensor<4x6xf32>
  return
}

// -----

func.func @case26(%q: tensor<8x4x32xf32>, %k: tensor<4x6x32xf32>, %v: tensor<4x6x32xf32>) {
  // expected-error @+1 {{'tok.attention' op expects 'received' of type 'tensor<4x6xf32>' (KV heads x keys), got 'tensor<8x6xf32>'}}
  %o, %sc = tok.attention %q, %k, %v {mask = #tok.mask<causal>, scores = #tok.scores<>} : tensor<8x4x32xf32>, tensor<4x6x32xf32>, tensor<4x6x32xf32> -> tensor<8x4x32xf32>, tensor<8x6xf32>
  return
}

// -----

func.func @case27(%q: tensor<8x4x32xf32>, %k: tensor<4x6x32xf32>, %v: tensor<4x6x32xf32>) {
  // expected-error @+1 {{'tok.attention' op scores rows (5) exceed the 4 query tokens}}
  %o, %sc = tok.attention %q, %k, %v {mask = #tok.mask<causal>, scores = #tok.scores<rows = 5>} : tensor<8x4x32xf32>, tensor<4x6x32xf32>, tensor<4x6x32xf32> -> tensor<8x4x32xf32>, tensor<4x6xf32>
  return
}

// -----

func.func @case28(%q: tensor<8x4x32xf32>, %k: tensor<4x6x32xf32>, %v: tensor<4x6x32xf32>, %par: tensor<4xi32>) {
  // expected-error @+1 {{'tok.attention' op a tree mask needs a causal 'mask' for the tokens before the tree}}
  %o = tok.attention %q, %k, %v tree(%par : tensor<4xi32>) {mask = #tok.mask<full>} : tensor<8x4x32xf32>, tensor<4x6x32xf32>, tensor<4x6x32xf32> -> tensor<8x4x32xf32>
  return
}

// -----

func.func @case29(%q: tensor<8x4x32xf32>, %k: tensor<4x6x32xf32>, %v: tensor<4x6x32xf32>, %par: tensor<3xi32>) {
  // expected-error @+1 {{'tok.attention' op expects 'tree_parents' of 4 elements (one per query token), got 'tensor<3xi32>'}}
  %o = tok.attention %q, %k, %v tree(%par : tensor<3xi32>) {mask = #tok.mask<causal>} : tensor<8x4x32xf32>, tensor<4x6x32xf32>, tensor<4x6x32xf32> -> tensor<8x4x32xf32>
  return
}

// -----

func.func @case30(%q: tensor<8x8x32xf32>, %k: tensor<4x6x32xf32>, %v: tensor<4x6x32xf32>, %par: tensor<8xi32>, %qp: tensor<8xi32>, %kp: tensor<6xi32>) {
  // expected-error @+1 {{'tok.attention' op the 8 tree nodes must be among the 6 keys}}
  %o = tok.attention %q, %k, %v positions(%qp, %kp : tensor<8xi32>, tensor<6xi32>) tree(%par : tensor<8xi32>) {mask = #tok.mask<causal>} : tensor<8x8x32xf32>, tensor<4x6x32xf32>, tensor<4x6x32xf32> -> tensor<8x8x32xf32>
  return
}

// -----

func.func @case31(%q: tensor<8x8x32xf32>, %k: tensor<4x6x32xf32>, %v: tensor<4x6x32xf32>) {
  // expected-error @+1 {{'tok.attention' op without positions the queries are the last of the keys, but there are 8 queries and only 6 keys}}
  %o = tok.attention %q, %k, %v {mask = #tok.mask<causal>} : tensor<8x8x32xf32>, tensor<4x6x32xf32>, tensor<4x6x32xf32> -> tensor<8x8x32xf32>
  return
}

// -----

func.func @case32(%q: tensor<8x4x32xf32>, %k: tensor<4x6x32xf32>, %v: tensor<4x6x32xf32>, %qp: tensor<5xi32>, %kp: tensor<6xi32>) {
  // expected-error @+1 {{'tok.attention' op expects 'query_positions' of 4 elements (one per query token), got 'tensor<5xi32>'}}
  %o = tok.attention %q, %k, %v positions(%qp, %kp : tensor<5xi32>, tensor<6xi32>) {mask = #tok.mask<causal>} : tensor<8x4x32xf32>, tensor<4x6x32xf32>, tensor<4x6x32xf32> -> tensor<8x4x32xf32>
  return
}

// -----

func.func @case33(%q: tensor<8x4x32xf32>, %k: tensor<4x6x32xf32>, %v: tensor<4x6x32xf32>, %qp: tensor<4xi32>, %kp: tensor<4xi32>) {
  // expected-error @+1 {{'tok.attention' op expects 'key_positions' of 6 elements (one per key), got 'tensor<4xi32>'}}
  %o = tok.attention %q, %k, %v positions(%qp, %kp : tensor<4xi32>, tensor<4xi32>) {mask = #tok.mask<causal>} : tensor<8x4x32xf32>, tensor<4x6x32xf32>, tensor<4x6x32xf32> -> tensor<8x4x32xf32>
  return
}

// -----

func.func @case34(%q: tensor<8x4x32xf32>, %k: tensor<4x6x32xf32>, %v: tensor<4x6x32xf32>, %qp: tensor<4xi32>) {
  // expected-error @+1 {{'tok.attention' op expects both query and key positions or neither}}
  %o = "tok.attention"(%q, %k, %v, %qp) <{mask = #tok.mask<causal>, operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0, 0, 0, 0>}> : (tensor<8x4x32xf32>, tensor<4x6x32xf32>, tensor<4x6x32xf32>, tensor<4xi32>) -> tensor<8x4x32xf32>
  return
}

// -----

func.func @case35(%q: tensor<8x4x32xf32>, %k: tensor<4x6x32xf32>, %v: tensor<4x6x32xf32>) {
  // expected-error @+1 {{'tok.attention' op a block-diagonal mask needs 'segments'}}
  %o = tok.attention %q, %k, %v {mask = #tok.mask<causal, block_diagonal = true>} : tensor<8x4x32xf32>, tensor<4x6x32xf32>, tensor<4x6x32xf32> -> tensor<8x4x32xf32>
  return
}

// -----

func.func @case36(%q: tensor<8x4x32xf32>, %k: tensor<4x6x32xf32>, %v: tensor<4x6x32xf32>, %qs: tensor<4xi32>, %ks: tensor<6xi32>) {
  // expected-error @+1 {{'tok.attention' op 'segments' need a mask with block_diagonal = true}}
  %o = tok.attention %q, %k, %v segments(%qs, %ks : tensor<4xi32>, tensor<6xi32>) {mask = #tok.mask<causal>} : tensor<8x4x32xf32>, tensor<4x6x32xf32>, tensor<4x6x32xf32> -> tensor<8x4x32xf32>
  return
}

// -----

func.func @case37(%q: tensor<8x4x32xf32>, %k: tensor<4x6x32xf32>, %v: tensor<4x6x32xf32>, %qs: tensor<4xi32>, %ks: tensor<5xi32>) {
  // expected-error @+1 {{'tok.attention' op expects 'key_segments' of 6 elements (one per key), got 'tensor<5xi32>'}}
  %o = tok.attention %q, %k, %v segments(%qs, %ks : tensor<4xi32>, tensor<5xi32>) {mask = #tok.mask<causal, block_diagonal = true>} : tensor<8x4x32xf32>, tensor<4x6x32xf32>, tensor<4x6x32xf32> -> tensor<8x4x32xf32>
  return
}

// -----

func.func @case38(%q: tensor<8x4x32xf32>, %k: tensor<4x6x32xf32>, %v: tensor<4x6x32xf32>, %sz: tensor<4xf32>) {
  // expected-error @+1 {{'tok.attention' op expects 'key_sizes' of 6 elements (one per key), got 'tensor<4xf32>'}}
  %o = tok.attention %q, %k, %v sizes(%sz : tensor<4xf32>) {mask = #tok.mask<full>} : tensor<8x4x32xf32>, tensor<4x6x32xf32>, tensor<4x6x32xf32> -> tensor<8x4x32xf32>
  return
}

// -----

func.func @case39(%q: tensor<8x4x32xf32>, %k: tensor<4x6x32xf32>, %v: tensor<4x6x32xf32>) {
  %x = arith.constant dense<0.0> : tensor<8x32xf32>
  // expected-error @+1 {{'tok.attention' op operand #0 must be 3D tensor of f16, bf16 or f32 values, but got 'tensor<8x32xf32>'}}
  %o = tok.attention %x, %k, %v {mask = #tok.mask<causal>} : tensor<8x32xf32>, tensor<4x6x32xf32>, tensor<4x6x32xf32> -> tensor<8x4x32xf32>
  return
}

// -----

func.func @case40(%q: tensor<8x1x32xf32>, %c: !tok.kv_cache<4x256x32xf32>, %p: tensor<1xi32>) {
  // expected-error @+1 {{'tok.cached_attention' op a block-diagonal mask needs segment ids, which a cache does not store; use tok.attention}}
  %o = tok.cached_attention %q, %c, %p {mask = #tok.mask<causal, block_diagonal = true>} : tensor<8x1x32xf32>, !tok.kv_cache<4x256x32xf32>, tensor<1xi32> -> tensor<8x1x32xf32>
  return
}

// -----

func.func @case41(%q: tensor<8x1x32xf32>, %c: !tok.kv_cache<4x256x32xf32>, %p: tensor<2xi32>) {
  // expected-error @+1 {{'tok.cached_attention' op expects 'positions' of 1 elements (one per query token), got 'tensor<2xi32>'}}
  %o = tok.cached_attention %q, %c, %p {mask = #tok.mask<causal>} : tensor<8x1x32xf32>, !tok.kv_cache<4x256x32xf32>, tensor<2xi32> -> tensor<8x1x32xf32>
  return
}

// -----

func.func @case42(%q: tensor<6x1x32xf32>, %c: !tok.kv_cache<4x256x32xf32>, %p: tensor<1xi32>) {
  // expected-error @+1 {{'tok.cached_attention' op expects the query heads (6) to be a multiple of the KV heads (4)}}
  %o = tok.cached_attention %q, %c, %p {mask = #tok.mask<causal>} : tensor<6x1x32xf32>, !tok.kv_cache<4x256x32xf32>, tensor<1xi32> -> tensor<6x1x32xf32>
  return
}

// -----

func.func @case43(%q: tensor<8x1x32xf32>, %c: !tok.kv_cache<4x256x32xf32>, %p: tensor<1xi32>) {
  // expected-error @+1 {{'tok.cached_attention' op expects 'received' of type 'tensor<4x256xf32>' (KV heads x keys), got 'tensor<4x128xf32>'}}
  %o, %sc = tok.cached_attention %q, %c, %p {mask = #tok.mask<causal>, scores = #tok.scores<>} : tensor<8x1x32xf32>, !tok.kv_cache<4x256x32xf32>, tensor<1xi32> -> tensor<8x1x32xf32>, tensor<4x128xf32>
  return
}

// -----

func.func @case44(%c: !tok.kv_cache<4x256x32xf32>, %k: tensor<4x2x16xf32>, %v: tensor<4x2x32xf32>, %p: tensor<2xi32>) {
  // expected-error @+1 {{'tok.kv.append' op expects 'keys' of type 'tensor<4x2x32xf32>' (the cache's KV heads x tokens x head dim), got 'tensor<4x2x16xf32>'}}
  %c1 = tok.kv.append %c, %k, %v, %p : !tok.kv_cache<4x256x32xf32>, tensor<4x2x16xf32>, tensor<4x2x32xf32>, tensor<2xi32>
  return
}

// -----

func.func @case45(%c: !tok.kv_cache<4x256x32xf32>, %k: tensor<4x2x32xf32>, %v: tensor<4x2x32xf16>, %p: tensor<2xi32>) {
  // expected-error @+1 {{'tok.kv.append' op expects 'values' of type 'tensor<4x2x32xf32>' (the cache's KV heads x tokens x head dim), got 'tensor<4x2x32xf16>'}}
  %c1 = tok.kv.append %c, %k, %v, %p : !tok.kv_cache<4x256x32xf32>, tensor<4x2x32xf32>, tensor<4x2x32xf16>, tensor<2xi32>
  return
}

// -----

func.func @case46(%c: !tok.kv_cache<4x256x32xf32>, %k: tensor<4x2x32xf32>, %v: tensor<4x3x32xf32>, %p: tensor<2xi32>) {
  // expected-error @+1 {{'tok.kv.append' op expects as many 'values' as 'keys', got 'tensor<4x2x32xf32>' and 'tensor<4x3x32xf32>'}}
  %c1 = tok.kv.append %c, %k, %v, %p : !tok.kv_cache<4x256x32xf32>, tensor<4x2x32xf32>, tensor<4x3x32xf32>, tensor<2xi32>
  return
}

// -----

func.func @case47(%c: !tok.kv_cache<4x256x32xf32>, %k: tensor<4x300x32xf32>, %v: tensor<4x300x32xf32>, %p: tensor<300xi32>) {
  // expected-error @+1 {{'tok.kv.append' op appends 300 tokens to a cache of capacity 256}}
  %c1 = tok.kv.append %c, %k, %v, %p : !tok.kv_cache<4x256x32xf32>, tensor<4x300x32xf32>, tensor<4x300x32xf32>, tensor<300xi32>
  return
}

// -----

func.func @case48(%c: !tok.kv_cache<4x256x32xf32>, %k: tensor<4x2x32xf32>, %v: tensor<4x2x32xf32>, %p: tensor<3xi32>) {
  // expected-error @+1 {{'tok.kv.append' op expects 'positions' of 2 elements (one per appended token), got 'tensor<3xi32>'}}
  %c1 = tok.kv.append %c, %k, %v, %p : !tok.kv_cache<4x256x32xf32>, tensor<4x2x32xf32>, tensor<4x2x32xf32>, tensor<3xi32>
  return
}

// -----

func.func @case49(%c: !tok.kv_cache<4x256x32xf32>) {
  // expected-error @+1 {{'tok.kv.evict' op eviction budget 512 exceeds the cache capacity 256; shrink the cache type instead of evicting}}
  %c1 = tok.kv.evict %c {policy = #tok.evict<window, budget = 512, sinks = 4, recent = 508>} : !tok.kv_cache<4x256x32xf32>
  return
}

// -----

func.func @case50(%c: !tok.kv_cache<4x256x32xf32, scores>) {
  // expected-error @+1 {{'tok.kv.evict' op policy 'h2o' ranks slots by attention and needs 'scores'}}
  %c1 = tok.kv.evict %c {policy = #tok.evict<h2o, budget = 128, recent = 64>} : !tok.kv_cache<4x256x32xf32, scores>
  return
}

// -----

func.func @case51(%c: !tok.kv_cache<4x256x32xf32>, %sc: tensor<4x256xf32>) {
  // expected-error @+1 {{'tok.kv.evict' op policy 'window' takes no 'scores'}}
  %c1 = tok.kv.evict %c scores(%sc : tensor<4x256xf32>) {policy = #tok.evict<window, budget = 128, sinks = 4, recent = 124>} : !tok.kv_cache<4x256x32xf32>
  return
}

// -----

func.func @case52(%c: !tok.kv_cache<4x256x32xf32>, %sc: tensor<4x128xf32>) {
  // expected-error @+1 {{'tok.kv.evict' op expects 'scores' of type 'tensor<4x256xf32>' (KV heads x capacity), got 'tensor<4x128xf32>'}}
  %c1 = tok.kv.evict %c scores(%sc : tensor<4x128xf32>) {policy = #tok.evict<tova, budget = 128>} : !tok.kv_cache<4x256x32xf32>
  return
}

// -----

func.func @case53(%c: !tok.kv_cache<4x256x32xf32>, %sc: tensor<4x256xf32>) {
  // expected-error @+1 {{'tok.kv.evict' op policy 'h2o' accumulates scores across steps: the cache type must track them (add 'scores' to '!tok.kv_cache<4x256x32xf32>')}}
  %c1 = tok.kv.evict %c scores(%sc : tensor<4x256xf32>) {policy = #tok.evict<h2o, budget = 128, recent = 64>} : !tok.kv_cache<4x256x32xf32>
  return
}

// -----

func.func @case54(%c: !tok.kv_cache<4x256x32xf32>, %b: index, %path: tensor<300xi32>) {
  // expected-error @+1 {{'tok.kv.commit' op commits a path of 300 nodes into a cache of capacity 256}}
  %c1 = tok.kv.commit %c, %b, %path : !tok.kv_cache<4x256x32xf32>, tensor<300xi32>
  return
}

// -----

func.func @case55(%c: !tok.kv_cache<4x256x32xf32, quant = #tok.kv_quant<bits = 4>>) {
  // expected-error @+1 {{'tok.kv.quantize' op expects an unquantized cache, got '!tok.kv_cache<4x256x32xf32, quant = #tok.kv_quant<bits = 4>>'}}
  %c1 = tok.kv.quantize %c : !tok.kv_cache<4x256x32xf32, quant = #tok.kv_quant<bits = 4>> -> !tok.kv_cache<4x256x32xf32, quant = #tok.kv_quant<bits = 4>>
  return
}

// -----

func.func @case56(%c: !tok.kv_cache<4x256x32xf32>) {
  // expected-error @+1 {{'tok.kv.quantize' op expects a result type with 'quant', got '!tok.kv_cache<4x256x32xf32>'}}
  %c1 = tok.kv.quantize %c : !tok.kv_cache<4x256x32xf32> -> !tok.kv_cache<4x256x32xf32>
  return
}

// -----

func.func @case57(%c: !tok.kv_cache<4x256x32xf32>) {
  // expected-error @+1 {{'tok.kv.quantize' op expects the result to be '!tok.kv_cache<4x256x32xf32>' with 'quant' added, got '!tok.kv_cache<4x128x32xf32, quant = #tok.kv_quant<bits = 8, residual = 64>>'}}
  %c1 = tok.kv.quantize %c : !tok.kv_cache<4x256x32xf32> -> !tok.kv_cache<4x128x32xf32, quant = #tok.kv_quant<bits = 8, residual = 64>>
  return
}

// -----

func.func @case58(%c: !tok.kv_cache<4x256x32xf32>, %x: !tok.kv_cache<4x128x32xf32>) {
  %n = arith.constant 1 : index
  // expected-error @+1 {{'tok.kv.truncate' op failed to verify that all of {cache, result} have same type}}
  %c1 = "tok.kv.truncate"(%c, %n) : (!tok.kv_cache<4x256x32xf32>, index) -> !tok.kv_cache<4x128x32xf32>
  return
}

// -----

func.func @case59(%x: tensor<16x8xf32>, %m: tensor<16x4xf32>) {
  // expected-error @+1 {{'tok.merge' op expects a non-negative 'r', got -1}}
  %y, %sz2, %map = tok.merge %x, %m {r = -1} : tensor<16x8xf32>, tensor<16x4xf32> -> tensor<16x8xf32>, tensor<16xf32>, tensor<16xi32>
  return
}

// -----

func.func @case60(%x: tensor<16x8xf32>, %m: tensor<16x4xf32>) {
  // expected-error @+1 {{'tok.merge' op expects a non-negative 'protect_first', got -2}}
  %y, %sz2, %map = tok.merge %x, %m {r = 2, protect_first = -2} : tensor<16x8xf32>, tensor<16x4xf32> -> tensor<14x8xf32>, tensor<14xf32>, tensor<16xi32>
  return
}

// -----

func.func @case61(%x: tensor<16x8xf32>, %m: tensor<15x4xf32>) {
  // expected-error @+1 {{'tok.merge' op expects 'metric' of 16 elements (one row per input token), got 'tensor<15x4xf32>'}}
  %y, %sz2, %map = tok.merge %x, %m {r = 2} : tensor<16x8xf32>, tensor<15x4xf32> -> tensor<14x8xf32>, tensor<14xf32>, tensor<16xi32>
  return
}

// -----

func.func @case62(%x: tensor<16x8xf32>, %m: tensor<16x4xf32>, %sz: tensor<8xf32>) {
  // expected-error @+1 {{'tok.merge' op expects 'sizes' of 16 elements (one per input token), got 'tensor<8xf32>'}}
  %y, %sz2, %map = tok.merge %x, %m sizes(%sz : tensor<8xf32>) {r = 2} : tensor<16x8xf32>, tensor<16x4xf32> -> tensor<14x8xf32>, tensor<14xf32>, tensor<16xi32>
  return
}

// -----

func.func @case63(%x: tensor<16x8xf32>, %m: tensor<16x4xf32>) {
  // expected-error @+1 {{'tok.merge' op expects 'output' rows like the input rows 'tensor<16x8xf32>', got 'tensor<14x9xf32>'}}
  %y, %sz2, %map = tok.merge %x, %m {r = 2} : tensor<16x8xf32>, tensor<16x4xf32> -> tensor<14x9xf32>, tensor<14xf32>, tensor<16xi32>
  return
}

// -----

func.func @case64(%x: tensor<16x8xf32>, %m: tensor<16x4xf32>) {
  // expected-error @+1 {{'tok.merge' op protects 17 of only 16 tokens}}
  %y, %sz2, %map = tok.merge %x, %m {r = 2, protect_first = 17} : tensor<16x8xf32>, tensor<16x4xf32> -> tensor<14x8xf32>, tensor<14xf32>, tensor<16xi32>
  return
}

// -----

func.func @case65(%x: tensor<16x8xf32>, %m: tensor<16x4xf32>) {
  // expected-error @+1 {{'tok.merge' op expects 'output' of 9 tokens (16 minus 7 merged), got 'tensor<6x8xf32>'}}
  %y, %sz2, %map = tok.merge %x, %m {r = 10, protect_first = 2} : tensor<16x8xf32>, tensor<16x4xf32> -> tensor<6x8xf32>, tensor<6xf32>, tensor<16xi32>
  return
}

// -----

func.func @case66(%x: tensor<16x8xf32>, %m: tensor<16x4xf32>) {
  // expected-error @+1 {{'tok.merge' op expects 'output_sizes' of 14 elements (one per output token), got 'tensor<16xf32>'}}
  %y, %sz2, %map = tok.merge %x, %m {r = 2} : tensor<16x8xf32>, tensor<16x4xf32> -> tensor<14x8xf32>, tensor<16xf32>, tensor<16xi32>
  return
}

// -----

func.func @case67(%x: tensor<16x8xf32>, %m: tensor<16x4xf32>) {
  // expected-error @+1 {{'tok.merge' op expects 'map' of 16 elements (one per input token), got 'tensor<14xi32>'}}
  %y, %sz2, %map = tok.merge %x, %m {r = 2} : tensor<16x8xf32>, tensor<16x4xf32> -> tensor<14x8xf32>, tensor<14xf32>, tensor<14xi32>
  return
}

// -----

func.func @case68(%y: tensor<14x8xf32>, %map: tensor<16xi32>) {
  // expected-error @+2 {{'tok.unmerge' op failed to infer returned types}}
  // expected-error @+1 {{'tok.unmerge' op inferred type(s) 'tensor<16x8xf32>' are incompatible with return type(s) of operation 'tensor<14x8xf32>'}}
  %x = "tok.unmerge"(%y, %map) : (tensor<14x8xf32>, tensor<16xi32>) -> tensor<14x8xf32>
  return
}

// -----

func.func @case69(%x: tensor<10x8xf32>, %sc: tensor<10xf32>) {
  // expected-error @+1 {{'tok.prune' op expects 'keep' in (0, 1], got 1.5}}
  %k, %i = tok.prune %x, %sc {keep = 1.5 : f32} : tensor<10x8xf32>, tensor<10xf32> -> tensor<10x8xf32>, tensor<10xi32>
  return
}

// -----

func.func @case70(%x: tensor<10x8xf32>, %sc: tensor<10xf32>) {
  // expected-error @+1 {{'tok.prune' op expects non-negative protect_first and protect_last, got 0 and -1}}
  %k, %i = tok.prune %x, %sc {keep = 0.5 : f32, protect_last = -1} : tensor<10x8xf32>, tensor<10xf32> -> tensor<5x8xf32>, tensor<5xi32>
  return
}

// -----

func.func @case71(%x: tensor<10x8xf32>, %sc: tensor<9xf32>) {
  // expected-error @+1 {{'tok.prune' op expects 'scores' of 10 elements (one per input token), got 'tensor<9xf32>'}}
  %k, %i = tok.prune %x, %sc {keep = 0.5 : f32} : tensor<10x8xf32>, tensor<9xf32> -> tensor<5x8xf32>, tensor<5xi32>
  return
}

// -----

func.func @case72(%x: tensor<10x8xf32>, %sc: tensor<10xf32>) {
  // expected-error @+1 {{'tok.prune' op expects 'output' rows like the input rows 'tensor<10x8xf32>', got 'tensor<5x8xf16>'}}
  %k, %i = tok.prune %x, %sc {keep = 0.5 : f32} : tensor<10x8xf32>, tensor<10xf32> -> tensor<5x8xf16>, tensor<5xi32>
  return
}

// -----

func.func @case73(%x: tensor<10x8xf32>, %sc: tensor<10xf32>) {
  // expected-error @+1 {{'tok.prune' op protects 11 of only 10 tokens}}
  %k, %i = tok.prune %x, %sc {keep = 0.5 : f32, protect_first = 6, protect_last = 5} : tensor<10x8xf32>, tensor<10xf32> -> tensor<10x8xf32>, tensor<10xi32>
  return
}

// -----

func.func @case74(%x: tensor<10x8xf32>, %sc: tensor<10xf32>) {
  // expected-error @+1 {{'tok.prune' op expects 'output' of 3 tokens (keep 2.500000e-01 of 10), got 'tensor<2x8xf32>'}}
  %k, %i = tok.prune %x, %sc {keep = 0.25 : f32} : tensor<10x8xf32>, tensor<10xf32> -> tensor<2x8xf32>, tensor<2xi32>
  return
}

// -----

func.func @case75(%x: tensor<10x8xf32>, %sc: tensor<10xf32>) {
  // expected-error @+1 {{'tok.prune' op expects 'indices' of 5 elements (one per kept token), got 'tensor<4xi32>'}}
  %k, %i = tok.prune %x, %sc {keep = 0.5 : f32} : tensor<10x8xf32>, tensor<10xf32> -> tensor<5x8xf32>, tensor<4xi32>
  return
}

// -----

func.func @case76(%x: tensor<10x8xf32>, %i: tensor<4xi32>) {
  // expected-error @+1 {{expects 'dim' (2) to index a dimension of 'input'}}
  %y = tok.gather %x[%i] {dim = 2} : tensor<10x8xf32>, tensor<4xi32>
  return
}

// -----

func.func @case77(%src: tensor<4x8xf32>, %d: tensor<10x8xf32>, %i: tensor<4xi32>) {
  // expected-error @+1 {{'tok.scatter' op expects 'dim' in [0, 2), got 3}}
  %y = tok.scatter %src into %d[%i] {dim = 3} : tensor<4x8xf32> into tensor<10x8xf32>, tensor<4xi32>
  return
}

// -----

func.func @case78(%src: tensor<4x7xf32>, %d: tensor<10x8xf32>, %i: tensor<4xi32>) {
  // expected-error @+1 {{'tok.scatter' op expects 'source' of type 'tensor<4x8xf32>' ('dest' with dimension 0 replaced by the indices), got 'tensor<4x7xf32>'}}
  %y = tok.scatter %src into %d[%i] : tensor<4x7xf32> into tensor<10x8xf32>, tensor<4xi32>
  return
}

// -----

func.func @case79(%src: tensor<4x8xf32>, %d: tensor<10x8xf32>, %i: tensor<3xi32>) {
  // expected-error @+1 {{'tok.scatter' op expects 'indices' of 4 elements (one per source slice), got 'tensor<3xi32>'}}
  %y = tok.scatter %src into %d[%i] : tensor<4x8xf32> into tensor<10x8xf32>, tensor<3xi32>
  return
}

// -----

func.func @case80(%l: tensor<1x16xf32>, %n: i64) {
  // expected-error @+1 {{'tok.sample' op a greedy sampler takes no 'counter'}}
  %t = tok.sample %l counter(%n : i64) {sampler = #tok.sampler<>} : tensor<1x16xf32>
  return
}

// -----

func.func @case81(%l: tensor<1x16xf32>) {
  // expected-error @+1 {{'tok.sample' op a stochastic sampler (temperature 7.000000e-01) needs a 'counter' to draw fresh random numbers}}
  %t = tok.sample %l {sampler = #tok.sampler<temperature = 0.7>} : tensor<1x16xf32>
  return
}

// -----

func.func @case82(%l: tensor<1x16xf32>, %n: i64) {
  // expected-error @+1 {{'tok.sample' op sampler top_k (40) exceeds the vocabulary of 16}}
  %t = tok.sample %l counter(%n : i64) {sampler = #tok.sampler<temperature = 1.0, top_k = 40>} : tensor<1x16xf32>
  return
}

// -----

func.func private @step(tensor<?xi32>, tensor<?xi32>, !tok.kv_cache<4x64x8xf32>) -> (tensor<?x16xf32>, !tok.kv_cache<4x64x8xf32>)
func.func @case83(%p: tensor<?xi32>, %c: !tok.kv_cache<4x64x8xf32>) {
  // expected-error @+1 {{'tok.generate' op expects a positive 'max_new_tokens', got 0}}
  %o = tok.generate @step(%p) caches(%c : !tok.kv_cache<4x64x8xf32>) {max_new_tokens = 0, sampler = #tok.sampler<>} : tensor<?xi32> -> tensor<?xi32>
  return
}

// -----

func.func private @step(tensor<?xi32>, tensor<?xi32>, !tok.kv_cache<4x64x8xf32>) -> (tensor<?x16xf32>, !tok.kv_cache<4x64x8xf32>)
func.func @case84(%p: tensor<?xi32>, %c: !tok.kv_cache<4x64x8xf32>) {
  // expected-error @+1 {{'tok.generate' op expects non-negative 'eos' token ids, got -1}}
  %o = tok.generate @step(%p) caches(%c : !tok.kv_cache<4x64x8xf32>) {max_new_tokens = 8, sampler = #tok.sampler<>, eos = array<i64: 2, -1>} : tensor<?xi32> -> tensor<?xi32>
  return
}

// -----

func.func private @step(tensor<?xi32>, tensor<?xi32>, !tok.kv_cache<4x64x8xf32>) -> (tensor<?x16xf32>, !tok.kv_cache<4x64x8xf32>)
func.func @generate_empty_eos(%p: tensor<?xi32>, %c: !tok.kv_cache<4x64x8xf32>) {
  // expected-error @+1 {{'tok.generate' op expects at least one 'eos' token id when the attribute is present}}
  %o = tok.generate @step(%p) caches(%c : !tok.kv_cache<4x64x8xf32>) {max_new_tokens = 8, sampler = #tok.sampler<>, eos = array<i64>} : tensor<?xi32> -> tensor<?xi32>
  return
}

// -----

func.func private @step(tensor<?xi32>, tensor<?xi32>, !tok.kv_cache<4x64x8xf32>) -> (tensor<?x16xf32>, !tok.kv_cache<4x64x8xf32>)
func.func @case85(%p: tensor<?xi32>, %c: !tok.kv_cache<4x64x8xf32>) {
  // expected-error @+1 {{'tok.generate' op step function @nope does not name a func.func}}
  %o = tok.generate @nope(%p) caches(%c : !tok.kv_cache<4x64x8xf32>) {max_new_tokens = 8, sampler = #tok.sampler<>} : tensor<?xi32> -> tensor<?xi32>
  return
}

// -----

func.func private @step(tensor<?xi32>, tensor<?xi32>, !tok.kv_cache<4x64x8xf32>) -> (tensor<?x16xf32>, !tok.kv_cache<4x64x8xf32>)
func.func @case86(%p: tensor<?xi32>) {
  // expected-error @+1 {{'tok.generate' op step function @step must take tokens, positions, 0 parameter(s) and 0 cache(s), i.e. 2 arguments, but takes 3}}
  %o = tok.generate @step(%p) {max_new_tokens = 8, sampler = #tok.sampler<>} : tensor<?xi32> -> tensor<?xi32>
  return
}

// -----

func.func private @bad(tensor<?xi64>, tensor<?xi32>, !tok.kv_cache<4x64x8xf32>) -> (tensor<?x16xf32>, !tok.kv_cache<4x64x8xf32>)
func.func @case87(%p: tensor<?xi32>, %c: !tok.kv_cache<4x64x8xf32>) {
  // expected-error @+1 {{'tok.generate' op step function @bad must take 1-D i32 tensors of tokens and positions first, got 'tensor<?xi64>' and 'tensor<?xi32>'}}
  %o = tok.generate @bad(%p) caches(%c : !tok.kv_cache<4x64x8xf32>) {max_new_tokens = 8, sampler = #tok.sampler<>} : tensor<?xi32> -> tensor<?xi32>
  return
}

// -----

func.func private @bad(tensor<?xi32>, tensor<?xi32>, !tok.kv_cache<4x64x8xf32>) -> tensor<?x16xf32>
func.func @case88(%p: tensor<?xi32>, %c: !tok.kv_cache<4x64x8xf32>) {
  // expected-error @+1 {{'tok.generate' op step function @bad must return logits and 1 cache(s), but returns 1 values}}
  %o = tok.generate @bad(%p) caches(%c : !tok.kv_cache<4x64x8xf32>) {max_new_tokens = 8, sampler = #tok.sampler<>} : tensor<?xi32> -> tensor<?xi32>
  return
}

// -----

func.func private @bad(tensor<?xi32>, tensor<?xi32>, !tok.kv_cache<4x64x8xf32>) -> (tensor<?x16xf16>, !tok.kv_cache<4x64x8xf32>)
func.func @case89(%p: tensor<?xi32>, %c: !tok.kv_cache<4x64x8xf32>) {
  // expected-error @+1 {{'tok.generate' op step function @bad must return tokens x vocabulary f32 logits first, got 'tensor<?x16xf16>'}}
  %o = tok.generate @bad(%p) caches(%c : !tok.kv_cache<4x64x8xf32>) {max_new_tokens = 8, sampler = #tok.sampler<>} : tensor<?xi32> -> tensor<?xi32>
  return
}

// -----

func.func private @bad(tensor<?xi32>, tensor<?xi32>, !tok.kv_cache<4x32x8xf32>) -> (tensor<?x16xf32>, !tok.kv_cache<4x64x8xf32>)
func.func @case90(%p: tensor<?xi32>, %c: !tok.kv_cache<4x64x8xf32>) {
  // expected-error @+1 {{'tok.generate' op step function @bad argument #2 is '!tok.kv_cache<4x32x8xf32>', but cache #0 is '!tok.kv_cache<4x64x8xf32>'}}
  %o = tok.generate @bad(%p) caches(%c : !tok.kv_cache<4x64x8xf32>) {max_new_tokens = 8, sampler = #tok.sampler<>} : tensor<?xi32> -> tensor<?xi32>
  return
}

// -----

func.func private @bad(tensor<?xi32>, tensor<?xi32>, !tok.kv_cache<4x64x8xf32>) -> (tensor<?x16xf32>, !tok.kv_cache<4x32x8xf32>)
func.func @case91(%p: tensor<?xi32>, %c: !tok.kv_cache<4x64x8xf32>) {
  // expected-error @+1 {{'tok.generate' op step function @bad result #1 is '!tok.kv_cache<4x32x8xf32>', but cache #0 is '!tok.kv_cache<4x64x8xf32>'}}
  %o = tok.generate @bad(%p) caches(%c : !tok.kv_cache<4x64x8xf32>) {max_new_tokens = 8, sampler = #tok.sampler<>} : tensor<?xi32> -> tensor<?xi32>
  return
}

// -----

func.func private @step(tensor<?xi32>, tensor<?xi32>, !tok.kv_cache<4x64x8xf32>) -> (tensor<?x16xf32>, !tok.kv_cache<4x64x8xf32>)
func.func @case92(%p: tensor<?xi32>, %c: !tok.kv_cache<4x64x8xf32>) {
  // expected-error @+1 {{'tok.generate' op 'eos' token id 16 is outside the vocabulary of 16}}
  %o = tok.generate @step(%p) caches(%c : !tok.kv_cache<4x64x8xf32>) {max_new_tokens = 8, sampler = #tok.sampler<>, eos = array<i64: 3, 16>} : tensor<?xi32> -> tensor<?xi32>
  return
}

// -----

func.func private @step(tensor<?xi32>, tensor<?xi32>, !tok.kv_cache<4x64x8xf32>) -> (tensor<?x16xf32>, !tok.kv_cache<4x64x8xf32>)
func.func @case93(%p: tensor<?xi32>, %c: !tok.kv_cache<4x64x8xf32>) {
  // expected-error @+1 {{'tok.generate' op sampler top_k (32) exceeds the vocabulary of 16}}
  %o = tok.generate @step(%p) caches(%c : !tok.kv_cache<4x64x8xf32>) {max_new_tokens = 8, sampler = #tok.sampler<temperature = 1.0, top_k = 32>} : tensor<?xi32> -> tensor<?xi32>
  return
}

// -----

func.func @case94(%h: tensor<?xi32>, %c: !tok.kv_cache<2x64x8xf32>) {
  // expected-error @+1 {{'tok.draft' op an ngram drafter runs no model and takes no caches}}
  %d, %p, %q, %c1 = tok.draft %h caches(%c : !tok.kv_cache<2x64x8xf32>) {drafter = #tok.drafter<ngram, k = 4>} : tensor<?xi32> -> tensor<?xi32>, tensor<?xi32>, tensor<?xf32>, !tok.kv_cache<2x64x8xf32>
  return
}

// -----

func.func private @dstep(tensor<?xi32>, tensor<?xi32>, !tok.kv_cache<2x64x8xf32>) -> (tensor<?x16xf32>, !tok.kv_cache<2x64x8xf32>)
func.func @case95(%h: tensor<?xi32>) {
  // expected-error @+1 {{'tok.draft' op a model drafter runs a model and needs its caches}}
  %d, %p, %q = tok.draft %h {drafter = #tok.drafter<model, k = 4, step = @dstep>} : tensor<?xi32> -> tensor<?xi32>, tensor<?xi32>, tensor<?xf32>
  return
}

// -----

func.func private @dstep(tensor<?xi32>, tensor<?xi32>, !tok.kv_cache<2x64x8xf32>) -> (tensor<?x16xf32>, !tok.kv_cache<2x64x8xf32>)
func.func @case96(%h: tensor<?xi32>, %c: !tok.kv_cache<2x64x8xf32>) {
  // expected-error @+1 {{'tok.draft' op expects 'new_caches' of the types of 'caches'}}
  %d, %p, %q, %c1 = tok.draft %h caches(%c : !tok.kv_cache<2x64x8xf32>) {drafter = #tok.drafter<model, k = 4, step = @dstep>} : tensor<?xi32> -> tensor<?xi32>, tensor<?xi32>, tensor<?xf32>, !tok.kv_cache<2x32x8xf32>
  return
}

// -----

func.func @case97(%h: tensor<?xi32>) {
  // expected-error @+1 {{'tok.draft' op expects 'parents' of 4 elements (one per draft token), got 'tensor<3xi32>'}}
  %d, %p, %q = tok.draft %h {drafter = #tok.drafter<ngram, k = 4>} : tensor<?xi32> -> tensor<4xi32>, tensor<3xi32>, tensor<4xf32>
  return
}

// -----

func.func @case98(%h: tensor<?xi32>) {
  // expected-error @+1 {{'tok.draft' op expects 'probs' of 4 elements (one per draft token), got 'tensor<5xf32>'}}
  %d, %p, %q = tok.draft %h {drafter = #tok.drafter<ngram, k = 4>} : tensor<?xi32> -> tensor<4xi32>, tensor<4xi32>, tensor<5xf32>
  return
}

// -----

func.func @case99(%h: tensor<?xi32>) {
  // expected-error @+1 {{'tok.draft' op drafts 5 tokens, more than the drafter's k = 4, branch = 1 allow}}
  %d, %p, %q = tok.draft %h {drafter = #tok.drafter<ngram, k = 4>} : tensor<?xi32> -> tensor<5xi32>, tensor<5xi32>, tensor<5xf32>
  return
}

// -----

func.func private @dstep(tensor<?xi32>, tensor<?xi32>, !tok.kv_cache<2x32x8xf32>) -> (tensor<?x16xf32>, !tok.kv_cache<2x64x8xf32>)
func.func @case100(%h: tensor<?xi32>, %c: !tok.kv_cache<2x64x8xf32>) {
  // expected-error @+1 {{'tok.draft' op step function @dstep argument #2 is '!tok.kv_cache<2x32x8xf32>', but cache #0 is '!tok.kv_cache<2x64x8xf32>'}}
  %d, %p, %q, %c1 = tok.draft %h caches(%c : !tok.kv_cache<2x64x8xf32>) {drafter = #tok.drafter<model, k = 4, step = @dstep>} : tensor<?xi32> -> tensor<?xi32>, tensor<?xi32>, tensor<?xf32>, !tok.kv_cache<2x64x8xf32>
  return
}

// -----

func.func @case101(%l: tensor<5x16xf32>, %d: tensor<4xi32>, %p: tensor<3xi32>) {
  // expected-error @+1 {{'tok.verify' op expects 'parents' of 4 elements (one per draft token), got 'tensor<3xi32>'}}
  %path, %next = tok.verify %l, %d, %p {sampler = #tok.sampler<>} : tensor<5x16xf32>, tensor<4xi32>, tensor<3xi32> -> tensor<?xi32>, tensor<i32>
  return
}

// -----

func.func @case102(%l: tensor<4x16xf32>, %d: tensor<4xi32>, %p: tensor<4xi32>) {
  // expected-error @+1 {{'tok.verify' op expects 5 rows of 'logits' (the pending token and 4 drafts), got 'tensor<4x16xf32>'}}
  %path, %next = tok.verify %l, %d, %p {sampler = #tok.sampler<>} : tensor<4x16xf32>, tensor<4xi32>, tensor<4xi32> -> tensor<?xi32>, tensor<i32>
  return
}

// -----

func.func @case103(%l: tensor<5x16xf32>, %d: tensor<4xi32>, %p: tensor<4xi32>, %q: tensor<4x16xf32>) {
  // expected-error @+1 {{'tok.verify' op greedy verification is an exact match and takes no 'draft_probs'}}
  %path, %next = tok.verify %l, %d, %p draft_probs(%q : tensor<4x16xf32>) {sampler = #tok.sampler<>} : tensor<5x16xf32>, tensor<4xi32>, tensor<4xi32> -> tensor<?xi32>, tensor<i32>
  return
}

// -----

func.func @case104(%l: tensor<5x16xf32>, %d: tensor<4xi32>, %p: tensor<4xi32>, %q: tensor<4x8xf32>, %n: i64) {
  // expected-error @+1 {{'tok.verify' op expects 'draft_probs' of type 'tensor<4x16xf32>' (drafts x vocabulary), got 'tensor<4x8xf32>'}}
  %path, %next = tok.verify %l, %d, %p draft_probs(%q : tensor<4x8xf32>) counter(%n : i64) {sampler = #tok.sampler<temperature = 1.0>} : tensor<5x16xf32>, tensor<4xi32>, tensor<4xi32> -> tensor<?xi32>, tensor<i32>
  return
}

// -----

func.func @case105(%l: tensor<5x16xf32>, %d: tensor<4xi32>, %p: tensor<4xi32>) {
  // expected-error @+1 {{'tok.verify' op a stochastic sampler (temperature 1}}
  %path, %next = tok.verify %l, %d, %p {sampler = #tok.sampler<temperature = 1.0>} : tensor<5x16xf32>, tensor<4xi32>, tensor<4xi32> -> tensor<?xi32>, tensor<i32>
  return
}

// -----

func.func @case106(%q: tensor<8x4x32xf32>, %k: tensor<0x6x32xf32>, %v: tensor<0x6x32xf32>) {
  // expected-error @+1 {{'tok.attention' op expects at least one KV head}}
  %o = tok.attention %q, %k, %v {mask = #tok.mask<causal>} : tensor<8x4x32xf32>, tensor<0x6x32xf32>, tensor<0x6x32xf32> -> tensor<8x4x32xf32>
  return
}

// -----

// The custom syntax always names both segment operands; the generic form
// can leave one out.
func.func @case107(%q: tensor<8x4x32xf32>, %k: tensor<4x6x32xf32>, %v: tensor<4x6x32xf32>, %qs: tensor<4xi32>) {
  // expected-error @+1 {{'tok.attention' op expects both query and key segments or neither}}
  %o = "tok.attention"(%q, %k, %v, %qs) <{mask = #tok.mask<causal, block_diagonal = true>, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0, 1, 0, 0>}> : (tensor<8x4x32xf32>, tensor<4x6x32xf32>, tensor<4x6x32xf32>, tensor<4xi32>) -> tensor<8x4x32xf32>
  return
}

// -----

func.func @case108(%l: tensor<5x16xf32>, %d: tensor<4xi32>, %p: tensor<4xi32>, %n: i64) {
  // expected-error @+1 {{'tok.verify' op sampler top_k (32) exceeds the vocabulary of 16}}
  %path, %next = tok.verify %l, %d, %p counter(%n : i64) {sampler = #tok.sampler<temperature = 1.0, top_k = 32>} : tensor<5x16xf32>, tensor<4xi32>, tensor<4xi32> -> tensor<?xi32>, tensor<i32>
  return
}

// -----

func.func @case109(%x: tensor<4x8xf64>, %w: tensor<8xf64>) {
  // expected-error @+1 {{'tok.rms_norm' op operand #0 must be}}
  %y = tok.rms_norm %x, %w : tensor<4x8xf64>, tensor<8xf64>
  return
}

// -----

func.func private @wstep(tensor<?xi32>, tensor<?xi32>, tensor<16x4xf32>, !tok.kv_cache<4x64x8xf32>) -> (tensor<?x16xf32>, !tok.kv_cache<4x64x8xf32>)
func.func @case_generate_param(%p: tensor<?xi32>, %w: tensor<16x8xf32>, %c: !tok.kv_cache<4x64x8xf32>) {
  // expected-error @+1 {{'tok.generate' op step function @wstep argument #2 is 'tensor<16x4xf32>', but parameter #0 is 'tensor<16x8xf32>'}}
  %o = tok.generate @wstep(%p) params(%w : tensor<16x8xf32>) caches(%c : !tok.kv_cache<4x64x8xf32>) {max_new_tokens = 8, sampler = #tok.sampler<>} : tensor<?xi32> -> tensor<?xi32>
  return
}

// -----

func.func private @step(tensor<?xi32>, tensor<?xi32>, !tok.kv_cache<4x64x8xf32>) -> (tensor<?x16xf32>, !tok.kv_cache<4x64x8xf32>)
func.func @case_on_token_missing(%p: tensor<?xi32>, %c: !tok.kv_cache<4x64x8xf32>) {
  // expected-error @+1 {{'tok.generate' op 'on_token' @emit does not name a func.func}}
  %o = tok.generate @step(%p) caches(%c : !tok.kv_cache<4x64x8xf32>) {max_new_tokens = 8, sampler = #tok.sampler<>, on_token = @emit} : tensor<?xi32> -> tensor<?xi32>
  return
}

// -----

func.func private @step(tensor<?xi32>, tensor<?xi32>, !tok.kv_cache<4x64x8xf32>) -> (tensor<?x16xf32>, !tok.kv_cache<4x64x8xf32>)
func.func private @emit(i32) -> ()
func.func @case_on_token_type(%p: tensor<?xi32>, %c: !tok.kv_cache<4x64x8xf32>) {
  // expected-error @+1 {{'tok.generate' op 'on_token' function @emit must have type '(i32, i64) -> ()', but has '(i32) -> ()'}}
  %o = tok.generate @step(%p) caches(%c : !tok.kv_cache<4x64x8xf32>) {max_new_tokens = 8, sampler = #tok.sampler<>, on_token = @emit} : tensor<?xi32> -> tensor<?xi32>
  return
}

// -----

func.func private @step(tensor<?xi32>, tensor<?xi32>, !tok.kv_cache<4x64x8xf32>) -> (tensor<?x16xf32>, !tok.kv_cache<4x64x8xf32>)
func.func private @rounds(i32, i64) -> ()
func.func @case_on_round_type(%p: tensor<?xi32>, %c: !tok.kv_cache<4x64x8xf32>) {
  // expected-error @+1 {{'tok.generate' op 'on_round' function @rounds must have type '(i64, i64) -> ()', but has '(i32, i64) -> ()'}}
  %o = tok.generate @step(%p) caches(%c : !tok.kv_cache<4x64x8xf32>) {max_new_tokens = 8, sampler = #tok.sampler<>, on_round = @rounds} : tensor<?xi32> -> tensor<?xi32>
  return
}

// -----

func.func private @step(tensor<?xi32>, tensor<?xi32>, !tok.kv_cache<4x64x8xf32>) -> (tensor<?x16xf32>, !tok.kv_cache<4x64x8xf32>)
func.func @case_prefill_chunk(%p: tensor<?xi32>, %c: !tok.kv_cache<4x64x8xf32>) {
  // expected-error @+1 {{'tok.generate' op expects a positive 'prefill_chunk', got 0}}
  %o = tok.generate @step(%p) caches(%c : !tok.kv_cache<4x64x8xf32>) {max_new_tokens = 8, sampler = #tok.sampler<>, prefill_chunk = 0} : tensor<?xi32> -> tensor<?xi32>
  return
}

// -----

func.func @select_without_pages(%q: tensor<8x1x32xf32>, %c: !tok.kv_cache<4x256x32xf32>, %p: tensor<1xi32>) {
  // expected-error @+1 {{'tok.cached_attention' op select_budget needs a cache with page bounds ('pages = P' in its type), got '!tok.kv_cache<4x256x32xf32>'}}
  %o = tok.cached_attention %q, %c, %p {mask = #tok.mask<causal>, select_budget = 64} : tensor<8x1x32xf32>, !tok.kv_cache<4x256x32xf32>, tensor<1xi32> -> tensor<8x1x32xf32>
  return
}

// -----

func.func @select_zero(%q: tensor<8x1x32xf32>, %c: !tok.kv_cache<4x256x32xf32, pages = 16>, %p: tensor<1xi32>) {
  // expected-error @+1 {{'tok.cached_attention' op select_budget must be positive, got 0}}
  %o = tok.cached_attention %q, %c, %p {mask = #tok.mask<causal>, select_budget = 0} : tensor<8x1x32xf32>, !tok.kv_cache<4x256x32xf32, pages = 16>, tensor<1xi32> -> tensor<8x1x32xf32>
  return
}

// -----

func.func @select_scores(%q: tensor<8x1x32xf32>, %c: !tok.kv_cache<4x256x32xf32, pages = 16>, %p: tensor<1xi32>) {
  // expected-error @+1 {{'tok.cached_attention' op select_budget does not return received scores (unselected pages receive none)}}
  %o, %s = tok.cached_attention %q, %c, %p {mask = #tok.mask<causal>, scores = #tok.scores<>, select_budget = 64} : tensor<8x1x32xf32>, !tok.kv_cache<4x256x32xf32, pages = 16>, tensor<1xi32> -> tensor<8x1x32xf32>, tensor<4x256xf32>
  return
}

// -----

// expected-error @+1 {{kv_pool dimensions must be positive, got 4x0x16x32}}
func.func @pool_empty(%p: !tok.kv_pool<4x0x16x32xf32>) {
  return
}

// -----

// expected-error @+1 {{kv_pool element type must be f32, f16 or bf16, got 'i8'}}
func.func @pool_int(%p: !tok.kv_pool<4x8x16x32xi8>) {
  return
}

// -----

// expected-error @+1 {{kv_pool dimensions 4x1048576x32x32 exceed tok's limits}}
func.func @pool_huge(%p: !tok.kv_pool<4x1048576x32x32xf32>) {
  return
}

// -----

func.func @pool_write_dim(%p: !tok.kv_pool<4x8x16x32xf32>, %k: tensor<4x3x16xf32>, %s: tensor<3xi32>) {
  // expected-error @+1 {{'tok.kv_pool.write' op expects 'keys' of type 'tensor<4x3x32xf32>' (the pool's KV heads x tokens x head dim), got 'tensor<4x3x16xf32>'}}
  %p1 = tok.kv_pool.write %p, %k, %k, %s : !tok.kv_pool<4x8x16x32xf32>, tensor<4x3x16xf32>, tensor<4x3x16xf32>, tensor<3xi32>
  return
}

// -----

func.func @pool_write_slots(%p: !tok.kv_pool<4x8x16x32xf32>, %k: tensor<4x3x32xf32>, %s: tensor<2xi32>) {
  // expected-error @+1 {{'tok.kv_pool.write' op expects 'slots' of 3 elements (one per written token), got 'tensor<2xi32>'}}
  %p1 = tok.kv_pool.write %p, %k, %k, %s : !tok.kv_pool<4x8x16x32xf32>, tensor<4x3x32xf32>, tensor<4x3x32xf32>, tensor<2xi32>
  return
}

// -----

func.func @paged_full_mask(%q: tensor<8x2x32xf32>, %p: !tok.kv_pool<4x8x16x32xf32>, %t: tensor<1x4xi32>, %s: tensor<2xi32>) {
  // expected-error @+1 {{'tok.paged_attention' op expects a causal mask (a row reads positions up to its own), got #tok.mask<full>}}
  %o = tok.paged_attention %q, %p, %t, %s, %s {mask = #tok.mask<full>} : tensor<8x2x32xf32>, !tok.kv_pool<4x8x16x32xf32>, tensor<1x4xi32>, tensor<2xi32>, tensor<2xi32> -> tensor<8x2x32xf32>
  return
}

// -----

func.func @paged_rows(%q: tensor<8x2x32xf32>, %p: !tok.kv_pool<4x8x16x32xf32>, %t: tensor<1x4xi32>, %s: tensor<3xi32>, %pos: tensor<2xi32>) {
  // expected-error @+1 {{'tok.paged_attention' op expects 'row_seqs' of 2 elements (one per query token), got 'tensor<3xi32>'}}
  %o = tok.paged_attention %q, %p, %t, %s, %pos {mask = #tok.mask<causal>} : tensor<8x2x32xf32>, !tok.kv_pool<4x8x16x32xf32>, tensor<1x4xi32>, tensor<3xi32>, tensor<2xi32> -> tensor<8x2x32xf32>
  return
}

// -----

func.func @paged_heads(%q: tensor<6x2x32xf32>, %p: !tok.kv_pool<4x8x16x32xf32>, %t: tensor<1x4xi32>, %s: tensor<2xi32>) {
  // expected-error @+1 {{'tok.paged_attention' op expects the query heads (6) to be a multiple of the KV heads (4)}}
  %o = tok.paged_attention %q, %p, %t, %s, %s {mask = #tok.mask<causal>} : tensor<6x2x32xf32>, !tok.kv_pool<4x8x16x32xf32>, tensor<1x4xi32>, tensor<2xi32>, tensor<2xi32> -> tensor<6x2x32xf32>
  return
}

// -----

func.func @pool_from_tensors(%k: tensor<2x60x16xf32>) {
  // expected-error @+1 {{'tok.kv_pool.from_tensors' op expects keys and values of type 'tensor<2x64x16xf32>' (the pool's KV heads x slots x head dim), got 'tensor<2x60x16xf32>'}}
  %p = tok.kv_pool.from_tensors %k, %k : tensor<2x60x16xf32>, tensor<2x60x16xf32> -> !tok.kv_pool<2x4x16x16xf32>
  return
}

// -----

func.func @pool_to_tensors(%p: !tok.kv_pool<2x4x16x16xf32>) {
  // expected-error @+1 {{'tok.kv_pool.to_tensors' op expects keys and values of type 'tensor<2x64x16xf32>' (the pool's KV heads x slots x head dim), got 'tensor<2x64x16xf16>'}}
  %k, %v = tok.kv_pool.to_tensors %p : !tok.kv_pool<2x4x16x16xf32> -> tensor<2x64x16xf16>, tensor<2x64x16xf16>
  return
}
