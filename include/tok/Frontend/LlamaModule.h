//===- LlamaModule.h - tok IR for a Llama-family decoder --------*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// Builds the tok module of a Llama-family decoder for a LlamaConfig. Weights
// are never in the IR: they are arguments of the step function, in the
// order of getLlamaWeights, each annotated with its checkpoint name
// (`tok.weight`), to be bound at run time from the mapped weight files.
//
//   func.func private @layer(%h: tensor<?xExf32>, %pos: tensor<?xi32>,
//                            <one layer's weights>..., %cache)
//       -> (tensor<?xExf32>, <cache>)
//   func.func private @step(%ids: tensor<?xi32>, %pos: tensor<?xi32>,
//                           <weights>..., <one cache per layer>...)
//       -> (tensor<?xVxf32>, <caches>...)
//   func.func @forward(%ids, %pos, <weights>...) -> tensor<?xVxf32>
//
// @step embeds the ids, calls a layer function once per layer (layers whose
// weights have the same types share one: `@layer`, `@layer_1`, ...), and
// applies the final norm and the head. `forward` runs one step from empty
// caches (prefill) and returns the logits of every position;
// `continue(%ids, %pos, %ids2, %pos2, weights...)` runs a second step on the
// caches the first filled (a decode step when %ids2 is one token) and
// returns the second step's logits. With generate options,
// `generate(%prompt, weights...)` returns the generated tokens
// (tok.generate). With a draft model, `@draft_step` is its step function
// (over `@draft_layer`) and `generate` takes its weights after the target's.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_FRONTEND_LLAMAMODULE_H
#define TOK_FRONTEND_LLAMAMODULE_H

#include "tok/Dialect/Tok/IR/TokAttrs.h"
#include "tok/Frontend/LlamaConfig.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

#include "llvm/ADT/SmallVector.h"

#include <optional>
#include <string>
#include <vector>

