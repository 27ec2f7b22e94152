//===- BatchGenerator.h - many prompts, one compiled batch step -*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// The driver library's batch path: a model compiled once into @batch_step
// (buildLlamaModule with LlamaModuleOptions::batch: packed tokens of many
// sequences over paged KV memory), driven by the serving scheduler
// (tok/Serve/Scheduler.h): continuous batching, decode tokens beside
// prefill chunks, shared prefix pages, preemption by recompute. The KV
// pools are this object's buffers, updated in place by each step.
//
//   auto gen = tok::BatchGenerator::create(context, *model, settings);
//   auto tokens = (*gen)->generate(prompts, [](size_t i, int32_t token) {
//     ...                                     // prompt i's next token
//   });
//
// Sampling is greedy, on the host, per sequence: no sequence's output
// depends on the company it runs in (batch_generate.test checks each
// against the same prompt generated alone). The compiled step and its
// pools are lib/Driver's BatchExecutor, which ServingEngine (a step loop on
// its own thread, for a server) shares.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_DRIVER_BATCHGENERATOR_H
#define TOK_DRIVER_BATCHGENERATOR_H

#include "tok/Driver/Jit.h"
#include "tok/Frontend/LlamaModel.h"

#include "mlir/IR/MLIRContext.h"
#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/Support/Error.h"

#include <memory>
#include <vector>

namespace mlir {
namespace tok {

struct BatchSettings {
  /// New tokens per prompt (at most; an end-of-sequence token stops
  /// earlier).
  int64_t maxNewTokens = 64;
  /// The end-of-sequence tokens: any of them stops a sequence.
  std::vector<int64_t> eos;
  /// Token slots per page, and pages per layer (0: enough for every prompt
  /// and its new tokens at once).
  int64_t pageSize = 16, pages = 0;
  /// Tokens per step (the scheduler's budget), sequences per step, prompt
  /// tokens of one sequence per step (0: the budget).
  int64_t maxTokensPerStep = 512, maxSequences = 64, prefillChunk = 0;
  /// Share full pages of equal prompt prefixes between sequences.
  bool prefixCaching = true;
  /// Positions any sequence may reach (prompt + new tokens): the bound the
  /// scheduler checks, and LongRoPE's factor choice.
  int64_t contextLimit = 0;
  unsigned optLevel = 3;
  /// tok passes applied to the batch step before lowering (tok-opt syntax
  /// without the anchor, like Settings::pipeline of the single-sequence
  /// path); the passes that have no rule for paged KV memory refuse it.
  /// tok-kv-evict{policy=window ...} makes the scheduler release each
  /// sequence's pages outside its window (docs/serving.md).
  std::string pipeline;
};

/// What a batch generation did.
struct BatchStats {
  int64_t steps = 0, tokensScheduled = 0, prefixHitTokens = 0, preemptions = 0,
          pageCopies = 0;
  /// The most pages the sequences held at once, and the pages released
  /// because they left a sequence's window (tok-kv-evict).
  int64_t peakPagesHeld = 0, windowReleasedPages = 0;
  double seconds = 0, compileSeconds = 0;
};

class BatchExecutor;

class BatchGenerator {
public:
  /// Compiles `model`'s batch step for `settings`.
  static llvm::Expected<std::unique_ptr<BatchGenerator>>
  create(MLIRContext &context, const LlamaModel &model,
         const BatchSettings &settings);
  ~BatchGenerator();

  /// Generates after every prompt (each 1 or more ids in the vocabulary),
  /// calling `onToken(prompt index, token)` as tokens are chosen; returns
  /// each prompt's new tokens.
  llvm::Expected<std::vector<std::vector<int32_t>>>
  generate(llvm::ArrayRef<std::vector<int32_t>> prompts,
           llvm::function_ref<void(size_t, int32_t)> onToken = {});

  const BatchStats &getStats() const { return stats; }
  int64_t getPages() const;
  /// The KV pools' bytes (every layer's keys and values).
  uint64_t getPoolBytes() const;

private:
  BatchGenerator() = default;

  std::unique_ptr<BatchExecutor> executor;
  BatchStats stats;
};

} // namespace tok
} // namespace mlir

#endif // TOK_DRIVER_BATCHGENERATOR_H
