//===- Sampling.h - sampling pieces shared by tok.sample and tok.verify ---===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// Private to the tok-to-linalg conversion (SampleToLoops.cpp): what plain
// sampling draws from, so that speculative verification accepts against
// exactly the same distribution (docs/algorithms.md, "Sampler transforms").
//
//===----------------------------------------------------------------------===//

#ifndef TOK_PASSES_CONVERSION_TOKTOLINALG_SAMPLING_H
#define TOK_PASSES_CONVERSION_TOKTOLINALG_SAMPLING_H

#include "mlir/IR/Builders.h"
#include "tok/Dialect/Tok/IR/TokAttrs.h"

namespace mlir {
namespace tok {

/// A uniform f32 in [0, 1) from a counter-based generator keyed by (seed,
/// counter (i64), row (index)).
Value emitUniform(OpBuilder &b, Location loc, int64_t seed, Value counter,
                  Value row);

/// The weights plain sampling draws row `row` of `logits` ([rows, V] f32)
/// from under a stochastic `sampler`: exp((z - max z) / temperature) for the
/// tokens top-k and top-p keep, 0 for the others; tensor<?xf32> of V.
Value emitSamplerWeights(OpBuilder &b, Location loc, Value logits, Value row,
                         SamplerAttr sampler);

/// The token (i32) drawn from `weights` (tensor<?xf32>, not normalized)
/// with the uniform `u`: the first whose running sum exceeds u * total, or
/// the last positive one where rounding leaves that unreached.
Value emitDraw(OpBuilder &b, Location loc, Value weights, Value u);

} // namespace tok
} // namespace mlir

#endif // TOK_PASSES_CONVERSION_TOKTOLINALG_SAMPLING_H
