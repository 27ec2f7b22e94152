//===- ParallelRuntimeTest.cpp - the __kmpc_* subset of tok's runtime -----===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// Calls lib/Runtime/ParallelRuntime.cpp the way code lowered by tok-to-llvm
// does (fork an outlined region, split a static loop, barrier) with a team
// of three threads, and checks the partition of every loop against a count
// of the iterations each index received.
//
//===----------------------------------------------------------------------===//

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

extern "C" {
using Microtask = void (*)(int32_t *, int32_t *, ...);
int32_t __kmpc_global_thread_num(void *);
void __kmpc_fork_call(void *, int32_t, Microtask, ...);
void __kmpc_barrier(void *, int32_t);
void __kmpc_for_static_init_4(void *, int32_t, int32_t, int32_t *, int32_t *,
                              int32_t *, int32_t *, int32_t, int32_t);
void __kmpc_for_static_init_8u(void *, int32_t, int32_t, int32_t *, uint64_t *,
                               uint64_t *, int64_t *, int64_t, int64_t);
void __kmpc_for_static_fini(void *, int32_t);
}

namespace {

constexpr int kThreads = 3;
constexpr int32_t kStatic = 34, kStaticChunked = 33;

// The pool reads its size at the first fork: before any test runs.
const bool kEnvironmentSet = [] {
  setenv("TOK_NUM_THREADS", "3", 1);
  return true;
}();

struct StaticLoop {
  uint64_t trips;
  std::vector<std::atomic<int>> *counts;
  std::atomic<int> *lastOwners;
  std::atomic<int> *lastCorrect;
};

void staticLoop(int32_t *gtid, int32_t *, StaticLoop *loop) {
  uint64_t lower = 0, upper = loop->trips - 1;
  int64_t stride = 0;
  int32_t last = -1;
  __kmpc_for_static_init_8u(nullptr, *gtid, kStatic, &last, &lower, &upper,
                            &stride, 1, 0);
  // The trip count as the outlined loop computes it.
  uint64_t mine = upper - lower + 1;
  for (uint64_t i = 0; i < mine; ++i)
    (*loop->counts)[lower + i].fetch_add(1);
  if (last) {
    loop->lastOwners->fetch_add(1);
    if (mine > 0 && upper == loop->trips - 1)
      loop->lastCorrect->fetch_add(1);
  }
  __kmpc_for_static_fini(nullptr, *gtid);
  __kmpc_barrier(nullptr, *gtid);
}

TEST(ParallelRuntime, StaticLoopsGiveEachIterationToOneThread) {
  for (uint64_t trips : {1, 2, 3, 4, 5, 7, 8, 9, 100, 1001}) {
    std::vector<std::atomic<int>> counts(trips);
    std::atomic<int> owners{0}, correct{0};
    StaticLoop loop{trips, &counts, &owners, &correct};
    __kmpc_fork_call(nullptr, 1, reinterpret_cast<Microtask>(&staticLoop),
                     &loop);
    for (uint64_t i = 0; i < trips; ++i)
      EXPECT_EQ(counts[i].load(), 1) << "iteration " << i << " of " << trips;
    EXPECT_EQ(owners.load(), 1) << trips << " trips: one last iteration";
    EXPECT_EQ(correct.load(), 1) << trips << " trips";
  }
}

struct SignedLoop {
  std::atomic<int> seen[16];
};

void signedChunkedLoop(int32_t *gtid, int32_t *, SignedLoop *loop) {
  // for (i = 13; i >= -2; i -= 3) in chunks of 2: 13 10 | 7 4 | 1 -2.
  int32_t lower = 13, upper = -2, stride = 0, last = 0;
  __kmpc_for_static_init_4(nullptr, *gtid, kStaticChunked, &last, &lower,
                           &upper, &stride, -3, 2);
  for (; lower >= -2; lower += stride, upper += stride)
    for (int32_t i = lower; i >= upper && i >= -2; i -= 3)
      loop->seen[i + 2].fetch_add(1);
}

TEST(ParallelRuntime, ChunkedLoopsWithNegativeSteps) {
  SignedLoop loop{};
  __kmpc_fork_call(nullptr, 1, reinterpret_cast<Microtask>(&signedChunkedLoop),
                   &loop);
  for (int v = -2; v <= 13; ++v)
    EXPECT_EQ(loop.seen[v + 2].load(), (13 - v) % 3 == 0 ? 1 : 0)
        << "value " << v;
}

struct Team {
  std::mutex mutex;
  std::set<int32_t> threads;
  std::atomic<int> calls{0};
};

void recordThread(int32_t *gtid, int32_t *, Team *team) {
  EXPECT_EQ(*gtid, __kmpc_global_thread_num(nullptr));
  std::lock_guard<std::mutex> lock(team->mutex);
  team->threads.insert(*gtid);
  team->calls.fetch_add(1);
}

TEST(ParallelRuntime, EveryThreadOfTheTeamRunsTheRegionOnce) {
  ASSERT_TRUE(kEnvironmentSet);
  Team team;
  __kmpc_fork_call(nullptr, 1, reinterpret_cast<Microtask>(&recordThread),
                   &team);
  EXPECT_EQ(team.calls.load(), kThreads);
  EXPECT_EQ(team.threads, (std::set<int32_t>{0, 1, 2}));
  // Outside a region the caller is thread 0 of a team of one.
  EXPECT_EQ(__kmpc_global_thread_num(nullptr), 0);
}

TEST(ParallelRuntime, SleepingWorkersWakeForTheNextRegion) {
  // Longer than the spin time: the workers are asleep on the futex.
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  Team team;
  __kmpc_fork_call(nullptr, 1, reinterpret_cast<Microtask>(&recordThread),
                   &team);
  EXPECT_EQ(team.calls.load(), kThreads);
}

void sixteenArguments(int32_t *, int32_t *, int *a0, int *a1, int *a2, int *a3,
                      int *a4, int *a5, int *a6, int *a7, int *a8, int *a9,
                      int *a10, int *a11, int *a12, int *a13, int *a14,
                      int *a15) {
  int *all[] = {a0, a1, a2,  a3,  a4,  a5,  a6,  a7,
                a8, a9, a10, a11, a12, a13, a14, a15};
  for (int *p : all)
    __atomic_fetch_add(p, 1, __ATOMIC_RELAXED);
}

TEST(ParallelRuntime, RegionArgumentsArriveInOrder) {
  int v[16] = {};
  __kmpc_fork_call(nullptr, 16, reinterpret_cast<Microtask>(&sixteenArguments),
                   &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7],
                   &v[8], &v[9], &v[10], &v[11], &v[12], &v[13], &v[14],
                   &v[15]);
  for (int i = 0; i < 16; ++i)
    EXPECT_EQ(v[i], kThreads) << "argument " << i;
}

