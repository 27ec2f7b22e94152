//===- TokenOps.cpp - merge, unmerge, prune, gather, scatter --------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#include "VerifyUtils.h"
#include "tok/Dialect/Tok/IR/TokOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/IR/TypeUtilities.h"

#include <cmath>

using namespace mlir;
using namespace mlir::tok;

/// `value` with type `type`, through a tensor.cast if they differ only in
/// static information.
static Value castTo(OpBuilder &b, Location loc, Value value, Type type) {
  if (value.getType() == type)
    return value;
  return tensor::CastOp::create(b, loc, type, value);
}

/// The indices 0, 1, ..., n-1 as a tensor of `type` (1-D i32), where n is
/// dimension `dim` of `like`.
static Value buildIota(OpBuilder &b, Location loc, Value like, int64_t dim,
                       RankedTensorType type) {
  int64_t n = cast<RankedTensorType>(like.getType()).getDimSize(dim);
  if (!ShapedType::isDynamic(n)) {
    SmallVector<int32_t> values(n);
    for (int64_t i = 0; i < n; ++i)
      values[i] = static_cast<int32_t>(i);
    auto staticType = RankedTensorType::get({n}, b.getI32Type());
    Value iota = arith::ConstantOp::create(
        b, loc, staticType,
        DenseElementsAttr::get(staticType, ArrayRef<int32_t>(values)));
    return castTo(b, loc, iota, type);
  }
  Value size = tensor::DimOp::create(b, loc, like, dim);
  auto dynType = RankedTensorType::get({ShapedType::kDynamic}, b.getI32Type());
  Value iota = tensor::GenerateOp::create(
      b, loc, dynType, ValueRange{size},
      [](OpBuilder &nb, Location nloc, ValueRange indices) {
        Value i =
            arith::IndexCastOp::create(nb, nloc, nb.getI32Type(), indices[0]);
        tensor::YieldOp::create(nb, nloc, i);
      });
  return castTo(b, loc, iota, type);
}

//===----------------------------------------------------------------------===//
// MergeOp
//===----------------------------------------------------------------------===//

/// The number of tokens merge removes from `tokens` rows: r, clamped to half
/// of the unprotected tokens.
static int64_t effectiveMergeCount(int64_t r, int64_t protectedCount,
                                   int64_t tokens) {
  return std::min<int64_t>(r,
                           std::max<int64_t>(0, (tokens - protectedCount) / 2));
}

LogicalResult MergeOp::verify() {
  RankedTensorType input = getInput().getType();
  RankedTensorType output = getOutput().getType();
  int64_t tokens = input.getDimSize(0);
  // I64Attr getters are unsigned; read the signed values.
  int64_t r = getR(), protect = getProtectFirst();
  if (r < 0)
    return emitOpError("expects a non-negative 'r', got ") << r;
  if (protect < 0)
    return emitOpError("expects a non-negative 'protect_first', got ")
           << protect;
  if (failed(verifyLength(*this, "metric", getMetric(), tokens,
                          "one row per input token")))
    return failure();
  if (getSizes() && failed(verifyLength(*this, "sizes", getSizes(), tokens,
                                        "one per input token")))
    return failure();
  if (output.getElementType() != input.getElementType() ||
      !dimsCompatible(output.getDimSize(1), input.getDimSize(1)))
    return emitOpError("expects 'output' rows like the input rows ")
           << input << ", got " << output;
  if (!ShapedType::isDynamic(tokens)) {
    if (protect > tokens)
      return emitOpError("protects ")
             << protect << " of only " << tokens << " tokens";
    int64_t merged = effectiveMergeCount(r, protect, tokens);
    int64_t outTokens = tokens - merged;
    if (!dimsCompatible(output.getDimSize(0), outTokens))
      return emitOpError("expects 'output' of ")
             << outTokens << " tokens (" << tokens << " minus " << merged
             << " merged), got " << output;
  }
  if (failed(verifyLength(*this, "output_sizes", getOutputSizes(),
                          output.getDimSize(0), "one per output token")))
    return failure();
  return verifyLength(*this, "map", getMap(), tokens, "one per input token");
}

