// RUN: tok-opt %s --tok-speculative-decoding="k=5 n-max=2" --canonicalize --split-input-file | FileCheck %s
// RUN: tok-opt %s --tok-speculative-decoding="k=5 adaptive=0" --canonicalize --split-input-file | FileCheck %s --check-prefix=FIXED
// RUN: not tok-opt %s --split-input-file --tok-speculative-decoding="drafter=tree" 2>&1 | FileCheck %s --check-prefix=UNKNOWN
// RUN: not tok-opt %s --split-input-file --tok-speculative-decoding="k=0" 2>&1 | FileCheck %s --check-prefix=BAD-K
// RUN: not tok-opt %s --split-input-file --tok-speculative-decoding="n-min=3 n-max=2" 2>&1 | FileCheck %s --check-prefix=BAD-N
// RUN: not tok-opt %s --split-input-file --tok-speculative-decoding="n-max=4294967296" 2>&1 | FileCheck %s --check-prefix=HUGE-N
// HUGE-N: error: tok-speculative-decoding: expects 0 < n-min <= n-max <= 64, got n-min = 1, n-max = 4294967296
// RUN: not tok-opt %s --split-input-file --tok-speculative-decoding="k=1000" 2>&1 | FileCheck %s --check-prefix=HUGE-K
// HUGE-K: error: tok-speculative-decoding: k must be in [1, 256], got 1000
// RUN: not tok-opt %s --split-input-file --tok-speculative-decoding="match=latest" 2>&1 | FileCheck %s --check-prefix=BAD-MATCH
// RUN: tok-opt %s --tok-speculative-decoding="k=5 match=earliest" --split-input-file | FileCheck %s --check-prefix=EARLIEST

// Without adaptation every round may draft k (the constant length folds
// into the loop) and nothing updates it.
// FIXED-LABEL: func.func @generate
// FIXED:       scf.while
// FIXED:         %[[WITHIN:.*]] = arith.minsi %{{.*}}, %c5
// FIXED:         %[[LIMIT:.*]] = arith.maxsi %[[WITHIN]], %c0
// FIXED:         tok.draft %{{.*}} limit %[[LIMIT]]
// FIXED-NOT:     %c2 :
// FIXED:         func.call @rounds
// FIXED-NOT:     arith.select
// FIXED:         scf.yield

// UNKNOWN: error: tok-speculative-decoding: unknown drafter 'tree'; expected ngram, layer_skip or model
// BAD-K: error: tok-speculative-decoding: k must be in [1, 256], got 0
// BAD-N: error: tok-speculative-decoding: expects 0 < n-min <= n-max <= 64, got n-min = 3, n-max = 2
// BAD-MATCH: error: tok-speculative-decoding: unknown match 'latest'; expected recent or earliest

// The match rule reaches the drafter (recent, the default, is not printed).
// EARLIEST-LABEL: func.func @generate
// EARLIEST:       tok.draft %{{.*}} limit %{{.*}} {drafter = #tok.drafter<ngram, k = 5, match = earliest>}

