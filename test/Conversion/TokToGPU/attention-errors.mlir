// RUN: tok-opt --convert-tok-to-gpu --split-input-file --verify-diagnostics %s
// RUN: not tok-opt --convert-tok-to-gpu="threads=100" %s 2>&1 | FileCheck %s --check-prefix=THREADS
// RUN: not tok-opt --convert-tok-to-gpu="key-tile=0" %s 2>&1 | FileCheck %s --check-prefix=TILE

// Attention forms the GPU kernel does not handle are errors at the op:
// convert-tok-to-gpu never leaves one for the host silently.

// THREADS: error: convert-tok-to-gpu: key-tile must be > 0 and threads a multiple of 32 up to 1024 (got key-tile=32, threads=100)
// TILE: (got key-tile=0, threads=128)
// RUN: not tok-opt --convert-tok-to-gpu="mma-row-tiles=3" %s 2>&1 | FileCheck %s --check-prefix=ROWTILES
// ROWTILES: error: convert-tok-to-gpu: mma-row-tiles must be 1 or 2 (got 3)

func.func @positions(%q: tensor<8x4x32xf32>, %k: tensor<4x6x32xf32>, %v: tensor<4x6x32xf32>, %qp: tensor<4xi32>, %kp: tensor<6xi32>) -> tensor<8x4x32xf32> {
  // expected-error @below {{tok.attention has no GPU lowering for explicit positions}}
  %o = tok.attention %q, %k, %v positions(%qp, %kp : tensor<4xi32>, tensor<6xi32>) {mask = #tok.mask<causal>} : tensor<8x4x32xf32>, tensor<4x6x32xf32>, tensor<4x6x32xf32> -> tensor<8x4x32xf32>
  return %o : tensor<8x4x32xf32>
}

// -----

func.func @tree(%q: tensor<8x4x32xf32>, %k: tensor<4x6x32xf32>, %v: tensor<4x6x32xf32>, %par: tensor<4xi32>) -> tensor<8x4x32xf32> {
  // expected-error @below {{tok.attention has no GPU lowering for a tree mask}}
  %o = tok.attention %q, %k, %v tree(%par : tensor<4xi32>) {mask = #tok.mask<causal>} : tensor<8x4x32xf32>, tensor<4x6x32xf32>, tensor<4x6x32xf32> -> tensor<8x4x32xf32>
  return %o : tensor<8x4x32xf32>
}

// -----

func.func @segments(%q: tensor<8x4x32xf32>, %k: tensor<4x6x32xf32>, %v: tensor<4x6x32xf32>, %qs: tensor<4xi32>, %ks: tensor<6xi32>) -> tensor<8x4x32xf32> {
  // expected-error @below {{tok.attention has no GPU lowering for segments (block-diagonal mask)}}
  %o = tok.attention %q, %k, %v segments(%qs, %ks : tensor<4xi32>, tensor<6xi32>) {mask = #tok.mask<causal, block_diagonal = true>} : tensor<8x4x32xf32>, tensor<4x6x32xf32>, tensor<4x6x32xf32> -> tensor<8x4x32xf32>
  return %o : tensor<8x4x32xf32>
}

// -----

func.func @scores(%q: tensor<6x10x64xf32>, %k: tensor<6x10x64xf32>, %v: tensor<6x10x64xf32>) -> tensor<6x10x64xf32> {
  // expected-error @below {{tok.attention has no GPU lowering for received scores}}
  %o, %s = tok.attention %q, %k, %v {mask = #tok.mask<full>, scores = #tok.scores<>} : tensor<6x10x64xf32>, tensor<6x10x64xf32>, tensor<6x10x64xf32> -> tensor<6x10x64xf32>, tensor<6x10xf32>
  return %o : tensor<6x10x64xf32>
}

// -----

func.func @odd_head_dim(%q: tensor<4x?x100xf32>, %k: tensor<4x?x100xf32>, %v: tensor<4x?x100xf32>) -> tensor<4x?x100xf32> {
  // expected-error @below {{tok.attention has no GPU lowering for head dimension 100 (a multiple of 8 up to 64, 128 or 256)}}
  %o = tok.attention %q, %k, %v {mask = #tok.mask<causal>} : tensor<4x?x100xf32>, tensor<4x?x100xf32>, tensor<4x?x100xf32> -> tensor<4x?x100xf32>
  return %o : tensor<4x?x100xf32>
}

// -----

func.func @dynamic_heads(%q: tensor<?x4x64xf32>, %k: tensor<?x4x64xf32>, %v: tensor<?x4x64xf32>) -> tensor<?x4x64xf32> {
  // expected-error @below {{tok.attention has no GPU lowering for a dynamic number of heads}}
  %o = tok.attention %q, %k, %v {mask = #tok.mask<causal>} : tensor<?x4x64xf32>, tensor<?x4x64xf32>, tensor<?x4x64xf32> -> tensor<?x4x64xf32>
  return %o : tensor<?x4x64xf32>
}

// -----

func.func @head_dim_192(%q: tensor<4x?x192xf32>, %k: tensor<4x?x192xf32>, %v: tensor<4x?x192xf32>) -> tensor<4x?x192xf32> {
  // expected-error @below {{tok.attention has no GPU lowering for head dimension 192 (a multiple of 8 up to 64, 128 or 256)}}
  %o = tok.attention %q, %k, %v {mask = #tok.mask<causal>} : tensor<4x?x192xf32>, tensor<4x?x192xf32>, tensor<4x?x192xf32> -> tensor<4x?x192xf32>
  return %o : tensor<4x?x192xf32>
}

// -----

func.func @value_dim(%q: tensor<4x?x128xbf16>, %k: tensor<4x?x128xbf16>, %v: tensor<4x?x64xbf16>) -> tensor<4x?x64xbf16> {
  // expected-error @below {{tok.attention has no GPU lowering for a value head dimension (64) other than the query's (128)}}
  %o = tok.attention %q, %k, %v {mask = #tok.mask<causal>} : tensor<4x?x128xbf16>, tensor<4x?x128xbf16>, tensor<4x?x64xbf16> -> tensor<4x?x64xbf16>
  return %o : tensor<4x?x64xbf16>
}
