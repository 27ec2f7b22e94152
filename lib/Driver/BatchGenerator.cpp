//===- BatchGenerator.cpp - many prompts, one compiled batch step ---------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#include "tok/Driver/BatchGenerator.h"

#include "Pipeline.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "tok/Execution/JitCall.h"
#include "tok/Frontend/LlamaModule.h"
#include "tok/Serve/Scheduler.h"

#include <algorithm>
#include <chrono>
#include <cstring>

using namespace mlir;
using namespace mlir::tok;

namespace {
using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}
} // namespace

BatchGenerator::~BatchGenerator() = default;

llvm::Expected<std::unique_ptr<BatchGenerator>>
BatchGenerator::create(MLIRContext &context, const LlamaModel &model,
                       const BatchSettings &settings) {
  Clock::time_point start = Clock::now();
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
  int64_t pages = settings.pages;
  if (pages == 0)
    pages =
        settings.maxSequences *
        ((settings.contextLimit + settings.pageSize - 1) / settings.pageSize +
         1);
  // The pools' bytes, checked before anything is allocated.
  int64_t slots = pages * settings.pageSize;
  if (slots > (int64_t{1} << 24))
    return makeDriverError("the pools' " + llvm::Twine(slots) +
                           " slots exceed tok's 2^24");
  uint64_t bytes = 2ull * config.layers * config.kvHeads * slots *
                   config.headDim * sizeof(float);
  if (bytes > (uint64_t{1} << 36))
    return makeDriverError("the KV pools would take " +
                           llvm::Twine(bytes >> 20) +
                           " MiB; use fewer pages or sequences");

  std::unique_ptr<BatchGenerator> g(new BatchGenerator());
  g->model = &model;
  g->settings = settings;
  g->pages = pages;

  LlamaModuleOptions options;
  options.interleavedRope = model.hasInterleavedRope();
  options.weightElementTypes.assign(model.getWeightTypes().begin(),
                                    model.getWeightTypes().end());
  options.cacheCapacity = settings.contextLimit;
  options.positions = settings.contextLimit;
  options.stepEntries = false;
  options.batch = LlamaBatchOptions{pages, settings.pageSize};
  OwningOpRef<ModuleOp> module = buildLlamaModule(&context, config, options);
  auto fn = module->lookupSymbol<func::FuncOp>("batch_step");
  g->entryType = getCallableType(fn.getFunctionType());
  JitOptions jitOptions;
  jitOptions.optLevel = settings.optLevel;
  auto compiled = compileEntry(*module, "batch_step", jitOptions, nullptr);
  if (!compiled)
    return compiled.takeError();
  g->jit = std::move(compiled->jit);
  g->entry = compiled->entry;
  g->pools.assign(2 * config.layers,
                  std::vector<float>(static_cast<size_t>(
                      config.kvHeads * slots * config.headDim)));
  g->stats.compileSeconds = secondsSince(start);
  return g;
}

llvm::Expected<std::vector<std::vector<int32_t>>>
BatchGenerator::generate(llvm::ArrayRef<std::vector<int32_t>> prompts,
                         llvm::function_ref<void(size_t, int32_t)> onToken) {
  const LlamaConfig &config = model->getConfig();
  Clock::time_point start = Clock::now();
  serve::SchedulerConfig sc;
  sc.numPages = pages;
  sc.pageSize = settings.pageSize;
  sc.maxTokensPerStep = settings.maxTokensPerStep;
  sc.maxSequences = settings.maxSequences;
  sc.prefillChunk = settings.prefillChunk;
  sc.contextLimit = settings.contextLimit;
  sc.prefixCaching = settings.prefixCaching;
  auto scheduler = serve::Scheduler::create(sc);
  if (!scheduler)
    return scheduler.takeError();
  serve::Scheduler &sched = **scheduler;
  std::vector<int32_t> eos(settings.eos.begin(), settings.eos.end());
  for (auto [i, prompt] : llvm::enumerate(prompts)) {
    if (llvm::Error err = checkTokenIds(prompt, "prompt " + std::to_string(i),
                                        settings.contextLimit,
                                        "the context limit is", config.vocab))
      return std::move(err);
    serve::Request r;
    r.id = i;
    r.prompt = prompt;
    r.maxNewTokens = settings.maxNewTokens;
    r.eos = eos;
    if (llvm::Error err = sched.add(std::move(r)))
      return std::move(err);
  }

  // Weights, bound once; then per step the packed inputs and the pools.
  std::vector<LlamaWeight> shapes = getLlamaWeights(config);
  SmallVector<NpyArray> weights;
  for (auto [i, w] : llvm::enumerate(shapes))
    weights.push_back(bindWeight(model->getWeightTypes()[i], w.shape,
                                 model->getWeights()[i]));
  int64_t hk = config.kvHeads, d = config.headDim;
  int64_t slots = pages * settings.pageSize;
  std::vector<std::vector<int32_t>> out(prompts.size());
  int64_t rowStride = slots * d;
  while (sched.hasWork()) {
    serve::StepPlan plan = sched.schedule();
    if (plan.empty())
      return makeDriverError("internal error: the scheduler has work but "
                             "planned an empty step");
    // Copy-on-write: whole pages, every layer and head.
    for (const serve::PageCopy &c : plan.copies) {
      for (std::vector<float> &pool : pools)
        for (int64_t h = 0; h < hk; ++h)
          std::memcpy(pool.data() + h * rowStride +
                          int64_t{c.dst} * settings.pageSize * d,
                      pool.data() + h * rowStride +
                          int64_t{c.src} * settings.pageSize * d,
                      settings.pageSize * d * sizeof(float));
      ++stats.pageCopies;
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
      args.push_back(
          NpyArray::view(NpyDType::F32, {hk, slots, d}, pool.data()));
    SmallVector<NpyArray> results;
    {
      JitCall call(entryType, args);
      entry(call.getPackedArguments().data());
      results = call.takeResults();
    }
    // Greedy, per sequence: the first largest logit.
    const auto *logits = static_cast<const float *>(results.front().data());
    serve::StepResult result;
    int64_t row = 0;
    for (const serve::ScheduledSequence &s : plan.sequences) {
      if (!s.sample)
        continue;
      const float *l = logits + row++ * config.vocab;
      int32_t best =
          static_cast<int32_t>(std::max_element(l, l + config.vocab) - l);
      result.sampled.push_back({s.requestId, best});
    }
    auto events = sched.complete(result);
    if (!events)
      return events.takeError();
    for (const serve::Event &e : *events)
      if (e.kind == serve::Event::Kind::Token) {
        out[e.requestId].push_back(e.token);
        if (onToken)
          onToken(e.requestId, e.token);
      }
  }
  stats.steps += sched.stepsScheduled();
  stats.tokensScheduled += sched.tokensScheduled();
  stats.prefixHitTokens += sched.prefixHitTokens();
  stats.preemptions += sched.numPreemptions();
  stats.seconds += secondsSince(start);
  return out;
}