// The prefill and the first token as in plain decoding; then rounds of
// draft (from the prompt and the tokens so far, read in place from one
// context buffer), one step over the pending token and the drafts at
// their positions, verify, truncate the rejected drafts, emit.
// CHECK-LABEL: func.func @generate
// CHECK:       %[[PRE:.*]]:2 = call @step(%[[PROMPT:.*]], %{{.*}}, %{{.*}})
// CHECK:       %[[FIRST:.*]] = tok.sample
// CHECK:       %[[CTX:.*]] = tensor.insert_slice %[[PROMPT]] into
// CHECK:       call @emit
// CHECK:       scf.while (%[[N:.*]] = %c1, %[[T:.*]] = %{{.*}}, %{{.*}} = %{{.*}}, %[[CONTEXT:.*]] = %{{.*}}, %[[DONE:.*]] = %{{.*}}, %[[LEN:.*]] = %c5, %[[CACHE:.*]] = %[[PRE]]#1)
// CHECK:         arith.xori %[[DONE]], %true
// CHECK:       } do {
// CHECK:         %[[KNOWN:.*]] = arith.addi %{{.*}}, %[[N]]
// The budget left: a round emits at most drafts + 1 tokens.
// CHECK:         %[[LEFT:.*]] = arith.subi %c19, %[[N]]
// CHECK:         %[[HIST:.*]] = tensor.extract_slice %[[CONTEXT]][0] [%[[KNOWN]]] [1]
// The drafter learns the round's length (the adaptive length within the
// budget left), which a recent match needs after its occurrence.
// CHECK:         %[[WITHIN:.*]] = arith.minsi %[[LEFT]], %[[LEN]]
// CHECK:         %[[LIMIT:.*]] = arith.maxsi %[[WITHIN]], %c0
// CHECK:         %[[D:.*]], %[[P:.*]], %{{.*}} = tok.draft %[[HIST]] limit %[[LIMIT]] {drafter = #tok.drafter<ngram, k = 5, n_max = 2>}
// CHECK:         %[[DRAFTED:.*]] = tensor.dim %[[D]]
// CHECK:         %[[KEPT:.*]] = arith.minsi %[[DRAFTED]], %[[LIMIT]]
// CHECK:         %[[DK:.*]] = tensor.extract_slice %[[D]][0] [%[[KEPT]]] [1]
// CHECK:         %[[PK:.*]] = tensor.extract_slice %[[P]][0] [%[[KEPT]]] [1]
// CHECK:         tensor.insert %[[T]] into
// CHECK:         %[[TOKENS:.*]] = tensor.insert_slice %[[DK]] into
// CHECK:         %[[OUT:.*]]:2 = func.call @step(%[[TOKENS]], %{{.*}}, %[[CACHE]])
// CHECK:         %[[PATH:.*]], %[[NEXT:.*]] = tok.verify %[[OUT]]#0, %[[DK]], %[[PK]] {sampler = #tok.sampler<>}
// CHECK:         %[[ACC:.*]] = tensor.dim %[[PATH]]
// CHECK:         %[[REJ:.*]] = arith.subi %[[KEPT]], %[[ACC]]
// CHECK:         %[[NEWC:.*]] = tok.kv.truncate %[[OUT]]#1, %[[REJ]]
// Emit the accepted drafts and the next token, stopping at eos / max:
// CHECK:         scf.for
// CHECK:           func.call @emit
// CHECK:           arith.cmpi sge, %{{.*}}, %c20
// CHECK:           arith.cmpi eq, %{{.*}}, %c3_i32
// CHECK:         func.call @rounds
// Adaptive draft length: +2 (at most k) after a round that accepted every
// draft, -1 (at least 1) otherwise, unchanged without drafts.
// CHECK:         %[[ALL:.*]] = arith.cmpi eq, %[[ACC]], %[[KEPT]]
// CHECK:         %[[UP:.*]] = arith.addi %[[LEN]], %c2
// CHECK:         %[[LONGER:.*]] = arith.minsi %[[UP]], %c5
// CHECK:         %[[DOWN:.*]] = arith.subi %[[LEN]], %c1
// CHECK:         %[[SHORTER:.*]] = arith.maxsi %[[DOWN]], %c1
// CHECK:         %[[DRAFTING:.*]] = arith.cmpi sgt, %[[KEPT]], %c0
// CHECK:         %[[PICK:.*]] = arith.select %[[ALL]], %[[LONGER]], %[[SHORTER]]
// CHECK:         %[[NEXTLEN:.*]] = arith.select %[[DRAFTING]], %[[PICK]], %[[LEN]]
// CHECK:         scf.yield {{.*}}, %[[NEXTLEN]], %[[NEWC]]
func.func private @step(tensor<?xi32>, tensor<?xi32>, !tok.kv_cache<2x64x16xf32>) -> (tensor<?x32xf32>, !tok.kv_cache<2x64x16xf32>)
func.func private @emit(i32, i64)
func.func private @rounds(i64, i64)
func.func @generate(%prompt: tensor<?xi32>) -> tensor<?xi32> {
  %c = tok.kv.empty : !tok.kv_cache<2x64x16xf32>
  %out = tok.generate @step(%prompt) caches(%c : !tok.kv_cache<2x64x16xf32>)
      {max_new_tokens = 20 : i64, sampler = #tok.sampler<>, eos = array<i64: 3>, on_token = @emit, on_round = @rounds}
      : tensor<?xi32> -> tensor<?xi32>
  return %out : tensor<?xi32>
}

// -----

// A stochastic sampler: verification gets the emitted count as counter.
// CHECK-LABEL: func.func @stochastic
// CHECK:       tok.verify {{.*}} counter(%{{.*}} : i64) {sampler = #tok.sampler<temperature = 8.000000e-01
func.func private @step(tensor<?xi32>, tensor<?xi32>, !tok.kv_cache<2x64x16xf32>) -> (tensor<?x32xf32>, !tok.kv_cache<2x64x16xf32>)
func.func @stochastic(%prompt: tensor<?xi32>) -> tensor<?xi32> {
  %c = tok.kv.empty : !tok.kv_cache<2x64x16xf32>
  %out = tok.generate @step(%prompt) caches(%c : !tok.kv_cache<2x64x16xf32>)
      {max_new_tokens = 20 : i64, sampler = #tok.sampler<temperature = 0.8>}
      : tensor<?xi32> -> tensor<?xi32>
  return %out : tensor<?xi32>
}
