// A profile that does not fit the module or is malformed: one error at the
// module naming the file (and the layer), a non-zero exit, nothing written.

// RUN: not tok-opt %s --tok-kv-evict="profile=%t.missing.json" 2>&1 | FileCheck %s --check-prefix=MISSING
// MISSING: error: tok-kv-evict: cannot read profile '{{.*}}missing.json': No such file or directory

// RUN: echo '{"layers": [' > %t.json
// RUN: not tok-opt %s --tok-kv-evict="profile=%t.json" 2>&1 | FileCheck %s --check-prefix=JSON
// JSON: error: tok-kv-evict: profile '{{.*}}' is not JSON: {{.*}}Unexpected EOF

// RUN: echo '["full", "full"]' > %t.json
// RUN: not tok-opt %s --tok-kv-evict="profile=%t.json" 2>&1 | FileCheck %s --check-prefix=ROOT
// ROOT: error: tok-kv-evict: profile '{{.*}}' must be an object with one key, "layers": an array of one entry per layer

// RUN: echo '{"layers": ["full"]}' > %t.json
// RUN: not tok-opt %s --tok-kv-evict="profile=%t.json" 2>&1 | FileCheck %s --check-prefix=COUNT
// COUNT: error: tok-kv-evict: profile '{{.*}}' has 1 layer(s), the module 2

// RUN: echo '{"layers": ["stream", "full"]}' > %t.json
// RUN: not tok-opt %s --tok-kv-evict="profile=%t.json" 2>&1 | FileCheck %s --check-prefix=WORD
// WORD: error: tok-kv-evict: profile '{{.*}}', layer 0: a string entry must be "full", got "stream"

// RUN: echo '{"layers": ["full", {"budjet": 4}]}' > %t.json
// RUN: not tok-opt %s --tok-kv-evict="profile=%t.json" 2>&1 | FileCheck %s --check-prefix=KEY
// KEY: error: tok-kv-evict: profile '{{.*}}', layer 1: unknown key "budjet" (policy, budget, sinks, recent, decay, observe, pool, heads)

// RUN: echo '{"layers": ["full", {"budget": "8"}]}' > %t.json
// RUN: not tok-opt %s --tok-kv-evict="profile=%t.json" 2>&1 | FileCheck %s --check-prefix=INT
// INT: error: tok-kv-evict: profile '{{.*}}', layer 1: "budget" must be an integer

// RUN: echo '{"layers": ["full", {"policy": "window", "budget": 5, "sinks": 1, "recent": 3}]}' > %t.json
// RUN: not tok-opt %s --tok-kv-evict="profile=%t.json" 2>&1 | FileCheck %s --check-prefix=OPTS
// OPTS: error: tok-kv-evict: profile layer 1: invalid options: window eviction keeps sinks + recent slots: expected budget 4, got 5

// RUN: echo '{"layers": ["full", {"heads": ["full", "stream"], "budget": 4, "sinks": 1, "recent": 3}]}' > %t.json
// RUN: not tok-opt %s --tok-kv-evict="policy=window profile=%t.json" 2>&1 | FileCheck %s --check-prefix=HEADCOUNT
// HEADCOUNT: error: tok-kv-evict: profile layer 1: "heads" has 2 entries, the layer 1 KV heads

// The head count is checked whether or not the layer splits.
// RUN: echo '{"layers": ["full", {"heads": ["stream", "stream"], "budget": 4, "sinks": 1, "recent": 3}]}' > %t.json
// RUN: not tok-opt %s --tok-kv-evict="policy=window profile=%t.json" 2>&1 | FileCheck %s --check-prefix=HEADCOUNT2
// HEADCOUNT2: error: tok-kv-evict: profile layer 1: "heads" has 2 entries, the layer 1 KV heads

// RUN: echo '{"layers": ["full", {"heads": ["retrieval"]}]}' > %t.json
// RUN: not tok-opt %s --tok-kv-evict="policy=window profile=%t.json" 2>&1 | FileCheck %s --check-prefix=HEADWORD
// HEADWORD: error: tok-kv-evict: profile '{{.*}}', layer 1: "heads" entries must be "full" or "stream"

// The budget comes from the options where the profile does not name one.
// RUN: echo '{"layers": [{"policy": "tova"}, "full"]}' > %t.json
// RUN: not tok-opt %s --tok-kv-evict="profile=%t.json" 2>&1 | FileCheck %s --check-prefix=BUDGET
// BUDGET: error: tok-kv-evict: profile layer 0: budget must be positive, got 0
// RUN: tok-opt %s --tok-kv-evict="profile=%t.json budget=3" | FileCheck %s --check-prefix=INHERIT
// INHERIT: tok.kv.evict {{.*}}#tok.evict<tova, budget = 3>

func.func @step(%q: tensor<2x?x4xf32>, %k: tensor<1x?x4xf32>, %pos: tensor<?xi32>,
                %c0: !tok.kv_cache<1x64x4xf32>, %c1: !tok.kv_cache<1x64x4xf32>)
    -> (!tok.kv_cache<1x64x4xf32>, !tok.kv_cache<1x64x4xf32>) {
  %a0 = tok.kv.append %c0, %k, %k, %pos : !tok.kv_cache<1x64x4xf32>, tensor<1x?x4xf32>, tensor<1x?x4xf32>, tensor<?xi32>
  %o0 = tok.cached_attention %q, %a0, %pos {mask = #tok.mask<causal>} : tensor<2x?x4xf32>, !tok.kv_cache<1x64x4xf32>, tensor<?xi32> -> tensor<2x?x4xf32>
  %a1 = tok.kv.append %c1, %k, %k, %pos : !tok.kv_cache<1x64x4xf32>, tensor<1x?x4xf32>, tensor<1x?x4xf32>, tensor<?xi32>
  %o1 = tok.cached_attention %o0, %a1, %pos {mask = #tok.mask<causal>} : tensor<2x?x4xf32>, !tok.kv_cache<1x64x4xf32>, tensor<?xi32> -> tensor<2x?x4xf32>
  return %a0, %a1 : !tok.kv_cache<1x64x4xf32>, !tok.kv_cache<1x64x4xf32>
}
