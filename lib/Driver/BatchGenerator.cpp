//===- BatchGenerator.cpp - many prompts, one compiled batch step ---------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#include "tok/Driver/BatchGenerator.h"

#include "BatchExecutor.h"
#include "Pipeline.h"

#include "tok/Serve/Scheduler.h"

#include <algorithm>
#include <chrono>

using namespace mlir;
using namespace mlir::tok;

namespace {
using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}
} // namespace

BatchGenerator::~BatchGenerator() = default;

int64_t BatchGenerator::getPages() const { return executor->getPages(); }

uint64_t BatchGenerator::getPoolBytes() const {
  return executor->getPoolBytes();
}

llvm::Expected<std::unique_ptr<BatchGenerator>>
BatchGenerator::create(MLIRContext &context, const LlamaModel &model,
                       const BatchSettings &settings) {
  auto executor = BatchExecutor::create(context, model, settings);
  if (!executor)
    return executor.takeError();
  std::unique_ptr<BatchGenerator> g(new BatchGenerator());
  g->executor = std::move(*executor);
  g->stats.compileSeconds = g->executor->getCompileSeconds();
  return g;
}

llvm::Expected<std::vector<std::vector<int32_t>>>
BatchGenerator::generate(llvm::ArrayRef<std::vector<int32_t>> prompts,
                         llvm::function_ref<void(size_t, int32_t)> onToken) {
  const BatchSettings &settings = executor->getSettings();
  int64_t vocab = executor->getModel().getConfig().vocab;
  Clock::time_point start = Clock::now();
  auto scheduler = serve::Scheduler::create(executor->getSchedulerConfig());
  if (!scheduler)
    return scheduler.takeError();
  serve::Scheduler &sched = **scheduler;
  std::vector<int32_t> eos(settings.eos.begin(), settings.eos.end());
  for (auto [i, prompt] : llvm::enumerate(prompts)) {
    if (llvm::Error err =
            checkTokenIds(prompt, "prompt " + std::to_string(i),
                          settings.contextLimit, "the context limit is", vocab))
      return std::move(err);
    serve::Request r;
    r.id = i;
    r.prompt = prompt;
    r.maxNewTokens = settings.maxNewTokens;
    r.eos = eos;
    if (llvm::Error err = sched.add(std::move(r)))
      return std::move(err);
  }

  std::vector<std::vector<int32_t>> out(prompts.size());
  int64_t copiesBefore = executor->getPageCopies();
  while (sched.hasWork()) {
    serve::StepPlan plan = sched.schedule();
    auto logits = executor->run(plan);
    if (!logits)
      return logits.takeError();
    // Greedy, per sequence: the first largest logit.
    serve::StepResult result;
    int64_t row = 0;
    for (const serve::ScheduledSequence &s : plan.sequences) {
      if (!s.sample)
        continue;
      const float *l = logits->data() + row++ * vocab;
      int32_t best = static_cast<int32_t>(std::max_element(l, l + vocab) - l);
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
  stats.pageCopies += executor->getPageCopies() - copiesBefore;
  stats.peakPagesHeld = std::max(stats.peakPagesHeld, sched.peakPagesHeld());
  stats.windowReleasedPages += sched.windowReleasedPages();
  stats.seconds += secondsSince(start);
  return out;
}
