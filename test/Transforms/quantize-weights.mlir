// RUN: tok-opt %s --tok-quantize-weights --split-input-file | FileCheck %s
// RUN: tok-opt %s --tok-quantize-weights="scheme=q4_0 embedding=none head=q8_0" --split-input-file | FileCheck %s --check-prefix=MIXED
// RUN: tok-opt %s --tok-quantize-weights="scheme=i8_channel head=none" --split-input-file | FileCheck %s --check-prefix=CHANNEL
// RUN: not tok-opt %s --tok-quantize-weights="scheme=q5_k" --split-input-file 2>&1 | FileCheck %s --check-prefix=BAD
// RUN: tok-opt %s --tok-quantize-weights="scheme=q4_k" --split-input-file | FileCheck %s --check-prefix=KQUANT

// BAD: tok-quantize-weights: scheme must be q8_0, q4_0, q4_k, q6_k, i8_channel or none, got 'q5_k'

// q4_k's super-blocks are 256 weights: rows of 64 are not whole blocks and
// every weight here stays as it is.
// KQUANT-LABEL: func.func private @layer(
// KQUANT-SAME:    %{{.*}}: tensor<64x64xf32>, %{{.*}}: tensor<64x48xf32>
// KQUANT-NOT:   #tok.quant

// A decoder in the importer's shape: the entry passes the weights to
// tok.generate, the step embeds, calls the layer function per layer and
// applies the head. The types change along the whole path: @generate's
// arguments, @step's, the layer function's, the calls and tok.generate.
// The layers' weights get `scheme`, the embedding `embedding`, the head
// `head`; the norm (a vector) and a matrix whose rows are not a multiple of
// 32 (48) stay as they are.

// CHECK-LABEL: func.func private @layer(
// CHECK-SAME:    %{{.*}}: tensor<64x64xf32, #tok.quant<q8_0>>, %{{.*}}: tensor<64x48xf32>
// CHECK-LABEL: func.func private @step(
// CHECK-SAME:    tensor<100x64xf32, #tok.quant<q8_0>> {tok.weight = "embed"}
// CHECK-SAME:    tensor<64xf32> {tok.weight = "norm"}
// CHECK-SAME:    tensor<64x64xf32, #tok.quant<q8_0>> {tok.weight = "l0.w"}
// CHECK-SAME:    tensor<64x48xf32> {tok.weight = "l0.odd"}
// CHECK-SAME:    tensor<100x64xf32, #tok.quant<q8_0>> {tok.weight = "head"}
// CHECK:         call @layer({{.*}}) {tok.layer = 0 : i64} : (tensor<?x64xf32>, tensor<64x64xf32, #tok.quant<q8_0>>, tensor<64x48xf32>)
// CHECK:         call @layer({{.*}}) {tok.layer = 1 : i64} : (tensor<?x64xf32>, tensor<64x64xf32, #tok.quant<q8_0>>, tensor<64x48xf32>)
// CHECK-LABEL: func.func @generate(
// CHECK-SAME:    tensor<100x64xf32, #tok.quant<q8_0>> {tok.weight = "embed"}
// CHECK:         tok.generate @step({{.*}}) params({{.*}} : tensor<100x64xf32, #tok.quant<q8_0>>, tensor<64xf32>, tensor<64x64xf32, #tok.quant<q8_0>>, tensor<64x48xf32>, tensor<64x64xf32, #tok.quant<q8_0>>, tensor<64x48xf32>, tensor<100x64xf32, #tok.quant<q8_0>>)

// CHANNEL-LABEL: func.func private @layer(
// CHANNEL-SAME:    tensor<64x64xf32, #tok.quant<i8_channel>>, %{{.*}}: tensor<64x48xf32>
// CHANNEL-LABEL: func.func private @step(
// CHANNEL-SAME:    tensor<100x64xf32, #tok.quant<i8_channel>> {tok.weight = "embed"}
// CHANNEL-SAME:    tensor<100x64xf32> {tok.weight = "head"}

// MIXED-LABEL: func.func private @layer(
// MIXED-SAME:    tensor<64x64xf32, #tok.quant<q4_0>>
// MIXED-LABEL: func.func private @step(
// MIXED-SAME:    tensor<100x64xf32> {tok.weight = "embed"}
// MIXED-SAME:    tensor<100x64xf32, #tok.quant<q8_0>> {tok.weight = "head"}

func.func private @layer(%h: tensor<?x64xf32>, %w: tensor<64x64xf32>, %odd: tensor<64x48xf32>) -> tensor<?x64xf32> attributes {tok.layer} {
  %y = tok.linear %h, %w : tensor<?x64xf32>, tensor<64x64xf32>
  return %y : tensor<?x64xf32>
}

