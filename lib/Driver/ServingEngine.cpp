//===- ServingEngine.cpp - batched generation on its own thread -----------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// The engine thread: under the lock it plans a step (the scheduler is only
// ever touched under the lock), runs it without the lock (submit, cancel
// and getMetrics go on meanwhile; the scheduler defers a cancel of a
// sequence in the step to complete()), samples each sampled sequence with
// its request's sampler, completes the step under the lock, and delivers
// the events without it.
//
//===----------------------------------------------------------------------===//

#include "tok/Driver/ServingEngine.h"

#include "BatchExecutor.h"

#include "tok/Serve/Scheduler.h"

#include <atomic>
#include <chrono>

using namespace mlir;
using namespace mlir::tok;

struct ServingEngine::Live {
  uint64_t id;
  EngineCallback callback;
  HostSampler sampler;
  /// Set by cancel() and when the request finished: nothing more is
  /// delivered.
  std::atomic<bool> done{false};
  Live(uint64_t id, EngineCallback callback, const SamplingParams &params)
      : id(id), callback(std::move(callback)), sampler(params) {}
};

ServingEngine::ServingEngine() = default;

ServingEngine::~ServingEngine() { shutdown(/*drain=*/false); }

llvm::Expected<std::unique_ptr<ServingEngine>>
ServingEngine::create(MLIRContext &context, const LlamaModel &model,
                      const EngineSettings &settings) {
  if (settings.maxWaiting <= 0)
    return llvm::createStringError(
        std::make_error_code(std::errc::invalid_argument),
        "the queue limit must be positive");
  BatchSettings batch = settings.batch;
  batch.maxNewTokens = std::max<int64_t>(batch.maxNewTokens, 1);
  batch.eos.clear();
  auto executor = BatchExecutor::create(context, model, batch);
  if (!executor)
    return executor.takeError();
  auto scheduler = serve::Scheduler::create((*executor)->getSchedulerConfig());
  if (!scheduler)
    return scheduler.takeError();
  std::unique_ptr<ServingEngine> e(new ServingEngine());
  e->executor = std::move(*executor);
  e->scheduler = std::move(*scheduler);
  e->settings = settings;
  e->thread = std::thread([engine = e.get()] { engine->loop(); });
  return e;
}

int64_t ServingEngine::getContextLimit() const {
  return settings.batch.contextLimit;
}
int64_t ServingEngine::getVocab() const {
  return executor->getModel().getConfig().vocab;
}
int64_t ServingEngine::getPages() const { return executor->getPages(); }
double ServingEngine::getCompileSeconds() const {
  return executor->getCompileSeconds();
}

llvm::Expected<uint64_t> ServingEngine::submit(GenerationRequest request,
                                               EngineCallback callback) {
  auto invalid = [](const llvm::Twine &message) {
    return llvm::createStringError(
        std::make_error_code(std::errc::invalid_argument), message);
  };
  int64_t vocab = getVocab(), context = getContextLimit();
  if (request.prompt.empty())
    return invalid("the prompt is empty");
  for (int32_t id : request.prompt)
    if (id < 0 || id >= vocab)
      return invalid("token id " + llvm::Twine(id) +
                     " is outside the vocabulary of " + llvm::Twine(vocab));
  for (int32_t id : request.eos)
    if (id < 0 || id >= vocab)
      return invalid("end-of-sequence id " + llvm::Twine(id) +
                     " is outside the vocabulary of " + llvm::Twine(vocab));
  int64_t promptLength = static_cast<int64_t>(request.prompt.size());
  if (request.maxNewTokens < 1)
    return invalid("the maximum number of new tokens must be at least 1, "
                   "got " +
                   llvm::Twine(request.maxNewTokens));
  if (promptLength >= context || request.maxNewTokens > context - promptLength)
    return invalid("the prompt's " + llvm::Twine(promptLength) +
                   " tokens and " + llvm::Twine(request.maxNewTokens) +
                   " new tokens exceed the context of " + llvm::Twine(context) +
                   " tokens");
  if (llvm::Error err = request.sampling.validate())
    return invalid(llvm::toString(std::move(err)));
  std::lock_guard<std::mutex> lock(mutex);
  if (stopping)
    return llvm::createStringError(
        std::make_error_code(std::errc::operation_canceled),
        "the server is shutting down");
  if (scheduler->numWaiting() >= settings.maxWaiting)
    return llvm::createStringError(
        std::make_error_code(std::errc::resource_unavailable_try_again),
        "the server is busy: " + llvm::Twine(scheduler->numWaiting()) +
            " requests are already waiting; retry later");
  uint64_t id = nextId++;
  serve::Request r;
  r.id = id;
  r.prompt = std::move(request.prompt);
  r.maxNewTokens = request.maxNewTokens;
  r.eos = std::move(request.eos);
  if (llvm::Error err = scheduler->add(std::move(r)))
    return invalid(llvm::toString(std::move(err)));
  live.emplace(
      id, std::make_shared<Live>(id, std::move(callback), request.sampling));
  ++counters.requestsTotal;
  counters.promptTokens += promptLength;
  wake.notify_all();
  return id;
}

