//===- BatchExecutor.cpp - one compiled batch step and its pools ----------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#include "BatchExecutor.h"

#include "Pipeline.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/Passes.h"
#include "tok/Dialect/Tok/IR/TokAttrs.h"
#include "tok/Execution/JitCall.h"
#include "tok/Frontend/LlamaModule.h"
#include "tok/Transforms/Passes.h"

#include <algorithm>
#include <chrono>
#include <cstring>

using namespace mlir;
using namespace mlir::tok;

BatchExecutor::~BatchExecutor() = default;

llvm::Expected<std::unique_ptr<BatchExecutor>>
BatchExecutor::create(MLIRContext &context, const LlamaModel &model,
                      const BatchSettings &settings) {
  auto start = std::chrono::steady_clock::now();
  const LlamaConfig &config = model.getConfig();
  if (settings.maxNewTokens <= 0)
    return makeDriverError("the number of new tokens must be positive, got " +
                           llvm::Twine(settings.maxNewTokens));
  if (settings.pageSize <= 0 || settings.pages < 0 ||
      settings.maxTokensPerStep <= 0 || settings.maxSequences <= 0 ||
      settings.prefillChunk < 0 || settings.contextLimit <= 0)
    return makeDriverError("the page size, the tokens and sequences per step "
                           "and the context limit must be positive, the "
                           "pages and the prefill chunk not negative");
  if (settings.optLevel > 3)
    return makeDriverError("the optimization level must be 0 to 3");
  for (int64_t id : settings.eos)
    if (id < 0 || id >= config.vocab)
      return makeDriverError("--eos " + llvm::Twine(id) +
                             " is outside the vocabulary of " +
                             llvm::Twine(config.vocab));
  if (settings.contextLimit > config.maxPositions)
    return makeDriverError(
        "a context of " + llvm::Twine(settings.contextLimit) +
        " positions exceeds the model's " + llvm::Twine(config.maxPositions));
  // The step for a pool of `pages` pages: built, reduced to @batch_step
  // and what it calls (the user's passes see the batch step alone, not the
  // single-sequence functions the builder adds), the user's passes run,
  // its signature checked; the window eviction they gave it, if any.
  struct Step {
    OwningOpRef<ModuleOp> module;
    int64_t window = 0, sinks = 0;
  };
  auto buildStep = [&](int64_t pages) -> llvm::Expected<Step> {
    LlamaModuleOptions options;
    options.interleavedRope = model.hasInterleavedRope();
    options.weightElementTypes.assign(model.getWeightTypes().begin(),
                                      model.getWeightTypes().end());
    options.cacheCapacity = settings.contextLimit;
    options.positions = settings.contextLimit;
    options.stepEntries = false;
    options.batch = LlamaBatchOptions{pages, settings.pageSize};
    Step step;
    step.module = buildLlamaModule(&context, config, options);
    ModuleOp module = *step.module;
    for (auto f : module.getOps<func::FuncOp>())
      if (f.getSymName() != "batch_step")
        f.setPrivate();
    PassManager pm(&context);
    pm.addPass(createSymbolDCEPass());
    if (failed(pm.run(module)))
      return makeDriverError("internal error: dropping the single-sequence "
                             "functions failed");
    auto fn = module.lookupSymbol<func::FuncOp>("batch_step");
    FunctionType built = fn.getFunctionType();
    if (llvm::Error err = applyUserPipeline(module, settings.pipeline))
      return std::move(err);
    fn = module.lookupSymbol<func::FuncOp>("batch_step");
    if (!fn || fn.getFunctionType() != built)
      return makeDriverError(
          "--pipeline must keep @batch_step and its signature (passes that "
          "change weights or KV memory types are not supported on the batch "
          "path yet)");
    if (auto evict = fn->getAttrOfType<EvictAttr>(kBatchEvictAttrName)) {
      step.window = evict.getRecent() + 1;
      step.sinks = evict.getSinks();
    }
    return step;
  };

  int64_t pageSize = settings.pageSize;
  auto ceilPages = [&](int64_t n) { return (n + pageSize - 1) / pageSize; };
  int64_t pages = settings.pages;
  if (pages == 0) {
    pages = settings.maxSequences * (ceilPages(settings.contextLimit) + 1);
    // With a window, what the sequences can hold at once (the scheduler's
    // bound per request: sink pages, the window's, two more, the prefix
    // chain it may cache), plus a step's rows: the pipeline on a one-page
    // probe says whether there is one.
    auto probe =
        settings.pipeline.empty() ? llvm::Expected<Step>(Step()) : buildStep(1);
    if (!probe)
      return probe.takeError();
    if (int64_t w = probe->window; w > 0) {
      int64_t s = probe->sinks;
      int64_t perSequence = ceilPages(s) + ceilPages(w) + 2 +
                            (settings.prefixCaching ? ceilPages(s + w) : 0);
      pages = std::min(pages, settings.maxSequences * perSequence +
                                  ceilPages(settings.maxTokensPerStep));
    }
  }
  // The pools' bytes, checked before anything is allocated.
  int64_t slots = pages * pageSize;
  if (slots > (int64_t{1} << 24))
    return makeDriverError("the pools' " + llvm::Twine(slots) +
                           " slots exceed tok's 2^24");
  uint64_t bytes = 2ull * config.layers * config.kvHeads * slots *
                   config.headDim * sizeof(float);
  std::optional<uint64_t> memory = getPhysicalMemoryBytes();
  if (bytes > memory.value_or(uint64_t{1} << 36))
    return makeDriverError(
        "the KV pools would take " + llvm::Twine(bytes >> 20) +
        " MiB, more than " +
        (memory ? "this machine's " + llvm::Twine(*memory >> 20) + " MiB"
                : llvm::Twine("64 GiB")) +
        "; use fewer pages or sequences");

  std::unique_ptr<BatchExecutor> x(new BatchExecutor());
  x->model = &model;
  x->settings = settings;
  x->pages = pages;
  x->poolBytes = bytes;
  auto step = buildStep(pages);
  if (!step)
    return step.takeError();
  OwningOpRef<ModuleOp> module = std::move(step->module);
  x->window = step->window;
  x->sinks = step->sinks;
  auto fn = module->lookupSymbol<func::FuncOp>("batch_step");
  x->entryType = getCallableType(fn.getFunctionType());
  JitOptions jitOptions;
  jitOptions.optLevel = settings.optLevel;
  auto compiled = compileEntry(*module, "batch_step", jitOptions, nullptr);
  if (!compiled)
    return compiled.takeError();
  x->jit = std::move(compiled->jit);
  x->entry = compiled->entry;
  x->pools.assign(2 * config.layers,
                  std::vector<float>(static_cast<size_t>(
                      config.kvHeads * slots * config.headDim)));
  // Weights, bound once.
  std::vector<LlamaWeight> shapes = getLlamaWeights(config);
  for (auto [i, w] : llvm::enumerate(shapes))
    x->weights.push_back(
        bindWeight(model.getWeightTypes()[i], w.shape, model.getWeights()[i]));
  x->compileSeconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  return x;
}

