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

#include "mlir/IR/Builders.h"
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
  ScoresAttr scores; // null: no received scores
  RankedTensorType outputType;
  /// With `scores`: a zero-filled f32 [Hk, >= S] tensor the received mass
  /// of key s is added to (column s).
  Value receivedInit;
};

/// A zero-filled f32 tensor of `type` to accumulate received scores into.
Value createZeroScores(OpBuilder &b, Location loc, RankedTensorType type,
                       ValueRange dynamicSizes);

/// Emits FlashAttention-2's tiled online softmax for `in`; returns the
/// output and, with scores, the updated `receivedInit`.
SmallVector<Value> emitAttention(OpBuilder &b, Location loc,
                                 const AttentionInputs &in, int64_t queryTile,
                                 int64_t keyTile);

} // namespace tok
} // namespace mlir

#endif // TOK_PASSES_CONVERSION_TOKTOLINALG_ATTENTIONEMITTER_H
