//===- Scheduler.cpp - continuous batching over a paged KV cache ----------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// A sequence is a request with its tokens so far (prompt, then generated),
// how many of them have KV in its pages (numComputed), and its pages. A
// step feeds tokens numComputed .. numComputed + n - 1 of each scheduled
// sequence; when they reach its last token the caller samples the next.
// complete() makes the step's tokens computed. docs/serving.md, "Scheduler",
// explains the policies.
//
//===----------------------------------------------------------------------===//

#include "tok/Serve/Scheduler.h"

#include "llvm/ADT/STLExtras.h"

#include <algorithm>
#include <cassert>
#include <limits>

using namespace mlir::tok::serve;

struct Scheduler::Sequence {
  Request request;
  /// The prompt, then the generated tokens.
  std::vector<int32_t> tokens;
  int64_t numGenerated = 0;
  /// Tokens whose KV is in pages (positions 0 .. numComputed - 1).
  int64_t numComputed = 0;
  /// Pages covering positions 0 .. numComputed (+ numScheduled) - 1; empty
  /// while waiting.
  std::vector<PageId> pages;
  bool running = false;
  /// In the step being planned or in flight, with numScheduled tokens.
  bool scheduled = false;
  int64_t numScheduled = 0;
  bool sample = false;
  /// finish() or cancel() during the step in flight.
  bool stopRequested = false;
  /// The first numCached pages are in the prefix index (or equal to cached
  /// ones), the chain ending at chain; a refused insert ends caching.
  int64_t numCached = 0;
  PrefixPosition chain;
  bool chainBroken = false;
  /// Pages before this index were considered for release (window).
  int64_t releasedEnd = 0;

  int64_t pending() const {
    return static_cast<int64_t>(tokens.size()) - numComputed;
  }
  bool isDecode() const { return numGenerated > 0 && pending() == 1; }
};

Scheduler::Scheduler(const SchedulerConfig &config)
    : cfg(config), pagePool(config.numPages, config.pageSize), index(pagePool) {
}

Scheduler::~Scheduler() {
  // The index's references go before the pool.
  index.clear();
}

llvm::Expected<std::unique_ptr<Scheduler>>
Scheduler::create(const SchedulerConfig &config) {
  auto positive = [](int64_t value, const char *name) -> llvm::Error {
    if (value >= 1)
      return llvm::Error::success();
    return llvm::createStringError("%s must be at least 1 (got %lld)", name,
                                   static_cast<long long>(value));
  };
  if (llvm::Error e = positive(config.numPages, "numPages"))
    return std::move(e);
  if (llvm::Error e = positive(config.pageSize, "pageSize"))
    return std::move(e);
  if (llvm::Error e = positive(config.maxTokensPerStep, "maxTokensPerStep"))
    return std::move(e);
  if (llvm::Error e = positive(config.maxSequences, "maxSequences"))
    return std::move(e);
  if (llvm::Error e = positive(config.contextLimit, "contextLimit"))
    return std::move(e);
  if (config.numPages > INT32_MAX)
    return llvm::createStringError("numPages %lld over the page id range",
                                   static_cast<long long>(config.numPages));
  if (config.maxSequences > config.maxTokensPerStep)
    return llvm::createStringError(
        "maxSequences (%lld) over maxTokensPerStep (%lld): some running "
        "sequences could not decode in a step",
        static_cast<long long>(config.maxSequences),
        static_cast<long long>(config.maxTokensPerStep));
  if (config.prefillChunk < 0)
    return llvm::createStringError("prefillChunk must not be negative");
  if (config.window < 0 || config.sinks < 0)
    return llvm::createStringError("window and sinks must not be negative");
  if (config.sinks > 0 && config.window == 0)
    return llvm::createStringError("sinks (%lld) need a window",
                                   static_cast<long long>(config.sinks));
  return std::unique_ptr<Scheduler>(new Scheduler(config));
}

