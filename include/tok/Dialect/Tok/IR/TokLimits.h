//===- TokLimits.h - upper bounds on the dialect's sizes --------*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// Every size-like attribute, type parameter and pass option of the tok
// dialect has an upper bound, checked by the verifiers and option parsers
// before anything is built from it, and named in their messages. Without
// them a draft length of 2^32 makes a lowering unroll for hours and a cache
// of 2^62 slots overflows its byte count. The bounds are far beyond any
// published model (and match the importers' limits on config.json: 4096
// heads, 2^24 positions and vocabulary entries), and small enough that the
// sizes derived from them (a cache's bytes, a tree's nodes) fit in int64_t.
// docs/reliability.md lists them.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_DIALECT_TOK_IR_TOKLIMITS_H
#define TOK_DIALECT_TOK_IR_TOKLIMITS_H

#include <cstdint>

namespace mlir::tok {

/// Slots of a KV cache, and every count of cache slots (windows, budgets,
/// sinks, recent and observation windows, quantization residuals).
inline constexpr int64_t kMaxCacheSlots = int64_t{1} << 24;
/// KV heads of a cache.
inline constexpr int64_t kMaxKVHeads = 4096;
/// Channels of a head (and a KV quantization group).
inline constexpr int64_t kMaxHeadDim = int64_t{1} << 16;
/// Sampling's top_k (a vocabulary's size at most).
inline constexpr int64_t kMaxTopK = int64_t{1} << 24;
/// Tokens drafted per speculative round.
inline constexpr int64_t kMaxDraftTokens = 256;
/// Tokens proposed per level of a draft tree.
inline constexpr int64_t kMaxDraftBranch = 64;
/// The longest suffix an n-gram drafter looks up.
inline constexpr int64_t kMaxNgram = 64;

} // namespace mlir::tok

#endif // TOK_DIALECT_TOK_IR_TOKLIMITS_H
