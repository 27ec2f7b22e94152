// RUN: tok-opt %s --convert-tok-to-linalg | FileCheck %s

// tok.generate becomes a prefill call on positions 0..P-1 (of a copy of the
// step whose head runs on the last row only), a first sample of that row,
// and an scf.while that stores and reports each
// token, stops at max_new_tokens or any eos token, and otherwise runs one decode step
// at position P + i - 1 on the loop-carried cache tensors; the parameters
// go to every call unchanged.

func.func private @step(%ids: tensor<?xi32>, %pos: tensor<?xi32>, %w: tensor<16x8xf32>, %c: !tok.kv_cache<1x32x8xf32>)
    -> (tensor<?x16xf32>, !tok.kv_cache<1x32x8xf32>) {
  %h = tok.embed %w[%ids] : tensor<16x8xf32>, tensor<?xi32>
  %l = tok.linear %h, %w : tensor<?x8xf32>, tensor<16x8xf32>
  return %l, %c : tensor<?x16xf32>, !tok.kv_cache<1x32x8xf32>
}
func.func private @emit(i32, i64)

// The prefill's copy of the step: the head (the tok.linear that makes the
// logits) on the last row of its input only; one copy for all the
// generate ops that use @step.
// CHECK-LABEL: func.func private @step_last_row(
// CHECK:         %[[T:.*]] = tensor.dim %[[H:.*]], %{{.*}} : tensor<?x8xf32>
// CHECK:         %[[LAST:.*]] = arith.subi %[[T]], %c1
// CHECK:         %[[ROW:.*]] = tensor.extract_slice %[[H]][%[[LAST]], 0] [1, 8] [1, 1] : tensor<?x8xf32> to tensor<1x8xf32>
// CHECK:         tensor.cast %[[ROW]] : tensor<1x8xf32> to tensor<?x8xf32>

