// RUN: tok-opt %s --tok-cost-report --split-input-file --verify-diagnostics
// RUN: tok-opt %s --tok-cost-report="dynamic-size=10" --split-input-file 2>&1 >/dev/null | FileCheck %s --check-prefix=TEN
// RUN: not tok-opt %s --tok-cost-report="dynamic-size=0" --split-input-file 2>&1 | FileCheck %s --check-prefix=BAD

// BAD: error: tok-cost-report: dynamic-size must be positive, got 0

// 2 * 4 rows * 8 outputs * 16 inputs; bytes 4x16 + 8x16 + 4x8 floats.
// expected-remark @+1 {{tok-cost: flops 1024, bytes 896, kv-bytes 0, attention-flops 0}}
func.func @linear(%x: tensor<4x16xf32>, %w: tensor<8x16xf32>) -> tensor<4x8xf32> {
  %y = tok.linear %x, %w : tensor<4x16xf32>, tensor<8x16xf32>
  return %y : tensor<4x8xf32>
}

// -----

// A #tok.quant weight counts as its blocks: q4_0 stores 32 weights in 18
// bytes, so 8 x 64 weights are 8 x 36 bytes; plus 4x64 + 4x8 floats.
// expected-remark @+1 {{tok-cost: flops 4096, bytes 1440, kv-bytes 0, attention-flops 0}}
func.func @quant_linear(%x: tensor<4x64xf32>, %w: tensor<8x64xf32, #tok.quant<q4_0>>) -> tensor<4x8xf32> {
  %y = tok.linear %x, %w : tensor<4x64xf32>, tensor<8x64xf32, #tok.quant<q4_0>>
  return %y : tensor<4x8xf32>
}

// -----

// i8_channel: a row of 64 weights is 64 codes and one f32 scale, 68 bytes;
// 8 x 68 + 4x64 + 4x8 floats.
// expected-remark @+1 {{tok-cost: flops 4096, bytes 1696, kv-bytes 0, attention-flops 0}}
func.func @channel_linear(%x: tensor<4x64xf32>, %w: tensor<8x64xf32, #tok.quant<i8_channel>>) -> tensor<4x8xf32> {
  %y = tok.linear %x, %w : tensor<4x64xf32>, tensor<8x64xf32, #tok.quant<i8_channel>>
  return %y : tensor<4x8xf32>
}

// -----

// 2 Hq T S (D + Dv) = 2 * 2 * 3 * 5 * 8, dense whatever the mask.
// expected-remark @+1 {{tok-cost: flops 480, bytes 352, kv-bytes 0, attention-flops 480}}
func.func @attention(%q: tensor<2x3x4xf32>, %k: tensor<1x5x4xf32>, %v: tensor<1x5x4xf32>) -> tensor<2x3x4xf32> {
  %o = tok.attention %q, %k, %v {mask = #tok.mask<causal>} : tensor<2x3x4xf32>, tensor<1x5x4xf32>, tensor<1x5x4xf32> -> tensor<2x3x4xf32>
  return %o : tensor<2x3x4xf32>
}

// -----

// KV bytes: the argument cache (2 heads x 8 slots x 4 f16 for K and V = 256,
// positions 64, scores 64) and the created one (1 x 4 x 2 f32 = 64,
// positions 16). Cached attention reads the whole capacity:
// 2 * 4 heads * 1 token * 8 slots * (4 + 4).
// expected-remark @+1 {{tok-cost: flops 512, bytes 532, kv-bytes 464, attention-flops 512}}
func.func @caches(%c: !tok.kv_cache<2x8x4xf16, scores>, %q: tensor<4x1x4xf16>, %p: tensor<1xi32>) -> tensor<4x1x4xf16> {
  %e = tok.kv.empty : !tok.kv_cache<1x4x2xf32>
  %o = tok.cached_attention %q, %c, %p {mask = #tok.mask<causal>} : tensor<4x1x4xf16>, !tok.kv_cache<2x8x4xf16, scores>, tensor<1xi32> -> tensor<4x1x4xf16>
  return %o : tensor<4x1x4xf16>
}

// -----

// Dynamic dimensions count as dynamic-size: 1 by default (per token).
// TEN: tok-cost: flops 320, bytes 672, kv-bytes 0, attention-flops 0
// expected-remark @+1 {{tok-cost: flops 32, bytes 96, kv-bytes 0, attention-flops 0}}
func.func @dynamic(%x: tensor<?x8xf32>, %w: tensor<8xf32>) -> tensor<?x8xf32> {
  %y = tok.rms_norm %x, %w : tensor<?x8xf32>, tensor<8xf32>
  return %y : tensor<?x8xf32>
}
