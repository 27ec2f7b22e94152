//===- ServingEngine.h - batched generation on its own thread ---*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// What a server runs: a model's @batch_step compiled once (as for
// BatchGenerator) and the serving scheduler (tok/Serve/Scheduler.h) driven
// in a loop on the engine's own thread. Requests come and go at any time
// from any thread:
//
//   auto engine = tok::ServingEngine::create(context, *model, settings);
//   auto id = (*engine)->submit(request, [](const tok::EngineEvent &e) {
//     ...                       // on the engine thread: a token, or the end
//   });
//   (*engine)->cancel(*id);     // the client went away
//   (*engine)->shutdown();      // finish what runs, then join
//
// Each request samples on the host with its own HostSampler (Sampler.h):
// its tokens depend on its prompt, its sampling settings and its seed, not
// on the requests it shares steps with. Callbacks run on the engine
// thread, outside the engine's lock: they may call cancel() or finish(),
// and should return quickly (the next step waits for them).
//
//===----------------------------------------------------------------------===//

#ifndef TOK_DRIVER_SERVINGENGINE_H
#define TOK_DRIVER_SERVINGENGINE_H

#include "tok/Driver/BatchGenerator.h"
#include "tok/Driver/Sampler.h"

#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/Error.h"

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace mlir {
namespace tok {

class BatchExecutor;
namespace serve {
class Scheduler;
} // namespace serve

struct EngineSettings {
  /// The compiled step and the scheduler: page size and pages, tokens and
  /// sequences per step, the context limit (prompt plus new tokens of any
  /// request), prefix caching, the optimization level. Its maxNewTokens
  /// and eos are unused (each request has its own).
  BatchSettings batch;
  /// Requests accepted but not yet running at most: submit refuses more
  /// (the server answers 503).
  int64_t maxWaiting = 256;
};

/// One generation request.
struct GenerationRequest {
  /// Token ids (1 or more, each in the vocabulary).
  std::vector<int32_t> prompt;
  /// New tokens at most (at least 1; prompt + these within the context).
  int64_t maxNewTokens = 16;
  SamplingParams sampling;
  /// Any of these ends the request once sampled (it is reported).
  std::vector<int32_t> eos;
};

enum class EngineFinish {
  /// An end-of-sequence token was sampled.
  Eos,
  /// maxNewTokens tokens were generated.
  Length,
  /// shutdown(/*drain=*/false) dropped it.
  Shutdown,
  /// The step failed (message says why).
  Error,
};

struct EngineEvent {
  enum class Kind { Token, Finished };
  Kind kind = Kind::Token;
  uint64_t requestId = 0;
  /// Kind::Token: the token and its index among the request's new tokens.
  int32_t token = -1;
  int64_t index = -1;
  /// Kind::Finished.
  EngineFinish reason = EngineFinish::Length;
  std::string message;
};

using EngineCallback = std::function<void(const EngineEvent &)>;

/// A snapshot of the engine's counters.
struct EngineMetrics {
  int64_t requestsTotal = 0, requestsRunning = 0, requestsWaiting = 0;
  int64_t generatedTokens = 0, promptTokens = 0, prefixHitTokens = 0;
  int64_t pagesUsed = 0, pagesFree = 0, pagesCached = 0;
  /// Pages running sequences hold (the prefix cache's alone not counted),
  /// and pages released behind a sequence's window (tok-kv-evict).
  int64_t pagesHeld = 0, windowReleasedPages = 0;
  int64_t preemptions = 0, steps = 0;
  double stepSeconds = 0;
};

class ServingEngine {
public:
  /// Compiles `model`'s batch step for `settings` and starts the engine
  /// thread. The model must outlive the engine.
  static llvm::Expected<std::unique_ptr<ServingEngine>>
  create(MLIRContext &context, const LlamaModel &model,
         const EngineSettings &settings);
  /// shutdown(/*drain=*/false).
  ~ServingEngine();
  ServingEngine(const ServingEngine &) = delete;
  ServingEngine &operator=(const ServingEngine &) = delete;

  /// Queues `request`; `callback` receives its tokens and then one
  /// Finished event (unless cancel() or finish() ends it first). Errors
  /// (llvm::StringError) carry std::errc::invalid_argument for a request
  /// that can never run (ids outside the vocabulary, an empty prompt,
  /// prompt + maxNewTokens over the context limit, sampling values out of
  /// range), std::errc::resource_unavailable_try_again when maxWaiting
  /// requests already wait, std::errc::operation_canceled after
  /// shutdown().
  llvm::Expected<uint64_t> submit(GenerationRequest request,
                                  EngineCallback callback);

  /// Drops a request (its client went away) or stops it (a stop string
  /// matched): its pages are released, the others run on undisturbed, and
  /// no further event is delivered once this returns (but for one being
  /// delivered at that moment). False for an unknown or finished id.
  bool cancel(uint64_t id);

  /// Stops accepting requests; with `drain`, lets the accepted ones run to
  /// their end, else ends them (Finished, EngineFinish::Shutdown); then
  /// joins the engine thread. Idempotent.
  void shutdown(bool drain = true);

  EngineMetrics getMetrics() const;
  int64_t getContextLimit() const;
  int64_t getVocab() const;
  int64_t getPages() const;
  double getCompileSeconds() const;

private:
  struct Live;
  ServingEngine();
  void loop();
  /// Ends every live request with `reason` (the lock held); their events
  /// are appended to `out`.
  void endAll(EngineFinish reason, const std::string &message,
              std::vector<std::pair<std::shared_ptr<Live>, EngineEvent>> &out);

  std::unique_ptr<BatchExecutor> executor;
  std::unique_ptr<serve::Scheduler> scheduler;
  EngineSettings settings;
  std::unordered_map<uint64_t, std::shared_ptr<Live>> live;
  uint64_t nextId = 1;
  mutable std::mutex mutex;
  std::condition_variable wake;
  bool stopping = false, dropAll = false;
  std::mutex joinMutex;
  std::thread thread;
  EngineMetrics counters;
};

} // namespace tok
} // namespace mlir

#endif // TOK_DRIVER_SERVINGENGINE_H