llvm::Error Scheduler::add(Request request) {
  if (sequences.count(request.id))
    return llvm::createStringError("request %llu: the id is in use",
                                   static_cast<unsigned long long>(request.id));
  auto invalid = [&](const llvm::Twine &why) {
    return llvm::createStringError("request " + llvm::Twine(request.id) + ": " +
                                   why);
  };
  if (request.prompt.empty())
    return invalid("empty prompt");
  if (request.maxNewTokens < 1)
    return invalid("maxNewTokens must be at least 1 (got " +
                   llvm::Twine(request.maxNewTokens) + ")");
  int64_t promptSize = static_cast<int64_t>(request.prompt.size());
  if (request.maxNewTokens > cfg.contextLimit - promptSize)
    return invalid(llvm::Twine(promptSize) + " prompt tokens + " +
                   llvm::Twine(request.maxNewTokens) +
                   " new tokens are over the context limit " +
                   llvm::Twine(cfg.contextLimit));
  int64_t total = promptSize + request.maxNewTokens;
  int64_t pages = pagesNeeded(total);
  if (pages > cfg.numPages)
    return invalid(llvm::Twine(total) + " tokens need " + llvm::Twine(pages) +
                   " pages; the pool has " + llvm::Twine(cfg.numPages));
  auto seq = std::make_unique<Sequence>();
  seq->tokens = request.prompt;
  seq->request = std::move(request);
  Sequence *raw = seq.get();
  sequences.emplace(raw->request.id, std::move(seq));
  waiting.push_back(raw);
  return llvm::Error::success();
}

int64_t Scheduler::pagesNeeded(int64_t total) const {
  // A sequence computes the KV of at most total - 1 positions; one more
  // slot covers the page a full prefix hit copies.
  int64_t pageSize = cfg.pageSize;
  int64_t pages = (total + pageSize - 1) / pageSize;
  if (cfg.window == 0)
    return pages;
  // With a window, the sink pages, the pages the window straddles and the
  // page being written: a prefill chunk takes what fits and the pages
  // behind the window go back after each step.
  // The index may hold cacheablePages() more that it cannot evict while
  // the chain's last page is in use.
  int64_t bounded = (cfg.sinks + pageSize - 1) / pageSize +
                    (cfg.window + pageSize - 1) / pageSize + 2 +
                    (cfg.prefixCaching ? cacheablePages() : 0);
  return std::min(pages, bounded);
}

int64_t Scheduler::cacheablePages() const {
  // With a window, a sequence's chain of cached pages stops at the first
  // sinks + window positions: the index evicts a chain from its end, and a
  // chain that grew with the sequence would pin pages it left behind.
  if (cfg.window == 0)
    return std::numeric_limits<int64_t>::max();
  return (cfg.sinks + cfg.window + cfg.pageSize - 1) / cfg.pageSize;
}

Scheduler::Sequence *Scheduler::find(uint64_t id) {
  auto it = sequences.find(id);
  return it == sequences.end() ? nullptr : it->second.get();
}

Scheduler::Sequence *Scheduler::preemptionVictim() {
  for (Sequence *seq : llvm::reverse(running))
    if (!seq->scheduled)
      return seq;
  return nullptr;
}

void Scheduler::preempt(Sequence &seq) {
  assert(seq.running && !seq.scheduled && "preempting a planned sequence");
  for (PageId page : seq.pages)
    if (page != kReleasedPage)
      pagePool.release(page);
  seq.pages.clear();
  seq.releasedEnd = 0;
  seq.numComputed = 0;
  seq.numCached = 0;
  seq.chain = PrefixPosition();
  seq.chainBroken = false;
  seq.running = false;
  llvm::erase(running, &seq);
  // At the front, before requests that arrived after it; its tokens so far
  // (generated ones included) are its prompt when it comes back.
  waiting.push_front(&seq);
  ++preemptions;
}

void Scheduler::retire(Sequence &seq) {
  for (PageId page : seq.pages)
    if (page != kReleasedPage)
      pagePool.release(page);
  seq.pages.clear();
  if (seq.running)
    llvm::erase(running, &seq);
  else
    llvm::erase(waiting, &seq);
  sequences.erase(seq.request.id);
}

std::optional<PageId> Scheduler::allocatePage(Sequence &self, bool mayPreempt,
                                              bool &selfPreempted) {
  while (true) {
    if (std::optional<PageId> page = pagePool.allocate())
      return page;
    if (index.evict(1) > 0)
      continue;
    if (!mayPreempt)
      return std::nullopt;
    Sequence *victim = preemptionVictim();
    if (!victim)
      return std::nullopt;
    preempt(*victim);
    if (victim == &self) {
      selfPreempted = true;
      return std::nullopt;
    }
  }
}

