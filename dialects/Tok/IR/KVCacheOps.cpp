//===- KVCacheOps.cpp - tok.kv.* ------------------------------------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#include "VerifyUtils.h"
#include "tok/Dialect/Tok/IR/TokOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/IR/TypeUtilities.h"

#include <limits>

using namespace mlir;
using namespace mlir::tok;

//===----------------------------------------------------------------------===//
// KVLengthOp
//===----------------------------------------------------------------------===//

OpFoldResult KVLengthOp::fold(FoldAdaptor) {
  if (getCache().getDefiningOp<KVEmptyOp>())
    return IntegerAttr::get(IndexType::get(getContext()), 0);
  return {};
}

//===----------------------------------------------------------------------===//
// KVAppendOp
//===----------------------------------------------------------------------===//

LogicalResult KVAppendOp::verify() {
  KVCacheType cache = getCache().getType();
  for (auto [name, value] : {std::pair<StringRef, Value>{"keys", getKeys()},
                             {"values", getValues()}}) {
    auto type = cast<RankedTensorType>(value.getType());
    auto expected = cache.getSliceType(type.getDimSize(1));
    if (type.getElementType() != expected.getElementType() ||
        failed(verifyCompatibleShape(type, expected)))
      return emitOpError("expects '")
             << name << "' of type " << expected
             << " (the cache's KV heads x tokens x head dim), got " << type;
  }
  int64_t tokens = getKeys().getType().getDimSize(1);
  if (!dimsCompatible(tokens, getValues().getType().getDimSize(1)))
    return emitOpError("expects as many 'values' as 'keys', got ")
           << getKeys().getType() << " and " << getValues().getType();
  if (!ShapedType::isDynamic(tokens) && tokens > cache.getCapacity())
    return emitOpError("appends ")
           << tokens << " tokens to a cache of capacity "
           << cache.getCapacity();
  return verifyLength(*this, "positions", getPositions(), tokens,
                      "one per appended token");
}

//===----------------------------------------------------------------------===//
// KVEvictOp
//===----------------------------------------------------------------------===//

LogicalResult KVEvictOp::verify() {
  KVCacheType cache = getCache().getType();
  EvictAttr policy = getPolicy();
  StringRef name = stringifyEvictPolicy(policy.getPolicy());
  if (policy.getBudget() > cache.getCapacity())
    return emitOpError("eviction budget ")
           << policy.getBudget() << " exceeds the cache capacity "
           << cache.getCapacity()
           << "; shrink the cache type instead of evicting";
  if (policy.needsScores() && !getScores())
    return emitOpError("policy '")
           << name << "' ranks slots by attention and needs 'scores'";
  if (!policy.needsScores() && getScores())
    return emitOpError("policy '") << name << "' takes no 'scores'";
  if (Value scores = getScores()) {
    auto actual = cast<RankedTensorType>(scores.getType());
    if (failed(verifyCompatibleShape(actual, cache.getScoresType())))
      return emitOpError("expects 'scores' of type ")
             << cache.getScoresType() << " (KV heads x capacity), got "
             << actual;
  }
  if (policy.accumulatesScores() && !cache.getScores())
    return emitOpError("policy '")
           << name
           << "' accumulates scores across steps: the cache type must track "
              "them (add 'scores' to "
           << cache << ")";
  return success();
}

OpFoldResult KVEvictOp::fold(FoldAdaptor) {
  // With a budget of the whole capacity nothing can ever be evicted; only
  // the accumulating policies still change the cache (its scores).
  EvictAttr policy = getPolicy();
  if (!policy.accumulatesScores() &&
      policy.getBudget() >= getCache().getType().getCapacity())
    return getCache();
  return {};
}

//===----------------------------------------------------------------------===//
// KVTruncateOp
//===----------------------------------------------------------------------===//

OpFoldResult KVTruncateOp::fold(FoldAdaptor adaptor) {
  auto count = dyn_cast_or_null<IntegerAttr>(adaptor.getCount());
  if (count && count.getValue().isZero())
    return getCache();
  if (getCache().getDefiningOp<KVEmptyOp>())
    return getCache();
  return {};
}

namespace {
/// truncate(truncate(c, a), b) -> truncate(c, a + b) for constant a and b:
/// both drop from the end and clamp at zero live slots.
struct CombineTruncations : OpRewritePattern<KVTruncateOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(KVTruncateOp op,
                                PatternRewriter &rewriter) const override {
    auto inner = op.getCache().getDefiningOp<KVTruncateOp>();
    if (!inner)
      return failure();
    APInt outer, first;
    if (!matchPattern(op.getCount(), m_ConstantInt(&outer)) ||
        !matchPattern(inner.getCount(), m_ConstantInt(&first)))
      return failure();
    // Negative counts are a run-time error the lowering reports; leave
    // them, and sums that would overflow, for it to see.
    int64_t a = outer.getSExtValue(), c = first.getSExtValue();
    if (a < 0 || c < 0 || a > std::numeric_limits<int64_t>::max() - c)
      return failure();
    Value total = arith::ConstantIndexOp::create(rewriter, op.getLoc(), a + c);
    rewriter.replaceOpWithNewOp<KVTruncateOp>(op, inner.getCache(), total);
    return success();
  }
};
} // namespace

void KVTruncateOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                               MLIRContext *context) {
  results.add<CombineTruncations>(context);
}

//===----------------------------------------------------------------------===//
// KVCommitOp
//===----------------------------------------------------------------------===//

LogicalResult KVCommitOp::verify() {
  int64_t pathLength = getPath().getType().getDimSize(0);
  int64_t capacity = getCache().getType().getCapacity();
  if (!ShapedType::isDynamic(pathLength) && pathLength > capacity)
    return emitOpError("commits a path of ")
           << pathLength << " nodes into a cache of capacity " << capacity;
  return success();
}

//===----------------------------------------------------------------------===//
// KVQuantizeOp
//===----------------------------------------------------------------------===//

LogicalResult KVQuantizeOp::verify() {
  KVCacheType from = getCache().getType();
  KVCacheType to = getResult().getType();
  if (from.getQuant())
    return emitOpError("expects an unquantized cache, got ") << from;
  if (!to.getQuant())
    return emitOpError("expects a result type with 'quant', got ") << to;
  if (KVCacheType::get(getContext(), to.getKvHeads(), to.getCapacity(),
                       to.getHeadDim(), to.getElementType(), to.getScores(),
                       KVQuantAttr(), to.getPages()) != from)
    return emitOpError("expects the result to be ")
           << from << " with 'quant' added, got " << to;
  return success();
}
