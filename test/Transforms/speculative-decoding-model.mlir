// RUN: tok-opt %s --tok-speculative-decoding="drafter=model k=3" --canonicalize --split-input-file -verify-diagnostics | FileCheck %s

// A separate draft model: @draft_step takes the draft_params of
// tok.generate (its own weights, here of another shape and layer count)
// and caches of its own, created empty next to the target's; the rounds
// are those of layer_skip (catch-up call, one call per further draft,
// rollback of the draft caches), and the target's step keeps the target's
// parameters.
// CHECK-LABEL: func.func @generate(
// CHECK-SAME:    %[[PROMPT:.*]]: tensor<?xi32>, %[[W:.*]]: tensor<4xf32>, %[[DW0:.*]]: tensor<8xf32>, %[[DW1:.*]]: tensor<2x8xf32>)
// CHECK:       %[[C:.*]] = tok.kv.empty : !tok.kv_cache<2x64x16xf32>
// CHECK:       call @step(%{{.*}}, %{{.*}}, %[[W]], %[[C]])
// CHECK-DAG:   %[[D0:.*]] = tok.kv.empty : !tok.kv_cache<1x64x8xf32>
// CHECK-DAG:   %[[D1:.*]] = tok.kv.empty : !tok.kv_cache<1x64x8xf32>
// CHECK:       scf.while ({{.*}}%[[D0]], {{.*}}%[[D1]])
// CHECK:         scf.if
// CHECK:           call @draft_step(%{{.*}}, %{{.*}}, %[[DW0]], %[[DW1]], %{{.*}}, %{{.*}}) : (tensor<?xi32>, tensor<?xi32>, tensor<8xf32>, tensor<2x8xf32>, !tok.kv_cache<1x64x8xf32>, !tok.kv_cache<1x64x8xf32>)
// CHECK:           scf.while
// CHECK:             call @draft_step(%{{.*}}, %{{.*}}, %[[DW0]], %[[DW1]],
// CHECK:         call @step(%{{.*}}, %{{.*}}, %[[W]], %{{.*}})
// CHECK:         tok.verify
// CHECK-COUNT-3: tok.kv.truncate
// CHECK-NOT:   tok.generate
func.func private @step(tensor<?xi32>, tensor<?xi32>, tensor<4xf32>, !tok.kv_cache<2x64x16xf32>) -> (tensor<?x32xf32>, !tok.kv_cache<2x64x16xf32>)
func.func private @draft_step(tensor<?xi32>, tensor<?xi32>, tensor<8xf32>, tensor<2x8xf32>, !tok.kv_cache<1x64x8xf32>, !tok.kv_cache<1x64x8xf32>) -> (tensor<?x32xf32>, !tok.kv_cache<1x64x8xf32>, !tok.kv_cache<1x64x8xf32>)
func.func @generate(%prompt: tensor<?xi32>, %w: tensor<4xf32>, %dw0: tensor<8xf32>, %dw1: tensor<2x8xf32>) -> tensor<?xi32> {
  %c = tok.kv.empty : !tok.kv_cache<2x64x16xf32>
  %out = tok.generate @step(%prompt) params(%w : tensor<4xf32>) caches(%c : !tok.kv_cache<2x64x16xf32>)
      draft_params(%dw0, %dw1 : tensor<8xf32>, tensor<2x8xf32>)
      {max_new_tokens = 20 : i64, sampler = #tok.sampler<>}
      : tensor<?xi32> -> tensor<?xi32>
  return %out : tensor<?xi32>
}

// -----

// With prefill_chunk = 4 the draft catches up 4 tokens per call too (the
// whole prompt in the first round): (missing - 1) / 4 calls of 4 tokens in
// an scf.for, then one call on the last 1 .. 4 tokens, whose last row
// gives the first draft.
// CHECK-LABEL: func.func @chunked(
// CHECK:       scf.while
// CHECK:         scf.if
// CHECK:           %[[MISSING:.*]] = arith.subi %[[KNOWN:.*]], %[[HELD:.*]] : index
// CHECK:           %[[M1:.*]] = arith.subi %[[MISSING]], %c1
// CHECK:           %[[LEAD:.*]] = arith.divui %[[M1]], %c4
// CHECK:           %[[CAUGHT:.*]]:2 = scf.for %{{.*}} = %c0 to %[[LEAD]] step %c1 iter_args(
// CHECK:             %[[PART:.*]] = tensor.extract_slice %{{.*}}[%{{.*}}] [4] [1]
// CHECK:             call @draft_step(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}})
// CHECK:           %[[DONE:.*]] = arith.muli %[[LEAD]], %c4
// CHECK:           %[[FROM:.*]] = arith.addi %[[HELD]], %[[DONE]]
// CHECK:           %[[REST:.*]] = arith.subi %[[KNOWN]], %[[FROM]]
// CHECK:           %[[FEED:.*]] = tensor.extract_slice %{{.*}}[%[[FROM]]] [%[[REST]]] [1]
// CHECK:           call @draft_step(%[[FEED]], %{{.*}}, %{{.*}}, %{{.*}}, %[[CAUGHT]]#0, %[[CAUGHT]]#1)
func.func private @step(tensor<?xi32>, tensor<?xi32>, tensor<4xf32>, !tok.kv_cache<2x64x16xf32>) -> (tensor<?x32xf32>, !tok.kv_cache<2x64x16xf32>)
func.func private @draft_step(tensor<?xi32>, tensor<?xi32>, tensor<8xf32>, tensor<2x8xf32>, !tok.kv_cache<1x64x8xf32>, !tok.kv_cache<1x64x8xf32>) -> (tensor<?x32xf32>, !tok.kv_cache<1x64x8xf32>, !tok.kv_cache<1x64x8xf32>)
func.func @chunked(%prompt: tensor<?xi32>, %w: tensor<4xf32>, %dw0: tensor<8xf32>, %dw1: tensor<2x8xf32>) -> tensor<?xi32> {
  %c = tok.kv.empty : !tok.kv_cache<2x64x16xf32>
  %out = tok.generate @step(%prompt) params(%w : tensor<4xf32>) caches(%c : !tok.kv_cache<2x64x16xf32>)
      draft_params(%dw0, %dw1 : tensor<8xf32>, tensor<2x8xf32>)
      {max_new_tokens = 20 : i64, sampler = #tok.sampler<>, prefill_chunk = 4 : i64}
      : tensor<?xi32> -> tensor<?xi32>
  return %out : tensor<?xi32>
}

// -----

func.func private @step(tensor<?xi32>, tensor<?xi32>, tensor<4xf32>, !tok.kv_cache<2x64x16xf32>) -> (tensor<?x32xf32>, !tok.kv_cache<2x64x16xf32>)
func.func private @draft_step(tensor<?xi32>, tensor<?xi32>, tensor<4xf32>, !tok.kv_cache<2x64x16xf32>) -> (tensor<?x32xf32>, !tok.kv_cache<2x64x16xf32>)
func.func @no_draft_params(%prompt: tensor<?xi32>, %w: tensor<4xf32>) -> tensor<?xi32> {
  %c = tok.kv.empty : !tok.kv_cache<2x64x16xf32>
  // expected-error @+1 {{'tok.generate' op the model drafter needs the draft model's weights as draft_params (tok-import --draft-model=..., or tok-run generate --draft-model=...)}}
  %out = tok.generate @step(%prompt) params(%w : tensor<4xf32>) caches(%c : !tok.kv_cache<2x64x16xf32>)
      {max_new_tokens = 20 : i64, sampler = #tok.sampler<>} : tensor<?xi32> -> tensor<?xi32>
  return %out : tensor<?xi32>
}

// -----

func.func private @step(tensor<?xi32>, tensor<?xi32>, !tok.kv_cache<2x64x16xf32>) -> (tensor<?x32xf32>, !tok.kv_cache<2x64x16xf32>)
func.func @missing(%prompt: tensor<?xi32>, %dw: tensor<8xf32>) -> tensor<?xi32> {
  %c = tok.kv.empty : !tok.kv_cache<2x64x16xf32>
  // expected-error @+1 {{'tok.generate' op the model drafter needs its step function @draft_step (tok-import --draft-model=..., or the draft-step option)}}
  %out = tok.generate @step(%prompt) caches(%c : !tok.kv_cache<2x64x16xf32>) draft_params(%dw : tensor<8xf32>)
      {max_new_tokens = 20 : i64, sampler = #tok.sampler<>} : tensor<?xi32> -> tensor<?xi32>
  return %out : tensor<?xi32>
}

// -----

// The draft step takes the draft_params, not the target's parameters.
func.func private @step(tensor<?xi32>, tensor<?xi32>, tensor<4xf32>, !tok.kv_cache<2x64x16xf32>) -> (tensor<?x32xf32>, !tok.kv_cache<2x64x16xf32>)
func.func private @draft_step(tensor<?xi32>, tensor<?xi32>, tensor<4xf32>, !tok.kv_cache<2x64x16xf32>) -> (tensor<?x32xf32>, !tok.kv_cache<2x64x16xf32>)
func.func @params(%prompt: tensor<?xi32>, %w: tensor<4xf32>, %dw: tensor<8xf32>) -> tensor<?xi32> {
  %c = tok.kv.empty : !tok.kv_cache<2x64x16xf32>
  // expected-error @+1 {{'tok.generate' op draft step @draft_step must take the tokens and positions of @step, then the draft_params of the tok.generate; it has type}}
  %out = tok.generate @step(%prompt) params(%w : tensor<4xf32>) caches(%c : !tok.kv_cache<2x64x16xf32>) draft_params(%dw : tensor<8xf32>)
      {max_new_tokens = 20 : i64, sampler = #tok.sampler<>} : tensor<?xi32> -> tensor<?xi32>
  return %out : tensor<?xi32>
}

// -----

// A draft model of another vocabulary cannot draft for this target.
func.func private @step(tensor<?xi32>, tensor<?xi32>, !tok.kv_cache<2x64x16xf32>) -> (tensor<?x32xf32>, !tok.kv_cache<2x64x16xf32>)
func.func private @draft_step(tensor<?xi32>, tensor<?xi32>, tensor<8xf32>, !tok.kv_cache<1x64x8xf32>) -> (tensor<?x50xf32>, !tok.kv_cache<1x64x8xf32>)
func.func @vocab(%prompt: tensor<?xi32>, %dw: tensor<8xf32>) -> tensor<?xi32> {
  %c = tok.kv.empty : !tok.kv_cache<2x64x16xf32>
  // expected-error @+1 {{'tok.generate' op draft step @draft_step must return logits like @step (the same vocabulary) and its caches}}
  %out = tok.generate @step(%prompt) caches(%c : !tok.kv_cache<2x64x16xf32>) draft_params(%dw : tensor<8xf32>)
      {max_new_tokens = 20 : i64, sampler = #tok.sampler<>} : tensor<?xi32> -> tensor<?xi32>
  return %out : tensor<?xi32>
}
