//===- Scheduler.h - continuous batching over a paged KV cache --*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// What goes into each batch step of a server: the scheduler holds the
// requests, the page pool and the prefix index, and each schedule() returns
// a StepPlan, the packed tokens of many sequences with their positions, KV
// slots and page tables. The caller runs the model on it, samples a token
// from the last row of each sequence whose entry says so, and hands them to
// complete(), which returns what to stream:
//
//   auto scheduler = cantFail(Scheduler::create(config));
//   if (llvm::Error e = scheduler->add(std::move(request))) ...
//   while (scheduler->hasWork()) {
//     StepPlan plan = scheduler->schedule();
//     StepResult result = runModel(plan);        // copies first, then rows
//     for (const Event &event : cantFail(scheduler->complete(result)))
//       ...                                      // stream, or finish(id)
//   }
//
// A step mixes the decode token of each running sequence with prefill
// chunks of sequences still reading their prompt (decodes first, chunks fill
// the rest of the token budget), admits waiting requests in FIFO order while
// pages and the sequence limit allow, reuses cached full pages of a shared
// prefix, copies a shared page before a sequence writes into it, and
// preempts the most recently admitted sequence (to recompute it later) when
// the pool runs dry. No HTTP, no model, no sampling, no threads: one caller
// drives it. docs/serving.md, "Scheduler", gives the design.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_SERVE_SCHEDULER_H
#define TOK_SERVE_SCHEDULER_H

#include "tok/Serve/PagePool.h"
#include "tok/Serve/PrefixIndex.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <deque>
#include <memory>
#include <unordered_map>
#include <vector>

namespace mlir {
namespace tok {
namespace serve {

/// One generation request.
struct Request {
  /// The caller's name for it, unique among the requests not finished.
  uint64_t id = 0;
  /// The prompt's token ids (not empty).
  std::vector<int32_t> prompt;
  /// Tokens to generate at most (at least 1).
  int64_t maxNewTokens = 16;
  /// Any of these stops the request once sampled (the token is emitted).
  /// Stop strings are the caller's: it calls finish(id).
  std::vector<int32_t> eos;
};

struct SchedulerConfig {
  /// The KV cache: numPages pages of pageSize token slots.
  int64_t numPages = 1024;
  int64_t pageSize = 16;
  /// Token budget of a step (rows of the packed batch).
  int64_t maxTokensPerStep = 512;
  /// Sequences holding pages at once (at most maxTokensPerStep, so that
  /// every running sequence can decode in every step).
  int64_t maxSequences = 64;
  /// Prompt tokens of one sequence per step at most (0: the budget).
  int64_t prefillChunk = 0;
  /// Positions of a sequence: prompt plus maxNewTokens at most.
  int64_t contextLimit = 4096;
  /// Share cached full pages between requests (PrefixIndex.h).
  bool prefixCaching = true;
  /// Per-sequence window eviction (0: none): the step's rows see positions
  /// p - window + 1 .. p and the `sinks` first positions only (the
  /// paged_attention mask of a step tok-kv-evict{policy=window} rewrote),
  /// so each sequence's pages wholly outside both are released as it
  /// advances; their page table entries become kReleasedPage.
  int64_t window = 0;
  int64_t sinks = 0;
};

/// A page table entry whose page the sequence released (outside its
/// window); the step never reads it.
constexpr PageId kReleasedPage = -1;

/// The executor copies page src to page dst (every layer's K and V) before
/// running the step.
struct PageCopy {
  PageId src;
  PageId dst;
};

/// One sequence's rows of a step.
struct ScheduledSequence {
  uint64_t requestId = 0;
  /// The token ids to feed, their positions (consecutive) and the KV slot
  /// each one's keys and values are written to (page * pageSize + offset).
  std::vector<int32_t> tokens;
  std::vector<int64_t> positions;
  std::vector<int64_t> slots;
  /// The sequence's pages in order, covering positions 0 .. the last fed
  /// one: attention reads positions below each row's from them. With a
  /// window, entries of released pages are kReleasedPage.
  std::vector<PageId> pageTable;
  /// A prefill chunk (prompt, or prompt plus generated tokens when
  /// recomputing after a preemption), or one decode token.
  bool isPrefill = true;
  /// Whether the caller samples a token from the last row (a decode, or the
  /// chunk that ends the prefill) and returns it in the StepResult.
  bool sample = false;
};

struct StepPlan {
  std::vector<PageCopy> copies;
  std::vector<ScheduledSequence> sequences;
  /// Rows in all (the sum of the sequences' tokens).
  int64_t numTokens = 0;
  bool empty() const { return sequences.empty(); }
};

struct SampledToken {
  uint64_t requestId;
  int32_t token;
};

/// What the caller sampled: one token for each sequence of the plan with
/// sample set (in any order).
struct StepResult {
  std::vector<SampledToken> sampled;
};

enum class FinishReason {
  /// An end-of-sequence token was sampled (and emitted).
  Eos,
  /// maxNewTokens tokens were emitted.
  Length,
};

/// What complete() reports, in order: each sampled token, and a request
/// that finished after its last token. finish() and cancel() report
/// nothing (the caller knows).
struct Event {
  enum class Kind { Token, Finished };
  Kind kind;
  uint64_t requestId;
  /// Kind::Token: the token and its index among the request's new tokens.
  int32_t token = -1;
  int64_t index = -1;
  /// Kind::Finished.
  FinishReason reason = FinishReason::Length;
};

class Scheduler {
public:
  /// A scheduler with an empty pool, or an error for an invalid config.
  static llvm::Expected<std::unique_ptr<Scheduler>>
  create(const SchedulerConfig &config);
  ~Scheduler();
  Scheduler(const Scheduler &) = delete;
  Scheduler &operator=(const Scheduler &) = delete;

