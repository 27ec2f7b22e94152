//===- ModelOpsToLinalg.cpp - embed, rope and linear as linalg ------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// The model building blocks around attention:
//   tok.embed   a gather generic, after a run-time check of every id
//   tok.rope    a [T, D/2] cos / sin table (one angle per token and pair,
//               shared by the heads), then an elementwise generic that
//               reads each element's rotation partner (half: i +- D/2;
//               interleaved: i xor 1) and its pair's cos / sin
//   tok.linear  a contraction generic over the input features, started from
//               the bias (or zero)
// Angles and accumulations are f32 whatever the element type.
//
//===----------------------------------------------------------------------===//

#include "tok/Conversion/Passes.h"

#include "QuantBlocks.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Transforms/DialectConversion.h"
#include "tok/Dialect/Tok/IR/TokOps.h"

#include <cmath>

using namespace mlir;
using namespace mlir::tok;

namespace {

using utils::IteratorType;

Value toF32(OpBuilder &b, Location loc, Value v) {
  if (v.getType().isF32())
    return v;
  return arith::ExtFOp::create(b, loc, b.getF32Type(), v);
}

Value fromF32(OpBuilder &b, Location loc, Value v, Type to) {
  if (to.isF32())
    return v;
  return arith::TruncFOp::create(b, loc, to, v);
}

/// A tensor.empty of `type`; its dynamic sizes, in order, are the
/// dimensions (value, dim) of `dynamicFrom`.
Value emptyLike(OpBuilder &b, Location loc, RankedTensorType type,
                ArrayRef<std::pair<Value, int64_t>> dynamicFrom) {
  SmallVector<Value> sizes;
  for (auto [value, dim] : dynamicFrom)
    sizes.push_back(tensor::DimOp::create(b, loc, value, dim));
  return tensor::EmptyOp::create(b, loc, type, sizes);
}

struct EmbedOpLowering : OpConversionPattern<EmbedOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(EmbedOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    Value table = adaptor.getTable();
    Value ids = adaptor.getIds();
    RankedTensorType resultType = op.getResult().getType();
    WeightQuantAttr quant = getWeightQuant(op.getTable().getType());

    // Every id must index a row: check min >= 0 and max < V first, so that
    // a bad id is a clear run-time error and never an out-of-bounds read.
    Value vocab = arith::IndexCastOp::create(
        rewriter, loc, rewriter.getI32Type(),
        tensor::DimOp::create(rewriter, loc, table, 0));
    auto i32 = rewriter.getI32Type();
    auto scalarType = RankedTensorType::get({}, i32);
    auto bound = [&](int32_t init, bool isMax) {
      Value empty =
          tensor::EmptyOp::create(rewriter, loc, scalarType, ValueRange{});
      Value start = arith::ConstantOp::create(rewriter, loc,
                                              rewriter.getI32IntegerAttr(init));
      Value filled =
          linalg::FillOp::create(rewriter, loc, start, empty).getResult(0);
      AffineExpr t = getAffineDimExpr(0, ctx);
      Value reduced =
          linalg::GenericOp::create(
              rewriter, loc, scalarType, ValueRange{ids}, ValueRange{filled},
              ArrayRef<AffineMap>{AffineMap::get(1, 0, {t}, ctx),
                                  AffineMap::get(1, 0, {}, ctx)},
              ArrayRef<IteratorType>{IteratorType::reduction},
              [&](OpBuilder &b, Location l, ValueRange a) {
                Value r =
                    isMax
                        ? arith::MaxSIOp::create(b, l, a[0], a[1]).getResult()
                        : arith::MinSIOp::create(b, l, a[0], a[1]).getResult();
                linalg::YieldOp::create(b, l, r);
              })
              .getResult(0);
      return tensor::ExtractOp::create(rewriter, loc, reduced, ValueRange{});
    };
    Value lowest = bound(std::numeric_limits<int32_t>::max(), false);
    Value highest = bound(std::numeric_limits<int32_t>::min(), true);
    Value zero =
        arith::ConstantOp::create(rewriter, loc, rewriter.getI32IntegerAttr(0));
    Value ok = arith::AndIOp::create(
        rewriter, loc,
        arith::CmpIOp::create(rewriter, loc, arith::CmpIPredicate::sge, lowest,
                              zero),
        arith::CmpIOp::create(rewriter, loc, arith::CmpIPredicate::slt, highest,
                              vocab));
    cf::AssertOp::create(rewriter, loc, ok,
                         "tok.embed: a token id is outside the vocabulary");

    SmallVector<std::pair<Value, int64_t>> dyn;
    if (resultType.isDynamicDim(0))
      dyn.push_back({ids, 0});
    if (resultType.isDynamicDim(1) && !quant)
      dyn.push_back({table, 1});
    Value init = emptyLike(rewriter, loc, resultType, dyn);
    AffineExpr t, e;
    bindDims(ctx, t, e);
    Value result =
        linalg::GenericOp::create(
            rewriter, loc, resultType, ValueRange{ids}, ValueRange{init},
            ArrayRef<AffineMap>{AffineMap::get(2, 0, {t}, ctx),
                                AffineMap::get(2, 0, {t, e}, ctx)},
            ArrayRef<IteratorType>{IteratorType::parallel,
                                   IteratorType::parallel},
            [&](OpBuilder &b, Location l, ValueRange a) {
              Value row =
                  arith::IndexCastOp::create(b, l, b.getIndexType(), a[0]);
              Value col = linalg::IndexOp::create(b, l, 1);
              // A #tok.quant table is read from its blocks in place.
              Value v = quant ? emitDequantElement(b, l, quant, table, row, col)
                              : tensor::ExtractOp::create(b, l, table,
                                                          ValueRange{row, col})
                                    .getResult();
              linalg::YieldOp::create(b, l, v);
            })
            .getResult(0);
    rewriter.replaceOp(op, result);
    return success();
  }
};

