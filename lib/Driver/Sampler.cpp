//===- Sampler.cpp - per-request token sampling on the host ---------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#include "tok/Driver/Sampler.h"

#include "llvm/ADT/Twine.h"
#include "llvm/Support/FormatVariadic.h"

#include <algorithm>
#include <cmath>
#include <numeric>

using namespace mlir;
using namespace mlir::tok;

llvm::Error SamplingParams::validate() const {
  if (!(temperature >= 0 && temperature <= 100))
    return llvm::createStringError("temperature must be in [0, 100], got " +
                                   llvm::formatv("{0}", temperature).str());
  if (topK < 0)
    return llvm::createStringError("top_k must not be negative, got " +
                                   llvm::Twine(topK));
  if (!(topP > 0 && topP <= 1))
    return llvm::createStringError("top_p must be in (0, 1], got " +
                                   llvm::formatv("{0}", topP).str());
  return llvm::Error::success();
}

HostSampler::HostSampler(const SamplingParams &params)
    : params(params), state(params.seed) {}

double HostSampler::nextUniform() {
  // SplitMix64.
  state += 0x9e3779b97f4a7c15ull;
  uint64_t x = state;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  x ^= x >> 31;
  return static_cast<double>(x >> 11) * 0x1.0p-53;
}

static int32_t firstMax(llvm::ArrayRef<float> logits) {
  return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) -
                              logits.begin());
}

std::vector<std::pair<int32_t, double>>
HostSampler::distribution(llvm::ArrayRef<float> logits,
                          const SamplingParams &params) {
  if (params.temperature == 0 || logits.size() == 1)
    return {{firstMax(logits), 1.0}};
  std::vector<int32_t> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  auto before = [&](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  };
  size_t keep = order.size();
  if (params.topK > 0 && static_cast<size_t>(params.topK) < keep) {
    keep = static_cast<size_t>(params.topK);
    std::partial_sort(order.begin(), order.begin() + keep, order.end(), before);
    order.resize(keep);
  } else {
    std::sort(order.begin(), order.end(), before);
  }
  // Softmax at the temperature, from the largest logit.
  double top = logits[order.front()];
  std::vector<std::pair<int32_t, double>> out;
  out.reserve(keep);
  double sum = 0;
  for (int32_t id : order) {
    double w =
        std::exp((static_cast<double>(logits[id]) - top) / params.temperature);
    out.push_back({id, w});
    sum += w;
  }
  for (auto &c : out)
    c.second /= sum;
  // Nucleus: the smallest leading set reaching top p.
  if (params.topP < 1) {
    double cumulative = 0;
    size_t n = 0;
    while (n < out.size()) {
      cumulative += out[n++].second;
      if (cumulative >= params.topP)
        break;
    }
    out.resize(n);
    for (auto &c : out)
      c.second /= cumulative;
  }
  return out;
}

int32_t HostSampler::sample(llvm::ArrayRef<float> logits) {
  if (params.temperature == 0 || logits.size() == 1)
    return firstMax(logits);
  std::vector<std::pair<int32_t, double>> candidates =
      distribution(logits, params);
  double u = nextUniform();
  double cumulative = 0;
  for (const auto &[id, p] : candidates) {
    cumulative += p;
    if (u < cumulative)
      return id;
  }
  return candidates.back().first;
}