int64_t Scheduler::reserve(Sequence &seq, int64_t want, bool mayPreempt,
                           bool &selfPreempted, StepPlan &plan) {
  int64_t pageSize = cfg.pageSize;
  int64_t first = seq.numComputed;
  // Copy-on-write: the first token goes into a page others hold too (a
  // cached page of a full prefix hit, whose last token is recomputed).
  size_t page = first / pageSize;
  if (page < seq.pages.size() && pagePool.refCount(seq.pages[page]) > 1) {
    std::optional<PageId> copy = allocatePage(seq, mayPreempt, selfPreempted);
    if (!copy)
      return 0;
    plan.copies.push_back({seq.pages[page], *copy});
    // The sequence's reference on the source holds it until the copy ran.
    pinned.push_back(seq.pages[page]);
    seq.pages[page] = *copy;
  }
  int64_t capacity = static_cast<int64_t>(seq.pages.size()) * pageSize - first;
  while (capacity < want) {
    // Preempt only when not a single token fits otherwise.
    std::optional<PageId> next =
        allocatePage(seq, mayPreempt && capacity <= 0, selfPreempted);
    if (!next)
      break;
    seq.pages.push_back(*next);
    capacity += pageSize;
  }
  if (selfPreempted)
    return 0;
  return std::max<int64_t>(0, std::min(want, capacity));
}

void Scheduler::emit(Sequence &seq, int64_t n, StepPlan &plan) {
  int64_t pageSize = cfg.pageSize;
  ScheduledSequence entry;
  entry.requestId = seq.request.id;
  entry.tokens.reserve(n);
  entry.positions.reserve(n);
  entry.slots.reserve(n);
  for (int64_t pos = seq.numComputed, end = pos + n; pos < end; ++pos) {
    entry.tokens.push_back(seq.tokens[pos]);
    entry.positions.push_back(pos);
    entry.slots.push_back(seq.pages[pos / pageSize] * pageSize +
                          pos % pageSize);
  }
  entry.pageTable = seq.pages;
  entry.isPrefill = !seq.isDecode();
  entry.sample = seq.numComputed + n == static_cast<int64_t>(seq.tokens.size());
  seq.scheduled = true;
  seq.numScheduled = n;
  seq.sample = entry.sample;
  plan.numTokens += n;
  plan.sequences.push_back(std::move(entry));
  planned.push_back(&seq);
}

bool Scheduler::admit(Sequence &seq, int64_t budget, StepPlan &plan) {
  assert(!seq.running && seq.pages.empty() && seq.numComputed == 0);
  int64_t pageSize = cfg.pageSize;
  PrefixMatch match;
  if (cfg.prefixCaching)
    match = index.lookup(seq.tokens);
  for (PageId page : match.pages) {
    pagePool.retain(page);
    seq.pages.push_back(page);
  }
  seq.numComputed = static_cast<int64_t>(match.pages.size()) * pageSize;
  // A prefix hit of every token still needs the last one's logits: it is
  // fed again, into a private copy of the last page (reserve).
  if (seq.numComputed == static_cast<int64_t>(seq.tokens.size()))
    --seq.numComputed;
  int64_t chunk = cfg.prefillChunk > 0 ? cfg.prefillChunk : budget;
  int64_t want = std::min({seq.pending(), chunk, budget});
  bool selfPreempted = false;
  int64_t n = reserve(seq, want, /*mayPreempt=*/false, selfPreempted, plan);
  if (n == 0) {
    for (PageId page : seq.pages)
      pagePool.release(page); // none released yet
    seq.pages.clear();
    seq.numComputed = 0;
    return false;
  }
  if (cfg.prefixCaching)
    index.commit(match);
  hitTokens += seq.numComputed;
  seq.numCached = static_cast<int64_t>(match.pages.size());
  seq.chain = match.end;
  seq.chainBroken = false;
  seq.running = true;
  waiting.pop_front();
  running.push_back(&seq);
  // Cached prefix pages behind the window: referenced no longer.
  releaseOutsideWindow(seq);
  emit(seq, n, plan);
  return true;
}