struct RopeOpLowering : OpConversionPattern<RopeOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(RopeOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    Value input = adaptor.getInput();
    Value positions = adaptor.getPositions();
    auto type = cast<RankedTensorType>(input.getType());
    Type elem = type.getElementType();
    bool half = op.getStyle() == RopeStyle::half;
    double logTheta = std::log(op.getTheta().convertToDouble());
    double invScale = 1.0 / op.getScale().convertToDouble();

    SmallVector<std::pair<Value, int64_t>> dyn;
    for (int64_t d = 0; d < 3; ++d)
      if (type.isDynamicDim(d))
        dyn.push_back({input, d});
    Value init = emptyLike(rewriter, loc, type, dyn);
    Value depth = tensor::DimOp::create(rewriter, loc, input, 2);
    Value two = arith::ConstantIndexOp::create(rewriter, loc, 2);
    Value pairs = arith::DivUIOp::create(rewriter, loc, depth, two);
    Value tokens = tensor::DimOp::create(rewriter, loc, input, 1);

    // cos and sin of every (token, pair) once: angle = pos / scale *
    // theta^(-2j/D) (or the op's frequencies[j]) in f32. The heads share
    // them (one sincos per pair and token instead of per element).
    Value freqTable;
    if (std::optional<ArrayRef<float>> freqs = op.getFrequencies()) {
      auto freqType = RankedTensorType::get(
          {static_cast<int64_t>(freqs->size())}, rewriter.getF32Type());
      freqTable = arith::ConstantOp::create(
          rewriter, loc, DenseElementsAttr::get(freqType, *freqs));
    }
    auto tableType = RankedTensorType::get(
        {ShapedType::kDynamic, ShapedType::kDynamic}, rewriter.getF32Type());
    Value tableInit = tensor::EmptyOp::create(rewriter, loc, tableType,
                                              ValueRange{tokens, pairs});
    AffineExpr t, j;
    bindDims(ctx, t, j);
    auto table = linalg::GenericOp::create(
        rewriter, loc, TypeRange{tableType, tableType}, ValueRange{positions},
        ValueRange{tableInit, tableInit},
        ArrayRef<AffineMap>{AffineMap::get(2, 0, {t}, ctx),
                            AffineMap::get(2, 0, {t, j}, ctx),
                            AffineMap::get(2, 0, {t, j}, ctx)},
        SmallVector<IteratorType>(2, IteratorType::parallel),
        [&](OpBuilder &b, Location l, ValueRange a) {
          Value ji = linalg::IndexOp::create(b, l, 1);
          auto asF32 = [&](Value v) {
            return arith::UIToFPOp::create(
                b, l, b.getF32Type(),
                arith::IndexCastUIOp::create(b, l, b.getI64Type(), v));
          };
          // The op's table, or theta^(-2j/D) = exp(-2j/D log theta).
          Value freq;
          if (freqTable) {
            freq = tensor::ExtractOp::create(b, l, freqTable, ValueRange{ji});
          } else {
            Value exponent = arith::DivFOp::create(
                b, l,
                arith::MulFOp::create(
                    b, l, asF32(ji),
                    arith::ConstantOp::create(b, l, b.getF32FloatAttr(-2.0f))),
                asF32(depth));
            freq = math::ExpOp::create(
                b, l,
                arith::MulFOp::create(
                    b, l, exponent,
                    arith::ConstantOp::create(
                        b, l,
                        b.getF32FloatAttr(static_cast<float>(logTheta)))));
          }
          Value pos = arith::SIToFPOp::create(b, l, b.getF32Type(), a[0]);
          pos = arith::MulFOp::create(
              b, l, pos,
              arith::ConstantOp::create(
                  b, l, b.getF32FloatAttr(static_cast<float>(invScale))));
          Value angle = arith::MulFOp::create(b, l, pos, freq);
          linalg::YieldOp::create(b, l,
                                  ValueRange{math::CosOp::create(b, l, angle),
                                             math::SinOp::create(b, l, angle)});
        });
    Value cosTable = table.getResult(0), sinTable = table.getResult(1);

    AffineExpr h, i;
    bindDims(ctx, h, t, i);
    Value result =
        linalg::GenericOp::create(
            rewriter, loc, type, ValueRange{input}, ValueRange{init},
            ArrayRef<AffineMap>{AffineMap::get(3, 0, {h, t, i}, ctx),
                                AffineMap::get(3, 0, {h, t, i}, ctx)},
            SmallVector<IteratorType>(3, IteratorType::parallel),
            [&](OpBuilder &b, Location l, ValueRange a) {
              Value hi = linalg::IndexOp::create(b, l, 0);
              Value ti = linalg::IndexOp::create(b, l, 1);
              Value ii = linalg::IndexOp::create(b, l, 2);
              Value one = arith::ConstantIndexOp::create(b, l, 1);
              // Pair index, partner element and the sign of its term.
              Value pair, partner, first;
              if (half) {
                first = arith::CmpIOp::create(b, l, arith::CmpIPredicate::ult,
                                              ii, pairs);
                Value highJ = arith::SubIOp::create(b, l, ii, pairs);
                pair = arith::SelectOp::create(b, l, first, ii, highJ);
                partner = arith::SelectOp::create(
                    b, l, first, arith::AddIOp::create(b, l, ii, pairs), highJ);
              } else {
                pair = arith::DivUIOp::create(b, l, ii, two);
                Value odd = arith::RemUIOp::create(b, l, ii, two);
                first = arith::CmpIOp::create(
                    b, l, arith::CmpIPredicate::eq, odd,
                    arith::ConstantIndexOp::create(b, l, 0));
                partner = arith::SelectOp::create(
                    b, l, first, arith::AddIOp::create(b, l, ii, one),
                    arith::SubIOp::create(b, l, ii, one));
              }
              Value cos = tensor::ExtractOp::create(b, l, cosTable,
                                                    ValueRange{ti, pair});
              Value sin = tensor::ExtractOp::create(b, l, sinTable,
                                                    ValueRange{ti, pair});
              Value x = toF32(b, l, a[0]);
              Value other =
                  toF32(b, l,
                        tensor::ExtractOp::create(b, l, input,
                                                  ValueRange{hi, ti, partner}));
              // first of a pair: x cos - other sin; second: x cos + other sin.
              Value signedSin = arith::SelectOp::create(
                  b, l, first, arith::NegFOp::create(b, l, sin), sin);
              Value out = arith::AddFOp::create(
                  b, l, arith::MulFOp::create(b, l, x, cos),
                  arith::MulFOp::create(b, l, other, signedSin));
              linalg::YieldOp::create(b, l, fromF32(b, l, out, elem));
            })
            .getResult(0);
    rewriter.replaceOp(op, result);
    return success();
  }
};