namespace {
/// A merge that merges nothing (r = 0, or too few unprotected tokens) is
/// the identity: the tokens, their sizes, and the identity map.
struct FoldEmptyMerge : OpRewritePattern<MergeOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(MergeOp op,
                                PatternRewriter &rewriter) const override {
    int64_t tokens = op.getInput().getType().getDimSize(0);
    int64_t r = op.getR(), protect = op.getProtectFirst();
    bool mergesNothing =
        r == 0 || (!ShapedType::isDynamic(tokens) &&
                   effectiveMergeCount(r, protect, tokens) == 0);
    if (!mergesNothing)
      return failure();
    Location loc = op.getLoc();
    Value output =
        castTo(rewriter, loc, op.getInput(), op.getOutput().getType());
    Value sizes = op.getSizes();
    if (!sizes) {
      Value one = arith::ConstantOp::create(rewriter, loc,
                                            rewriter.getF32FloatAttr(1.0f));
      SmallVector<Value> dynamicSizes;
      if (ShapedType::isDynamic(tokens))
        dynamicSizes.push_back(
            tensor::DimOp::create(rewriter, loc, op.getInput(), 0));
      sizes = tensor::SplatOp::create(
          rewriter, loc, RankedTensorType::get({tokens}, rewriter.getF32Type()),
          one, dynamicSizes);
    }
    sizes = castTo(rewriter, loc, sizes, op.getOutputSizes().getType());
    Value map =
        buildIota(rewriter, loc, op.getInput(), 0, op.getMap().getType());
    rewriter.replaceOp(op, {output, sizes, map});
    return success();
  }
};
} // namespace

void MergeOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                          MLIRContext *context) {
  results.add<FoldEmptyMerge>(context);
}

//===----------------------------------------------------------------------===//
// UnmergeOp
//===----------------------------------------------------------------------===//

LogicalResult UnmergeOp::inferReturnTypes(
    MLIRContext *context, std::optional<Location> location, ValueRange operands,
    DictionaryAttr attributes, OpaqueProperties properties, RegionRange regions,
    SmallVectorImpl<Type> &inferredReturnTypes) {
  if (operands.size() != 2)
    return failure();
  auto input = dyn_cast<RankedTensorType>(operands[0].getType());
  auto map = dyn_cast<RankedTensorType>(operands[1].getType());
  if (!input || !map || input.getRank() != 2 || map.getRank() != 1)
    return emitOptionalError(location,
                             "expects rank-2 tokens and a rank-1 map");
  inferredReturnTypes.push_back(RankedTensorType::get(
      {map.getDimSize(0), input.getDimSize(1)}, input.getElementType()));
  return success();
}

//===----------------------------------------------------------------------===//
// PruneOp
//===----------------------------------------------------------------------===//

int64_t PruneOp::getKeptCount(int64_t tokens) {
  // `keep` is stored as f32, so 0.1 reads back as 0.100000001...; forgive
  // that representation error (relative, f32 epsilon-sized) before rounding
  // up, or keep = 0.1 of 10 tokens would keep 2.
  double keep = getKeep().convertToDouble();
  double exact = keep * static_cast<double>(tokens);
  int64_t byRatio =
      static_cast<int64_t>(std::ceil(exact - std::max(1e-9, exact * 1e-6)));
  int64_t protect = static_cast<int64_t>(getProtectFirst()) +
                    static_cast<int64_t>(getProtectLast());
  int64_t kept = std::max(byRatio, protect);
  return std::min(kept, tokens);
}

LogicalResult PruneOp::verify() {
  RankedTensorType input = getInput().getType();
  RankedTensorType output = getOutput().getType();
  double keep = getKeep().convertToDouble();
  if (!(keep > 0.0 && keep <= 1.0))
    return emitOpError("expects 'keep' in (0, 1], got ") << keep;
  int64_t first = getProtectFirst(), last = getProtectLast();
  if (first < 0 || last < 0)
    return emitOpError("expects non-negative protect_first and "
                       "protect_last, got ")
           << first << " and " << last;
  int64_t tokens = input.getDimSize(0);
  if (failed(verifyLength(*this, "scores", getScores(), tokens,
                          "one per input token")))
    return failure();
  if (output.getElementType() != input.getElementType() ||
      !dimsCompatible(output.getDimSize(1), input.getDimSize(1)))
    return emitOpError("expects 'output' rows like the input rows ")
           << input << ", got " << output;
  if (!ShapedType::isDynamic(tokens)) {
    if (first + last > tokens)
      return emitOpError("protects ")
             << first + last << " of only " << tokens << " tokens";
    int64_t kept = getKeptCount(tokens);
    if (!dimsCompatible(output.getDimSize(0), kept))
      return emitOpError("expects 'output' of ")
             << kept << " tokens (keep " << keep << " of " << tokens
             << "), got " << output;
  }
  return verifyLength(*this, "indices", getIndices(), output.getDimSize(0),
                      "one per kept token");
}

