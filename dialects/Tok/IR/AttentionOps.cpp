//===- AttentionOps.cpp - attention and cached_attention ------------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#include "VerifyUtils.h"
#include "tok/Dialect/Tok/IR/TokOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/TypeUtilities.h"

#include <cmath>

using namespace mlir;
using namespace mlir::tok;

namespace {
/// What tok.attention and tok.cached_attention have in common, read off
/// their operands.
struct AttentionShapes {
  RankedTensorType query;
  int64_t kvHeads, keys, keyDim, valueDim;
  Type kvElementType;
  RankedTensorType output;
};
} // namespace

static LogicalResult verifyAttentionCommon(Operation *op,
                                           const AttentionShapes &s,
                                           MaskAttr mask, FloatAttr scale,
                                           FloatAttr softcap, ScoresAttr scores,
                                           Value received, Value treeParents) {
  int64_t qHeads = s.query.getDimSize(0);
  int64_t tokens = s.query.getDimSize(1);
  if (s.query.getElementType() != s.kvElementType)
    return op->emitOpError("expects 'query' of element type ")
           << s.kvElementType << " (that of the keys), got " << s.query;
  if (s.kvHeads == 0)
    return op->emitOpError("expects at least one KV head");
  if (!ShapedType::isDynamic(qHeads) && !ShapedType::isDynamic(s.kvHeads) &&
      qHeads % s.kvHeads != 0)
    return op->emitOpError("expects the query heads (")
           << qHeads << ") to be a multiple of the KV heads (" << s.kvHeads
           << ")";
  if (!dimsCompatible(s.query.getDimSize(2), s.keyDim))
    return op->emitOpError("expects the query head dim (")
           << s.query.getDimSize(2) << ") to equal the key head dim ("
           << s.keyDim << ")";
  auto expectedOut = RankedTensorType::get({qHeads, tokens, s.valueDim},
                                           s.query.getElementType());
  if (s.output.getElementType() != expectedOut.getElementType() ||
      failed(verifyCompatibleShape(s.output, expectedOut)))
    return op->emitOpError("expects 'output' of type ")
           << expectedOut << " (query heads x tokens x value dim), got "
           << s.output;
  if (scale && !(scale.getValueAsDouble() > 0.0))
    return op->emitOpError("expects a positive 'scale', got ")
           << scale.getValueAsDouble();
  if (softcap && !(softcap.getValueAsDouble() > 0.0 &&
                   std::isfinite(softcap.getValueAsDouble())))
    return op->emitOpError("expects a positive finite 'softcap', got ")
           << softcap.getValueAsDouble();

  if (scores && !received)
    return op->emitOpError("the 'scores' attribute requests a 'received' "
                           "result, but the op has none");
  if (received && !scores)
    return op->emitOpError("a 'received' result needs the 'scores' "
                           "attribute to say which rows count");
  if (received) {
    auto expected = RankedTensorType::get({s.kvHeads, s.keys},
                                          Float32Type::get(op->getContext()));
    auto actual = cast<RankedTensorType>(received.getType());
    if (failed(verifyCompatibleShape(actual, expected)))
      return op->emitOpError("expects 'received' of type ")
             << expected << " (KV heads x keys), got " << actual;
    if (!ShapedType::isDynamic(tokens) && scores.getRows() > tokens)
      return op->emitOpError("scores rows (")
             << scores.getRows() << ") exceed the " << tokens
             << " query tokens";
  }

  if (treeParents) {
    if (!mask.isCausal())
      return op->emitOpError("a tree mask needs a causal 'mask' for the "
                             "tokens before the tree");
    if (failed(verifyLength(op, "tree_parents", treeParents, tokens,
                            "one per query token")))
      return failure();
    if (!ShapedType::isDynamic(tokens) && !ShapedType::isDynamic(s.keys) &&
        tokens > s.keys)
      return op->emitOpError("the ")
             << tokens << " tree nodes must be among the " << s.keys << " keys";
  }
  return success();
}

//===----------------------------------------------------------------------===//
// AttentionOp
//===----------------------------------------------------------------------===//

