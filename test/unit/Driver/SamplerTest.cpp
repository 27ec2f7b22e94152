//===- SamplerTest.cpp - HostSampler against a reference rule -------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// The serving engine's per-request sampler: greedy picks the first
// largest logit; the candidate distribution (top-k, temperature, top-p)
// equals exact probabilities computed here independently; draws follow
// that distribution, and a seed gives the same tokens every time.
//
//===----------------------------------------------------------------------===//

#include "tok/Driver/Sampler.h"

#include "gtest/gtest.h"

#include <cmath>
#include <map>
#include <set>

using namespace mlir::tok;

namespace {

SamplingParams params(double temperature, int64_t topK = 0, double topP = 1,
                      uint64_t seed = 0) {
  SamplingParams p;
  p.temperature = temperature;
  p.topK = topK;
  p.topP = topP;
  p.seed = seed;
  return p;
}

/// The reference rule, written without the sampler's code: rank ids by
/// logit (ties: lower id first), keep the top k, weight exp(logit / T)
/// normalized, keep the shortest prefix of the ranking whose mass reaches
/// p (p = 1: all, whatever the rounding of the sum), renormalize.
std::map<int32_t, double> reference(const std::vector<float> &logits, double t,
                                    int64_t k, double p) {
  std::vector<int32_t> rank;
  for (size_t i = 0; i < logits.size(); ++i) {
    size_t at = 0;
    while (at < rank.size() &&
           (logits[rank[at]] > logits[i] ||
            (logits[rank[at]] == logits[i] && rank[at] < (int32_t)i)))
      ++at;
    rank.insert(rank.begin() + at, (int32_t)i);
  }
  if (k > 0 && (size_t)k < rank.size())
    rank.resize(k);
  double z = 0;
  for (int32_t id : rank)
    z += std::exp(logits[id] / t);
  std::map<int32_t, double> out;
  double mass = 0;
  for (int32_t id : rank) {
    double q = std::exp(logits[id] / t) / z;
    out[id] = q;
    mass += q;
    if (p < 1 && mass >= p) // p = 1: everything
      break;
  }
  for (auto &[id, q] : out)
    q /= mass;
  return out;
}

void expectMatchesReference(const std::vector<float> &logits, double t,
                            int64_t k, double p) {
  auto got = HostSampler::distribution(logits, params(t, k, p));
  auto want = reference(logits, t, k, p);
  ASSERT_EQ(got.size(), want.size()) << "T=" << t << " k=" << k << " p=" << p;
  double sum = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_TRUE(want.count(got[i].first)) << got[i].first;
    EXPECT_NEAR(got[i].second, want[got[i].first], 1e-12);
    sum += got[i].second;
    if (i > 0) {
      // Draw order: by logit, ties by id.
      float a = logits[got[i - 1].first], b = logits[got[i].first];
      EXPECT_TRUE(a > b || (a == b && got[i - 1].first < got[i].first));
    }
  }
  EXPECT_NEAR(sum, 1.0, 1e-12);
}

TEST(SamplerTest, GreedyTakesTheFirstLargest) {
  HostSampler s(params(0));
  std::vector<float> logits = {0.5f, 2.0f, -1.0f, 2.0f, 1.0f};
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(s.sample(logits), 1);
  // top-k and top-p do not matter when greedy.
  HostSampler s2(params(0, 3, 0.1, 99));
  EXPECT_EQ(s2.sample(logits), 1);
  auto d = HostSampler::distribution(logits, params(0));
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].first, 1);
  EXPECT_EQ(d[0].second, 1.0);
}

TEST(SamplerTest, DistributionMatchesReference) {
  std::vector<float> logits = {1.0f, 3.0f, -2.0f, 3.0f, 0.25f, 2.5f, -7.0f};
  for (double t : {0.1, 0.7, 1.0, 2.0})
    for (int64_t k : {0, 1, 2, 3, 7, 100})
      for (double p : {0.05, 0.3, 0.5, 0.9, 0.999, 1.0})
        expectMatchesReference(logits, t, k, p);
}

