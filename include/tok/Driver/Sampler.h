//===- Sampler.h - per-request token sampling on the host -------*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// The serving engine's sampler: one per request, choosing each next token
// from a row of logits. Temperature 0 is greedy (the first largest logit);
// otherwise the candidates are ordered by logit (ties: the lower id),
// cut to the top k, weighted by the softmax at the temperature, cut to the
// smallest leading set whose probability reaches top p, and one is drawn
// with the request's own SplitMix64 stream, keyed by its seed and advanced
// only by its own draws: a request's tokens never depend on the requests
// it is batched with. docs/serving.md, "Sampling", states the rule.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_DRIVER_SAMPLER_H
#define TOK_DRIVER_SAMPLER_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <utility>
#include <vector>

namespace mlir {
namespace tok {

struct SamplingParams {
  /// 0: greedy; otherwise in (0, 100].
  double temperature = 0;
  /// Keep the k most likely tokens (0: all).
  int64_t topK = 0;
  /// Keep the smallest leading set whose probability reaches p, in (0, 1].
  double topP = 1;
  uint64_t seed = 0;

  /// An error naming the first value out of range.
  llvm::Error validate() const;
};

class HostSampler {
public:
  explicit HostSampler(const SamplingParams &params);

  /// The next token from `logits` (one per vocabulary entry); advances the
  /// stream by one draw unless greedy.
  int32_t sample(llvm::ArrayRef<float> logits);

  /// The candidates and their probabilities (summing to 1) that a draw
  /// chooses from, in draw order: by logit, descending, ties by id.
  /// Greedy: the one first largest logit with probability 1.
  static std::vector<std::pair<int32_t, double>>
  distribution(llvm::ArrayRef<float> logits, const SamplingParams &params);

  /// The next uniform number in [0, 1) of the stream (53 bits).
  double nextUniform();

private:
  SamplingParams params;
  uint64_t state;
};

} // namespace tok
} // namespace mlir

#endif // TOK_DRIVER_SAMPLER_H
