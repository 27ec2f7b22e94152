//===- SchedulerTest.cpp - continuous batching over a paged KV cache ------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// The scheduler driven by a simulated executor. Its "model" keeps in each KV
// slot a hash of the state before it, the token and the position, reads the
// previous position's slot through the sequence's page table, and samples a
// token from the last state: a deterministic function of the request's own
// token history, so wrong page tables, slots, copies or sharing change the
// tokens. Each run is checked against that function computed directly, and
// every invariant (Scheduler::verify and the executor's own checks) is
// checked after each step: requests alone or among many, with and without
// prefix caching, under a pool small enough to preempt, and 10,000 random
// admit / cancel / finish steps that leave no page in use.
//
//===----------------------------------------------------------------------===//

#include "tok/Serve/Scheduler.h"

#include "llvm/Support/Error.h"

#include <gtest/gtest.h>

#include <map>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <vector>

using namespace mlir::tok::serve;

namespace {

std::string message(llvm::Error error) {
  return error ? llvm::toString(std::move(error)) : std::string();
}

constexpr uint64_t kSeedState = 0x1234567887654321ull;

/// The model's state after token at pos, given the state before it.
uint64_t mix(uint64_t prev, int32_t token, int64_t pos) {
  uint64_t x = prev ^
               (static_cast<uint64_t>(static_cast<uint32_t>(token)) *
                0x9E3779B97F4A7C15ull) ^
               (static_cast<uint64_t>(pos) << 40);
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

constexpr int32_t kVocab = 32;

int32_t sampleFrom(uint64_t state) {
  return static_cast<int32_t>(state % kVocab);
}

/// What the model generates for a request, computed directly.
std::vector<int32_t> reference(const Request &request) {
  uint64_t state = kSeedState;
  int64_t pos = 0;
  for (int32_t token : request.prompt)
    state = mix(state, token, pos++);
  std::vector<int32_t> out;
  while (true) {
    int32_t token = sampleFrom(state);
    out.push_back(token);
    if (llvm::is_contained(request.eos, token) ||
        static_cast<int64_t>(out.size()) == request.maxNewTokens)
      return out;
    state = mix(state, token, pos++);
  }
}

/// Runs plans on simulated KV memory, checking them against the scheduler.
class Executor {
public:
  explicit Executor(const Scheduler &scheduler)
      : scheduler(scheduler),
        kv(scheduler.config().numPages * scheduler.config().pageSize, 0),
        written(kv.size(), -1) {}

  StepResult run(const StepPlan &plan) {
    const SchedulerConfig &cfg = scheduler.config();
    const PagePool &pool = scheduler.pool();
    int64_t pageSize = cfg.pageSize;
    StepResult result;
    EXPECT_LE(plan.numTokens, cfg.maxTokensPerStep);
    EXPECT_LE(static_cast<int64_t>(plan.sequences.size()), cfg.maxSequences);
    for (const PageCopy &copy : plan.copies) {
      EXPECT_GE(pool.refCount(copy.src), 1);
      EXPECT_EQ(pool.refCount(copy.dst), 1);
      for (int64_t i = 0; i < pageSize; ++i) {
        kv[copy.dst * pageSize + i] = kv[copy.src * pageSize + i];
        written[copy.dst * pageSize + i] = written[copy.src * pageSize + i];
      }
      ++copies;
    }
    std::set<uint64_t> ids;
    std::set<int64_t> slots;
    int64_t rows = 0;
    for (const ScheduledSequence &seq : plan.sequences) {
      EXPECT_TRUE(ids.insert(seq.requestId).second) << "scheduled twice";
      size_t n = seq.tokens.size();
      EXPECT_GE(n, 1u);
      EXPECT_EQ(seq.positions.size(), n);
      EXPECT_EQ(seq.slots.size(), n);
      if (!seq.isPrefill)
        EXPECT_TRUE(n == 1 && seq.sample);
      rows += n;
      int64_t last = seq.positions.back();
      EXPECT_EQ(static_cast<int64_t>(seq.pageTable.size()), last / pageSize + 1)
          << "the page table covers exactly the positions";
      for (size_t i = 0; i < n; ++i) {
        int64_t pos = seq.positions[i];
        EXPECT_EQ(pos, seq.positions[0] + static_cast<int64_t>(i));
        PageId page = seq.pageTable[pos / pageSize];
        int64_t slot = page * pageSize + pos % pageSize;
        EXPECT_EQ(seq.slots[i], slot);
        EXPECT_TRUE(slots.insert(slot).second) << "a slot written twice";
        // Written pages belong to this sequence alone.
        EXPECT_EQ(pool.refCount(page), 1);
        uint64_t prev = kSeedState;
        if (pos > 0) {
          int64_t prevSlot = seq.pageTable[(pos - 1) / pageSize] * pageSize +
                             (pos - 1) % pageSize;
          EXPECT_EQ(written[prevSlot], pos - 1) << "reads an unwritten slot";
          prev = kv[prevSlot];
        }
        kv[slot] = mix(prev, seq.tokens[i], pos);
        written[slot] = pos;
      }
      if (seq.sample)
        result.sampled.push_back(
            {seq.requestId, sampleFrom(kv[seq.slots.back()])});
    }
    EXPECT_EQ(rows, plan.numTokens);
    return result;
  }

  int64_t copies = 0;

private:
  const Scheduler &scheduler;
  std::vector<uint64_t> kv;
  std::vector<int64_t> written;
};

struct Outcome {
  std::vector<int32_t> tokens;
  int finished = 0;
  FinishReason reason = FinishReason::Length;
};

/// Records a step's events, checking each token comes once, in order, and
/// nothing after a request finished.
void record(const std::vector<Event> &events,
            std::map<uint64_t, Outcome> &outcomes) {
  for (const Event &event : events) {
    Outcome &outcome = outcomes[event.requestId];
    EXPECT_EQ(outcome.finished, 0) << "an event after the end";
    if (event.kind == Event::Kind::Token) {
      EXPECT_EQ(event.index, static_cast<int64_t>(outcome.tokens.size()));
      outcome.tokens.push_back(event.token);
    } else {
      ++outcome.finished;
      outcome.reason = event.reason;
    }
  }
}

/// One schedule / run / complete round with the invariants checked.
void step(Scheduler &scheduler, Executor &executor,
          std::map<uint64_t, Outcome> &outcomes) {
  StepPlan plan = scheduler.schedule();
  ASSERT_EQ(message(scheduler.verify()), "");
  StepResult result = executor.run(plan);
  llvm::Expected<std::vector<Event>> events = scheduler.complete(result);
  ASSERT_TRUE(static_cast<bool>(events)) << message(events.takeError());
  ASSERT_EQ(message(scheduler.verify()), "");
  record(*events, outcomes);
}

std::map<uint64_t, Outcome> runAll(Scheduler &scheduler,
                                   const std::vector<Request> &requests) {
  Executor executor(scheduler);
  std::map<uint64_t, Outcome> outcomes;
  for (const Request &request : requests)
    EXPECT_EQ(message(scheduler.add(request)), "");
  for (int i = 0; scheduler.hasWork(); ++i) {
    EXPECT_LT(i, 100000) << "no progress";
    if (i >= 100000 || ::testing::Test::HasFatalFailure())
      break;
    step(scheduler, executor, outcomes);
  }
  return outcomes;
}

void expectReference(const std::vector<Request> &requests,
                     std::map<uint64_t, Outcome> &outcomes) {
  for (const Request &request : requests) {
    const Outcome &outcome = outcomes[request.id];
    std::vector<int32_t> expected = reference(request);
    EXPECT_EQ(outcome.tokens, expected) << "request " << request.id;
    EXPECT_EQ(outcome.finished, 1) << "request " << request.id;
    bool eos = llvm::is_contained(request.eos, expected.back());
    EXPECT_EQ(outcome.reason, eos ? FinishReason::Eos : FinishReason::Length);
  }
}

std::unique_ptr<Scheduler> make(SchedulerConfig config) {
  llvm::Expected<std::unique_ptr<Scheduler>> scheduler =
      Scheduler::create(config);
  EXPECT_TRUE(static_cast<bool>(scheduler)) << message(scheduler.takeError());
  return std::move(*scheduler);
}

std::vector<int32_t> iota(int32_t first, int32_t n) {
  std::vector<int32_t> tokens(n);
  std::iota(tokens.begin(), tokens.end(), first);
  return tokens;
}

Request request(uint64_t id, std::vector<int32_t> prompt, int64_t maxNew,
                std::vector<int32_t> eos = {}) {
  Request r;
  r.id = id;
  r.prompt = std::move(prompt);
  r.maxNewTokens = maxNew;
  r.eos = std::move(eos);
  return r;
}

/// n requests over a few shared prefixes (page-aligned or not), with random
/// tails, lengths and end-of-sequence tokens.
std::vector<Request> randomRequests(std::mt19937_64 &rng, int n,
                                    uint64_t firstId = 0) {
  std::vector<std::vector<int32_t>> prefixes = {
      {}, iota(1, 8), iota(3, 13), iota(5, 24)};
  auto uniform = [&](int lo, int hi) {
    return std::uniform_int_distribution<int>(lo, hi)(rng);
  };
  std::vector<Request> requests;
  for (int i = 0; i < n; ++i) {
    std::vector<int32_t> prompt = prefixes[uniform(0, 3)];
    // Sometimes the whole prompt is a shared prefix.
    int tail = uniform(0, 3) == 0 ? 0 : uniform(1, 12);
    if (prompt.empty() && tail == 0)
      tail = 1;
    for (int t = 0; t < tail; ++t)
      prompt.push_back(uniform(0, kVocab - 1));
    std::vector<int32_t> eos;
    if (uniform(0, 1))
      eos = {0, 1};
    requests.push_back(
        request(firstId + i, std::move(prompt), uniform(1, 16), eos));
  }
  return requests;
}

TEST(SchedulerTest, RejectsInvalidConfigs) {
  SchedulerConfig config;
  config.maxSequences = 1000;
  config.maxTokensPerStep = 64;
  EXPECT_EQ(message(Scheduler::create(config).takeError()),
            "maxSequences (1000) over maxTokensPerStep (64): some running "
            "sequences could not decode in a step");
  config = SchedulerConfig();
  config.numPages = 0;
  EXPECT_EQ(message(Scheduler::create(config).takeError()),
            "numPages must be at least 1 (got 0)");
}

TEST(SchedulerTest, RejectsInvalidRequests) {
  SchedulerConfig config;
  config.numPages = 4;
  config.pageSize = 4;
  config.contextLimit = 32;
  auto scheduler = make(config);
  EXPECT_EQ(message(scheduler->add(request(1, {}, 4))),
            "request 1: empty prompt");
  EXPECT_EQ(message(scheduler->add(request(1, {1}, 0))),
            "request 1: maxNewTokens must be at least 1 (got 0)");
  EXPECT_EQ(message(scheduler->add(request(1, iota(0, 30), 3))),
            "request 1: 30 prompt tokens + 3 new tokens are over the context "
            "limit 32");
  EXPECT_EQ(message(scheduler->add(request(1, iota(0, 14), 3))),
            "request 1: 17 tokens need 5 pages; the pool has 4");
  EXPECT_EQ(message(scheduler->add(request(1, iota(0, 14), 2))), "");
  EXPECT_EQ(message(scheduler->add(request(1, iota(0, 2), 2))),
            "request 1: the id is in use");
  EXPECT_EQ(scheduler->numWaiting(), 1);
}

TEST(SchedulerTest, ChunkedPrefillThenDecode) {
  SchedulerConfig config;
  config.numPages = 8;
  config.pageSize = 4;
  config.prefillChunk = 3;
  auto scheduler = make(config);
  Executor executor(*scheduler);
  std::map<uint64_t, Outcome> outcomes;
  Request r = request(7, iota(10, 7), 3);
  ASSERT_EQ(message(scheduler->add(r)), "");

  StepPlan plan = scheduler->schedule();
  ASSERT_EQ(plan.sequences.size(), 1u);
  const ScheduledSequence &first = plan.sequences[0];
  EXPECT_EQ(first.requestId, 7u);
  EXPECT_EQ(first.tokens, iota(10, 3));
  EXPECT_EQ(first.positions, std::vector<int64_t>({0, 1, 2}));
  EXPECT_EQ(first.pageTable.size(), 1u);
  EXPECT_TRUE(first.isPrefill);
  EXPECT_FALSE(first.sample);
  EXPECT_EQ(scheduler->numRunning(), 1);
  EXPECT_EQ(scheduler->numWaiting(), 0);
  llvm::Expected<std::vector<Event>> events =
      scheduler->complete(executor.run(plan));
  ASSERT_TRUE(static_cast<bool>(events));
  EXPECT_TRUE(events->empty());

  plan = scheduler->schedule();
  ASSERT_EQ(plan.sequences.size(), 1u);
  EXPECT_EQ(plan.sequences[0].positions, std::vector<int64_t>({3, 4, 5}));
  EXPECT_EQ(plan.sequences[0].pageTable.size(), 2u);
  EXPECT_EQ(plan.sequences[0].slots[1], plan.sequences[0].pageTable[1] * 4 + 0);
  ASSERT_TRUE(static_cast<bool>(scheduler->complete(executor.run(plan))));

  // The prompt's last token: the caller samples the first new token.
  plan = scheduler->schedule();
  ASSERT_EQ(plan.sequences.size(), 1u);
  EXPECT_EQ(plan.sequences[0].positions, std::vector<int64_t>({6}));
  EXPECT_TRUE(plan.sequences[0].isPrefill);
  EXPECT_TRUE(plan.sequences[0].sample);
  events = scheduler->complete(executor.run(plan));
  ASSERT_TRUE(static_cast<bool>(events));
  record(*events, outcomes);
  EXPECT_EQ(outcomes[7].tokens.size(), 1u);

  // Decodes: the token just sampled, one position on.
  plan = scheduler->schedule();
  ASSERT_EQ(plan.sequences.size(), 1u);
  EXPECT_EQ(plan.sequences[0].positions, std::vector<int64_t>({7}));
  EXPECT_EQ(plan.sequences[0].tokens, outcomes[7].tokens);
  EXPECT_FALSE(plan.sequences[0].isPrefill);
  EXPECT_TRUE(plan.sequences[0].sample);
  record(*scheduler->complete(executor.run(plan)), outcomes);
  plan = scheduler->schedule();
  EXPECT_EQ(plan.sequences[0].positions, std::vector<int64_t>({8}));
  EXPECT_EQ(plan.sequences[0].pageTable.size(), 3u);
  record(*scheduler->complete(executor.run(plan)), outcomes);
  EXPECT_FALSE(scheduler->hasWork());
  EXPECT_EQ(outcomes[7].tokens, reference(r));
  EXPECT_EQ(outcomes[7].finished, 1);
  EXPECT_EQ(outcomes[7].reason, FinishReason::Length);
  // Positions 0-7 filled two pages, now cached; the third is free.
  EXPECT_EQ(scheduler->pagesCached(), 2);
  EXPECT_EQ(scheduler->pagesUsed(), 2);
  EXPECT_TRUE(scheduler->schedule().empty());
}

TEST(SchedulerTest, DecodesFirstThenPrefillChunksWithinTheBudget) {
  SchedulerConfig config;
  config.numPages = 64;
  config.pageSize = 4;
  config.maxTokensPerStep = 8;
  config.maxSequences = 4;
  auto scheduler = make(config);
  Executor executor(*scheduler);
  std::map<uint64_t, Outcome> outcomes;
  ASSERT_EQ(message(scheduler->add(request(1, iota(0, 3), 10))), "");
  ASSERT_EQ(message(scheduler->add(request(2, iota(0, 4), 10))), "");
  // Both prompts in one step (7 of 8 tokens), both sample.
  step(*scheduler, executor, outcomes);
  ASSERT_EQ(message(scheduler->add(request(3, iota(5, 20), 10))), "");
  StepPlan plan = scheduler->schedule();
  ASSERT_EQ(plan.sequences.size(), 3u);
  EXPECT_EQ(plan.sequences[0].requestId, 1u);
  EXPECT_FALSE(plan.sequences[0].isPrefill);
  EXPECT_EQ(plan.sequences[1].requestId, 2u);
  EXPECT_FALSE(plan.sequences[1].isPrefill);
  EXPECT_EQ(plan.sequences[2].requestId, 3u);
  EXPECT_TRUE(plan.sequences[2].isPrefill);
  EXPECT_EQ(plan.sequences[2].tokens.size(), 6u);
  EXPECT_FALSE(plan.sequences[2].sample);
  EXPECT_EQ(plan.numTokens, 8);
  ASSERT_TRUE(static_cast<bool>(scheduler->complete(executor.run(plan))));
  // Request 3 continues its prompt after the decodes.
  plan = scheduler->schedule();
  ASSERT_EQ(plan.sequences.size(), 3u);
  EXPECT_EQ(plan.sequences[2].positions.front(), 6);
  EXPECT_EQ(plan.sequences[2].tokens.size(), 6u);
  ASSERT_TRUE(static_cast<bool>(scheduler->complete(executor.run(plan))));
  EXPECT_EQ(scheduler->tokensScheduled(), 7 + 8 + 8);
  EXPECT_EQ(scheduler->stepsScheduled(), 3);
}

TEST(SchedulerTest, SharesCachedPrefixPages) {
  SchedulerConfig config;
  config.numPages = 32;
  config.pageSize = 4;
  auto scheduler = make(config);
  Executor executor(*scheduler);
  std::map<uint64_t, Outcome> outcomes;
  std::vector<int32_t> shared = iota(1, 9);
  std::vector<int32_t> promptA = shared, promptB = shared;
  promptA.push_back(20);
  promptB.insert(promptB.end(), {21, 22, 23});
  std::vector<Request> requests = {request(1, promptA, 5),
                                   request(2, promptB, 5)};
  ASSERT_EQ(message(scheduler->add(requests[0])), "");
  step(*scheduler, executor, outcomes);
  // A's two full pages are cached once its prompt ran.
  EXPECT_EQ(scheduler->pagesCached(), 2);
  ASSERT_EQ(message(scheduler->add(requests[1])), "");
  StepPlan plan = scheduler->schedule();
  ASSERT_EQ(plan.sequences.size(), 2u);
  const ScheduledSequence &a = plan.sequences[0], &b = plan.sequences[1];
  EXPECT_EQ(b.positions.front(), 8);
  EXPECT_EQ(b.tokens, std::vector<int32_t>({9, 21, 22, 23}));
  ASSERT_GE(b.pageTable.size(), 2u);
  EXPECT_EQ(a.pageTable[0], b.pageTable[0]);
  EXPECT_EQ(a.pageTable[1], b.pageTable[1]);
  EXPECT_NE(a.pageTable.back(), b.pageTable.back());
  EXPECT_EQ(scheduler->pool().refCount(b.pageTable[0]), 3);
  EXPECT_EQ(scheduler->prefixHitTokens(), 8);
  EXPECT_TRUE(plan.copies.empty());
  llvm::Expected<std::vector<Event>> events =
      scheduler->complete(executor.run(plan));
  ASSERT_TRUE(static_cast<bool>(events));
  record(*events, outcomes);
  while (scheduler->hasWork())
    step(*scheduler, executor, outcomes);
  expectReference(requests, outcomes);
  EXPECT_EQ(scheduler->prefixIndex().hitPages(), 2);
}

TEST(SchedulerTest, AFullPrefixHitCopiesTheLastPage) {
  SchedulerConfig config;
  config.numPages = 16;
  config.pageSize = 4;
  auto scheduler = make(config);
  Executor executor(*scheduler);
  std::map<uint64_t, Outcome> outcomes;
  std::vector<Request> requests = {request(1, iota(1, 8), 3),
                                   request(2, iota(1, 8), 4)};
  ASSERT_EQ(message(scheduler->add(requests[0])), "");
  StepPlan plan = scheduler->schedule();
  std::vector<PageId> pagesA = plan.sequences[0].pageTable;
  ASSERT_EQ(pagesA.size(), 2u);
  record(*scheduler->complete(executor.run(plan)), outcomes);
  ASSERT_EQ(message(scheduler->add(requests[1])), "");
  plan = scheduler->schedule();
  ASSERT_EQ(plan.sequences.size(), 2u);
  // Every prompt token is cached: B feeds its last token again, for its
  // logits, into a private copy of the last page.
  const ScheduledSequence &b = plan.sequences[1];
  EXPECT_EQ(b.requestId, 2u);
  EXPECT_EQ(b.positions, std::vector<int64_t>({7}));
  EXPECT_TRUE(b.sample);
  ASSERT_EQ(plan.copies.size(), 1u);
  EXPECT_EQ(plan.copies[0].src, pagesA[1]);
  EXPECT_EQ(b.pageTable[0], pagesA[0]);
  EXPECT_EQ(b.pageTable[1], plan.copies[0].dst);
  EXPECT_NE(b.pageTable[1], pagesA[1]);
  EXPECT_EQ(b.slots[0], plan.copies[0].dst * 4 + 3);
  EXPECT_EQ(scheduler->prefixHitTokens(), 7);
  record(*scheduler->complete(executor.run(plan)), outcomes);
  EXPECT_EQ(message(scheduler->verify()), "");
  while (scheduler->hasWork())
    step(*scheduler, executor, outcomes);
  expectReference(requests, outcomes);
  EXPECT_EQ(executor.copies, 1);
  // Both done: the cached pages are held by the index alone.
  EXPECT_EQ(scheduler->pool().refCount(pagesA[0]), 1);
  EXPECT_EQ(scheduler->pool().refCount(pagesA[1]), 1);
  scheduler->clearPrefixCache();
  EXPECT_EQ(scheduler->pagesUsed(), 0);
}

TEST(SchedulerTest, FinishAndCancel) {
  SchedulerConfig config;
  config.numPages = 16;
  config.pageSize = 4;
  config.maxTokensPerStep = 16;
  config.maxSequences = 2;
  config.prefixCaching = false;
  auto scheduler = make(config);
  Executor executor(*scheduler);
  std::map<uint64_t, Outcome> outcomes;
  for (uint64_t id = 1; id <= 4; ++id)
    ASSERT_EQ(message(scheduler->add(request(id, iota(id, 5), 10))), "");
  EXPECT_FALSE(scheduler->cancel(99));
  // A waiting request goes at once.
  EXPECT_TRUE(scheduler->cancel(4));
  EXPECT_EQ(scheduler->numWaiting(), 3);
  step(*scheduler, executor, outcomes);
  EXPECT_EQ(scheduler->numRunning(), 2);
  // A running one, between steps (a stop string matched).
  EXPECT_TRUE(scheduler->finish(1));
  EXPECT_FALSE(scheduler->finish(1));
  EXPECT_EQ(message(scheduler->verify()), "");
  // One in flight: dropped at complete(), its token not emitted.
  StepPlan plan = scheduler->schedule();
  EXPECT_EQ(plan.sequences.size(), 2u); // 2 decodes, 3 admitted.
  EXPECT_TRUE(scheduler->cancel(2));
  EXPECT_EQ(message(scheduler->verify()), "");
  llvm::Expected<std::vector<Event>> events =
      scheduler->complete(executor.run(plan));
  ASSERT_TRUE(static_cast<bool>(events));
  for (const Event &event : *events)
    EXPECT_NE(event.requestId, 2u);
  record(*events, outcomes);
  EXPECT_EQ(message(scheduler->verify()), "");
  while (scheduler->hasWork())
    step(*scheduler, executor, outcomes);
  EXPECT_EQ(outcomes[3].tokens, reference(request(3, iota(3, 5), 10)));
  EXPECT_EQ(outcomes[2].finished, 0);
  EXPECT_EQ(outcomes[1].finished, 0);
  EXPECT_EQ(scheduler->pagesUsed(), 0);
}

TEST(SchedulerTest, CompleteRejectsAResultThatDoesNotMatch) {
  SchedulerConfig config;
  config.numPages = 16;
  config.pageSize = 4;
  auto scheduler = make(config);
  EXPECT_EQ(message(scheduler->complete(StepResult()).takeError()),
            "complete() without a step in flight");
  ASSERT_EQ(message(scheduler->add(request(1, iota(0, 5), 3))), "");
  StepPlan plan = scheduler->schedule();
  EXPECT_EQ(message(scheduler->complete(StepResult()).takeError()),
            "no token for request 1");
  StepResult extra;
  extra.sampled = {{1, 3}, {2, 3}};
  EXPECT_EQ(message(scheduler->complete(extra).takeError()),
            "a token for request 2, which sampled nothing in this step");
  StepResult twice;
  twice.sampled = {{1, 3}, {1, 4}};
  EXPECT_EQ(message(scheduler->complete(twice).takeError()),
            "two tokens for request 1");
  EXPECT_TRUE(scheduler->stepInFlight());
  StepResult good;
  good.sampled = {{1, 3}};
  llvm::Expected<std::vector<Event>> events = scheduler->complete(good);
  ASSERT_TRUE(static_cast<bool>(events));
  EXPECT_EQ(events->size(), 1u);
  EXPECT_FALSE(scheduler->stepInFlight());
}

TEST(SchedulerTest, SimulationKeepsEveryInvariant) {
  std::mt19937_64 rng(1);
  std::vector<Request> requests = randomRequests(rng, 40);
  SchedulerConfig config;
  config.numPages = 48;
  config.pageSize = 4;
  config.maxTokensPerStep = 24;
  config.maxSequences = 8;
  config.prefillChunk = 10;
  auto scheduler = make(config);
  std::map<uint64_t, Outcome> outcomes = runAll(*scheduler, requests);
  expectReference(requests, outcomes);
  EXPECT_GT(scheduler->prefixHitTokens(), 0);
  EXPECT_EQ(scheduler->numRunning(), 0);
  scheduler->clearPrefixCache();
  EXPECT_EQ(scheduler->pagesUsed(), 0);
}

TEST(SchedulerTest, PreemptionUnderATinyPool) {
  for (bool caching : {false, true}) {
    std::mt19937_64 rng(2);
    std::vector<Request> requests = randomRequests(rng, 30);
    SchedulerConfig config;
    config.numPages = 12;
    config.pageSize = 4;
    config.maxTokensPerStep = 16;
    config.maxSequences = 6;
    config.prefixCaching = caching;
    auto scheduler = make(config);
    std::map<uint64_t, Outcome> outcomes = runAll(*scheduler, requests);
    // Each request's tokens exactly once, as if it ran alone.
    expectReference(requests, outcomes);
    EXPECT_GT(scheduler->numPreemptions(), 0) << "caching " << caching;
    scheduler->clearPrefixCache();
    EXPECT_EQ(scheduler->pagesUsed(), 0);
  }
}

TEST(SchedulerTest, TokensAreTheSameAloneOrAmongMany) {
  std::mt19937_64 rng(3);
  std::vector<Request> requests = randomRequests(rng, 24);
  for (bool caching : {false, true}) {
    for (int64_t numPages : {10, 64}) {
      SchedulerConfig config;
      config.numPages = numPages;
      config.pageSize = 4;
      config.maxTokensPerStep = 20;
      config.maxSequences = 8;
      config.prefillChunk = 7;
      config.prefixCaching = caching;
      auto together = make(config);
      std::map<uint64_t, Outcome> many = runAll(*together, requests);
      for (const Request &r : requests) {
        auto alone = make(config);
        std::map<uint64_t, Outcome> one = runAll(*alone, {r});
        EXPECT_EQ(many[r.id].tokens, one[r.id].tokens)
            << "request " << r.id << " caching " << caching << " pages "
            << numPages;
        EXPECT_EQ(one[r.id].tokens, reference(r));
      }
      if (numPages == 10)
        EXPECT_GT(together->numPreemptions(), 0);
    }
  }
}

TEST(SchedulerTest, RandomAdmitCancelRetireLeavesNoLeak) {
  std::mt19937_64 rng(4);
  SchedulerConfig config;
  config.numPages = 24;
  config.pageSize = 4;
  config.maxTokensPerStep = 16;
  config.maxSequences = 6;
  config.prefillChunk = 6;
  auto scheduler = make(config);
  Executor executor(*scheduler);
  std::map<uint64_t, Outcome> outcomes;
  std::map<uint64_t, Request> added;
  std::set<uint64_t> stopped;
  uint64_t nextId = 0;
  auto uniform = [&](int lo, int hi) {
    return std::uniform_int_distribution<int>(lo, hi)(rng);
  };
  for (int i = 0; i < 10000; ++i) {
    if (uniform(0, 2) == 0) {
      for (Request &r : randomRequests(rng, uniform(1, 3), nextId)) {
        ASSERT_EQ(message(scheduler->add(r)), "");
        added[r.id] = r;
        ++nextId;
      }
    }
    // Stop a random live request now and then, in flight or not.
    auto stopOne = [&] {
      if (nextId == 0 || uniform(0, 9) != 0)
        return;
      uint64_t id = uniform(0, static_cast<int>(nextId - 1));
      bool live = outcomes[id].finished == 0 && !stopped.count(id);
      bool found =
          uniform(0, 1) ? scheduler->cancel(id) : scheduler->finish(id);
      EXPECT_EQ(found, live);
      stopped.insert(id);
    };
    stopOne();
    StepPlan plan = scheduler->schedule();
    ASSERT_EQ(message(scheduler->verify()), "");
    stopOne();
    ASSERT_EQ(message(scheduler->verify()), "");
    llvm::Expected<std::vector<Event>> events =
        scheduler->complete(executor.run(plan));
    ASSERT_TRUE(static_cast<bool>(events)) << message(events.takeError());
    for (const Event &event : *events)
      EXPECT_FALSE(stopped.count(event.requestId));
    record(*events, outcomes);
    ASSERT_EQ(message(scheduler->verify()), "");
  }
  // Requests that ran to the end produced their whole reference output;
  // stopped ones a prefix of it.
  int64_t completed = 0;
  for (auto &[id, request] : added) {
    std::vector<int32_t> expected = reference(request);
    const Outcome &outcome = outcomes[id];
    if (outcome.finished) {
      ++completed;
      EXPECT_EQ(outcome.tokens, expected);
    } else {
      ASSERT_LE(outcome.tokens.size(), expected.size());
      EXPECT_TRUE(std::equal(outcome.tokens.begin(), outcome.tokens.end(),
                             expected.begin()));
    }
  }
  EXPECT_GT(completed, 100);
  EXPECT_GT(scheduler->numPreemptions(), 0);
  for (auto &[id, request] : added)
    scheduler->cancel(id);
  EXPECT_FALSE(scheduler->hasWork());
  scheduler->clearPrefixCache();
  EXPECT_EQ(scheduler->pagesUsed(), 0);
  EXPECT_EQ(scheduler->pagesFree(), config.numPages);
  EXPECT_EQ(message(scheduler->verify()), "");
}

// Window eviction. The windowed model's state after the token at pos mixes
// the (wrapping) sum of the states of every position the row sees, the
// sinks and the window before pos, so a released page read, a visible page
// missing or a page reused by another sequence changes the tokens.

bool visible(int64_t q, int64_t pos, int64_t window, int64_t sinks) {
  return q <= pos && (q < sinks || pos - q < window);
}

std::vector<int32_t> windowReference(const Request &request, int64_t window,
                                     int64_t sinks) {
  std::vector<uint64_t> states;
  std::vector<int32_t> tokens = request.prompt, out;
  auto feed = [&](int32_t token) {
    int64_t pos = static_cast<int64_t>(states.size());
    uint64_t sum = kSeedState;
    for (int64_t q = 0; q < pos; ++q)
      if (visible(q, pos, window, sinks))
        sum += states[q];
    states.push_back(mix(sum, token, pos));
  };
  for (int32_t token : request.prompt)
    feed(token);
  while (true) {
    int32_t token = sampleFrom(states.back());
    out.push_back(token);
    if (llvm::is_contained(request.eos, token) ||
        static_cast<int64_t>(out.size()) == request.maxNewTokens)
      return out;
    feed(token);
  }
}

/// Runs plans of a windowed scheduler: each row reads every position it
/// sees through its table (never a released entry) and nothing else.
class WindowExecutor {
public:
  explicit WindowExecutor(const Scheduler &scheduler)
      : scheduler(scheduler),
        kv(scheduler.config().numPages * scheduler.config().pageSize, 0),
        written(kv.size(), -1) {}

  StepResult run(const StepPlan &plan) {
    const SchedulerConfig &cfg = scheduler.config();
    int64_t pageSize = cfg.pageSize;
    for (const PageCopy &copy : plan.copies)
      for (int64_t i = 0; i < pageSize; ++i) {
        kv[copy.dst * pageSize + i] = kv[copy.src * pageSize + i];
        written[copy.dst * pageSize + i] = written[copy.src * pageSize + i];
      }
    StepResult result;
    for (const ScheduledSequence &seq : plan.sequences) {
      for (size_t i = 0; i < seq.tokens.size(); ++i) {
        int64_t pos = seq.positions[i];
        uint64_t sum = kSeedState;
        for (int64_t q = 0; q < pos; ++q) {
          if (!visible(q, pos, cfg.window, cfg.sinks))
            continue;
          PageId page = seq.pageTable[q / pageSize];
          EXPECT_NE(page, kReleasedPage)
              << "position " << q << " is visible from " << pos;
          if (page == kReleasedPage)
            continue;
          int64_t slot = page * pageSize + q % pageSize;
          EXPECT_EQ(written[slot], q) << "reads an unwritten slot";
          sum += kv[slot];
        }
        kv[seq.slots[i]] = mix(sum, seq.tokens[i], pos);
        written[seq.slots[i]] = pos;
      }
      if (seq.sample)
        result.sampled.push_back(
            {seq.requestId, sampleFrom(kv[seq.slots.back()])});
    }
    return result;
  }

private:
  const Scheduler &scheduler;
  std::vector<uint64_t> kv;
  std::vector<int64_t> written;
};

/// Runs every request to its end, checking the invariants and that the
/// pages held never exceed maxHeld.
std::map<uint64_t, Outcome> runWindowed(Scheduler &scheduler,
                                        const std::vector<Request> &requests,
                                        int64_t maxHeld) {
  WindowExecutor executor(scheduler);
  std::map<uint64_t, Outcome> outcomes;
  for (const Request &request : requests)
    EXPECT_EQ(message(scheduler.add(request)), "");
  for (int i = 0; scheduler.hasWork(); ++i) {
    EXPECT_LT(i, 100000) << "no progress";
    if (i >= 100000 || ::testing::Test::HasFailure())
      break;
    StepPlan plan = scheduler.schedule();
    EXPECT_EQ(message(scheduler.verify()), "");
    EXPECT_LE(scheduler.pagesHeld(), maxHeld);
    llvm::Expected<std::vector<Event>> events =
        scheduler.complete(executor.run(plan));
    EXPECT_TRUE(static_cast<bool>(events)) << message(events.takeError());
    if (!events)
      break;
    EXPECT_EQ(message(scheduler.verify()), "");
    EXPECT_LE(scheduler.pagesHeld(), maxHeld);
    record(*events, outcomes);
  }
  return outcomes;
}

TEST(SchedulerTest, AWindowHoldsABoundedNumberOfPages) {
  for (bool caching : {false, true}) {
    SchedulerConfig config;
    config.pageSize = 4;
    config.window = 8;
    config.sinks = 2;
    // 8 pages: a quarter of what 5 + 120 tokens take without the window.
    config.numPages = 8;
    config.maxTokensPerStep = 16;
    config.maxSequences = 1;
    config.contextLimit = 200;
    config.prefixCaching = caching;
    auto scheduler = make(config);
    Request r = request(7, iota(1, 5), 120);
    // The sink page, the three pages an 8-position window can straddle.
    std::map<uint64_t, Outcome> outcomes = runWindowed(*scheduler, {r}, 4);
    EXPECT_EQ(outcomes[7].tokens, windowReference(r, 8, 2));
    EXPECT_NE(windowReference(r, 8, 2), windowReference(r, 1000, 0))
        << "the window matters";
    EXPECT_EQ(outcomes[7].finished, 1);
    EXPECT_LE(scheduler->peakPagesHeld(), 4);
    // Positions 0 .. 123 are computed; before the last token the row at
    // 123 sees 116 on, so pages 1 .. 28 left the window (page 0 holds the
    // sinks) and the rest went when the request retired.
    EXPECT_EQ(scheduler->windowReleasedPages(), 28);
    scheduler->clearPrefixCache();
    EXPECT_EQ(scheduler->pagesUsed(), 0);
    for (PageId page = 0; page < config.numPages; ++page)
      EXPECT_EQ(scheduler->pool().refCount(page), 0);
    EXPECT_EQ(message(scheduler->verify()), "");
  }
}

TEST(SchedulerTest, AWindowStreamsAPromptLongerThanThePool) {
  SchedulerConfig config;
  config.pageSize = 4;
  config.window = 6;
  config.numPages = 6;
  config.maxTokensPerStep = 64;
  config.maxSequences = 1;
  config.contextLimit = 100;
  config.prefixCaching = false;
  auto scheduler = make(config);
  // 60 prompt tokens (15 pages) go through 6 pages in chunks.
  Request r = request(1, iota(2, 60), 10);
  std::map<uint64_t, Outcome> outcomes = runWindowed(*scheduler, {r}, 6);
  EXPECT_EQ(outcomes[1].tokens, windowReference(r, 6, 0));
  EXPECT_GT(scheduler->stepsScheduled(), 10 + 1);
  EXPECT_EQ(scheduler->pagesUsed(), 0);
}

TEST(SchedulerTest, AWindowOnlyUnreferencesSharedPrefixPages) {
  SchedulerConfig config;
  config.pageSize = 4;
  config.window = 12;
  config.numPages = 32;
  config.maxTokensPerStep = 32;
  config.maxSequences = 4;
  config.contextLimit = 64;
  auto scheduler = make(config);
  WindowExecutor executor(*scheduler);
  std::map<uint64_t, Outcome> outcomes;
  StepPlan plan;
  auto run = [&] {
    plan = scheduler->schedule();
    ASSERT_EQ(message(scheduler->verify()), "");
    llvm::Expected<std::vector<Event>> events =
        scheduler->complete(executor.run(plan));
    ASSERT_TRUE(static_cast<bool>(events)) << message(events.takeError());
    ASSERT_EQ(message(scheduler->verify()), "");
    record(*events, outcomes);
  };
  auto count = [&](PageId page) { return scheduler->pool().refCount(page); };
  // A reads a 16-token prompt; with a window of 12 the index caches the
  // first 3 pages (positions 0 .. 11) and no more.
  Request a = request(1, iota(1, 16), 20);
  ASSERT_EQ(message(scheduler->add(a)), "");
  run();
  ASSERT_EQ(plan.sequences.size(), 1u);
  std::vector<PageId> prefix = plan.sequences[0].pageTable;
  ASSERT_EQ(prefix.size(), 4u);
  for (int k : {0, 1, 2})
    EXPECT_TRUE(scheduler->prefixIndex().contains(prefix[k])) << k;
  EXPECT_FALSE(scheduler->prefixIndex().contains(prefix[3]));
  // A's next row (position 16) sees 5 .. 16: page 0 left its window and the
  // index alone holds it (not freed); pages 1 and 2 A and the index.
  EXPECT_EQ(count(prefix[0]), 1);
  EXPECT_EQ(count(prefix[1]), 2);
  EXPECT_EQ(count(prefix[2]), 2);
  EXPECT_EQ(count(prefix[3]), 1);
  // B shares the 3 cached pages: its rows 12 .. 16 still see page 0, so it
  // holds it for this step and releases it at the end.
  std::vector<int32_t> promptB = iota(1, 16);
  promptB.push_back(30);
  Request b = request(2, promptB, 20);
  ASSERT_EQ(message(scheduler->add(b)), "");
  run();
  EXPECT_EQ(scheduler->prefixHitTokens(), 12);
  bool sawB = false;
  for (const ScheduledSequence &seq : plan.sequences)
    if (seq.requestId == 2) {
      sawB = true;
      EXPECT_EQ(seq.positions.front(), 12);
      for (int k : {0, 1, 2})
        EXPECT_EQ(seq.pageTable[k], prefix[k]) << k;
      EXPECT_NE(seq.pageTable[3], prefix[3]);
    } else {
      EXPECT_EQ(seq.pageTable[0], kReleasedPage);
    }
  EXPECT_TRUE(sawB);
  // Both at position 17: rows from 17 see 6 on. Page 0 is the index's.
  EXPECT_EQ(count(prefix[0]), 1);
  EXPECT_EQ(count(prefix[1]), 3);
  EXPECT_EQ(count(prefix[2]), 3);
  // Two decodes later (rows from 19 see 8 on) page 1 is the index's too.
  run();
  EXPECT_EQ(count(prefix[1]), 3);
  run();
  EXPECT_EQ(count(prefix[1]), 1);
  EXPECT_EQ(count(prefix[2]), 3);
  while (scheduler->hasWork())
    run();
  EXPECT_EQ(outcomes[1].tokens, windowReference(a, 12, 0));
  EXPECT_EQ(outcomes[2].tokens, windowReference(b, 12, 0));
  // The cached prefix outlives both; dropping it frees every page.
  for (int k : {0, 1, 2})
    EXPECT_EQ(count(prefix[k]), 1) << k;
  scheduler->clearPrefixCache();
  EXPECT_EQ(scheduler->pagesUsed(), 0);
}

TEST(SchedulerTest, AWindowUnderPreemptionGivesEveryRequestItsTokens) {
  for (bool caching : {false, true}) {
    std::mt19937_64 rng(5);
    std::vector<Request> requests = randomRequests(rng, 30);
    SchedulerConfig config;
    config.pageSize = 4;
    config.window = 6;
    config.sinks = 3;
    config.numPages = 12;
    config.maxTokensPerStep = 16;
    config.maxSequences = 6;
    config.prefillChunk = 5;
    config.prefixCaching = caching;
    auto scheduler = make(config);
    std::map<uint64_t, Outcome> outcomes =
        runWindowed(*scheduler, requests, config.numPages);
    for (const Request &r : requests) {
      EXPECT_EQ(outcomes[r.id].tokens, windowReference(r, 6, 3))
          << "request " << r.id << " caching " << caching;
      EXPECT_EQ(outcomes[r.id].finished, 1);
    }
    EXPECT_GT(scheduler->windowReleasedPages(), 0);
    scheduler->clearPrefixCache();
    EXPECT_EQ(scheduler->pagesUsed(), 0);
  }
}

} // namespace