struct LinearOpLowering : OpConversionPattern<LinearOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(LinearOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    MLIRContext *ctx = rewriter.getContext();
    Value input = adaptor.getInput();
    if (getWeightQuant(op.getWeight().getType()))
      return rewriter.notifyMatchFailure(op, "a #tok.quant weight");
    Value weight = adaptor.getWeight();
    Value bias = adaptor.getBias();
    RankedTensorType resultType = op.getResult().getType();
    Type elem = resultType.getElementType();
    int64_t rank = resultType.getRank();
    auto accType =
        RankedTensorType::get(resultType.getShape(), rewriter.getF32Type());

    SmallVector<std::pair<Value, int64_t>> dyn;
    for (int64_t d = 0; d < rank - 1; ++d)
      if (resultType.isDynamicDim(d))
        dyn.push_back({input, d});
    if (resultType.isDynamicDim(rank - 1))
      dyn.push_back({weight, 0});
    Value accInit = emptyLike(rewriter, loc, accType, dyn);

    // Iteration space: the result dims, then the reduced input feature.
    SmallVector<AffineExpr> outDims, inDims;
    for (int64_t d = 0; d < rank; ++d)
      outDims.push_back(getAffineDimExpr(d, ctx));
    inDims.assign(outDims.begin(), outDims.end() - 1);
    AffineExpr n = getAffineDimExpr(rank - 1, ctx);
    AffineExpr k = getAffineDimExpr(rank, ctx);
    inDims.push_back(k);
    AffineMap outMap = AffineMap::get(rank + 1, 0, outDims, ctx);

    // Start from the bias, or zero.
    Value start;
    if (bias) {
      SmallVector<AffineExpr> res(outDims);
      start =
          linalg::GenericOp::create(
              rewriter, loc, accType, ValueRange{bias}, ValueRange{accInit},
              ArrayRef<AffineMap>{AffineMap::get(rank, 0, {res.back()}, ctx),
                                  AffineMap::getMultiDimIdentityMap(rank, ctx)},
              SmallVector<IteratorType>(rank, IteratorType::parallel),
              [&](OpBuilder &b, Location l, ValueRange a) {
                linalg::YieldOp::create(b, l, toF32(b, l, a[0]));
              })
              .getResult(0);
    } else {
      Value zero = arith::ConstantOp::create(rewriter, loc,
                                             rewriter.getF32FloatAttr(0.0f));
      start = linalg::FillOp::create(rewriter, loc, zero, accInit).getResult(0);
    }
    SmallVector<IteratorType> iters(rank, IteratorType::parallel);
    iters.push_back(IteratorType::reduction);
    Value acc =
        linalg::GenericOp::create(
            rewriter, loc, accType, ValueRange{input, weight},
            ValueRange{start},
            ArrayRef<AffineMap>{AffineMap::get(rank + 1, 0, inDims, ctx),
                                AffineMap::get(rank + 1, 0, {n, k}, ctx),
                                outMap},
            iters,
            [&](OpBuilder &b, Location l, ValueRange a) {
              Value prod = arith::MulFOp::create(b, l, toF32(b, l, a[0]),
                                                 toF32(b, l, a[1]));
              linalg::YieldOp::create(
                  b, l, arith::AddFOp::create(b, l, a[2], prod).getResult());
            })
            .getResult(0);
    if (!elem.isF32()) {
      Value outInit = emptyLike(rewriter, loc, resultType, dyn);
      acc =
          linalg::GenericOp::create(
              rewriter, loc, resultType, ValueRange{acc}, ValueRange{outInit},
              ArrayRef<AffineMap>{AffineMap::getMultiDimIdentityMap(rank, ctx),
                                  AffineMap::getMultiDimIdentityMap(rank, ctx)},
              SmallVector<IteratorType>(rank, IteratorType::parallel),
              [&](OpBuilder &b, Location l, ValueRange a) {
                linalg::YieldOp::create(b, l, fromF32(b, l, a[0], elem));
              })
              .getResult(0);
    }
    rewriter.replaceOp(op, acc);
    return success();
  }
};

} // namespace

void mlir::tok::populateModelOpsToLinalgPatterns(RewritePatternSet &patterns) {
  patterns.add<EmbedOpLowering, LinearOpLowering, RopeOpLowering>(
      patterns.getContext());
}