func.func private @step(%ids: tensor<?xi32>, %pos: tensor<?xi32>,
                        %embed: tensor<100x64xf32> {tok.weight = "embed"},
                        %norm: tensor<64xf32> {tok.weight = "norm"},
                        %w0: tensor<64x64xf32> {tok.weight = "l0.w"},
                        %o0: tensor<64x48xf32> {tok.weight = "l0.odd"},
                        %w1: tensor<64x64xf32> {tok.weight = "l1.w"},
                        %o1: tensor<64x48xf32> {tok.weight = "l1.odd"},
                        %head: tensor<100x64xf32> {tok.weight = "head"},
                        %c0: !tok.kv_cache<2x16x32xf32>)
    -> (tensor<?x100xf32>, !tok.kv_cache<2x16x32xf32>) {
  %x = tok.embed %embed[%ids] : tensor<100x64xf32>, tensor<?xi32>
  %h0 = call @layer(%x, %w0, %o0) {tok.layer = 0 : i64} : (tensor<?x64xf32>, tensor<64x64xf32>, tensor<64x48xf32>) -> tensor<?x64xf32>
  %h1 = call @layer(%h0, %w1, %o1) {tok.layer = 1 : i64} : (tensor<?x64xf32>, tensor<64x64xf32>, tensor<64x48xf32>) -> tensor<?x64xf32>
  %n = tok.rms_norm %h1, %norm : tensor<?x64xf32>, tensor<64xf32>
  %logits = tok.linear %n, %head : tensor<?x64xf32>, tensor<100x64xf32>
  return %logits, %c0 : tensor<?x100xf32>, !tok.kv_cache<2x16x32xf32>
}

func.func @generate(%prompt: tensor<?xi32>,
                    %embed: tensor<100x64xf32> {tok.weight = "embed"},
                    %norm: tensor<64xf32> {tok.weight = "norm"},
                    %w0: tensor<64x64xf32> {tok.weight = "l0.w"},
                    %o0: tensor<64x48xf32> {tok.weight = "l0.odd"},
                    %w1: tensor<64x64xf32> {tok.weight = "l1.w"},
                    %o1: tensor<64x48xf32> {tok.weight = "l1.odd"},
                    %head: tensor<100x64xf32> {tok.weight = "head"}) -> tensor<?xi32> {
  %c = tok.kv.empty : !tok.kv_cache<2x16x32xf32>
  %out = tok.generate @step(%prompt)
      params(%embed, %norm, %w0, %o0, %w1, %o1, %head : tensor<100x64xf32>, tensor<64xf32>, tensor<64x64xf32>, tensor<64x48xf32>, tensor<64x64xf32>, tensor<64x48xf32>, tensor<100x64xf32>)
      caches(%c : !tok.kv_cache<2x16x32xf32>)
      {max_new_tokens = 4 : i64, sampler = #tok.sampler<>} : tensor<?xi32> -> tensor<?xi32>
  return %out : tensor<?xi32>
}

// -----

// A weight that also reaches another op (here a tok.rms_norm... of a
// matrix used as an attention input) is left as it is: the op could not
// read blocks.
// CHECK-LABEL: func.func @other_use(
// CHECK-SAME:    %{{.*}}: tensor<32x32xf32> {tok.weight = "w"}
func.func @other_use(%x: tensor<?x32xf32>, %w: tensor<32x32xf32> {tok.weight = "w"}) -> (tensor<?x32xf32>, tensor<32x32xf32>) {
  %y = tok.linear %x, %w : tensor<?x32xf32>, tensor<32x32xf32>
  %z = arith.addf %w, %w : tensor<32x32xf32>
  return %y, %z : tensor<?x32xf32>, tensor<32x32xf32>
}

// -----

// Two weights meet in one layer function; one of them also reaches another
// op, so neither changes (the shared argument cannot take two types).
// CHECK-LABEL: func.func private @shared(
// CHECK-SAME:    %{{.*}}: tensor<32x32xf32>)
// CHECK-LABEL: func.func @meet(
// CHECK-SAME:    %{{.*}}: tensor<32x32xf32> {tok.weight = "a"}, %{{.*}}: tensor<32x32xf32> {tok.weight = "b"}
func.func private @shared(%x: tensor<?x32xf32>, %w: tensor<32x32xf32>) -> tensor<?x32xf32> attributes {tok.layer} {
  %y = tok.linear %x, %w : tensor<?x32xf32>, tensor<32x32xf32>
  return %y : tensor<?x32xf32>
}
func.func @meet(%x: tensor<?x32xf32>, %a: tensor<32x32xf32> {tok.weight = "a"}, %b: tensor<32x32xf32> {tok.weight = "b"}) -> (tensor<?x32xf32>, tensor<32x32xf32>) {
  %y = call @shared(%x, %a) {tok.layer = 0 : i64} : (tensor<?x32xf32>, tensor<32x32xf32>) -> tensor<?x32xf32>
  %z = call @shared(%y, %b) {tok.layer = 1 : i64} : (tensor<?x32xf32>, tensor<32x32xf32>) -> tensor<?x32xf32>
  %c = arith.addf %b, %b : tensor<32x32xf32>
  return %z, %c : tensor<?x32xf32>, tensor<32x32xf32>
}
