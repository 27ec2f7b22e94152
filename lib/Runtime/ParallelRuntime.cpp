//===- ParallelRuntime.cpp - the parallel loops' runtime ------------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// tok-to-llvm lowers scf.forall through scf.parallel and the omp dialect to
// calls of five functions of the OpenMP runtime ABI (__kmpc_*). This file
// implements exactly those five, for the code tok generates, as a small
// persistent thread pool:
//
//   __kmpc_fork_call           runs the outlined region on every thread of
//                              the pool (the caller is thread 0) and joins
//   __kmpc_for_static_init_*   the calling thread's share of a static loop
//   __kmpc_for_static_fini     nothing to do
//   __kmpc_barrier             a spinning team barrier
//   __kmpc_global_thread_num   the calling thread's number in its team
//
// Why not libomp: the decoder of a small model forks ~50 regions per step,
// each a few microseconds of work, and Debian's libomp (14 and 19) is built
// with KMP_DEBUG: every loop init formats trace strings with vsnprintf and
// mallocs, whatever the trace level. On the 4M-parameter model this was a
// third of the main thread's time (docs/performance.md).
//
// Threads: OMP_NUM_THREADS if set (TOK_NUM_THREADS takes precedence), else
// the CPUs this process may run on. Workers spin briefly for the next
// region (decode steps fork back to back) and then sleep on a futex
// (std::atomic::wait), so an idle process does not burn CPU. A fork from
// inside a region, or from a second application thread while the pool is
// busy, runs serialized on the caller (team of one): correct, not parallel.
//
//===----------------------------------------------------------------------===//

#include <atomic>
#include <chrono>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <sched.h>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define TOK_PAUSE() _mm_pause()
#else
#define TOK_PAUSE() ((void)0)
#endif

#define TOK_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

using Microtask = void (*)(int32_t *, int32_t *, ...);
constexpr int kMaxArgs = 16;
/// How a waiting thread waits: it polls with `pause` for kBusyTime (the
/// gaps between the regions of a decode step are microseconds), then polls
/// with sched_yield until kSpinTime (a prefill's serial norms over hundreds
/// of tokens take about a millisecond, and waking a sleeping thread costs
/// tens of microseconds per region), then sleeps on a futex. Yielding lets
/// other processes run when the machine is oversubscribed (lit runs two
/// tests on two cores; each test's pool spinning on pause alone made the
/// suite twice as slow). libomp spins 200 ms by default.
constexpr auto kBusyTime = std::chrono::microseconds(50);
constexpr auto kSpinTime = std::chrono::milliseconds(5);

/// Polls `done` until it holds or kSpinTime passed; true if it holds.
template <typename Done> bool spinUntil(Done done) {
  auto start = std::chrono::steady_clock::now();
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (done())
        return true;
      TOK_PAUSE();
    }
    auto waited = std::chrono::steady_clock::now() - start;
    if (waited > kSpinTime)
      return false;
    if (waited > kBusyTime)
      sched_yield();
  }
}

/// The calling thread's place in the running team.
thread_local int32_t tlsThread = 0;
thread_local int32_t tlsTeamSize = 1;
thread_local bool tlsInRegion = false;

/// Waits until `value` differs from `old`: spins, then sleeps.
template <typename T>
T awaitChange(const std::atomic<T> &value, T old, std::atomic<int> &sleepers) {
  T now = old;
  if (spinUntil([&] {
        now = value.load(std::memory_order_acquire);
        return now != old;
      }))
    return now;
  for (;;) {
    sleepers.fetch_add(1, std::memory_order_seq_cst);
    // Checked again after announcing the sleep (see Pool::fork).
    now = value.load(std::memory_order_seq_cst);
    if (now == old)
      value.wait(old, std::memory_order_seq_cst);
    sleepers.fetch_sub(1, std::memory_order_relaxed);
    now = value.load(std::memory_order_acquire);
    if (now != old)
      return now;
  }
}

