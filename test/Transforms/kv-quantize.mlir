// RUN: tok-opt %s --tok-kv-quantize="bits=4 group=32 residual=128" | FileCheck %s
// RUN: tok-opt %s --tok-kv-quantize | FileCheck %s --check-prefix=DEFAULT

// Every cache type of the module (signatures, the empty cache, the
// generation loop, the ops' types) gets quantized storage; the ops stay.
// CHECK-LABEL: func.func private @step(
// CHECK-SAME:    %{{.*}}: !tok.kv_cache<2x4096x64xf32, quant = #tok.kv_quant<bits = 4>>) -> (tensor<?x8xf32>, !tok.kv_cache<2x4096x64xf32, quant = #tok.kv_quant<bits = 4>>)
// CHECK:         tok.kv.append %{{.*}} : !tok.kv_cache<2x4096x64xf32, quant = #tok.kv_quant<bits = 4>>,
// CHECK:         tok.cached_attention %{{.*}} : tensor<4x?x64xf32>, !tok.kv_cache<2x4096x64xf32, quant = #tok.kv_quant<bits = 4>>,
// CHECK-LABEL: func.func @main(
// CHECK:         tok.kv.empty : !tok.kv_cache<2x4096x64xf32, quant = #tok.kv_quant<bits = 4>>
// CHECK:         tok.generate @step(%{{.*}}) params({{.*}}) caches(%{{.*}} : !tok.kv_cache<2x4096x64xf32, quant = #tok.kv_quant<bits = 4>>)
// DEFAULT:       tok.kv.empty : !tok.kv_cache<2x4096x64xf32, quant = #tok.kv_quant<bits = 8>>
func.func private @step(%ids: tensor<?xi32>, %pos: tensor<?xi32>, %q: tensor<4x?x64xf32>, %k: tensor<2x?x64xf32>, %c: !tok.kv_cache<2x4096x64xf32>)
    -> (tensor<?x8xf32>, !tok.kv_cache<2x4096x64xf32>) {
  %c1 = tok.kv.append %c, %k, %k, %pos : !tok.kv_cache<2x4096x64xf32>, tensor<2x?x64xf32>, tensor<2x?x64xf32>, tensor<?xi32>
  %o = tok.cached_attention %q, %c1, %pos {mask = #tok.mask<causal>} : tensor<4x?x64xf32>, !tok.kv_cache<2x4096x64xf32>, tensor<?xi32> -> tensor<4x?x64xf32>
  %z = arith.constant 0 : index
  %t = tensor.dim %ids, %z : tensor<?xi32>
  %l = tensor.empty(%t) : tensor<?x8xf32>
  return %l, %c1 : tensor<?x8xf32>, !tok.kv_cache<2x4096x64xf32>
}
func.func @main(%p: tensor<?xi32>, %q: tensor<4x?x64xf32>, %k: tensor<2x?x64xf32>) -> tensor<?xi32> {
  %c = tok.kv.empty : !tok.kv_cache<2x4096x64xf32>
  %o = tok.generate @step(%p) params(%q, %k : tensor<4x?x64xf32>, tensor<2x?x64xf32>) caches(%c : !tok.kv_cache<2x4096x64xf32>) {max_new_tokens = 4, sampler = #tok.sampler<>} : tensor<?xi32> -> tensor<?xi32>
  return %o : tensor<?xi32>
}

// tok-cost-report before and after: the step's cache of 2 heads x 4096
// slots x 64 f32 (K and V 4 MiB + i32 positions 32 KiB = 4227072 bytes)
// becomes 4-bit codes (524288) + f16 scale and min per key group of 32
// tokens (65536) and per value group of 32 channels (65536) + the f32 tail
// of min(4096, 128 + 31) = 159 rows (162816) + positions (32768) = 850944
// bytes, 0.20x; with 8 bits, 1375232 bytes (0.33x).
// RUN: tok-opt %s --tok-cost-report --tok-kv-quantize="bits=4" --tok-cost-report -o /dev/null 2>&1 | FileCheck %s --check-prefix=COST4
// COST4: kv-quantize.mlir:14:1: remark: tok-cost: {{.*}} kv-bytes 4227072,
// COST4: kv-quantize.mlir:14:1: remark: tok-cost: {{.*}} kv-bytes 850944,
// RUN: tok-opt %s --tok-kv-quantize="bits=8" --tok-cost-report -o /dev/null 2>&1 | FileCheck %s --check-prefix=COST8
// COST8: kv-quantize.mlir:14:1: remark: tok-cost: {{.*}} kv-bytes 1375232,
