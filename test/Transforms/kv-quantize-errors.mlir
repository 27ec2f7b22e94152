// Options are checked like the #tok.kv_quant attribute they build and
// against every cache of the module: one error, a non-zero exit.
// RUN: not tok-opt %s --tok-kv-quantize="bits=3" 2>&1 | FileCheck %s --check-prefix=BITS
// BITS: error: tok-kv-quantize: invalid options: kv_quant bits must be 4 or 8, got 3
// RUN: not tok-opt %s --tok-kv-quantize="group=0" 2>&1 | FileCheck %s --check-prefix=GROUP
// GROUP: error: tok-kv-quantize: invalid options: kv_quant group must be in [1, 65536], got 0
// RUN: not tok-opt %s --tok-kv-quantize="group=32 residual=40" 2>&1 | FileCheck %s --check-prefix=RESIDUAL
// RESIDUAL: error: tok-kv-quantize: invalid options: kv_quant residual must be a non-negative multiple of the group size 32, got 40
// RUN: not tok-opt %s --tok-kv-quantize="group=3 residual=0" 2>&1 | FileCheck %s --check-prefix=DIM
// DIM: kv-quantize-errors.mlir:[[@LINE+3]]:1: error: tok-kv-quantize: cannot quantize '!tok.kv_cache<1x8x4xf32>': kv_cache head_dim 4 is not a multiple of the quantization group 3
// RUN: not tok-opt %s --tok-kv-quantize="group=4 residual=16" 2>&1 | FileCheck %s --check-prefix=CAPACITY
// CAPACITY: error: tok-kv-quantize: cannot quantize '!tok.kv_cache<1x8x4xf32>': kv_cache quantization residual 16 exceeds the capacity 8
func.func @f(%c: !tok.kv_cache<1x8x4xf32>) -> !tok.kv_cache<1x8x4xf32> {
  return %c : !tok.kv_cache<1x8x4xf32>
}

// -----

// RUN: not tok-opt %s --split-input-file --tok-kv-quantize="group=4 residual=4" 2>&1 | FileCheck %s --check-prefix=SPLIT
// SPLIT: error: tok-kv-quantize: the cache is already quantized: '!tok.kv_cache<1x8x4xf32, quant = #tok.kv_quant<bits = 8, group = 4, residual = 4>>'
func.func @quantized(%c: !tok.kv_cache<1x8x4xf32, quant = #tok.kv_quant<bits = 8, group = 4, residual = 4>>) -> index {
  %n = tok.kv.length %c : !tok.kv_cache<1x8x4xf32, quant = #tok.kv_quant<bits = 8, group = 4, residual = 4>>
  return %n : index
}

// -----

// SPLIT: error: tok-kv-quantize: eviction (tok.kv.evict) over quantized caches has no lowering yet; quantize or evict, not both
func.func @evict(%c: !tok.kv_cache<1x8x4xf32>) -> !tok.kv_cache<1x8x4xf32> {
  %e = tok.kv.evict %c {policy = #tok.evict<window, budget = 4, sinks = 1, recent = 3>} : !tok.kv_cache<1x8x4xf32>
  return %e : !tok.kv_cache<1x8x4xf32>
}

// -----

// SPLIT: error: tok-kv-quantize: caches that track attention scores (score-based eviction) cannot be quantized yet
func.func @scores(%c: !tok.kv_cache<1x8x4xf32, scores>) -> !tok.kv_cache<1x8x4xf32, scores> {
  return %c : !tok.kv_cache<1x8x4xf32, scores>
}

// -----

// SPLIT: error: tok-kv-quantize: the module has no KV cache to quantize
func.func @none(%x: tensor<4xf32>) -> tensor<4xf32> {
  return %x : tensor<4xf32>
}