serve::SchedulerConfig BatchExecutor::getSchedulerConfig() const {
  serve::SchedulerConfig sc;
  sc.numPages = pages;
  sc.pageSize = settings.pageSize;
  sc.maxTokensPerStep = settings.maxTokensPerStep;
  sc.maxSequences = settings.maxSequences;
  sc.prefillChunk = settings.prefillChunk;
  sc.contextLimit = settings.contextLimit;
  sc.prefixCaching = settings.prefixCaching;
  sc.window = window;
  sc.sinks = sinks;
  return sc;
}

llvm::Expected<llvm::ArrayRef<float>>
BatchExecutor::run(const serve::StepPlan &plan) {
  const LlamaConfig &config = model->getConfig();
  if (plan.empty())
    return makeDriverError("internal error: the scheduler has work but "
                           "planned an empty step");
  int64_t hk = config.kvHeads, d = config.headDim;
  int64_t slots = pages * settings.pageSize;
  int64_t rowStride = slots * d;
  // Copy-on-write: whole pages, every layer and head.
  for (const serve::PageCopy &c : plan.copies) {
    for (std::vector<float> &pool : pools)
      for (int64_t h = 0; h < hk; ++h)
        std::memcpy(pool.data() + h * rowStride +
                        int64_t{c.dst} * settings.pageSize * d,
                    pool.data() + h * rowStride +
                        int64_t{c.src} * settings.pageSize * d,
                    settings.pageSize * d * sizeof(float));
    ++pageCopies;
  }
  std::vector<int32_t> ids, positions, slotIds, rowSeqs, sampleRows;
  size_t widest = 1;
  for (const serve::ScheduledSequence &s : plan.sequences)
    widest = std::max(widest, s.pageTable.size());
  std::vector<int32_t> tables(plan.sequences.size() * widest, 0);
  for (auto [b, s] : llvm::enumerate(plan.sequences)) {
    for (size_t t = 0; t < s.tokens.size(); ++t) {
      ids.push_back(s.tokens[t]);
      positions.push_back(static_cast<int32_t>(s.positions[t]));
      slotIds.push_back(static_cast<int32_t>(s.slots[t]));
      rowSeqs.push_back(static_cast<int32_t>(b));
    }
    if (s.sample)
      sampleRows.push_back(static_cast<int32_t>(ids.size() - 1));
    std::copy(s.pageTable.begin(), s.pageTable.end(),
              tables.begin() + b * widest);
  }
  int64_t n = static_cast<int64_t>(ids.size());
  int64_t sampled = static_cast<int64_t>(sampleRows.size());
  SmallVector<NpyArray> args;
  args.push_back(NpyArray::view(NpyDType::I32, {n}, ids.data()));
  args.push_back(NpyArray::view(NpyDType::I32, {n}, positions.data()));
  args.push_back(NpyArray::view(NpyDType::I32, {n}, slotIds.data()));
  args.push_back(NpyArray::view(NpyDType::I32, {n}, rowSeqs.data()));
  args.push_back(NpyArray::view(NpyDType::I32,
                                {static_cast<int64_t>(plan.sequences.size()),
                                 static_cast<int64_t>(widest)},
                                tables.data()));
  args.push_back(NpyArray::view(NpyDType::I32, {sampled}, sampleRows.data()));
  llvm::append_range(args, weights);
  for (std::vector<float> &pool : pools)
    args.push_back(NpyArray::view(NpyDType::F32, {hk, slots, d}, pool.data()));
  {
    JitCall call(entryType, args);
    entry(call.getPackedArguments().data());
    results = call.takeResults();
  }
  const auto *logits = static_cast<const float *>(results.front().data());
  return llvm::ArrayRef<float>(logits, sampled * config.vocab);
}