namespace mlir {
namespace tok {

struct LlamaWeight {
  std::string name;
  llvm::SmallVector<int64_t> shape;
};

/// How tokens are chosen: greedy when `temperature` is 0.
struct SamplerSettings {
  double temperature = 0.0;
  int64_t topK = 0;
  double topP = 1.0;
  int64_t seed = 0;
  /// The #tok.sampler attribute (the default one, greedy, when
  /// `temperature` is 0).
  SamplerAttr getAttr(MLIRContext *context) const;
};

/// What `@generate` does (see buildLlamaModule).
struct LlamaGenerateOptions {
  int64_t maxNewTokens = 64;
  SamplerSettings sampler;
  /// Stop after any of these tokens (none: always maxNewTokens).
  std::vector<int64_t> eos;
  /// Call `@tok_on_token(i32 token, i64 index)` (external, bound by the
  /// runner) with every token as it is chosen.
  bool stream = false;
  /// Run the prompt through the step this many tokens at a time (0: all).
  int64_t prefillChunk = 0;
};

/// A separate draft model for speculative decoding
/// (tok-speculative-decoding{drafter=model}): a second decoder with the
/// target's vocabulary.
struct LlamaDraftModel {
  LlamaConfig config;
  /// As LlamaModuleOptions::weightElementTypes, for the draft's weights.
  std::vector<std::string> weightElementTypes;
  bool interleavedRope = false;
};

/// The paged KV memory of a batch step (LlamaModuleOptions::batch).
struct LlamaBatchOptions {
  /// Pages per layer and token slots per page.
  int64_t pages = 0, pageSize = 16;
};

struct LlamaModuleOptions {
  /// Slots of each layer's KV cache.
  int64_t cacheCapacity = 512;
  /// Positions the compiled model reaches (0: cacheCapacity; more with an
  /// evicting cache). LongRoPE (Phi-3) takes its long factors when they go
  /// beyond the model's original context.
  int64_t positions = 0;
  /// llama2.c pairs rotary dimensions 2i, 2i+1; Hugging Face i, i + D/2.
  bool interleavedRope = false;
  /// The element type ("f32", "f16", "bf16") each weight is stored in, in
  /// getLlamaWeights order; missing entries are f32. A #tok.quant scheme
  /// ("q8_0", "q4_0", "q4_k", "q6_k") makes a matrix block-quantized. Matrices
  /// keep their type (tok.linear widens as it reads); vectors and embedded rows
  /// are widened with arith.extf.
  std::vector<std::string> weightElementTypes;
  /// Emit `@forward` and `@continue` (what tests and tok-run's function
  /// mode call). A driver that only generates leaves them out: each calls
  /// @step with every weight and cache, and bufferizing such a call costs
  /// time that grows with the number of layers.
  bool stepEntries = true;
  /// Also emit `@generate(%prompt, weights...) -> tensor<?xi32>`: a
  /// tok.generate over @step from empty caches.
  std::optional<LlamaGenerateOptions> generate;
  /// Also emit `@teacher(%ids, weights...) -> tensor<?xVxf32>`: the ids fed
  /// one step per token through the caches (teacher forcing), returning the
  /// logits after each; with an eviction pass applied to @step, what a
  /// compressed cache predicts at every position.
  bool teacher = false;
  /// Also emit `@draft_step`: @step without these layers (and their
  /// caches), the draft of layer-skip self-speculation
  /// (tok-speculative-decoding{drafter=layer_skip}). Indices must be in
  /// [0, layers); checked by the callers.
  std::vector<int64_t> draftSkip;
  /// Also emit `@batch_step` (serving: many sequences per step over paged
  /// KV memory, docs/serving.md):
  ///   (%ids, %positions, %slots, %row_seqs: tensor<?xi32>,
  ///    %tables: tensor<?x?xi32>, %sample_rows: tensor<?xi32>, weights...,
  ///    keys_0, values_0, ..., keys_L-1, values_L-1: memref<HkxSxDxf32>)
  ///   -> logits: tensor<?xVxf32>
  /// Token t (id, position) is written to slot slots[t] of every layer's
  /// pool (the host's keys / values buffers, S = pages * page_size slots,
  /// updated in place) and attends over sequence row_seqs[t]'s positions
  /// through its page table; the logits are those of the rows sample_rows
  /// lists.
  std::optional<LlamaBatchOptions> batch;
  /// Also emit `@draft_step`: the step of this separate draft model, whose
  /// weights `@generate` takes after the target's (`tok.weight` names
  /// "draft.<name>") and passes as `draft_params`. Exclusive with
  /// draftSkip; the vocabularies must match (checkDraftModel).
  std::optional<LlamaDraftModel> draftModel;
};

/// The end-of-sequence tokens of a generation: `requested` if >= 0, none
/// for -1, the model's own (config.json's eos_token_id, one or several)
/// for -2.
std::vector<int64_t> chooseEos(int64_t requested, const LlamaConfig &config);

/// Checks a layer-skip list for LlamaModuleOptions::draftSkip: indices in
/// [0, layers), no repeats. Returns the problem, or an empty string.
std::string checkDraftSkip(const LlamaConfig &config,
                           llvm::ArrayRef<int64_t> skip);

/// Checks that `draft` can draft for `target`: the same vocabulary size.
/// Returns the problem, or an empty string.
std::string checkDraftModel(const LlamaConfig &target,
                            const LlamaConfig &draft);

/// The weights the step function takes, in argument order: the embedding,
/// getLlamaWeightsPerLayer(config) per layer, the final norm, the head
/// (unless tied).
std::vector<LlamaWeight> getLlamaWeights(const LlamaConfig &config);
int64_t getLlamaWeightsPerLayer(const LlamaConfig &config);

/// The module (tok, func, tensor, linalg, arith, math and scf ops), built
/// in `context` (which gets those dialects loaded). `config` must have
/// passed LlamaConfig::validate.
OwningOpRef<ModuleOp> buildLlamaModule(MLIRContext *context,
                                       const LlamaConfig &config,
                                       const LlamaModuleOptions &options);

} // namespace tok
} // namespace mlir

#endif // TOK_FRONTEND_LLAMAMODULE_H