StepPlan Scheduler::schedule() {
  StepPlan plan;
  if (inFlight) {
    assert(false && "schedule() before the last step completed");
    return plan;
  }
  inFlight = true;
  int64_t budget = cfg.maxTokensPerStep;
  int64_t preemptionsBefore = preemptions;
  // Decodes first, oldest first: one token each. A sequence short of a page
  // preempts the youngest not yet planned (perhaps itself).
  std::vector<Sequence *> order = running;
  for (Sequence *seq : order) {
    if (budget == 0)
      break;
    if (!seq->running || !seq->isDecode())
      continue;
    bool selfPreempted = false;
    if (reserve(*seq, 1, /*mayPreempt=*/true, selfPreempted, plan) == 1) {
      emit(*seq, 1, plan);
      --budget;
    }
  }
  // Then the prompts of running sequences, a chunk each, oldest first.
  int64_t chunk = cfg.prefillChunk > 0 ? cfg.prefillChunk : budget;
  order = running;
  for (Sequence *seq : order) {
    if (budget == 0)
      break;
    if (!seq->running || seq->scheduled || seq->isDecode())
      continue;
    int64_t want = std::min({seq->pending(), chunk, budget});
    bool selfPreempted = false;
    int64_t n = reserve(*seq, want, /*mayPreempt=*/true, selfPreempted, plan);
    if (n > 0) {
      emit(*seq, n, plan);
      budget -= n;
    }
  }
  // Then new requests, first come first served, while they fit; none in a
  // step that had to preempt (they would take the pages just freed).
  if (preemptions == preemptionsBefore) {
    while (!waiting.empty() && budget > 0 && numRunning() < cfg.maxSequences) {
      if (!admit(*waiting.front(), budget, plan))
        break;
      budget -= planned.back()->numScheduled;
    }
  }
  if (!plan.empty()) {
    ++steps;
    scheduledTokens += plan.numTokens;
  }
  peakHeld = std::max(peakHeld, pagesHeld());
  return plan;
}

int64_t Scheduler::pagesHeld() const {
  std::vector<bool> held(cfg.numPages, false);
  int64_t n = 0;
  for (const Sequence *seq : running)
    for (PageId page : seq->pages)
      if (page != kReleasedPage && !held[page]) {
        held[page] = true;
        ++n;
      }
  return n;
}

void Scheduler::releaseOutsideWindow(Sequence &seq) {
  if (cfg.window == 0)
    return;
  int64_t pageSize = cfg.pageSize;
  // Rows from position numComputed on see positions from
  // numComputed + 1 - window on, and the sinks: page k goes when it holds
  // no sink and its last position is before that.
  int64_t firstReleasable = (cfg.sinks + pageSize - 1) / pageSize;
  int64_t visibleFrom = seq.numComputed + 1 - cfg.window;
  int64_t end = std::min<int64_t>(static_cast<int64_t>(seq.pages.size()),
                                  visibleFrom / pageSize);
  for (int64_t k = std::max(firstReleasable, seq.releasedEnd); k < end; ++k) {
    if (seq.pages[k] == kReleasedPage)
      continue;
    pagePool.release(seq.pages[k]);
    seq.pages[k] = kReleasedPage;
    ++windowReleased;
  }
  seq.releasedEnd = std::max(seq.releasedEnd, end);
}

void Scheduler::cacheFullPages(Sequence &seq) {
  if (!cfg.prefixCaching || seq.chainBroken)
    return;
  int64_t pageSize = cfg.pageSize;
  int64_t full = std::min(seq.numComputed / pageSize, cacheablePages());
  llvm::ArrayRef<int32_t> tokens(seq.tokens);
  for (; seq.numCached < full; ++seq.numCached) {
    int64_t k = seq.numCached;
    std::optional<PrefixPosition> at = index.insert(
        seq.chain, tokens.slice(k * pageSize, pageSize), seq.pages[k]);
    if (!at) {
      seq.chainBroken = true;
      return;
    }
    seq.chain = *at;
  }
}

llvm::Expected<std::vector<Event>>
Scheduler::complete(const StepResult &result) {
  if (!inFlight)
    return llvm::createStringError("complete() without a step in flight");
  std::unordered_map<uint64_t, Sequence *> sampling;
  for (Sequence *seq : planned)
    if (seq->sample)
      sampling[seq->request.id] = seq;
  std::unordered_map<uint64_t, int32_t> tokens;
  for (const SampledToken &sampled : result.sampled) {
    if (!sampling.count(sampled.requestId))
      return llvm::createStringError(
          "a token for request %llu, which sampled nothing in this step",
          static_cast<unsigned long long>(sampled.requestId));
    if (!tokens.emplace(sampled.requestId, sampled.token).second)
      return llvm::createStringError(
          "two tokens for request %llu",
          static_cast<unsigned long long>(sampled.requestId));
  }
  for (auto &[id, seq] : sampling)
    if (!seq->stopRequested && !tokens.count(id))
      return llvm::createStringError("no token for request %llu",
                                     static_cast<unsigned long long>(id));

  std::vector<Event> events;
  for (Sequence *seq : planned) {
    seq->numComputed += seq->numScheduled;
    seq->numScheduled = 0;
    seq->scheduled = false;
    cacheFullPages(*seq);
    if (seq->stopRequested) {
      retire(*seq);
      continue;
    }
    releaseOutsideWindow(*seq);
    if (!seq->sample)
      continue;
    seq->sample = false;
    uint64_t id = seq->request.id;
    int32_t token = tokens[id];
    seq->tokens.push_back(token);
    Event event{Event::Kind::Token, id};
    event.token = token;
    event.index = seq->numGenerated++;
    events.push_back(event);
    bool eos = llvm::is_contained(seq->request.eos, token);
    if (!eos && seq->numGenerated < seq->request.maxNewTokens)
      continue;
    Event finished{Event::Kind::Finished, id};
    finished.reason = eos ? FinishReason::Eos : FinishReason::Length;
    events.push_back(finished);
    retire(*seq);
  }
  for (PageId page : pinned)
    pagePool.release(page);
  pinned.clear();
  planned.clear();
  inFlight = false;
  return events;
}

