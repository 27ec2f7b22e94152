//===- AttentionEmitter.h - tiled online-softmax attention ------*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// Private to the tok-to-linalg conversion: the attention loop nest shared by
// tok.attention and tok.cached_attention.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_PASSES_CONVERSION_TOKTOLINALG_ATTENTIONEMITTER_H
#define TOK_PASSES_CONVERSION_TOKTOLINALG_ATTENTIONEMITTER_H

#include "KVCacheParts.h"
#include "mlir/IR/Builders.h"
#include "tok/Conversion/Passes.h"
#include "tok/Dialect/Tok/IR/TokAttrs.h"

namespace mlir {
namespace tok {

/// The operands of one attention, already converted to tensors.
struct AttentionInputs {
  Value query;          // [Hq, T, D]
  Value key;            // [Hk, S, D]
  Value value;          // [Hk, S, Dv]
  Value queryPositions; // [T] i32, or null: the last T of S positions
  Value keyPositions;   // [S] or [Hk, S] i32, or null: 0 .. S-1
  Value treeParents;    // [T] i32 or null
  Value querySegments;  // [T] i32 or null (block-diagonal masks)
  Value keySegments;    // [S] i32 or null
  Value keySizes;       // [S] f32 or null (ToMe proportional attention)
  MaskAttr mask;
  FloatAttr scale;   // null: 1 / sqrt(D)
  FloatAttr softcap; // null: none; else logits c * tanh(logit / c)
  ScoresAttr scores; // null: no received scores
  RankedTensorType outputType;
  /// With `scores`: a zero-filled f32 [Hk, >= S] tensor the received mass
  /// of key s is added to (column s).
  Value receivedInit;
  /// A quantized cache (KVQuantToTensors.cpp): keys [0, quant.quantized)
  /// are codes, `key` and `value` hold the full-precision rest (slot s is
  /// row s - quantized), S = quantized + rows(key).
  QuantParts quant;
  int64_t quantBits = 0, quantGroup = 0;
  /// Query-aware selection (Quest, `select_budget`): the cache's page
  /// bounds [Hk, ceil(C / P), D] f32; each decode row attends only to its
  /// top pages (see tok.cached_attention).
  Value pageMin, pageMax;
  int64_t pageSize = 0, selectBudget = 0;
};

/// A zero-filled f32 tensor of `type` to accumulate received scores into.
Value createZeroScores(OpBuilder &b, Location loc, RankedTensorType type,
                       ValueRange dynamicSizes);

/// Emits FlashAttention-2's tiled online softmax for `in`; returns the
/// output and, with scores, the updated `receivedInit`. Uses the vectorized
/// kernels when `how.vectorize` and they apply.
SmallVector<Value> emitAttention(OpBuilder &b, Location loc,
                                 const AttentionInputs &in,
                                 const AttentionLowering &how);

/// Whether the vectorized kernels handle `in`: f32 throughout, static head
/// dims that are multiples of 16 (value dim at most 256), no tree,
/// segments or sizes. With received scores only the row-at-a-time kernel
/// applies: the caller keeps 16 or more query rows on the general lowering.
bool canEmitVectorAttention(const AttentionInputs &in);

/// The vectorized kernels (AttentionToVector.cpp): the prefill kernel where
/// T >= `prefillRows` (its products in bf16 with `bf16Prefill`), the
/// row-at-a-time kernel below. Returns the output.
SmallVector<Value> emitVectorAttention(OpBuilder &b, Location loc,
                                       const AttentionInputs &in,
                                       int64_t prefillRows, bool bf16Prefill);

/// The keys [lo, hi) that query rows [i0, i0 + rows) can see at all, given
/// `tokens` (T) and `keys` (S). With implicit positions (query i at
/// S - T + i, key s at s) a causal mask hides every key after the last row,
/// and a window without sinks every key before the first row's window;
/// otherwise all keys.
std::pair<Value, Value> attentionKeyRange(OpBuilder &b, Location loc,
                                          const AttentionInputs &in,
                                          Value tokens, Value keys, Value i0,
                                          Value rows);

/// The (uninitialized) output tensor of an attention: [heads, tokens,
/// valueDepth] of `type`, its dynamic sizes from those values.
Value createAttentionOutput(OpBuilder &b, Location loc, RankedTensorType type,
                            Value heads, Value tokens, Value valueDepth);

/// Asserts at run time that `queryHeads` is a positive multiple of
/// `kvHeads` (the verifier checks static head counts).
void emitHeadCountCheck(OpBuilder &b, Location loc, Value queryHeads,
                        Value kvHeads);

} // namespace tok
} // namespace mlir

#endif // TOK_PASSES_CONVERSION_TOKTOLINALG_ATTENTIONEMITTER_H