// CHECK-LABEL: func.func @greedy(
// CHECK-SAME:    %[[P:.*]]: tensor<?xi32>, %[[W:.*]]: tensor<16x8xf32>)
// CHECK:         %[[LEN:.*]] = tensor.dim %[[P]]
// CHECK:         cf.assert %{{.*}}, "tok.generate: the prompt is empty"
// CHECK:         %[[POS:.*]] = linalg.generic
// CHECK:           linalg.index 0
// CHECK:         %[[PRE:.*]]:5 = call @step_last_row(%[[P]], %[[POS]], %[[W]],
// CHECK:         tensor.extract_slice %[[PRE]]#0[%{{.*}}, 0] [1, 16]
// CHECK:         %[[OUT:.*]] = tensor.empty() : tensor<6xi32>
// CHECK:         %[[LOOP:.*]]:7 = scf.while (%[[I:.*]] = %{{.*}}, %[[T:.*]] = %{{.*}}, %[[BUF:.*]] = %[[OUT]], %{{.*}} = %[[PRE]]#1, %{{.*}} = %[[PRE]]#2, %{{.*}} = %[[PRE]]#3, %{{.*}} = %[[PRE]]#4)
// CHECK:           %[[STORED:.*]] = tensor.insert %[[T]] into %[[BUF]][%[[I]]]
// CHECK:           %[[I64:.*]] = arith.index_cast %[[I]] : index to i64
// CHECK:           func.call @emit(%[[T]], %[[I64]])
// CHECK:           %[[NEXT:.*]] = arith.addi %[[I]], %[[ONE:.*]] :
// CHECK:           %[[MORE:.*]] = arith.cmpi slt, %[[NEXT]], %{{.*}}
// Either eos token (3, 5) stops:
// CHECK:           %[[EOS3:.*]] = arith.cmpi eq, %[[T]], %c3_i32
// CHECK:           %[[EOS5:.*]] = arith.cmpi eq, %[[T]], %c5_i32
// CHECK:           %[[ISEOS:.*]] = arith.ori %[[EOS3]], %[[EOS5]]
// CHECK:           %[[NOTEOS:.*]] = arith.xori %[[ISEOS]], %{{.*}}
// CHECK:           %[[GO:.*]] = arith.andi %[[MORE]], %[[NOTEOS]]
// CHECK:           scf.condition(%[[GO]]) %[[NEXT]], %[[T]], %[[STORED]],
// CHECK:         } do {
// CHECK:         ^bb0(%[[J:.*]]: index, %[[U:.*]]: i32, %[[B:.*]]: tensor<6xi32>, %[[K:.*]]: tensor<1x32x8xf32>, %[[V:.*]]: tensor<1x32x8xf32>, %[[SP:.*]]: tensor<1x32xi32>, %[[N:.*]]: index):
// CHECK:           %[[SUM:.*]] = arith.addi %[[LEN]], %[[J]]
// CHECK:           %[[AT:.*]] = arith.subi %[[SUM]], %[[ONE]]
// CHECK:           %[[STEP:.*]]:5 = func.call @step(%{{.*}}, %{{.*}}, %[[W]], %[[K]], %[[V]], %[[SP]], %[[N]])
// CHECK:           scf.yield %[[J]], %{{.*}}, %[[B]], %[[STEP]]#1, %[[STEP]]#2, %[[STEP]]#3, %[[STEP]]#4
// CHECK:         tensor.extract_slice %[[LOOP]]#2[0] [%[[LOOP]]#0] [1] : tensor<6xi32> to tensor<?xi32>
func.func @greedy(%p: tensor<?xi32>, %w: tensor<16x8xf32>) -> tensor<?xi32> {
  %c = tok.kv.empty : !tok.kv_cache<1x32x8xf32>
  %o = tok.generate @step(%p) params(%w : tensor<16x8xf32>) caches(%c : !tok.kv_cache<1x32x8xf32>) {max_new_tokens = 6, sampler = #tok.sampler<>, eos = array<i64: 3, 5>, on_token = @emit} : tensor<?xi32> -> tensor<?xi32>
  return %o : tensor<?xi32>
}

// A stochastic sampler draws with the generated-token index as counter:
// 0 after the prompt, i in the loop.
// CHECK-LABEL: func.func @sampled(
// CHECK:         arith.index_cast %{{.*}} : index to i64
// CHECK:         scf.while
// CHECK:         } do {
// CHECK:         ^bb0(%[[J:.*]]: index,
// CHECK:           arith.index_cast %[[J]] : index to i64
// CHECK-NOT:     func.call @emit
func.func @sampled(%p: tensor<4xi32>, %w: tensor<16x8xf32>) -> tensor<?xi32> {
  %c = tok.kv.empty : !tok.kv_cache<1x32x8xf32>
  %o = tok.generate @step(%p) params(%w : tensor<16x8xf32>) caches(%c : !tok.kv_cache<1x32x8xf32>) {max_new_tokens = 6, sampler = #tok.sampler<temperature = 0.7, top_k = 4, seed = 9>} : tensor<4xi32> -> tensor<?xi32>
  return %o : tensor<?xi32>
}

// With prefill_chunk the prompt goes through the step 3 tokens at a time:
// an scf.for over chunks slices tokens and positions, carries the caches
// and the last row of logits, and the first token is sampled from it.
// CHECK-LABEL: func.func @chunked(
// CHECK-SAME:    %[[P:.*]]: tensor<?xi32>, %[[W:.*]]: tensor<16x8xf32>)
// CHECK:         %[[LEN:.*]] = tensor.dim %[[P]]
// CHECK:         %[[CH:.*]]:5 = scf.for %[[S:.*]] = %{{.*}} to %[[LEN]] step %c3 iter_args(%{{.*}} = %{{.*}}, %[[K:.*]] = %{{.*}}, %[[V:.*]] = %{{.*}}, %[[SP:.*]] = %{{.*}}, %[[N:.*]] = %{{.*}}) -> (tensor<1x16xf32>,
// CHECK:           %[[IDS:.*]] = tensor.extract_slice %[[P]][%[[S]]] [%[[L:.*]]] [1]
// CHECK:           %[[POS:.*]] = tensor.extract_slice %{{.*}}[%[[S]]] [%[[L]]] [1]
// CHECK:           %[[C:.*]]:5 = func.call @step_last_row(%[[IDS]], %[[POS]], %[[W]], %[[K]], %[[V]], %[[SP]], %[[N]])
// CHECK:           %[[ROW:.*]] = tensor.extract_slice %[[C]]#0[%{{.*}}, 0] [1, 16] [1, 1]
// CHECK:           %[[INTO:.*]] = linalg.copy ins(%[[ROW]] : tensor<1x16xf32>)
// CHECK:           scf.yield %[[INTO]], %[[C]]#1, %[[C]]#2, %[[C]]#3, %[[C]]#4
// CHECK:         tensor.extract_slice %[[CH]]#0[%{{.*}}, 0] [1, 16]
// CHECK:         scf.while ({{.*}}%[[CH]]#1, %{{.*}} = %[[CH]]#2, %{{.*}} = %[[CH]]#3, %{{.*}} = %[[CH]]#4)
func.func @chunked(%p: tensor<?xi32>, %w: tensor<16x8xf32>) -> tensor<?xi32> {
  %c = tok.kv.empty : !tok.kv_cache<1x32x8xf32>
  %o = tok.generate @step(%p) params(%w : tensor<16x8xf32>) caches(%c : !tok.kv_cache<1x32x8xf32>) {max_new_tokens = 6, sampler = #tok.sampler<>, prefill_chunk = 3} : tensor<?xi32> -> tensor<?xi32>
  return %o : tensor<?xi32>
}

// CHECK-NOT:     func.func private @step_last_row
