// Options are checked like the #tok.evict attribute they build, with one
// error at the module and a non-zero exit.
// RUN: not tok-opt %s --tok-kv-evict="policy=window budget=8 sinks=2 recent=5" 2>&1 | FileCheck %s --check-prefix=SUM
// SUM: error: tok-kv-evict: invalid options: window eviction keeps sinks + recent slots: expected budget 7, got 8
// RUN: not tok-opt %s --tok-kv-evict="policy=lru budget=8" 2>&1 | FileCheck %s --check-prefix=POLICY
// POLICY: error: tok-kv-evict: unknown policy 'lru' (window, h2o, a2sf, tova, snapkv)
// RUN: not tok-opt %s --tok-kv-evict="policy=h2o" 2>&1 | FileCheck %s --check-prefix=BUDGET
// BUDGET: error: tok-kv-evict: budget must be positive, got 0
// RUN: not tok-opt %s --tok-kv-evict="policy=tova budget=4 chunk=0" 2>&1 | FileCheck %s --check-prefix=CHUNK
// CHUNK: error: tok-kv-evict: chunk must be in [1, 16777216], got 0
// RUN: not tok-opt %s --tok-kv-evict="policy=tova budget=16777000 chunk=4096" 2>&1 | FileCheck %s --check-prefix=SLOTS
// SLOTS: error: tok-kv-evict: budget + chunk (16777000 + 4096) exceeds the 16777216 slots a cache may have
// RUN: not tok-opt %s --tok-kv-evict="policy=tova budget=4 recent=2" 2>&1 | FileCheck %s --check-prefix=RECENT
// RECENT: error: tok-kv-evict: invalid options:

// Nothing to evict from: no attention over a freshly appended cache.
// RUN: not tok-opt %s --tok-kv-evict="policy=tova budget=4" 2>&1 | FileCheck %s --check-prefix=NONE
// NONE: error: tok-kv-evict: no tok.cached_attention reads a cache appended in the same step; nothing to evict from
func.func @f(%c: !tok.kv_cache<1x8x4xf32>) -> !tok.kv_cache<1x8x4xf32> {
  return %c : !tok.kv_cache<1x8x4xf32>
}
