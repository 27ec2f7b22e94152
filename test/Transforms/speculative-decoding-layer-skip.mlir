// RUN: tok-opt %s --tok-speculative-decoding="drafter=layer_skip k=4" --canonicalize --split-input-file -verify-diagnostics | FileCheck %s
// RUN: not tok-opt %s --split-input-file --tok-speculative-decoding="drafter=layer_skip confidence=1.5" 2>&1 | FileCheck %s --check-prefix=CONF
// CONF: error: tok-speculative-decoding: confidence must be in [0, 1], got 1.5

// Self-speculation: @draft_step (the target without some layers) drafts
// with caches of its own, created empty next to the target's. Each round:
// when it may draft at all, one draft call on the tokens its caches miss
// (context[cached : known], the prompt in the first round) whose last row
// gives the first draft, then one call per further draft; the drafts form
// a chain; after verification the draft caches keep what agrees with the
// emitted tokens (min(held, known + accepted)) and roll back the rest.
// CHECK-LABEL: func.func @generate
// CHECK:       %[[C:.*]] = tok.kv.empty : !tok.kv_cache<2x64x16xf32>
// CHECK:       call @step(
// CHECK:       %[[D:.*]] = tok.kv.empty : !tok.kv_cache<2x64x16xf32>
// CHECK:       scf.while ({{.*}}%[[D]])
// CHECK:         %[[ANY:.*]] = arith.cmpi sgt, %[[NUM:.*]], %c0
// CHECK:         %[[DR:.*]]:4 = scf.if %[[ANY]]
// CHECK:           %[[MISSING:.*]] = arith.subi %[[KNOWN:.*]], %[[HELD:.*]] : index
// CHECK:           %[[FEED:.*]] = tensor.extract_slice %{{.*}}[%[[HELD]]] [%[[MISSING]]] [1]
// CHECK:           call @draft_step(%[[FEED]],
// CHECK:           tok.sample
// The drafter's probability of its draft, 1 / sum exp(l - l_max), against
// `confidence` (default 0.4): drafting goes on while it is at least that.
// CHECK:           math.exp
// CHECK:           arith.divf %cst{{.*}}, %{{.*}} : f32
// CHECK:           %[[SURE:.*]] = arith.cmpf oge, %{{.*}}, %[[C04:.*]] : f32
// CHECK:           scf.while ({{.*}}, %{{.*}} = %[[SURE]],
// CHECK:             %[[LT:.*]] = arith.cmpi slt, %{{.*}}, %[[NUM]]
// CHECK:             arith.andi %[[LT]],
// CHECK:             call @draft_step(
// CHECK:             tok.sample
// CHECK:         } else {
// CHECK:         call @step(
// CHECK:         tok.verify
// CHECK:         %[[END:.*]] = arith.addi %[[KNOWN]], %[[ACC:.*]] : index
// CHECK:         %[[VALID:.*]] = arith.minsi %[[DR]]#2, %[[END]]
// CHECK:         %[[DROP:.*]] = arith.subi %[[DR]]#2, %[[VALID]]
// CHECK:         tok.kv.truncate %[[DR]]#3, %[[DROP]]
func.func private @step(tensor<?xi32>, tensor<?xi32>, tensor<4xf32>, !tok.kv_cache<2x64x16xf32>) -> (tensor<?x32xf32>, !tok.kv_cache<2x64x16xf32>)
func.func private @draft_step(tensor<?xi32>, tensor<?xi32>, tensor<4xf32>, !tok.kv_cache<2x64x16xf32>) -> (tensor<?x32xf32>, !tok.kv_cache<2x64x16xf32>)
func.func @generate(%prompt: tensor<?xi32>, %w: tensor<4xf32>) -> tensor<?xi32> {
  %c = tok.kv.empty : !tok.kv_cache<2x64x16xf32>
  %out = tok.generate @step(%prompt) params(%w : tensor<4xf32>) caches(%c : !tok.kv_cache<2x64x16xf32>)
      {max_new_tokens = 20 : i64, sampler = #tok.sampler<>}
      : tensor<?xi32> -> tensor<?xi32>
  return %out : tensor<?xi32>
}

// -----

func.func private @step(tensor<?xi32>, tensor<?xi32>, !tok.kv_cache<2x64x16xf32>) -> (tensor<?x32xf32>, !tok.kv_cache<2x64x16xf32>)
func.func @missing(%prompt: tensor<?xi32>) -> tensor<?xi32> {
  %c = tok.kv.empty : !tok.kv_cache<2x64x16xf32>
  // expected-error @+1 {{'tok.generate' op the layer_skip drafter needs its step function @draft_step (tok-import --draft-skip=..., or the draft-step option)}}
  %out = tok.generate @step(%prompt) caches(%c : !tok.kv_cache<2x64x16xf32>)
      {max_new_tokens = 20 : i64, sampler = #tok.sampler<>} : tensor<?xi32> -> tensor<?xi32>
  return %out : tensor<?xi32>
}

// -----

func.func private @step(tensor<?xi32>, tensor<?xi32>, tensor<4xf32>, !tok.kv_cache<2x64x16xf32>) -> (tensor<?x32xf32>, !tok.kv_cache<2x64x16xf32>)
func.func private @draft_step(tensor<?xi32>, tensor<?xi32>, tensor<8xf32>, !tok.kv_cache<2x64x16xf32>) -> (tensor<?x32xf32>, !tok.kv_cache<2x64x16xf32>)
func.func @params(%prompt: tensor<?xi32>, %w: tensor<4xf32>) -> tensor<?xi32> {
  %c = tok.kv.empty : !tok.kv_cache<2x64x16xf32>
  // expected-error @+1 {{'tok.generate' op draft step @draft_step must take the tokens and positions of @step, then the parameters of @step; it has type}}
  %out = tok.generate @step(%prompt) params(%w : tensor<4xf32>) caches(%c : !tok.kv_cache<2x64x16xf32>)
      {max_new_tokens = 20 : i64, sampler = #tok.sampler<>} : tensor<?xi32> -> tensor<?xi32>
  return %out : tensor<?xi32>
}

// -----

func.func private @step(tensor<?xi32>, tensor<?xi32>, !tok.kv_cache<2x64x16xf32>) -> (tensor<?x32xf32>, !tok.kv_cache<2x64x16xf32>)
func.func private @draft_step(tensor<?xi32>, tensor<?xi32>, !tok.kv_cache<2x64x16xf32>) -> (tensor<?x64xf32>, !tok.kv_cache<2x64x16xf32>)
func.func @vocab(%prompt: tensor<?xi32>) -> tensor<?xi32> {
  %c = tok.kv.empty : !tok.kv_cache<2x64x16xf32>
  // expected-error @+1 {{'tok.generate' op draft step @draft_step must return logits like @step (the same vocabulary) and its caches}}
  %out = tok.generate @step(%prompt) caches(%c : !tok.kv_cache<2x64x16xf32>)
      {max_new_tokens = 20 : i64, sampler = #tok.sampler<>} : tensor<?xi32> -> tensor<?xi32>
  return %out : tensor<?xi32>
}

// -----

// The draft step's caches roll back like the target's: no eviction there.
func.func private @step(tensor<?xi32>, tensor<?xi32>, !tok.kv_cache<2x64x16xf32>) -> (tensor<?x32xf32>, !tok.kv_cache<2x64x16xf32>)
func.func private @draft_step(%t: tensor<?xi32>, %p: tensor<?xi32>, %c: !tok.kv_cache<2x64x16xf32>) -> (tensor<?x32xf32>, !tok.kv_cache<2x64x16xf32>) {
  %e = tok.kv.evict %c {policy = #tok.evict<window, budget = 6, sinks = 2, recent = 4>} : !tok.kv_cache<2x64x16xf32>
  %l = tensor.empty() : tensor<1x32xf32>
  %d = tensor.cast %l : tensor<1x32xf32> to tensor<?x32xf32>
  return %d, %e : tensor<?x32xf32>, !tok.kv_cache<2x64x16xf32>
}
func.func @evicting(%prompt: tensor<?xi32>) -> tensor<?xi32> {
  %c = tok.kv.empty : !tok.kv_cache<2x64x16xf32>
  // expected-error @+1 {{'tok.generate' op the draft step @draft_step evicts from its caches, which rollback cannot undo; run tok-speculative-decoding without tok-kv-evict}}
  %out = tok.generate @step(%prompt) caches(%c : !tok.kv_cache<2x64x16xf32>)
      {max_new_tokens = 20 : i64, sampler = #tok.sampler<>} : tensor<?xi32> -> tensor<?xi32>
  return %out : tensor<?xi32>
}

// -----

// A separate draft model's weights are for drafter=model.
func.func private @step(tensor<?xi32>, tensor<?xi32>, !tok.kv_cache<2x64x16xf32>) -> (tensor<?x32xf32>, !tok.kv_cache<2x64x16xf32>)
func.func private @draft_step(tensor<?xi32>, tensor<?xi32>, tensor<8xf32>, !tok.kv_cache<2x64x16xf32>) -> (tensor<?x32xf32>, !tok.kv_cache<2x64x16xf32>)
func.func @draft_params(%prompt: tensor<?xi32>, %dw: tensor<8xf32>) -> tensor<?xi32> {
  %c = tok.kv.empty : !tok.kv_cache<2x64x16xf32>
  // expected-error @+1 {{'tok.generate' op has draft_params (a separate draft model's); the layer_skip drafter drafts with the target's own parameters: use drafter=model}}
  %out = tok.generate @step(%prompt) caches(%c : !tok.kv_cache<2x64x16xf32>) draft_params(%dw : tensor<8xf32>)
      {max_new_tokens = 20 : i64, sampler = #tok.sampler<>} : tensor<?xi32> -> tensor<?xi32>
  return %out : tensor<?xi32>
}
