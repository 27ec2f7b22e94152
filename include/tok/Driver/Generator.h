//===- Generator.h - a decoder compiled for generation ----------*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// The driver library's decoder path: from an opened model to tokens.
//
//   auto model = tok::LlamaModel::open("pyllama-4m", "", ...);
//   tok::GenerateSettings settings;
//   settings.maxNewTokens = 64;
//   settings.pipeline = "tok-kv-evict{policy=window budget=64 recent=60}";
//   auto gen = tok::Generator::create(context, **model, settings, 16);
//   auto result = (*gen)->generate(prompt, [](int32_t token, int64_t i) {
//     ...                                       // each token as chosen
//   });
//
// Generator::create builds the model's module (buildLlamaModule), applies
// the pass pipeline, lowers it with tok-to-llvm and JIT-compiles it (with
// the disk cache of JitCache.h), and binds the weights in place from the
// model's mapped files. Errors come back as llvm::Error with a message (no
// "tok-run:" prefix); diagnostics of a failing pass go to the context's
// handler. Nothing is global: any number of generators, in one context or
// several, and generate() may run on several threads at once, each call
// streaming to its own callback. The models must outlive the generator
// (the compiled code reads their weights in place).
//
//===----------------------------------------------------------------------===//

#ifndef TOK_DRIVER_GENERATOR_H
#define TOK_DRIVER_GENERATOR_H

#include "tok/Driver/Jit.h"
#include "tok/Frontend/LlamaModel.h"
#include "tok/Frontend/LlamaModule.h"
#include "tok/Transforms/CostModel.h"

#include "mlir/IR/MLIRContext.h"
#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/Support/Error.h"

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace mlir {
namespace tok {

/// What Generator::create compiles, beyond the model.
struct GenerateSettings {
  /// New tokens per generation (at most; an end-of-sequence token stops
  /// earlier).
  int64_t maxNewTokens = 64;
  SamplerSettings sampler;
  /// The end-of-sequence tokens: any of them stops (none: always
  /// maxNewTokens tokens).
  std::vector<int64_t> eos;
  /// Run the prompt through the step this many tokens at a time (0: all).
  int64_t prefillChunk = 0;
  /// Slots of each layer's KV cache (0: the longest prompt plus
  /// maxNewTokens).
  int64_t cacheCapacity = 0;
  /// Layer-skip self-speculation: the draft step leaves these layers out.
  std::vector<int64_t> draftSkip;
  /// A separate draft model (its weights are bound after the target's).
  const LlamaModel *draftModel = nullptr;
  /// Passes applied before the lowering, as tok-opt takes them without the
  /// builtin.module(...) anchor (e.g. "tok-kv-evict{budget=64}").
  std::string pipeline;
  /// LLVM's optimization level, 0-3.
  unsigned optLevel = 3;
  /// Called between lowering and code generation (not on a cache hit).
  std::function<void(double)> onLowered;
};

/// What Generator::create built: costs, caches, times.
struct GeneratorReport {
  /// The cost of one decode step (@step on one token) as imported, and
  /// after each pass of the pipeline.
  FunctionCost asImported;
  std::vector<std::pair<std::string, FunctionCost>> afterEachPass;
  /// The bytes of every KV cache (allocated once, at capacity), and the
  /// smallest and largest capacity of a layer's cache.
  int64_t kvBytes = 0, minSlots = 0, maxSlots = 0;
  /// Bytes of weights the driver quantized (tok-quantize-weights).
  int64_t quantizedBytes = 0;
  int64_t layers = 0;
  /// Seconds: building the module, the pipeline, lowering and machine code
  /// (or loading it from the JIT cache) and linking; the JIT's own split.
  double buildSeconds = 0, passSeconds = 0, compileSeconds = 0;
  JitTimes jit;
};

/// One generation's tokens and timings.
struct GenerateResult {
  std::vector<int32_t> tokens;
  /// From the call to the first token, from the first to the last, and
  /// the whole call.
  double prefillSeconds = 0, decodeSeconds = 0, totalSeconds = 0;
  /// Speculative decoding: target calls after the prefill, draft tokens
  /// verified and accepted.
  int64_t rounds = 0, drafted = 0, accepted = 0;
  /// generateWhile's callback ended the generation before its end.
  bool stopped = false;
};

class Generator {
public:
  /// Compiles `model` for prompts of up to `maxPromptTokens` tokens. Fails
  /// (without compiling) when the settings do not fit the model: an eos
  /// outside the vocabulary, a bad draft, caches too small for the prompt
  /// and the new tokens unless the pipeline evicts.
  static llvm::Expected<std::unique_ptr<Generator>>
  create(MLIRContext &context, const LlamaModel &model,
         const GenerateSettings &settings, int64_t maxPromptTokens);
  ~Generator();

  /// Generates after `prompt` (1 to maxPromptTokens ids in the
  /// vocabulary), calling `onToken(token, index)` with each new token as
  /// it is chosen. A run-time check of the compiled code that fails is
  /// returned as an error ("run-time check failed: ...").
  llvm::Expected<GenerateResult>
  generate(llvm::ArrayRef<int32_t> prompt,
           llvm::function_ref<void(int32_t, int64_t)> onToken = {});

  /// The same, but `onToken` says whether to go on: when it returns false
  /// the compiled loop is left at once (runGuarded / stopGuardedRun of
  /// Jit.h; what it had allocated is freed) and the result holds the tokens
  /// so far, with `stopped` set.
  llvm::Expected<GenerateResult>
  generateWhile(llvm::ArrayRef<int32_t> prompt,
                llvm::function_ref<bool(int32_t, int64_t)> onToken);

  const GeneratorReport &getReport() const { return report; }
  int64_t getMaxPromptTokens() const { return maxPromptTokens; }

private:
  Generator() = default;
  /// Quantizes the weights quantizeArgs names.
  llvm::Error quantizeWeights();
  llvm::Expected<GenerateResult>
  run(llvm::ArrayRef<int32_t> prompt,
      llvm::function_ref<void(int32_t, int64_t)> onToken,
      llvm::function_ref<bool(int32_t, int64_t)> keepGoing);
  const LlamaModel *model = nullptr;
  const LlamaModel *draftModel = nullptr;
  std::unique_ptr<Jit> jit;
  void (*entry)(void **) = nullptr;
  FunctionType entryType;
  GeneratorReport report;
  int64_t maxPromptTokens = 0;
  /// @generate arguments the pipeline made #tok.quant, with their scheme,
  /// and the quantized bytes of those weights (by weight index).
  std::vector<std::pair<unsigned, std::string>> quantizeArgs;
  std::vector<std::pair<size_t, std::vector<char>>> quantized;
};

} // namespace tok
} // namespace mlir

#endif // TOK_DRIVER_GENERATOR_H
