// RUN: tok-opt %s --tok-kv-select="page=16 budget=256 dense-layers=1" | FileCheck %s
// RUN: tok-opt %s --tok-kv-select | FileCheck %s --check-prefix=DEFAULT

// Every cache type gets page bounds; every attention after the first
// `dense-layers` of its function selects pages, the first stays dense.
// CHECK-LABEL: func.func private @step(
// CHECK-SAME:    !tok.kv_cache<2x4096x64xf32, pages = 16>, %{{.*}}: !tok.kv_cache<2x4096x64xf32, pages = 16>) -> (tensor<?x8xf32>, !tok.kv_cache<2x4096x64xf32, pages = 16>, !tok.kv_cache<2x4096x64xf32, pages = 16>)
// CHECK:         tok.cached_attention %{{.*}} {mask = #tok.mask<causal>} :
// CHECK:         tok.cached_attention %{{.*}} {mask = #tok.mask<causal>, select_budget = 256 : i64} :
// CHECK-LABEL: func.func @main(
// CHECK:         tok.kv.empty : !tok.kv_cache<2x4096x64xf32, pages = 16>
// With the defaults (page 16, budget 512, two dense layers) both
// attentions of the two-layer step stay dense.
// DEFAULT-NOT:   select_budget
func.func private @step(%ids: tensor<?xi32>, %pos: tensor<?xi32>, %q: tensor<4x?x64xf32>, %k: tensor<2x?x64xf32>, %c: !tok.kv_cache<2x4096x64xf32>, %d: !tok.kv_cache<2x4096x64xf32>)
    -> (tensor<?x8xf32>, !tok.kv_cache<2x4096x64xf32>, !tok.kv_cache<2x4096x64xf32>) {
  %c1 = tok.kv.append %c, %k, %k, %pos : !tok.kv_cache<2x4096x64xf32>, tensor<2x?x64xf32>, tensor<2x?x64xf32>, tensor<?xi32>
  %o = tok.cached_attention %q, %c1, %pos {mask = #tok.mask<causal>} : tensor<4x?x64xf32>, !tok.kv_cache<2x4096x64xf32>, tensor<?xi32> -> tensor<4x?x64xf32>
  %d1 = tok.kv.append %d, %k, %k, %pos : !tok.kv_cache<2x4096x64xf32>, tensor<2x?x64xf32>, tensor<2x?x64xf32>, tensor<?xi32>
  %o2 = tok.cached_attention %o, %d1, %pos {mask = #tok.mask<causal>} : tensor<4x?x64xf32>, !tok.kv_cache<2x4096x64xf32>, tensor<?xi32> -> tensor<4x?x64xf32>
  %z = arith.constant 0 : index
  %t = tensor.dim %ids, %z : tensor<?xi32>
  %l = tensor.empty(%t) : tensor<?x8xf32>
  return %l, %c1, %d1 : tensor<?x8xf32>, !tok.kv_cache<2x4096x64xf32>, !tok.kv_cache<2x4096x64xf32>
}
func.func @main(%p: tensor<?xi32>, %q: tensor<4x?x64xf32>, %k: tensor<2x?x64xf32>) -> tensor<?xi32> {
  %c = tok.kv.empty : !tok.kv_cache<2x4096x64xf32>
  %d = tok.kv.empty : !tok.kv_cache<2x4096x64xf32>
  %o = tok.generate @step(%p) params(%q, %k : tensor<4x?x64xf32>, tensor<2x?x64xf32>) caches(%c, %d : !tok.kv_cache<2x4096x64xf32>, !tok.kv_cache<2x4096x64xf32>) {max_new_tokens = 4, sampler = #tok.sampler<>} : tensor<?xi32> -> tensor<?xi32>
  return %o : tensor<?xi32>
}

// tok-cost-report: the page bounds add 2 x 2 heads x 256 pages x 64 x 4 B
// = 262144 bytes per cache (to 4227072), and the selecting attention
// counts 256 keys instead of 4096 (2 Hq T S (D + Dv) = 2 4 1 S 128 per
// step: 4194304 + 262144 attention FLOPs instead of 2 x 4194304).
// RUN: tok-opt %s --tok-cost-report --tok-kv-select="budget=256 dense-layers=1" --tok-cost-report -o /dev/null 2>&1 | FileCheck %s --check-prefix=COST
// COST: kv-select.mlir:15:1: remark: tok-cost: {{.*}} kv-bytes 8454144, attention-flops 8388608
// COST: kv-select.mlir:15:1: remark: tok-cost: {{.*}} kv-bytes 8978432, attention-flops 4456448

// Options and caches are checked: one error, a non-zero exit.
// RUN: not tok-opt %s --tok-kv-select="page=24" 2>&1 | FileCheck %s --check-prefix=PAGE
// PAGE: error: tok-kv-select: page must be a positive multiple of 16, at most 16777216, got 24
// RUN: not tok-opt %s --tok-kv-select="page=8192 budget=16384" 2>&1 | FileCheck %s --check-prefix=BIGPAGE
// BIGPAGE: error: tok-kv-select: page 8192 is larger than the cache's {{[0-9]+}} slots
// RUN: not tok-opt %s --tok-kv-select="budget=0" 2>&1 | FileCheck %s --check-prefix=BUDGET
// BUDGET: error: tok-kv-select: budget must be in [1, 16777216], got 0
// RUN: not tok-opt %s --tok-kv-quantize --tok-kv-select 2>&1 | FileCheck %s --check-prefix=QUANT
// QUANT: error: tok-kv-select: page bounds over quantized storage are not supported
// RUN: not tok-opt %s --tok-kv-select --tok-kv-select 2>&1 | FileCheck %s --check-prefix=TWICE
// TWICE: error: tok-kv-select: the cache already has page bounds
// RUN: not tok-opt %s --tok-kv-select --tok-kv-evict="policy=window budget=8 sinks=0 recent=8 chunk=4" 2>&1 | FileCheck %s --check-prefix=THEN-EVICT
// THEN-EVICT: error: tok-kv-evict: the cache has page bounds (tok-kv-select): select or evict, not both