/// Waits until `count` is 0 (the workers of a region finished): spins, then
/// sleeps; the worker that brings it to 0 wakes a sleeper.
void awaitZero(const std::atomic<int> &count, std::atomic<int> &sleeping) {
  if (spinUntil([&] { return count.load(std::memory_order_acquire) == 0; }))
    return;
  for (;;) {
    sleeping.fetch_add(1, std::memory_order_seq_cst);
    int now = count.load(std::memory_order_seq_cst);
    if (now != 0)
      count.wait(now, std::memory_order_seq_cst);
    sleeping.fetch_sub(1, std::memory_order_relaxed);
    if (count.load(std::memory_order_acquire) == 0)
      return;
  }
}

void invoke(Microtask task, int argc, void *const *args, int32_t thread) {
  int32_t gtid = thread, btid = 0;
  switch (argc) {
#define TOK_CASE(n, ...)                                                       \
  case n:                                                                      \
    task(&gtid, &btid __VA_ARGS__);                                            \
    return;
    TOK_CASE(0)
    TOK_CASE(1, , args[0])
    TOK_CASE(2, , args[0], args[1])
    TOK_CASE(3, , args[0], args[1], args[2])
    TOK_CASE(4, , args[0], args[1], args[2], args[3])
    TOK_CASE(5, , args[0], args[1], args[2], args[3], args[4])
    TOK_CASE(6, , args[0], args[1], args[2], args[3], args[4], args[5])
    TOK_CASE(7, , args[0], args[1], args[2], args[3], args[4], args[5], args[6])
    TOK_CASE(8, , args[0], args[1], args[2], args[3], args[4], args[5], args[6],
             args[7])
    TOK_CASE(9, , args[0], args[1], args[2], args[3], args[4], args[5], args[6],
             args[7], args[8])
    TOK_CASE(10, , args[0], args[1], args[2], args[3], args[4], args[5],
             args[6], args[7], args[8], args[9])
    TOK_CASE(11, , args[0], args[1], args[2], args[3], args[4], args[5],
             args[6], args[7], args[8], args[9], args[10])
    TOK_CASE(12, , args[0], args[1], args[2], args[3], args[4], args[5],
             args[6], args[7], args[8], args[9], args[10], args[11])
    TOK_CASE(13, , args[0], args[1], args[2], args[3], args[4], args[5],
             args[6], args[7], args[8], args[9], args[10], args[11], args[12])
    TOK_CASE(14, , args[0], args[1], args[2], args[3], args[4], args[5],
             args[6], args[7], args[8], args[9], args[10], args[11], args[12],
             args[13])
    TOK_CASE(15, , args[0], args[1], args[2], args[3], args[4], args[5],
             args[6], args[7], args[8], args[9], args[10], args[11], args[12],
             args[13], args[14])
    TOK_CASE(16, , args[0], args[1], args[2], args[3], args[4], args[5],
             args[6], args[7], args[8], args[9], args[10], args[11], args[12],
             args[13], args[14], args[15])
#undef TOK_CASE
  default:
    std::fprintf(stderr,
                 "tok parallel runtime: a region with %d arguments (at most "
                 "%d)\n",
                 argc, kMaxArgs);
    std::abort();
  }
}

int threadsFromEnvironment() {
  for (const char *name : {"TOK_NUM_THREADS", "OMP_NUM_THREADS"}) {
    const char *text = std::getenv(name);
    if (!text || !*text)
      continue;
    char *end = nullptr;
    long value = std::strtol(text, &end, 10);
    // OMP_NUM_THREADS may be a list ("4,2"): its first entry counts.
    if (end != text && value > 0 && (*end == '\0' || *end == ','))
      return static_cast<int>(value > 1024 ? 1024 : value);
  }
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
    return CPU_COUNT(&set);
  unsigned hw = std::thread::hardware_concurrency();
  return hw ? static_cast<int>(hw) : 1;
}

class Pool {
public:
  static Pool &get() {
    // Leaked on purpose: workers may still be asleep at exit.
    static Pool *pool = new Pool(threadsFromEnvironment());
    return *pool;
  }

