// RUN: tok-opt %s --tok-kv-evict="policy=window budget=6 sinks=2 recent=4 chunk=3" | FileCheck %s --check-prefix=WINDOW
// RUN: tok-opt %s --tok-kv-evict="policy=h2o budget=6 recent=2 chunk=1" | FileCheck %s --check-prefix=H2O
// RUN: tok-opt %s --tok-kv-evict="policy=tova budget=5" | FileCheck %s --check-prefix=TOVA
// RUN: tok-opt %s --tok-kv-evict="policy=snapkv budget=8 observe=4 pool=3" | FileCheck %s --check-prefix=SNAPKV

// A decoder step (append, then attention over the cache) and the
// generation loop that threads its cache.
func.func private @step(%ids: tensor<?xi32>, %pos: tensor<?xi32>, %q: tensor<2x?x4xf32>, %k: tensor<1x?x4xf32>, %c: !tok.kv_cache<1x64x4xf32>)
    -> (tensor<?x8xf32>, !tok.kv_cache<1x64x4xf32>) {
  %c1 = tok.kv.append %c, %k, %k, %pos : !tok.kv_cache<1x64x4xf32>, tensor<1x?x4xf32>, tensor<1x?x4xf32>, tensor<?xi32>
  %o = tok.cached_attention %q, %c1, %pos {mask = #tok.mask<causal>} : tensor<2x?x4xf32>, !tok.kv_cache<1x64x4xf32>, tensor<?xi32> -> tensor<2x?x4xf32>
  %z = arith.constant 0 : index
  %t = tensor.dim %ids, %z : tensor<?xi32>
  %l = tensor.empty(%t) : tensor<?x8xf32>
  return %l, %c1 : tensor<?x8xf32>, !tok.kv_cache<1x64x4xf32>
}

// Window: the cache shrinks to budget + chunk = 9 slots everywhere (the
// step's signature, the empty cache, the loop), the eviction follows the
// attention and the step returns the evicted cache; the loop prefills in
// chunks of 3.
// WINDOW-LABEL: func.func private @step(
// WINDOW-SAME:    !tok.kv_cache<1x9x4xf32>) -> (tensor<?x8xf32>, !tok.kv_cache<1x9x4xf32>)
// WINDOW:         %[[C1:.*]] = tok.kv.append
// WINDOW-NEXT:    tok.cached_attention %{{.*}}, %[[C1]], %{{.*}} {mask = #tok.mask<causal>} :
// WINDOW-NEXT:    %[[E:.*]] = tok.kv.evict %[[C1]] {policy = #tok.evict<window, budget = 6, sinks = 2, recent = 4>} : !tok.kv_cache<1x9x4xf32>
// WINDOW:         return %{{.*}}, %[[E]]
// WINDOW-LABEL: func.func @main(
// WINDOW:         tok.kv.empty : !tok.kv_cache<1x9x4xf32>
// WINDOW:         tok.generate @step2(%{{.*}}) params({{.*}}) caches(%{{.*}} : !tok.kv_cache<1x9x4xf32>) {max_new_tokens = 4 : i64, prefill_chunk = 3 : i64, sampler = #tok.sampler<>}

// With h2o, the attention returns the received mass of every slot (all rows),
// the cache tracks scores, and the eviction consumes them.
// H2O-LABEL: func.func private @step(
// H2O-SAME:    !tok.kv_cache<1x7x4xf32, scores>) -> (tensor<?x8xf32>, !tok.kv_cache<1x7x4xf32, scores>)
// H2O:         %[[C1:.*]] = tok.kv.append
// H2O-NEXT:    %{{.*}}, %[[S:.*]] = tok.cached_attention %{{.*}}, %[[C1]], %{{.*}} {mask = #tok.mask<causal>, scores = #tok.scores<>} : {{.*}} -> tensor<2x?x4xf32>, tensor<1x7xf32>
// H2O-NEXT:    %[[E:.*]] = tok.kv.evict %[[C1]] scores(%[[S]] : tensor<1x7xf32>) {policy = #tok.evict<h2o, budget = 6, recent = 2>}
// H2O:         return %{{.*}}, %[[E]]

// TOVA ranks by the last query only; its cache tracks no scores (nothing
// accumulates); the default chunk is 16.
// TOVA-LABEL: func.func private @step(
// TOVA-SAME:    !tok.kv_cache<1x21x4xf32>)
// TOVA:         tok.cached_attention {{.*}}scores = #tok.scores<rows = 1>
// TOVA:         tok.kv.evict %{{.*}} scores(%{{.*}} : tensor<1x21xf32>) {policy = #tok.evict<tova, budget = 5>}

// SnapKV ranks by the observation window's queries.
// SNAPKV:       tok.cached_attention {{.*}}scores = #tok.scores<rows = 4>
// SNAPKV:       tok.kv.evict {{.*}}{policy = #tok.evict<snapkv, budget = 8, observe = 4, pool = 3>}
func.func @main(%p: tensor<?xi32>, %q: tensor<2x?x4xf32>, %k: tensor<1x?x4xf32>) -> tensor<?xi32> {
  %c = tok.kv.empty : !tok.kv_cache<1x64x4xf32>
  %o = tok.generate @step2(%p) params(%q, %k : tensor<2x?x4xf32>, tensor<1x?x4xf32>) caches(%c : !tok.kv_cache<1x64x4xf32>) {max_new_tokens = 4, sampler = #tok.sampler<>} : tensor<?xi32> -> tensor<?xi32>
  return %o : tensor<?xi32>
}
func.func private @step2(%ids: tensor<?xi32>, %pos: tensor<?xi32>, %q: tensor<2x?x4xf32>, %k: tensor<1x?x4xf32>, %c: !tok.kv_cache<1x64x4xf32>)
    -> (tensor<?x8xf32>, !tok.kv_cache<1x64x4xf32>) {
  %r:2 = func.call @step(%ids, %pos, %q, %k, %c) : (tensor<?xi32>, tensor<?xi32>, tensor<2x?x4xf32>, tensor<1x?x4xf32>, !tok.kv_cache<1x64x4xf32>) -> (tensor<?x8xf32>, !tok.kv_cache<1x64x4xf32>)
  return %r#0, %r#1 : tensor<?x8xf32>, !tok.kv_cache<1x64x4xf32>
}

// tok-cost-report before and after the pass: the step's cache shrinks from
// 64 to budget + chunk = 9 slots (1 head x 4 dims: K and V f32 + i32
// positions = 36 bytes per slot): 2304 -> 324 KV bytes, and the attention
// FLOPs (counted at capacity, 2 Hq T S (D + Dv) = 2 2 1 S 8) drop with it.
// RUN: tok-opt %s --tok-cost-report --tok-kv-evict="policy=window budget=6 sinks=2 recent=4 chunk=3" --tok-cost-report -o /dev/null 2>&1 | FileCheck %s --check-prefix=COST
// COST: kv-evict.mlir:8:1: remark: tok-cost: flops 2048, bytes {{[0-9]+}}, kv-bytes 2304, attention-flops 2048
// COST: kv-evict.mlir:8:1: remark: tok-cost: flops 288, bytes {{[0-9]+}}, kv-bytes 324, attention-flops 288