bool ServingEngine::cancel(uint64_t id) {
  std::lock_guard<std::mutex> lock(mutex);
  auto it = live.find(id);
  if (it == live.end())
    return false;
  it->second->done = true;
  live.erase(it);
  scheduler->cancel(id);
  return true;
}

void ServingEngine::shutdown(bool drain) {
  {
    std::lock_guard<std::mutex> lock(mutex);
    stopping = true;
    if (!drain)
      dropAll = true;
    wake.notify_all();
  }
  std::lock_guard<std::mutex> join(joinMutex);
  if (thread.joinable())
    thread.join();
}

EngineMetrics ServingEngine::getMetrics() const {
  std::lock_guard<std::mutex> lock(mutex);
  EngineMetrics m = counters;
  m.requestsRunning = scheduler->numRunning();
  m.requestsWaiting = scheduler->numWaiting();
  m.prefixHitTokens = scheduler->prefixHitTokens();
  m.pagesUsed = scheduler->pagesUsed();
  m.pagesFree = scheduler->pagesFree();
  m.pagesCached = scheduler->pagesCached();
  m.pagesHeld = scheduler->pagesHeld();
  m.windowReleasedPages = scheduler->windowReleasedPages();
  m.preemptions = scheduler->numPreemptions();
  m.steps = scheduler->stepsScheduled();
  return m;
}

void ServingEngine::endAll(
    EngineFinish reason, const std::string &message,
    std::vector<std::pair<std::shared_ptr<Live>, EngineEvent>> &out) {
  for (auto &[id, l] : live) {
    scheduler->cancel(id);
    EngineEvent e;
    e.kind = EngineEvent::Kind::Finished;
    e.requestId = id;
    e.reason = reason;
    e.message = message;
    out.push_back({l, e});
  }
  live.clear();
}

void ServingEngine::loop() {
  int64_t vocab = getVocab();
  std::vector<std::pair<std::shared_ptr<Live>, EngineEvent>> deliveries;
  auto deliver = [&] {
    for (auto &[l, e] : deliveries) {
      bool last = e.kind == EngineEvent::Kind::Finished;
      // A Finished event's request left `live` with done still false; a
      // cancelled one's token is dropped.
      if (!last && l->done)
        continue;
      if (l->callback)
        l->callback(e);
    }
    deliveries.clear();
  };
  while (true) {
    std::unique_lock<std::mutex> lock(mutex);
    wake.wait(lock, [&] { return stopping || scheduler->hasWork(); });
    if (dropAll)
      endAll(EngineFinish::Shutdown, "the server shut down", deliveries);
    if (!scheduler->hasWork()) {
      lock.unlock();
      deliver();
      if (stopping)
        return;
      continue;
    }
    serve::StepPlan plan = scheduler->schedule();
    // The samplers of the sampled sequences, held through the step.
    std::vector<std::shared_ptr<Live>> samplers;
    for (const serve::ScheduledSequence &s : plan.sequences)
      if (s.sample) {
        auto it = live.find(s.requestId);
        samplers.push_back(it == live.end() ? nullptr : it->second);
      }
    lock.unlock();

    auto start = std::chrono::steady_clock::now();
    auto logits = executor->run(plan);
    serve::StepResult result;
    if (logits) {
      size_t row = 0;
      for (const serve::ScheduledSequence &s : plan.sequences) {
        if (!s.sample)
          continue;
        llvm::ArrayRef<float> l = logits->slice(row * vocab, vocab);
        std::shared_ptr<Live> &owner = samplers[row++];
        // A request cancelled before the step: its token is dropped.
        int32_t token = owner && !owner->done ? owner->sampler.sample(l) : 0;
        result.sampled.push_back({s.requestId, token});
      }
    }
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count();

    lock.lock();
    counters.stepSeconds += seconds;
    if (!logits) {
      std::string message = llvm::toString(logits.takeError());
      // The plan cannot be completed without its tokens: give each sampled
      // sequence a token (dropped, as every request is ended).
      for (const serve::ScheduledSequence &s : plan.sequences)
        if (s.sample)
          result.sampled.push_back({s.requestId, 0});
      endAll(EngineFinish::Error, message, deliveries);
      llvm::consumeError(scheduler->complete(result).takeError());
    } else {
      auto events = scheduler->complete(result);
      if (!events) {
        endAll(EngineFinish::Error, llvm::toString(events.takeError()),
               deliveries);
      } else {
        for (const serve::Event &ev : *events) {
          auto it = live.find(ev.requestId);
          if (it == live.end())
            continue;
          EngineEvent e;
          e.requestId = ev.requestId;
          if (ev.kind == serve::Event::Kind::Token) {
            e.kind = EngineEvent::Kind::Token;
            e.token = ev.token;
            e.index = ev.index;
            ++counters.generatedTokens;
            deliveries.push_back({it->second, e});
          } else {
            e.kind = EngineEvent::Kind::Finished;
            e.reason = ev.reason == serve::FinishReason::Eos
                           ? EngineFinish::Eos
                           : EngineFinish::Length;
            deliveries.push_back({it->second, e});
            live.erase(it);
          }
        }
      }
    }
    lock.unlock();
    deliver();
  }
}