struct Phases {
  static constexpr int kRounds = 2000;
  std::atomic<int> arrived[kRounds];
  std::atomic<int> early{0};
};

void barrierRounds(int32_t *gtid, int32_t *, Phases *phases) {
  for (int r = 0; r < Phases::kRounds; ++r) {
    phases->arrived[r].fetch_add(1);
    __kmpc_barrier(nullptr, *gtid);
    // Everyone has arrived at round r before anyone passes it.
    if (phases->arrived[r].load() != kThreads)
      phases->early.fetch_add(1);
  }
}

TEST(ParallelRuntime, NobodyPassesABarrierEarly) {
  Phases phases{};
  __kmpc_fork_call(nullptr, 1, reinterpret_cast<Microtask>(&barrierRounds),
                   &phases);
  EXPECT_EQ(phases.early.load(), 0);
}

struct Nested {
  std::atomic<int> innerCalls{0};
  std::atomic<int> innerWholeRange{0};
};

void innerRegion(int32_t *gtid, int32_t *, Nested *nested) {
  nested->innerCalls.fetch_add(1);
  uint64_t lower = 0, upper = 9;
  int64_t stride = 0;
  int32_t last = 0;
  __kmpc_for_static_init_8u(nullptr, *gtid, kStatic, &last, &lower, &upper,
                            &stride, 1, 0);
  if (lower == 0 && upper == 9 && last == 1)
    nested->innerWholeRange.fetch_add(1);
  __kmpc_barrier(nullptr, *gtid); // a team of one: returns at once
}

void outerRegion(int32_t *, int32_t *, Nested *nested) {
  __kmpc_fork_call(nullptr, 1, reinterpret_cast<Microtask>(&innerRegion),
                   nested);
}

TEST(ParallelRuntime, NestedRegionsRunSerializedOnTheirThread) {
  Nested nested;
  __kmpc_fork_call(nullptr, 1, reinterpret_cast<Microtask>(&outerRegion),
                   &nested);
  EXPECT_EQ(nested.innerCalls.load(), kThreads);
  EXPECT_EQ(nested.innerWholeRange.load(), kThreads);
}

TEST(ParallelRuntime, ConcurrentForksFromTwoThreadsBothComplete) {
  // The second caller finds the pool busy and runs its region alone.
  std::atomic<int> done{0};
  auto caller = [&] {
    for (int i = 0; i < 200; ++i) {
      Team team;
      __kmpc_fork_call(nullptr, 1, reinterpret_cast<Microtask>(&recordThread),
                       &team);
      if (team.calls.load() >= 1 &&
          team.calls.load() == static_cast<int>(team.threads.size()))
        done.fetch_add(1);
    }
  };
  std::thread a(caller), b(caller);
  a.join();
  b.join();
  EXPECT_EQ(done.load(), 400);
}

} // namespace
