// RUN: tok-opt %s | tok-opt | FileCheck %s
// RUN: tok-opt %s --mlir-print-op-generic | tok-opt | FileCheck %s
// RUN: tok-opt %s --verify-roundtrip | FileCheck %s

//===----------------------------------------------------------------------===//
// Types and attributes
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @kv_cache_types
// CHECK-SAME: !tok.kv_cache<4x1024x32xf32>
// CHECK-SAME: !tok.kv_cache<4x256x32xf32, scores>
// CHECK-SAME: !tok.kv_cache<8x4096x128xbf16, quant = #tok.kv_quant<bits = 4>>
// CHECK-SAME: !tok.kv_cache<2x64x16xf16, scores, quant = #tok.kv_quant<bits = 8, group = 16, residual = 32>>
// CHECK-SAME: !tok.kv_cache<8x4096x128xf32, scores, pages = 16>
func.func @kv_cache_types(%a: !tok.kv_cache<4x1024x32xf32>,
                          %b: !tok.kv_cache<4x256x32xf32, scores>,
                          %c: !tok.kv_cache<8x4096x128xbf16, quant = #tok.kv_quant<bits = 4, group = 32, residual = 128>>,
                          %d: !tok.kv_cache<2x64x16xf16, scores, quant = #tok.kv_quant<bits = 8, group = 16, residual = 32>>,
                          %e: !tok.kv_cache<8x4096x128xf32, pages = 16, scores>) {
  return
}