namespace {
/// Pruning that keeps every token is the identity.
struct FoldKeepAll : OpRewritePattern<PruneOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(PruneOp op,
                                PatternRewriter &rewriter) const override {
    int64_t tokens = op.getInput().getType().getDimSize(0);
    bool keepsAll =
        op.getKeep().convertToDouble() == 1.0 ||
        (!ShapedType::isDynamic(tokens) && op.getKeptCount(tokens) == tokens);
    if (!keepsAll)
      return failure();
    Location loc = op.getLoc();
    Value output =
        castTo(rewriter, loc, op.getInput(), op.getOutput().getType());
    Value indices =
        buildIota(rewriter, loc, op.getInput(), 0, op.getIndices().getType());
    rewriter.replaceOp(op, {output, indices});
    return success();
  }
};
} // namespace

void PruneOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                          MLIRContext *context) {
  results.add<FoldKeepAll>(context);
}

//===----------------------------------------------------------------------===//
// GatherOp
//===----------------------------------------------------------------------===//

LogicalResult GatherOp::inferReturnTypes(
    MLIRContext *context, std::optional<Location> location, ValueRange operands,
    DictionaryAttr attributes, OpaqueProperties properties, RegionRange regions,
    SmallVectorImpl<Type> &inferredReturnTypes) {
  Adaptor adaptor(operands, attributes, properties, regions);
  auto input = dyn_cast<RankedTensorType>(adaptor.getInput().getType());
  auto indices = dyn_cast<RankedTensorType>(adaptor.getIndices().getType());
  // While parsing, the attribute is still in the attribute dictionary and
  // default-valued properties are not populated yet.
  IntegerAttr dimAttr = adaptor.getDimAttr();
  if (!dimAttr && attributes)
    dimAttr = dyn_cast_or_null<IntegerAttr>(attributes.get("dim"));
  int64_t dim = dimAttr ? dimAttr.getInt() : 0;
  if (!input || !indices || indices.getRank() != 1 || dim < 0 ||
      dim >= input.getRank())
    return emitOptionalError(location, "expects 'dim' (", dim,
                             ") to index a dimension of 'input'");
  SmallVector<int64_t> shape(input.getShape());
  shape[dim] = indices.getDimSize(0);
  inferredReturnTypes.push_back(
      RankedTensorType::get(shape, input.getElementType()));
  return success();
}

LogicalResult GatherOp::verify() {
  int64_t dim = getDim();
  if (dim < 0 || dim >= getInput().getType().getRank())
    return emitOpError("expects 'dim' in [0, ")
           << getInput().getType().getRank() << "), got " << dim;
  return success();
}

//===----------------------------------------------------------------------===//
// ScatterOp
//===----------------------------------------------------------------------===//

LogicalResult ScatterOp::verify() {
  RankedTensorType source = getSource().getType();
  RankedTensorType dest = getDest().getType();
  int64_t dim = getDim();
  if (dim < 0 || dim >= dest.getRank())
    return emitOpError("expects 'dim' in [0, ")
           << dest.getRank() << "), got " << dim;
  SmallVector<int64_t> expectedShape(dest.getShape());
  expectedShape[dim] = source.getRank() == dest.getRank()
                           ? source.getDimSize(dim)
                           : ShapedType::kDynamic;
  auto expected = RankedTensorType::get(expectedShape, dest.getElementType());
  if (source.getElementType() != dest.getElementType() ||
      failed(verifyCompatibleShape(source, expected)))
    return emitOpError("expects 'source' of type ")
           << expected << " ('dest' with dimension " << dim
           << " replaced by the indices), got " << source;
  return verifyLength(*this, "indices", getIndices(), source.getDimSize(dim),
                      "one per source slice");
}

OpFoldResult ScatterOp::fold(FoldAdaptor) {
  // Writing back the slices that were just read changes nothing.
  auto gather = getSource().getDefiningOp<GatherOp>();
  if (gather && gather.getInput() == getDest() &&
      gather.getIndices() == getIndices() && gather.getDim() == getDim())
    return getDest();
  return {};
}