LogicalResult AttentionOp::verify() {
  RankedTensorType key = getKey().getType();
  RankedTensorType value = getValue().getType();
  if (key.getElementType() != value.getElementType())
    return emitOpError("expects 'key' and 'value' of one element type, got ")
           << key << " and " << value;
  if (!dimsCompatible(key.getDimSize(0), value.getDimSize(0)))
    return emitOpError("expects 'key' and 'value' with the same number of "
                       "KV heads, got ")
           << key << " and " << value;
  if (!dimsCompatible(key.getDimSize(1), value.getDimSize(1)))
    return emitOpError("expects 'key' and 'value' with the same number of "
                       "tokens, got ")
           << key << " and " << value;

  AttentionShapes shapes{getQuery().getType(), key.getDimSize(0),
                         key.getDimSize(1),    key.getDimSize(2),
                         value.getDimSize(2),  key.getElementType(),
                         getOutput().getType()};
  if (failed(verifyAttentionCommon(*this, shapes, getMask(), getScaleAttr(),
                                   getSoftcapAttr(), getScoresAttr(),
                                   getReceived(), getTreeParents())))
    return failure();

  int64_t tokens = getQuery().getType().getDimSize(1);
  int64_t keys = key.getDimSize(1);
  if (static_cast<bool>(getQueryPositions()) !=
      static_cast<bool>(getKeyPositions()))
    return emitOpError("expects both query and key positions or neither");
  if (getQueryPositions()) {
    if (failed(verifyLength(*this, "query_positions", getQueryPositions(),
                            tokens, "one per query token")) ||
        failed(verifyLength(*this, "key_positions", getKeyPositions(), keys,
                            "one per key")))
      return failure();
  } else if (getMask().isCausal() && !ShapedType::isDynamic(tokens) &&
             !ShapedType::isDynamic(keys) && tokens > keys) {
    return emitOpError("without positions the queries are the last of the "
                       "keys, but there are ")
           << tokens << " queries and only " << keys << " keys";
  }

  bool blockDiagonal = getMask().getBlockDiagonal();
  if (static_cast<bool>(getQuerySegments()) !=
      static_cast<bool>(getKeySegments()))
    return emitOpError("expects both query and key segments or neither");
  if (blockDiagonal != static_cast<bool>(getQuerySegments()))
    return emitOpError(blockDiagonal ? "a block-diagonal mask needs 'segments'"
                                     : "'segments' need a mask with "
                                       "block_diagonal = true");
  if (blockDiagonal &&
      (failed(verifyLength(*this, "query_segments", getQuerySegments(), tokens,
                           "one per query token")) ||
       failed(verifyLength(*this, "key_segments", getKeySegments(), keys,
                           "one per key"))))
    return failure();

  if (getKeySizes() && failed(verifyLength(*this, "key_sizes", getKeySizes(),
                                           keys, "one per key")))
    return failure();
  return success();
}

//===----------------------------------------------------------------------===//
// CachedAttentionOp
//===----------------------------------------------------------------------===//

LogicalResult CachedAttentionOp::verify() {
  KVCacheType cache = getCache().getType();
  AttentionShapes shapes{getQuery().getType(), cache.getKvHeads(),
                         cache.getCapacity(),  cache.getHeadDim(),
                         cache.getHeadDim(),   cache.getElementType(),
                         getOutput().getType()};
  if (failed(verifyAttentionCommon(*this, shapes, getMask(), getScaleAttr(),
                                   getSoftcapAttr(), getScoresAttr(),
                                   getReceived(), getTreeParents())))
    return failure();
  if (getMask().getBlockDiagonal())
    return emitOpError("a block-diagonal mask needs segment ids, which a "
                       "cache does not store; use tok.attention");
  if (std::optional<int64_t> budget = getSelectBudget()) {
    if (*budget <= 0)
      return emitOpError("select_budget must be positive, got ") << *budget;
    if (!cache.getPages())
      return emitOpError("select_budget needs a cache with page bounds "
                         "('pages = P' in its type), got ")
             << cache;
    if (getTreeParents())
      return emitOpError("select_budget does not apply to a token tree");
    if (getReceived())
      return emitOpError("select_budget does not return received scores "
                         "(unselected pages receive none)");
  }
  return verifyLength(*this, "positions", getPositions(),
                      getQuery().getType().getDimSize(1),
                      "one per query token");
}

//===----------------------------------------------------------------------===//
// PagedAttentionOp
//===----------------------------------------------------------------------===//

LogicalResult PagedAttentionOp::verify() {
  KVPoolType pool = getPool().getType();
  AttentionShapes shapes{getQuery().getType(), pool.getKvHeads(),
                         pool.getSlots(),      pool.getHeadDim(),
                         pool.getHeadDim(),    pool.getElementType(),
                         getOutput().getType()};
  if (failed(verifyAttentionCommon(*this, shapes, getMask(), getScaleAttr(),
                                   getSoftcapAttr(), ScoresAttr(), Value(),
                                   Value())))
    return failure();
  // Each row reads its own sequence's positions up to its own: only the
  // causal rule (with a window and sinks) says which of them.
  if (!getMask().isCausal() || getMask().getBlockDiagonal())
    return emitOpError("expects a causal mask (a row reads positions up to "
                       "its own), got ")
           << getMask();
  int64_t tokens = getQuery().getType().getDimSize(1);
  return success(succeeded(verifyLength(*this, "row_seqs", getRowSeqs(), tokens,
                                        "one per query token")) &&
                 succeeded(verifyLength(*this, "positions", getPositions(),
                                        tokens, "one per query token")));
}