// Query-aware selection: a decode row reads its top pages.
// CHECK-LABEL: func.func @select
// CHECK: tok.cached_attention %{{.*}} {mask = #tok.mask<causal>, select_budget = 512 : i64}
func.func @select(%q: tensor<32x1x128xf32>, %c: !tok.kv_cache<8x4096x128xf32, pages = 16>, %p: tensor<1xi32>) -> tensor<32x1x128xf32> {
  %o = tok.cached_attention %q, %c, %p {mask = #tok.mask<causal>, select_budget = 512} : tensor<32x1x128xf32>, !tok.kv_cache<8x4096x128xf32, pages = 16>, tensor<1xi32> -> tensor<32x1x128xf32>
  return %o : tensor<32x1x128xf32>
}

// CHECK-LABEL: func.func @attributes
// CHECK: drafter = #tok.drafter<ngram, k = 4>
// CHECK-SAME: drafter2 = #tok.drafter<model, k = 4, step = @draft_step, confidence = 4.000000e-01>
// CHECK-SAME: drafter3 = #tok.drafter<layer_skip, k = 3, step = @step, skip = [2, 3, 4]>
// CHECK-SAME: drafter4 = #tok.drafter<ngram, k = 5, branch = 2, n_max = 4, n_min = 2>
// CHECK-SAME: drafter5 = #tok.drafter<ngram, k = 6, match = earliest>
// CHECK-SAME: evict = #tok.evict<window, budget = 256, sinks = 4, recent = 252>
// CHECK-SAME: evict2 = #tok.evict<h2o, budget = 256, recent = 128>
// CHECK-SAME: evict3 = #tok.evict<a2sf, budget = 256, recent = 64, decay = 9.000000e-01>
// CHECK-SAME: evict4 = #tok.evict<snapkv, budget = 512, observe = 32, pool = 7>
// CHECK-SAME: evict5 = #tok.evict<tova, budget = 128>
// CHECK-SAME: mask = #tok.mask<causal>
// CHECK-SAME: mask2 = #tok.mask<causal, window = 1024, sinks = 4>
// CHECK-SAME: mask3 = #tok.mask<full, block_diagonal = true>
// CHECK-SAME: method = #tok.merge_method<pitome>
// CHECK-SAME: sampler = #tok.sampler<>
// CHECK-SAME: sampler2 = #tok.sampler<temperature = 8.000000e-01, top_k = 40, top_p = 0.94999999999999996, seed = 7>
// CHECK-SAME: scores = #tok.scores<>
// CHECK-SAME: scores2 = #tok.scores<rows = 32>
// CHECK-SAME: scores3 = #tok.scores<decay = 9.000000e-01>
// CHECK-SAME: style = #tok.rope_style<interleaved>
func.func @attributes() attributes {
    mask = #tok.mask<causal>,
    mask2 = #tok.mask<causal, window = 1024, sinks = 4>,
    mask3 = #tok.mask<full, block_diagonal = true>,
    scores = #tok.scores<>,
    scores2 = #tok.scores<rows = 32>,
    scores3 = #tok.scores<decay = 0.9>,
    evict = #tok.evict<window, budget = 256, sinks = 4, recent = 252>,
    evict2 = #tok.evict<h2o, budget = 256, recent = 128>,
    evict3 = #tok.evict<a2sf, budget = 256, recent = 64, decay = 0.9>,
    evict4 = #tok.evict<snapkv, budget = 512, observe = 32, pool = 7>,
    evict5 = #tok.evict<tova, budget = 128>,
    sampler = #tok.sampler<>,
    sampler2 = #tok.sampler<temperature = 0.8, top_k = 40, top_p = 0.95, seed = 7>,
    drafter = #tok.drafter<ngram, k = 4>,
    drafter2 = #tok.drafter<model, k = 4, step = @draft_step, confidence = 0.4>,
    drafter3 = #tok.drafter<layer_skip, k = 3, step = @step, skip = [2, 3, 4]>,
    drafter4 = #tok.drafter<ngram, k = 5, branch = 2, n_max = 4, n_min = 2>,
    drafter5 = #tok.drafter<ngram, k = 6, match = earliest>,
    style = #tok.rope_style<interleaved>,
    method = #tok.merge_method<pitome>} {
  return
}

//===----------------------------------------------------------------------===//
// Model building blocks
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @model_ops
// CHECK-SAME: (%[[TABLE:.*]]: tensor<256x288xf32>, %[[IDS:.*]]: tensor<?xi32>, %[[W:.*]]: tensor<288xf32>, %[[POS:.*]]: tensor<?xi32>, %[[WQ:.*]]: tensor<768x288xf32>, %[[B:.*]]: tensor<768xf32>, %[[Q:.*]]: tensor<8x?x32xf32>)
func.func @model_ops(%table: tensor<256x288xf32>, %ids: tensor<?xi32>,
                     %w: tensor<288xf32>, %pos: tensor<?xi32>,
                     %wq: tensor<768x288xf32>, %b: tensor<768xf32>,
                     %q: tensor<8x?x32xf32>) -> tensor<8x?x32xf32> {
  // CHECK: %[[H:.*]] = tok.embed %[[TABLE]][%[[IDS]]] : tensor<256x288xf32>, tensor<?xi32>
  %h = tok.embed %table[%ids] : tensor<256x288xf32>, tensor<?xi32>
  // CHECK: %[[N:.*]] = tok.rms_norm %[[H]], %[[W]] : tensor<?x288xf32>, tensor<288xf32>
  %n = tok.rms_norm %h, %w : tensor<?x288xf32>, tensor<288xf32>
  // CHECK: tok.layer_norm %[[H]], %[[W]], %[[W]] : tensor<?x288xf32>, tensor<288xf32>, tensor<288xf32>
  %ln = tok.layer_norm %h, %w, %w : tensor<?x288xf32>, tensor<288xf32>, tensor<288xf32>
  // CHECK: tok.rms_norm %[[H]], %[[W]] {epsilon = 9.99999997E-7 : f32}
  %n2 = tok.rms_norm %h, %w {epsilon = 1.0e-6 : f32} : tensor<?x288xf32>, tensor<288xf32>
  // CHECK: tok.linear %[[N]], %[[WQ]] : tensor<?x288xf32>, tensor<768x288xf32>
  %y = tok.linear %n, %wq : tensor<?x288xf32>, tensor<768x288xf32>
  // CHECK: tok.linear %[[N]], %[[WQ]], %[[B]] : tensor<?x288xf32>, tensor<768x288xf32>, tensor<768xf32>
  %z = tok.linear %n, %wq, %b : tensor<?x288xf32>, tensor<768x288xf32>, tensor<768xf32>
  // CHECK: %[[R:.*]] = tok.rope %[[Q]], %[[POS]] : tensor<8x?x32xf32>, tensor<?xi32>
  %r = tok.rope %q, %pos : tensor<8x?x32xf32>, tensor<?xi32>
  // CHECK: tok.rope %[[R]], %[[POS]] {scale = 2.000000e+00 : f32, style = #tok.rope_style<interleaved>, theta = 5.000000e+05 : f32}
  %r2 = tok.rope %r, %pos {theta = 500000.0 : f32, scale = 2.0 : f32, style = #tok.rope_style<interleaved>} : tensor<8x?x32xf32>, tensor<?xi32>
  return %r2 : tensor<8x?x32xf32>
}

//===----------------------------------------------------------------------===//
// Attention
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @attention
func.func @attention(%q: tensor<8x?x32xf32>, %k: tensor<4x?x32xf32>, %v: tensor<4x?x32xf32>,
                     %qp: tensor<?xi32>, %kp: tensor<?xi32>, %par: tensor<?xi32>,
                     %seg: tensor<?xi32>, %sz: tensor<?xf32>) {
  // CHECK: tok.attention %{{.*}}, %{{.*}}, %{{.*}} {mask = #tok.mask<causal>} : tensor<8x?x32xf32>, tensor<4x?x32xf32>, tensor<4x?x32xf32> -> tensor<8x?x32xf32>
  %o = tok.attention %q, %k, %v {mask = #tok.mask<causal>}
      : tensor<8x?x32xf32>, tensor<4x?x32xf32>, tensor<4x?x32xf32> -> tensor<8x?x32xf32>
  // CHECK: tok.attention {{.*}} positions(%{{.*}}, %{{.*}} : tensor<?xi32>, tensor<?xi32>) {mask = #tok.mask<causal, window = 128, sinks = 4>, scale = 1.250000e-01 : f32}
  %o1 = tok.attention %q, %k, %v positions(%qp, %kp : tensor<?xi32>, tensor<?xi32>)
      {mask = #tok.mask<causal, window = 128, sinks = 4>, scale = 0.125 : f32}
      : tensor<8x?x32xf32>, tensor<4x?x32xf32>, tensor<4x?x32xf32> -> tensor<8x?x32xf32>
  // CHECK: tok.attention {{.*}} tree(%{{.*}} : tensor<?xi32>) {mask = #tok.mask<causal>}
  %o2 = tok.attention %q, %k, %v tree(%par : tensor<?xi32>) {mask = #tok.mask<causal>}
      : tensor<8x?x32xf32>, tensor<4x?x32xf32>, tensor<4x?x32xf32> -> tensor<8x?x32xf32>
  // CHECK: tok.attention {{.*}} segments(%{{.*}}, %{{.*}} : tensor<?xi32>, tensor<?xi32>) {mask = #tok.mask<causal, block_diagonal = true>}
  %o3 = tok.attention %q, %k, %v segments(%seg, %seg : tensor<?xi32>, tensor<?xi32>)
      {mask = #tok.mask<causal, block_diagonal = true>}
      : tensor<8x?x32xf32>, tensor<4x?x32xf32>, tensor<4x?x32xf32> -> tensor<8x?x32xf32>
  // CHECK: {{.*}} = tok.attention {{.*}} sizes(%{{.*}} : tensor<?xf32>) {mask = #tok.mask<full>, scores = #tok.scores<rows = 4>} : {{.*}} -> tensor<8x?x32xf32>, tensor<4x?xf32>
  %o4, %s4 = tok.attention %q, %k, %v sizes(%sz : tensor<?xf32>)
      {mask = #tok.mask<full>, scores = #tok.scores<rows = 4>}
      : tensor<8x?x32xf32>, tensor<4x?x32xf32>, tensor<4x?x32xf32> -> tensor<8x?x32xf32>, tensor<4x?xf32>
  return
}

// CHECK-LABEL: func.func @cached_attention
func.func @cached_attention(%q: tensor<8x?x32xf32>, %c: !tok.kv_cache<4x256x32xf32, scores>,
                            %pos: tensor<?xi32>, %par: tensor<?xi32>) {
  // CHECK: tok.cached_attention %{{.*}}, %{{.*}}, %{{.*}} {mask = #tok.mask<causal>} : tensor<8x?x32xf32>, !tok.kv_cache<4x256x32xf32, scores>, tensor<?xi32> -> tensor<8x?x32xf32>
  %o = tok.cached_attention %q, %c, %pos {mask = #tok.mask<causal>}
      : tensor<8x?x32xf32>, !tok.kv_cache<4x256x32xf32, scores>, tensor<?xi32> -> tensor<8x?x32xf32>
  // CHECK: {{.*}} = tok.cached_attention {{.*}} tree(%{{.*}} : tensor<?xi32>) {mask = #tok.mask<causal>, scores = #tok.scores<decay = 5.000000e-01>} : {{.*}} -> tensor<8x?x32xf32>, tensor<4x256xf32>
  %o2, %s = tok.cached_attention %q, %c, %pos tree(%par : tensor<?xi32>)
      {mask = #tok.mask<causal>, scores = #tok.scores<decay = 0.5>}
      : tensor<8x?x32xf32>, !tok.kv_cache<4x256x32xf32, scores>, tensor<?xi32> -> tensor<8x?x32xf32>, tensor<4x256xf32>
  return
}

//===----------------------------------------------------------------------===//
// KV cache
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @kv_cache_ops
func.func @kv_cache_ops(%k: tensor<4x?x32xf32>, %v: tensor<4x?x32xf32>, %pos: tensor<?xi32>,
                        %s: tensor<4x256xf32>, %n: index, %base: index, %path: tensor<?xi32>)
    -> (index, !tok.kv_cache<4x256x32xf32, scores, quant = #tok.kv_quant<bits = 4>>) {
  // CHECK: %[[C0:.*]] = tok.kv.empty : !tok.kv_cache<4x256x32xf32, scores>
  %c0 = tok.kv.empty : !tok.kv_cache<4x256x32xf32, scores>
  // CHECK: %[[C1:.*]] = tok.kv.append %[[C0]], %{{.*}}, %{{.*}}, %{{.*}} : !tok.kv_cache<4x256x32xf32, scores>, tensor<4x?x32xf32>, tensor<4x?x32xf32>, tensor<?xi32>
  %c1 = tok.kv.append %c0, %k, %v, %pos
      : !tok.kv_cache<4x256x32xf32, scores>, tensor<4x?x32xf32>, tensor<4x?x32xf32>, tensor<?xi32>
  // CHECK: %[[C2:.*]] = tok.kv.evict %[[C1]] scores(%{{.*}} : tensor<4x256xf32>) {policy = #tok.evict<h2o, budget = 200, recent = 100>} : !tok.kv_cache<4x256x32xf32, scores>
  %c2 = tok.kv.evict %c1 scores(%s : tensor<4x256xf32>) {policy = #tok.evict<h2o, budget = 200, recent = 100>}
      : !tok.kv_cache<4x256x32xf32, scores>
  // CHECK: %[[C3:.*]] = tok.kv.evict %[[C2]] {policy = #tok.evict<window, budget = 128, sinks = 4, recent = 124>} : !tok.kv_cache<4x256x32xf32, scores>
  %c3 = tok.kv.evict %c2 {policy = #tok.evict<window, budget = 128, sinks = 4, recent = 124>}
      : !tok.kv_cache<4x256x32xf32, scores>
  // CHECK: %[[C4:.*]] = tok.kv.truncate %[[C3]], %{{.*}} : !tok.kv_cache<4x256x32xf32, scores>
  %c4 = tok.kv.truncate %c3, %n : !tok.kv_cache<4x256x32xf32, scores>
  // CHECK: %[[C5:.*]] = tok.kv.commit %[[C4]], %{{.*}}, %{{.*}} : !tok.kv_cache<4x256x32xf32, scores>, tensor<?xi32>
  %c5 = tok.kv.commit %c4, %base, %path : !tok.kv_cache<4x256x32xf32, scores>, tensor<?xi32>
  // CHECK: %[[LEN:.*]] = tok.kv.length %[[C5]] : !tok.kv_cache<4x256x32xf32, scores>
  %len = tok.kv.length %c5 : !tok.kv_cache<4x256x32xf32, scores>
  // CHECK: %[[Q:.*]] = tok.kv.quantize %[[C5]] : !tok.kv_cache<4x256x32xf32, scores> -> !tok.kv_cache<4x256x32xf32, scores, quant = #tok.kv_quant<bits = 4>>
  %q = tok.kv.quantize %c5 : !tok.kv_cache<4x256x32xf32, scores>
      -> !tok.kv_cache<4x256x32xf32, scores, quant = #tok.kv_quant<bits = 4>>
  return %len, %q : index, !tok.kv_cache<4x256x32xf32, scores, quant = #tok.kv_quant<bits = 4>>
}

//===----------------------------------------------------------------------===//
// Tokens
//===----------------------------------------------------------------------===//

// CHECK-LABEL: func.func @token_ops
func.func @token_ops(%x: tensor<197x384xf32>, %m: tensor<197x64xf32>, %sz: tensor<197xf32>,
                     %s: tensor<197xf32>, %idx: tensor<?xi32>) {
  // CHECK: {{.*}} = tok.merge %{{.*}}, %{{.*}} {protect_first = 1 : i64, r = 16 : i64} : tensor<197x384xf32>, tensor<197x64xf32> -> tensor<181x384xf32>, tensor<181xf32>, tensor<197xi32>
  %y, %ysz, %map = tok.merge %x, %m {r = 16, protect_first = 1}
      : tensor<197x384xf32>, tensor<197x64xf32> -> tensor<181x384xf32>, tensor<181xf32>, tensor<197xi32>
  // CHECK: tok.merge %{{.*}}, %{{.*}} sizes(%{{.*}} : tensor<197xf32>) {method = #tok.merge_method<pitome>, r = 100 : i64}
  // CHECK-SAME: -> tensor<99x384xf32>, tensor<99xf32>, tensor<197xi32>
  %y2, %ysz2, %map2 = tok.merge %x, %m sizes(%sz : tensor<197xf32>) {r = 100, method = #tok.merge_method<pitome>}
      : tensor<197x384xf32>, tensor<197x64xf32> -> tensor<99x384xf32>, tensor<99xf32>, tensor<197xi32>
  // CHECK: tok.unmerge %{{.*}}, %{{.*}} : tensor<181x384xf32>, tensor<197xi32>
  %u = tok.unmerge %y, %map : tensor<181x384xf32>, tensor<197xi32>
  // CHECK: {{.*}} = tok.prune %{{.*}}, %{{.*}} {keep = 5.000000e-01 : f32, protect_first = 1 : i64} : tensor<197x384xf32>, tensor<197xf32> -> tensor<99x384xf32>, tensor<99xi32>
  %kept, %ki = tok.prune %x, %s {keep = 0.5 : f32, protect_first = 1}
      : tensor<197x384xf32>, tensor<197xf32> -> tensor<99x384xf32>, tensor<99xi32>
  // CHECK: %[[G:.*]] = tok.gather %{{.*}}[%{{.*}}] : tensor<197x384xf32>, tensor<?xi32>
  %g = tok.gather %x[%idx] : tensor<197x384xf32>, tensor<?xi32>
  // CHECK: tok.gather %{{.*}}[%{{.*}}] {dim = 1 : i64} : tensor<197x384xf32>, tensor<?xi32>
  %g1 = tok.gather %x[%idx] {dim = 1} : tensor<197x384xf32>, tensor<?xi32>
  // CHECK: tok.scatter %[[G]] into %{{.*}}[%{{.*}}] : tensor<?x384xf32> into tensor<197x384xf32>, tensor<?xi32>
  %sc = tok.scatter %g into %x[%idx] : tensor<?x384xf32> into tensor<197x384xf32>, tensor<?xi32>
  return
}

//===----------------------------------------------------------------------===//
// Decoding
//===----------------------------------------------------------------------===//

func.func private @step(tensor<?xi32>, tensor<?xi32>, !tok.kv_cache<4x512x32xf32>, !tok.kv_cache<4x512x32xf32>)
    -> (tensor<?x256xf32>, !tok.kv_cache<4x512x32xf32>, !tok.kv_cache<4x512x32xf32>)
func.func private @draft_step(tensor<?xi32>, tensor<?xi32>, !tok.kv_cache<2x512x32xf32>)
    -> (tensor<?x256xf32>, !tok.kv_cache<2x512x32xf32>)
func.func private @weighted_step(tensor<?xi32>, tensor<?xi32>, tensor<256x64xf32>, !tok.kv_cache<2x512x32xf32>)
    -> (tensor<?x256xf32>, !tok.kv_cache<2x512x32xf32>)
func.func private @print_token(i32, i64)

// CHECK-LABEL: func.func @generate_with_params
func.func @generate_with_params(%prompt: tensor<?xi32>, %w: tensor<256x64xf32>) -> tensor<?xi32> {
  %c = tok.kv.empty : !tok.kv_cache<2x512x32xf32>
  // CHECK: tok.generate @weighted_step(%{{.*}}) params(%{{.*}} : tensor<256x64xf32>) caches(%{{.*}} : !tok.kv_cache<2x512x32xf32>) {max_new_tokens = 4 : i64, on_token = @print_token, sampler = #tok.sampler<temperature = 1.000000e+00, seed = 3>} : tensor<?xi32> -> tensor<?xi32>
  %out = tok.generate @weighted_step(%prompt) params(%w : tensor<256x64xf32>) caches(%c : !tok.kv_cache<2x512x32xf32>)
      {max_new_tokens = 4, sampler = #tok.sampler<temperature = 1.0, seed = 3>, on_token = @print_token} : tensor<?xi32> -> tensor<?xi32>
  return %out : tensor<?xi32>
}

// A separate draft model's weights travel with the op as draft_params.
// CHECK-LABEL: func.func @generate_with_draft_params
func.func @generate_with_draft_params(%prompt: tensor<?xi32>, %w: tensor<256x64xf32>, %dw: tensor<256x16xf32>) -> tensor<?xi32> {
  %c = tok.kv.empty : !tok.kv_cache<2x512x32xf32>
  // CHECK: tok.generate @weighted_step(%{{.*}}) params(%{{.*}} : tensor<256x64xf32>) caches(%{{.*}} : !tok.kv_cache<2x512x32xf32>) draft_params(%{{.*}} : tensor<256x16xf32>) {max_new_tokens = 4 : i64, sampler = #tok.sampler<>} : tensor<?xi32> -> tensor<?xi32>
  %out = tok.generate @weighted_step(%prompt) params(%w : tensor<256x64xf32>) caches(%c : !tok.kv_cache<2x512x32xf32>)
      draft_params(%dw : tensor<256x16xf32>) {max_new_tokens = 4, sampler = #tok.sampler<>} : tensor<?xi32> -> tensor<?xi32>
  return %out : tensor<?xi32>
}

// CHECK-LABEL: func.func @decoding_ops
func.func @decoding_ops(%prompt: tensor<?xi32>, %logits: tensor<1x256xf32>, %n: i64,
                        %vlogits: tensor<5x256xf32>, %dc: !tok.kv_cache<2x512x32xf32>) {
  // CHECK: tok.sample %{{.*}} {sampler = #tok.sampler<>} : tensor<1x256xf32>
  %t = tok.sample %logits {sampler = #tok.sampler<>} : tensor<1x256xf32>
  // CHECK: tok.sample %{{.*}} counter(%{{.*}} : i64) {sampler = #tok.sampler<temperature = 8.000000e-01, top_p = 9.000000e-01>} : tensor<1x256xf32>
  %u = tok.sample %logits counter(%n : i64) {sampler = #tok.sampler<temperature = 0.8, top_p = 0.9>} : tensor<1x256xf32>
  %c0 = tok.kv.empty : !tok.kv_cache<4x512x32xf32>
  %c1 = tok.kv.empty : !tok.kv_cache<4x512x32xf32>
  // CHECK: tok.generate @step(%{{.*}}) caches(%{{.*}}, %{{.*}} : !tok.kv_cache<4x512x32xf32>, !tok.kv_cache<4x512x32xf32>) {eos = array<i64: 10, 11>, max_new_tokens = 128 : i64, sampler = #tok.sampler<>} : tensor<?xi32> -> tensor<?xi32>
  %out = tok.generate @step(%prompt) caches(%c0, %c1 : !tok.kv_cache<4x512x32xf32>, !tok.kv_cache<4x512x32xf32>)
      {max_new_tokens = 128, sampler = #tok.sampler<>, eos = array<i64: 10, 11>} : tensor<?xi32> -> tensor<?xi32>
  // CHECK: {{.*}} = tok.draft %{{.*}} {drafter = #tok.drafter<ngram, k = 4>} : tensor<?xi32> -> tensor<?xi32>, tensor<?xi32>, tensor<?xf32>
  %d, %p, %q = tok.draft %out {drafter = #tok.drafter<ngram, k = 4>}
      : tensor<?xi32> -> tensor<?xi32>, tensor<?xi32>, tensor<?xf32>
  // CHECK: tok.draft %{{.*}} limit %{{.*}} {drafter = #tok.drafter<ngram, k = 4, match = earliest>} : tensor<?xi32> -> tensor<?xi32>, tensor<?xi32>, tensor<?xf32>
  %lim = arith.constant 2 : index
  %ld, %lp, %lq = tok.draft %out limit %lim {drafter = #tok.drafter<ngram, k = 4, match = earliest>}
      : tensor<?xi32> -> tensor<?xi32>, tensor<?xi32>, tensor<?xf32>
  // CHECK: tok.draft %{{.*}} caches(%{{.*}} : !tok.kv_cache<2x512x32xf32>) {drafter = #tok.drafter<model, k = 4, step = @draft_step>} : tensor<?xi32> -> tensor<4xi32>, tensor<4xi32>, tensor<4xf32>, !tok.kv_cache<2x512x32xf32>
  %md, %mp, %mq, %dc2 = tok.draft %out caches(%dc : !tok.kv_cache<2x512x32xf32>)
      {drafter = #tok.drafter<model, k = 4, step = @draft_step>}
      : tensor<?xi32> -> tensor<4xi32>, tensor<4xi32>, tensor<4xf32>, !tok.kv_cache<2x512x32xf32>
  // CHECK: {{.*}} = tok.verify %{{.*}}, %{{.*}}, %{{.*}} {sampler = #tok.sampler<>} : tensor<5x256xf32>, tensor<4xi32>, tensor<4xi32> -> tensor<?xi32>, tensor<i32>
  %path, %next = tok.verify %vlogits, %md, %mp {sampler = #tok.sampler<>}
      : tensor<5x256xf32>, tensor<4xi32>, tensor<4xi32> -> tensor<?xi32>, tensor<i32>
  // CHECK: tok.verify {{.*}} draft_probs(%{{.*}} : tensor<4x256xf32>) counter(%{{.*}} : i64) {sampler = #tok.sampler<temperature = 1.000000e+00>}
  %qd = arith.constant dense<0.00390625> : tensor<4x256xf32>
  %path2, %next2 = tok.verify %vlogits, %md, %mp draft_probs(%qd : tensor<4x256xf32>) counter(%n : i64)
      {sampler = #tok.sampler<temperature = 1.0>}
      : tensor<5x256xf32>, tensor<4xi32>, tensor<4xi32> -> tensor<?xi32>, tensor<i32>
  // CHECK: tok.accept %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : tensor<?xi32>, tensor<4xi32>, tensor<?xi32>, tensor<i32>
  %acc = tok.accept %out, %md, %path, %next : tensor<?xi32>, tensor<4xi32>, tensor<?xi32>, tensor<i32>
  return
}

// keep = 0.1 is stored as f32 (0.100000001...): of 10 tokens it keeps 1,
// not 2. (Drafters whose tree sizes would overflow are refused by the
// attribute's bounds: invalid-attrs.mlir.)
// CHECK-LABEL: func.func @edge_counts
func.func @edge_counts(%x: tensor<10x16xf32>, %s: tensor<10xf32>, %out: tensor<?xi32>) {
  // CHECK: tok.prune {{.*}} -> tensor<1x16xf32>, tensor<1xi32>
  %kept, %ki = tok.prune %x, %s {keep = 0.1 : f32}
      : tensor<10x16xf32>, tensor<10xf32> -> tensor<1x16xf32>, tensor<1xi32>
  return
}

// A bf16 weight (a checkpoint's, used in place) with f32 activations.
// CHECK-LABEL: func.func @mixed_linear
// CHECK: tok.linear %{{.*}}, %{{.*}} : tensor<?x288xf32>, tensor<768x288xbf16>
func.func @mixed_linear(%x: tensor<?x288xf32>, %w: tensor<768x288xbf16>) -> tensor<?x768xf32> {
  %y = tok.linear %x, %w : tensor<?x288xf32>, tensor<768x288xbf16>
  return %y : tensor<?x768xf32>
}

// A batch step's paged KV memory: a pool, a write of the step's tokens into
// their slots, attention of packed rows through page tables.
// CHECK-LABEL: func.func @paged
// CHECK: %[[P0:.*]] = tok.kv_pool.empty : !tok.kv_pool<4x256x16x32xf32>
// CHECK: %[[P1:.*]] = tok.kv_pool.write %[[P0]], %{{.*}}, %{{.*}}, %{{.*}} : !tok.kv_pool<4x256x16x32xf32>, tensor<4x?x32xf32>, tensor<4x?x32xf32>, tensor<?xi32>
// CHECK: tok.paged_attention %{{.*}}, %[[P1]], %{{.*}}, %{{.*}}, %{{.*}} {mask = #tok.mask<causal, window = 64>, softcap = 5.000000e+01 : f32} : tensor<8x?x32xf32>, !tok.kv_pool<4x256x16x32xf32>, tensor<?x64xi32>, tensor<?xi32>, tensor<?xi32> -> tensor<8x?x32xf32>
func.func @paged(%q: tensor<8x?x32xf32>, %k: tensor<4x?x32xf32>, %v: tensor<4x?x32xf32>,
                 %slots: tensor<?xi32>, %tables: tensor<?x64xi32>, %seqs: tensor<?xi32>,
                 %pos: tensor<?xi32>) -> tensor<8x?x32xf32> {
  %p0 = tok.kv_pool.empty : !tok.kv_pool<4x256x16x32xf32>
  %p1 = tok.kv_pool.write %p0, %k, %v, %slots
      : !tok.kv_pool<4x256x16x32xf32>, tensor<4x?x32xf32>, tensor<4x?x32xf32>, tensor<?xi32>
  %o = tok.paged_attention %q, %p1, %tables, %seqs, %pos {mask = #tok.mask<causal, window = 64>, softcap = 50.0 : f32}
      : tensor<8x?x32xf32>, !tok.kv_pool<4x256x16x32xf32>, tensor<?x64xi32>, tensor<?xi32>, tensor<?xi32> -> tensor<8x?x32xf32>
  return %o : tensor<8x?x32xf32>
}

// A batch step's pools come from the caller's tensors and go back to them.
// CHECK-LABEL: func.func @pool_tensors
// CHECK: %[[P:.*]] = tok.kv_pool.from_tensors %{{.*}}, %{{.*}} : tensor<2x64x16xf32>, tensor<2x64x16xf32> -> !tok.kv_pool<2x4x16x16xf32>
// CHECK: tok.kv_pool.to_tensors %[[P]] : !tok.kv_pool<2x4x16x16xf32> -> tensor<2x64x16xf32>, tensor<2x64x16xf32>
func.func @pool_tensors(%k: tensor<2x64x16xf32>, %v: tensor<2x64x16xf32>) -> (tensor<2x64x16xf32>, tensor<2x64x16xf32>) {
  %p = tok.kv_pool.from_tensors %k, %v : tensor<2x64x16xf32>, tensor<2x64x16xf32> -> !tok.kv_pool<2x4x16x16xf32>
  %k2, %v2 = tok.kv_pool.to_tensors %p : !tok.kv_pool<2x4x16x16xf32> -> tensor<2x64x16xf32>, tensor<2x64x16xf32>
  return %k2, %v2 : tensor<2x64x16xf32>, tensor<2x64x16xf32>
}