  void fork(Microtask task, int argc, void *const *args) {
    if (size == 1 || tlsInRegion || !busy.try_lock()) {
      runSerialized(task, argc, args);
      return;
    }
    current.task = task;
    current.argc = argc;
    for (int i = 0; i < argc; ++i)
      current.args[i] = args[i];
    running.store(size - 1, std::memory_order_relaxed);
    generation.fetch_add(1, std::memory_order_seq_cst);
    // A worker announces its sleep before its last look at the generation,
    // so either it sees the new one or we see it asleep.
    if (sleepers.load(std::memory_order_seq_cst) > 0)
      generation.notify_all();
    enter(0, size);
    invoke(task, argc, current.args, 0);
    leave();
    awaitZero(running, masterSleeping);
    busy.unlock();
  }

  void barrier() {
    if (tlsTeamSize == 1)
      return;
    uint64_t phase = barrierPhase.load(std::memory_order_acquire);
    if (barrierArrived.fetch_add(1, std::memory_order_acq_rel) + 1 ==
        tlsTeamSize) {
      barrierArrived.store(0, std::memory_order_relaxed);
      barrierPhase.fetch_add(1, std::memory_order_seq_cst);
      if (barrierSleepers.load(std::memory_order_seq_cst) > 0)
        barrierPhase.notify_all();
      return;
    }
    awaitChange(barrierPhase, phase, barrierSleepers);
  }

private:
  struct Region {
    Microtask task = nullptr;
    int argc = 0;
    void *args[kMaxArgs] = {};
  };

  explicit Pool(int threads) : size(threads < 1 ? 1 : threads) {
    for (int t = 1; t < size; ++t)
      std::thread([this, t] { work(t); }).detach();
  }

  static void enter(int32_t thread, int32_t teamSize) {
    tlsThread = thread;
    tlsTeamSize = teamSize;
    tlsInRegion = true;
  }
  static void leave() {
    tlsThread = 0;
    tlsTeamSize = 1;
    tlsInRegion = false;
  }

  static void runSerialized(Microtask task, int argc, void *const *args) {
    int32_t savedThread = tlsThread, savedSize = tlsTeamSize;
    bool savedIn = tlsInRegion;
    enter(0, 1);
    invoke(task, argc, args, 0);
    tlsThread = savedThread;
    tlsTeamSize = savedSize;
    tlsInRegion = savedIn;
  }

  [[noreturn]] void work(int32_t thread) {
    uint64_t seen = 0;
    for (;;) {
      seen = awaitChange(generation, seen, sleepers);
      enter(thread, size);
      invoke(current.task, current.argc, current.args, thread);
      leave();
      if (running.fetch_sub(1, std::memory_order_seq_cst) == 1 &&
          masterSleeping.load(std::memory_order_seq_cst) > 0)
        running.notify_all();
    }
  }

  const int size;
  std::mutex busy;
  Region current;
  std::atomic<uint64_t> generation{0};
  std::atomic<int> sleepers{0};
  std::atomic<int> running{0};
  std::atomic<int> masterSleeping{0};
  std::atomic<uint64_t> barrierPhase{0};
  std::atomic<int> barrierArrived{0};
  std::atomic<int> barrierSleepers{0};
};