TEST(SamplerTest, TopKTiesGoToTheLowerId) {
  // Ids 1 and 3 tie for the largest logit: top-1 keeps id 1.
  std::vector<float> logits = {1.0f, 3.0f, -2.0f, 3.0f};
  auto d = HostSampler::distribution(logits, params(1.0, 1));
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].first, 1);
  HostSampler s(params(1.0, 1, 1, 5));
  for (int i = 0; i < 20; ++i)
    EXPECT_EQ(s.sample(logits), 1);
}

TEST(SamplerTest, TopPEdges) {
  // Four equal logits: each 0.25. p = 0.5 reaches its mass with exactly
  // two (the lower ids); p just above 0.5 needs a third.
  std::vector<float> flat = {0.f, 0.f, 0.f, 0.f};
  auto half = HostSampler::distribution(flat, params(1.0, 0, 0.5));
  ASSERT_EQ(half.size(), 2u);
  EXPECT_EQ(half[0].first, 0);
  EXPECT_EQ(half[1].first, 1);
  EXPECT_DOUBLE_EQ(half[0].second, 0.5);
  auto more = HostSampler::distribution(flat, params(1.0, 0, 0.5000001));
  EXPECT_EQ(more.size(), 3u);
  // A tiny p keeps the most likely token alone.
  std::vector<float> logits = {0.f, 1.f, 2.f};
  auto one = HostSampler::distribution(logits, params(1.0, 0, 1e-9));
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].first, 2);
  // p = 1 keeps everything.
  EXPECT_EQ(HostSampler::distribution(logits, params(1.0, 0, 1.0)).size(), 3u);
}

TEST(SamplerTest, DrawsFollowTheDistribution) {
  std::vector<float> logits = {0.f, std::log(2.f), std::log(3.f),
                               std::log(4.f)};
  HostSampler s(params(1.0, 0, 1, 1234));
  std::vector<int> counts(4, 0);
  const int n = 40000;
  for (int i = 0; i < n; ++i)
    ++counts[s.sample(logits)];
  // Probabilities 0.1 .. 0.4; five standard deviations at most.
  for (int i = 0; i < 4; ++i) {
    double p = (i + 1) / 10.0;
    EXPECT_NEAR(counts[i] / double(n), p, 5 * std::sqrt(p * (1 - p) / n)) << i;
  }
  // With top-k 2, only ids 3 and 2, at 4:3.
  HostSampler k2(params(1.0, 2, 1, 7));
  std::vector<int> c2(4, 0);
  for (int i = 0; i < n; ++i)
    ++c2[k2.sample(logits)];
  EXPECT_EQ(c2[0] + c2[1], 0);
  EXPECT_NEAR(c2[3] / double(n), 4.0 / 7, 0.02);
}

TEST(SamplerTest, SeededReproducibility) {
  std::vector<float> logits(64);
  for (size_t i = 0; i < logits.size(); ++i)
    logits[i] = std::sin(float(i)) * 3;
  auto run = [&](uint64_t seed) {
    HostSampler s(params(0.8, 20, 0.95, seed));
    std::vector<int32_t> out;
    for (int i = 0; i < 200; ++i)
      out.push_back(s.sample(logits));
    return out;
  };
  EXPECT_EQ(run(42), run(42));
  EXPECT_NE(run(42), run(43));
  std::set<int32_t> distinct;
  for (int32_t t : run(42))
    distinct.insert(t);
  EXPECT_GT(distinct.size(), 1u);
  // The stream: the same uniforms for the same seed, in [0, 1).
  HostSampler a(params(1, 0, 1, 9)), b(params(1, 0, 1, 9));
  for (int i = 0; i < 100; ++i) {
    double u = a.nextUniform();
    EXPECT_EQ(u, b.nextUniform());
    EXPECT_GE(u, 0.0);
    EXPECT_LT(u, 1.0);
  }
}

TEST(SamplerTest, Validation) {
  EXPECT_FALSE(errorToBool(params(0).validate()));
  EXPECT_FALSE(errorToBool(params(2, 5, 0.5).validate()));
  EXPECT_TRUE(errorToBool(params(-0.1).validate()));
  EXPECT_TRUE(errorToBool(params(NAN).validate()));
  EXPECT_TRUE(errorToBool(params(1, -1).validate()));
  EXPECT_TRUE(errorToBool(params(1, 0, 0).validate()));
  EXPECT_TRUE(errorToBool(params(1, 0, 1.5).validate()));
}

} // namespace