bool Scheduler::finish(uint64_t id) {
  Sequence *seq = find(id);
  if (!seq)
    return false;
  if (seq->scheduled)
    seq->stopRequested = true;
  else
    retire(*seq);
  return true;
}

bool Scheduler::cancel(uint64_t id) { return finish(id); }

llvm::Error Scheduler::verify() const {
  if (llvm::Error e = pagePool.verify())
    return e;
  if (llvm::Error e = index.verify())
    return e;
  if (waiting.size() + running.size() != sequences.size())
    return llvm::createStringError("%zu waiting + %zu running but %zu requests",
                                   waiting.size(), running.size(),
                                   sequences.size());
  if (numRunning() > cfg.maxSequences)
    return llvm::createStringError("%zu sequences running", running.size());
  int64_t pageSize = cfg.pageSize;
  std::vector<int64_t> holders(cfg.numPages, 0);
  for (const auto &entry : sequences) {
    uint64_t id = entry.first;
    const Sequence &seq = *entry.second;
    auto fail = [&](const llvm::Twine &why) {
      return llvm::createStringError("request " + llvm::Twine(id) + ": " + why);
    };
    if (seq.tokens.size() != seq.request.prompt.size() + seq.numGenerated ||
        seq.numGenerated >= seq.request.maxNewTokens)
      return fail("wrong number of tokens");
    if (seq.running != llvm::is_contained(running, &seq) ||
        seq.running == llvm::is_contained(waiting, &seq))
      return fail("not in exactly one queue");
    if (seq.scheduled != (inFlight && llvm::is_contained(planned, &seq)))
      return fail("scheduled but not planned");
    int64_t covered = seq.numComputed + seq.numScheduled;
    if (covered > static_cast<int64_t>(seq.tokens.size()))
      return fail("more positions than tokens");
    if (!seq.running) {
      if (!seq.pages.empty() || seq.numComputed != 0 || seq.scheduled)
        return fail("waiting with pages");
      continue;
    }
    if (static_cast<int64_t>(seq.pages.size()) !=
        (covered + pageSize - 1) / pageSize)
      return fail(llvm::Twine(seq.pages.size()) + " pages for " +
                  llvm::Twine(covered) + " positions");
    for (size_t k = 0; k < seq.pages.size(); ++k) {
      PageId page = seq.pages[k];
      if (page == kReleasedPage) {
        // Only pages no row from numComputed on can see.
        int64_t first = static_cast<int64_t>(k) * pageSize;
        if (cfg.window == 0 || first < cfg.sinks ||
            first + pageSize > seq.numComputed + 1 - cfg.window)
          return fail("page " + llvm::Twine(k) + " released but still visible");
        continue;
      }
      if (page < 0 || page >= cfg.numPages)
        return fail("page out of range");
      ++holders[page];
      // Shared pages are full and written by no one.
      if (pagePool.refCount(page) > 1 &&
          static_cast<int64_t>(k + 1) * pageSize > seq.numComputed)
        return fail("writes into shared page " + llvm::Twine(page));
    }
  }
  for (PageId page : pinned)
    ++holders[page];
  for (PageId page = 0; page < cfg.numPages; ++page) {
    int64_t expected = holders[page] + (index.contains(page) ? 1 : 0);
    if (pagePool.refCount(page) != expected)
      return llvm::createStringError("page %d has count %d but %lld holders",
                                     page, pagePool.refCount(page),
                                     static_cast<long long>(expected));
  }
  return llvm::Error::success();
}