/// The calling thread's share of the iterations [*lower, *upper] (inclusive)
/// step `incr`: one contiguous block each (schedule static, 34), or chunks
/// of `chunk` dealt round-robin (static chunked, 33; the caller loops with
/// *stride). Threads without iterations get an empty range.
template <typename T, typename S>
void staticInit(int32_t schedule, int32_t *lastIter, T *lower, T *upper,
                S *stride, S incr, S chunk) {
  int64_t threads = tlsTeamSize, me = tlsThread;
  if (incr == 0)
    incr = 1;
  // Iterations: (upper - lower) / incr + 1, in the loop's own arithmetic.
  uint64_t trips;
  if (incr > 0)
    trips = *upper < *lower ? 0
                            : static_cast<uint64_t>(*upper - *lower) /
                                      static_cast<uint64_t>(incr) +
                                  1;
  else
    trips = *lower < *upper ? 0
                            : static_cast<uint64_t>(*lower - *upper) /
                                      static_cast<uint64_t>(-incr) +
                                  1;
  if (lastIter)
    *lastIter = 0;
  if (trips == 0) {
    *stride = incr;
    return;
  }
  if (schedule == 33 && chunk > 0) {
    uint64_t chunks = (trips + static_cast<uint64_t>(chunk) - 1) /
                      static_cast<uint64_t>(chunk);
    T first = *lower;
    T last = static_cast<T>(first + static_cast<T>((trips - 1) * incr));
    *lower = static_cast<T>(first + static_cast<T>(me * chunk * incr));
    T end = static_cast<T>(*lower + static_cast<T>((chunk - 1) * incr));
    *upper = (incr > 0 ? end > last : end < last) ? last : end;
    *stride = static_cast<S>(threads * chunk * incr);
    if (lastIter)
      *lastIter = static_cast<uint64_t>(me) == (chunks - 1) % threads;
    if (static_cast<uint64_t>(me) >= chunks) {
      // No chunk at all: an empty range.
      *lower = static_cast<T>(last + incr);
      *upper = last;
    }
    return;
  }
  // Static: trips / threads each, the first trips % threads one more.
  uint64_t small = trips / threads, extra = trips % threads;
  uint64_t mine = small + (static_cast<uint64_t>(me) < extra ? 1 : 0);
  uint64_t before =
      me * small +
      (static_cast<uint64_t>(me) < extra ? static_cast<uint64_t>(me) : extra);
  T first = *lower;
  *stride = static_cast<S>(trips * incr);
  if (mine == 0) {
    // lower > upper (for incr > 0) whatever the type: one trip count of
    // nothing, as the outlined loop computes it (upper - lower + 1 == 0).
    *lower = static_cast<T>(first + static_cast<T>(trips * incr));
    *upper = static_cast<T>(*lower - incr);
    return;
  }
  *lower = static_cast<T>(first + static_cast<T>(before * incr));
  *upper = static_cast<T>(*lower + static_cast<T>((mine - 1) * incr));
  if (lastIter)
    *lastIter = before + mine == trips;
}

} // namespace

TOK_EXPORT int32_t __kmpc_global_thread_num(void *) { return tlsThread; }

/// Whether the calling thread runs inside a parallel region (a worker, or
/// the thread that forked it): the driver's guarded runs (Jit.h) may not
/// leave compiled code from there, the region's team would wait forever.
TOK_EXPORT int tok_parallel_in_region() { return tlsInRegion ? 1 : 0; }

TOK_EXPORT void __kmpc_fork_call(void *, int32_t argc, Microtask task, ...) {
  void *args[kMaxArgs];
  if (argc < 0 || argc > kMaxArgs)
    invoke(task, argc, args, 0); // reports and aborts
  va_list ap;
  va_start(ap, task);
  for (int i = 0; i < argc; ++i)
    args[i] = va_arg(ap, void *);
  va_end(ap);
  Pool::get().fork(task, argc, args);
}

TOK_EXPORT void __kmpc_barrier(void *, int32_t) { Pool::get().barrier(); }

TOK_EXPORT void __kmpc_for_static_init_4(void *, int32_t, int32_t schedule,
                                         int32_t *last, int32_t *lower,
                                         int32_t *upper, int32_t *stride,
                                         int32_t incr, int32_t chunk) {
  staticInit<int32_t, int32_t>(schedule, last, lower, upper, stride, incr,
                               chunk);
}
TOK_EXPORT void __kmpc_for_static_init_4u(void *, int32_t, int32_t schedule,
                                          int32_t *last, uint32_t *lower,
                                          uint32_t *upper, int32_t *stride,
                                          int32_t incr, int32_t chunk) {
  staticInit<uint32_t, int32_t>(schedule, last, lower, upper, stride, incr,
                                chunk);
}
TOK_EXPORT void __kmpc_for_static_init_8(void *, int32_t, int32_t schedule,
                                         int32_t *last, int64_t *lower,
                                         int64_t *upper, int64_t *stride,
                                         int64_t incr, int64_t chunk) {
  staticInit<int64_t, int64_t>(schedule, last, lower, upper, stride, incr,
                               chunk);
}
TOK_EXPORT void __kmpc_for_static_init_8u(void *, int32_t, int32_t schedule,
                                          int32_t *last, uint64_t *lower,
                                          uint64_t *upper, int64_t *stride,
                                          int64_t incr, int64_t chunk) {
  staticInit<uint64_t, int64_t>(schedule, last, lower, upper, stride, incr,
                                chunk);
}

TOK_EXPORT void __kmpc_for_static_fini(void *, int32_t) {}