  /// Queues a request, or says why it can never run: an empty prompt,
  /// maxNewTokens < 1, prompt + maxNewTokens over contextLimit or over what
  /// the whole pool holds, an id already in use.
  llvm::Error add(Request request);

  /// The next step (empty when nothing can run). The plan must be
  /// completed before the next schedule().
  StepPlan schedule();
  /// Ends the step in flight: appends the sampled tokens, retires requests
  /// that sampled an end-of-sequence token or reached maxNewTokens, caches
  /// the pages the step filled. An error, changing nothing, when no step is
  /// in flight or the result does not match the plan's sampling rows.
  llvm::Expected<std::vector<Event>> complete(const StepResult &result);

  /// Stops a request (a stop string matched; finish) or drops it (its
  /// client went away; cancel): its pages are released, full ones stay
  /// cached; no further events. In a step in flight, that happens at
  /// complete() and its sampled token is dropped. False for an unknown id.
  bool finish(uint64_t id);
  bool cancel(uint64_t id);

  /// Whether any request is waiting or running.
  bool hasWork() const { return !waiting.empty() || !running.empty(); }
  bool stepInFlight() const { return inFlight; }

  /// Metrics.
  int64_t numWaiting() const { return static_cast<int64_t>(waiting.size()); }
  int64_t numRunning() const { return static_cast<int64_t>(running.size()); }
  int64_t pagesUsed() const { return pagePool.usedPages(); }
  int64_t pagesFree() const { return pagePool.freePages(); }
  /// Pages in the prefix index (some may also be in use).
  int64_t pagesCached() const { return index.size(); }
  /// Prompt (and recomputed) tokens whose KV came from cached pages.
  int64_t prefixHitTokens() const { return hitTokens; }
  int64_t numPreemptions() const { return preemptions; }
  /// Pages running sequences hold now (distinct; pages only the prefix
  /// index holds are not counted), the most they held after any
  /// schedule(), and the pages sequences released because they left their
  /// window.
  int64_t pagesHeld() const;
  int64_t peakPagesHeld() const { return peakHeld; }
  int64_t windowReleasedPages() const { return windowReleased; }
  /// Rows scheduled over all steps, and the steps.
  int64_t tokensScheduled() const { return scheduledTokens; }
  int64_t stepsScheduled() const { return steps; }

  const SchedulerConfig &config() const { return cfg; }
  const PagePool &pool() const { return pagePool; }
  const PrefixIndex &prefixIndex() const { return index; }
  /// Drops the prefix cache (pages in use stay held by their sequences).
  void clearPrefixCache() { index.clear(); }

  /// Checks every invariant: the pool's and the index's, each page's count
  /// equals its holders (sequences, the index, pending copies), each
  /// sequence's page table covers exactly its computed (and scheduled)
  /// positions, waiting sequences hold nothing, limits hold.
  llvm::Error verify() const;

private:
  struct Sequence;
  explicit Scheduler(const SchedulerConfig &config);

  Sequence *find(uint64_t id);
  /// Youngest running sequence not in the step being planned.
  Sequence *preemptionVictim();
  void preempt(Sequence &seq);
  void retire(Sequence &seq);
  /// A free page, evicting cached pages and (when allowed) preempting
  /// younger sequences; none when self had to be preempted or nothing
  /// could be freed.
  std::optional<PageId> allocatePage(Sequence &self, bool mayPreempt,
                                     bool &selfPreempted);
  /// Makes room for up to want more tokens of seq (a private copy of a
  /// shared page it writes into, new pages); returns how many fit.
  int64_t reserve(Sequence &seq, int64_t want, bool mayPreempt,
                  bool &selfPreempted, StepPlan &plan);
  void emit(Sequence &seq, int64_t n, StepPlan &plan);
  /// Admits the head of the waiting queue with up to budget tokens; false
  /// when it does not fit.
  bool admit(Sequence &seq, int64_t budget, StepPlan &plan);
  void cacheFullPages(Sequence &seq);
  /// Releases seq's pages that no row from position numComputed on can see
  /// (config window and sinks).
  void releaseOutsideWindow(Sequence &seq);
  /// Pages a request of `tokens` tokens needs at once at most.
  int64_t pagesNeeded(int64_t tokens) const;
  /// Pages of a sequence the prefix index may cache (the first ones).
  int64_t cacheablePages() const;

  SchedulerConfig cfg;
  PagePool pagePool;
  PrefixIndex index;
  std::unordered_map<uint64_t, std::unique_ptr<Sequence>> sequences;
  std::deque<Sequence *> waiting;
  /// Admission order, oldest first.
  std::vector<Sequence *> running;
  bool inFlight = false;
  /// Sequences of the step in flight, in plan order.
  std::vector<Sequence *> planned;
  /// Sources of the step's copies, held until it completes.
  std::vector<PageId> pinned;
  int64_t hitTokens = 0;
  int64_t preemptions = 0;
  int64_t scheduledTokens = 0;
  int64_t steps = 0;
  int64_t peakHeld = 0;
  int64_t windowReleased = 0;
};

} // namespace serve
} // namespace tok
} // namespace mlir

#endif // TOK_SERVE_SCHEDULER_H
