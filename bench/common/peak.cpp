//===- peak.cpp - the machine's fp32 FMA peak and memory bandwidth --------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// Prints the measurements the benchmarks report ratios against:
//   fma_gflops_1 / fma_gflops_all   fp32 FMA throughput of one core / of all
//                                   cores: 16 independent accumulator
//                                   chains per thread, vectorized
//   bf16_gflops_all                 bf16 pair dot products (vdpbf16ps, 2
//                                   multiply-adds per f32 lane) of all cores,
//                                   where the compiler targets AVX512-BF16
//   read_gbs_1 / read_gbs_all       streaming read bandwidth of one thread /
//                                   of one thread per core, 256 MiB each
// Build: clang++ -O3 -march=native -ffp-contract=fast -pthread peak.cpp
//
//===----------------------------------------------------------------------===//

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

using Clock = std::chrono::steady_clock;

static double seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// 16 independent chains of 16-lane FMAs: enough independent work to hide
// the FMA latency. The empty asm keeps each chain in a register and stops
// the compiler from folding the loop.
typedef float Vec16 __attribute__((vector_size(64)));

__attribute__((noinline)) static float fmaKernel(long iterations, float x) {
  constexpr int chains = 16;
  Vec16 acc[chains];
  for (int c = 0; c < chains; ++c)
    for (int l = 0; l < 16; ++l)
      acc[c][l] = x + c * 0.001f + l * 0.0001f;
  Vec16 a, b;
  for (int l = 0; l < 16; ++l) {
    a[l] = 0.999999f;
    b[l] = 1e-7f;
  }
  for (long i = 0; i < iterations; ++i) {
#pragma clang loop unroll(full)
    for (int c = 0; c < chains; ++c) {
      acc[c] = acc[c] * a + b;
      asm volatile("" : "+v"(acc[c]));
    }
  }
  float sum = 0;
  for (int c = 0; c < chains; ++c)
    for (int l = 0; l < 16; ++l)
      sum += acc[c][l];
  return sum;
}

#ifdef __AVX512BF16__
#include <immintrin.h>
/// The same 16 chains, each step a vdpbf16ps: 32 multiply-adds.
__attribute__((noinline)) static float bf16Kernel(long iterations, float x) {
  constexpr int chains = 16;
  __m512 acc[chains];
  for (int c = 0; c < chains; ++c)
    acc[c] = _mm512_set1_ps(x + c * 0.001f);
  __m512bh a =
      _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-3f), _mm512_set1_ps(2e-3f));
  __m512bh b =
      _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-4f), _mm512_set1_ps(3e-4f));
  for (long i = 0; i < iterations; ++i) {
#pragma clang loop unroll(full)
    for (int c = 0; c < chains; ++c) {
      acc[c] = _mm512_dpbf16_ps(acc[c], a, b);
      asm volatile("" : "+v"(acc[c]));
    }
  }
  float sum = 0;
  for (int c = 0; c < chains; ++c)
    sum += _mm512_reduce_add_ps(acc[c]);
  return sum;
}
#endif

/// Runs `work` on `threads` threads at once and returns the wall time.
template <typename Fn> static double timeOnThreads(int threads, Fn work) {
  std::vector<std::thread> pool;
  auto t0 = Clock::now();
  for (int t = 0; t < threads; ++t)
    pool.emplace_back(work);
  for (std::thread &t : pool)
    t.join();
  return seconds(t0, Clock::now());
}

int main() {
  const int cores = std::max(1u, std::thread::hardware_concurrency());
  const long iterations = 20'000'000;
  for (int threads : {1, cores}) {
    double best = 0;
    for (int rep = 0; rep < 3; ++rep) {
      double t = timeOnThreads(threads, [&] {
        volatile float sink = fmaKernel(iterations, 1.0f);
        (void)sink;
      });
      best = std::max(best, threads * 2.0 * iterations * 16 * 16 / t / 1e9);
    }
    std::printf("fma_gflops_%s %.1f\n", threads == 1 ? "1" : "all", best);
  }
#ifdef __AVX512BF16__
  {
    double best = 0;
    for (int rep = 0; rep < 3; ++rep) {
      double t = timeOnThreads(cores, [&] {
        volatile float sink = bf16Kernel(iterations, 1.0f);
        (void)sink;
      });
      best = std::max(best, cores * 2.0 * iterations * 16 * 32 / t / 1e9);
    }
    std::printf("bf16_gflops_all %.1f\n", best);
  }
#endif

  const size_t n = (256u << 20) / sizeof(float);
  std::vector<std::vector<float>> data(cores, std::vector<float>(n, 1.0f));
  for (int threads : {1, cores}) {
    double best = 0;
    for (int rep = 0; rep < 5; ++rep) {
      int next = 0;
      double t = timeOnThreads(threads, [&] {
        const std::vector<float> &mine =
            data[__atomic_fetch_add(&next, 1, __ATOMIC_RELAXED)];
        // 8 independent 16-lane accumulators: the loop is bound by the
        // loads, not by the latency of the adds (a scalar sum would measure
        // the adder, about half the real bandwidth here).
        Vec16 acc[8] = {};
        const float *p = mine.data();
        for (size_t i = 0; i + 128 <= n; i += 128) {
#pragma clang loop unroll(full)
          for (int c = 0; c < 8; ++c) {
            Vec16 v;
            std::memcpy(&v, p + i + 16 * c, sizeof v);
            acc[c] += v;
          }
        }
        float sum = 0;
        for (int c = 0; c < 8; ++c)
          for (int l = 0; l < 16; ++l)
            sum += acc[c][l];
        volatile float sink = sum;
        (void)sink;
      });
      best = std::max(best, threads * n * sizeof(float) / t / 1e9);
    }
    std::printf("read_gbs_%s %.1f\n", threads == 1 ? "1" : "all", best);
  }
  return 0;
}
