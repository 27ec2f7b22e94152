//===- peak.cpp - the machine's fp32 FMA peak and memory bandwidth --------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// Prints two measurements the benchmarks report ratios against:
//   fma_gflops <value>   fp32 FMA throughput of one core: 16 independent
//                        accumulator chains the compiler vectorizes
//   read_gbs <value>     single-thread streaming read bandwidth over 256 MiB
// Build: clang++ -O3 -march=native -ffp-contract=fast peak.cpp -o peak
//
//===----------------------------------------------------------------------===//

#include <chrono>
#include <cstdio>
#include <cstdlib>
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

int main() {
  const long iterations = 20'000'000;
  double best = 0;
  for (int rep = 0; rep < 3; ++rep) {
    auto t0 = Clock::now();
    volatile float sink = fmaKernel(iterations, 1.0f);
    (void)sink;
    auto t1 = Clock::now();
    double flops = 2.0 * iterations * 16 * 16;
    best = std::max(best, flops / seconds(t0, t1) / 1e9);
  }
  std::printf("fma_gflops %.1f\n", best);

  const size_t n = (256u << 20) / sizeof(float);
  std::vector<float> data(n, 1.0f);
  double bestBw = 0;
  for (int rep = 0; rep < 5; ++rep) {
    auto t0 = Clock::now();
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (size_t i = 0; i < n; i += 4) {
      s0 += data[i];
      s1 += data[i + 1];
      s2 += data[i + 2];
      s3 += data[i + 3];
    }
    auto t1 = Clock::now();
    volatile float sink = s0 + s1 + s2 + s3;
    (void)sink;
    bestBw = std::max(bestBw, n * sizeof(float) / seconds(t0, t1) / 1e9);
  }
  std::printf("read_gbs %.1f\n", bestBw);
  return 0;
}
