//===- SampleToLoops.cpp - tok.sample as reductions and loops -------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// Greedy sampling is an arg-max reduction (ties to the lowest token id).
// Stochastic sampling, per row of logits z (docs/algorithms.md, "Sampling"):
//
//   z <- z / temperature
//   top_k: keep z >= the k-th largest value (ties at the boundary are kept)
//   e_v <- exp(z_v - max z) for kept tokens, 0 otherwise
//   top_p: keep e_v >= t for the largest t with sum_{e >= t} e >= p * sum e
//          (found by bisection; the most likely token is always kept)
//   draw u in [0, 1) from a counter-based generator keyed by
//   (seed, counter, row) and return the first token whose running sum of
//   kept e exceeds u * sum(kept e).
//
// The generator is SplitMix64 over the key, so the op stays a pure
// function of its operands.
//
//===----------------------------------------------------------------------===//

#include "Sampling.h"
#include "tok/Conversion/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Transforms/DialectConversion.h"
#include "tok/Dialect/Tok/IR/TokOps.h"

#include <limits>

using namespace mlir;
using namespace mlir::tok;

namespace {

/// Small builder helpers for scalar code.
struct Scalars {
  OpBuilder &b;
  Location loc;

  Value f32(double v) {
    return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(v));
  }
  Value i64(int64_t v) {
    return arith::ConstantOp::create(b, loc, b.getI64IntegerAttr(v));
  }
  Value index(int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); }
};

/// SplitMix64 finalizer of `x` (an i64).
Value mix64(OpBuilder &b, Location loc, Value x) {
  Scalars s{b, loc};
  auto xorShift = [&](Value v, int64_t shift) {
    return arith::XOrIOp::create(
        b, loc, v, arith::ShRUIOp::create(b, loc, v, s.i64(shift)));
  };
  x = arith::AddIOp::create(b, loc, x,
                            s.i64(static_cast<int64_t>(0x9E3779B97F4A7C15ull)));
  x = xorShift(x, 30);
  x = arith::MulIOp::create(b, loc, x,
                            s.i64(static_cast<int64_t>(0xBF58476D1CE4E5B9ull)));
  x = xorShift(x, 27);
  x = arith::MulIOp::create(b, loc, x,
                            s.i64(static_cast<int64_t>(0x94D049BB133111EBull)));
  return xorShift(x, 31);
}

} // namespace

/// A uniform f32 in [0, 1) from (seed, counter, row).
Value mlir::tok::emitUniform(OpBuilder &b, Location loc, int64_t seed,
                             Value counter, Value row) {
  Scalars s{b, loc};
  Value r = arith::IndexCastOp::create(b, loc, b.getI64Type(), row);
  Value h = mix64(b, loc, arith::XOrIOp::create(b, loc, s.i64(seed), counter));
  h = mix64(b, loc, arith::XOrIOp::create(b, loc, h, r));
  // The top 24 bits, scaled by 2^-24: exactly representable in f32.
  Value bits = arith::ShRUIOp::create(b, loc, h, s.i64(40));
  Value f = arith::UIToFPOp::create(b, loc, b.getF32Type(), bits);
  return arith::MulFOp::create(b, loc, f, s.f32(1.0 / 16777216.0));
}

namespace {

/// for v in [0, vocab): acc = body(v, acc).
Value loopOverVocab(
    OpBuilder &b, Location loc, Value vocab, ValueRange init,
    function_ref<SmallVector<Value>(OpBuilder &, Value, ValueRange)> body,
    unsigned resultIndex = 0) {
  Scalars s{b, loc};
  auto loop = scf::ForOp::create(
      b, loc, s.index(0), vocab, s.index(1), init,
      [&](OpBuilder &lb, Location l, Value v, ValueRange args) {
        scf::YieldOp::create(lb, l, body(lb, v, args));
      });
  return loop.getResult(resultIndex);
}

struct SampleOpLowering : OpConversionPattern<SampleOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(SampleOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value logits = adaptor.getLogits();
    SamplerAttr sampler = op.getSampler();
    Value rows = tensor::DimOp::create(rewriter, loc, logits, 0);
    Value vocab = tensor::DimOp::create(rewriter, loc, logits, 1);
    auto resultType = cast<RankedTensorType>(op.getTokens().getType());
    SmallVector<Value> dynSizes;
    if (resultType.isDynamicDim(0))
      dynSizes.push_back(rows);
    Value init = tensor::EmptyOp::create(rewriter, loc, resultType, dynSizes);

    Value result;
    if (sampler.isGreedy())
      result = emitGreedy(rewriter, loc, logits, init);
    else
      result = emitStochastic(rewriter, loc, logits, init, rows, vocab, sampler,
                              adaptor.getCounter());
    rewriter.replaceOp(op, result);
    return success();
  }

  /// Arg-max over the vocabulary; a strictly greater value replaces the best
  /// so far, so ties go to the lowest id.
  static Value emitGreedy(OpBuilder &b, Location loc, Value logits,
                          Value init) {
    MLIRContext *ctx = b.getContext();
    Scalars s{b, loc};
    Value rows = tensor::DimOp::create(b, loc, logits, 0);
    auto bestType =
        RankedTensorType::get({ShapedType::kDynamic}, b.getF32Type());
    Value empty = tensor::EmptyOp::create(b, loc, bestType, ValueRange{rows});
    Value bestInit =
        linalg::FillOp::create(
            b, loc, s.f32(-std::numeric_limits<double>::infinity()), empty)
            .getResult(0);
    Value zero = arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(0));
    Value idxInit = linalg::FillOp::create(b, loc, zero, init).getResult(0);
    AffineExpr r, v;
    bindDims(ctx, r, v);
    auto generic = linalg::GenericOp::create(
        b, loc, TypeRange{bestInit.getType(), idxInit.getType()},
        ValueRange{logits}, ValueRange{bestInit, idxInit},
        ArrayRef<AffineMap>{AffineMap::get(2, 0, {r, v}, ctx),
                            AffineMap::get(2, 0, {r}, ctx),
                            AffineMap::get(2, 0, {r}, ctx)},
        ArrayRef<utils::IteratorType>{utils::IteratorType::parallel,
                                      utils::IteratorType::reduction},
        [&](OpBuilder &gb, Location l, ValueRange a) {
          Value greater = arith::CmpFOp::create(
              gb, l, arith::CmpFPredicate::OGT, a[0], a[1]);
          Value id = arith::IndexCastOp::create(
              gb, l, gb.getI32Type(), linalg::IndexOp::create(gb, l, 1));
          linalg::YieldOp::create(
              gb, l,
              ValueRange{arith::SelectOp::create(gb, l, greater, a[0], a[1]),
                         arith::SelectOp::create(gb, l, greater, id, a[2])});
        });
    return generic.getResult(1);
  }

  static Value emitStochastic(OpBuilder &b, Location loc, Value logits,
                              Value init, Value rows, Value vocab,
                              SamplerAttr sampler, Value counter) {
    Scalars s{b, loc};
    auto rowLoop = scf::ForOp::create(
        b, loc, s.index(0), rows, s.index(1), ValueRange{init},
        [&](OpBuilder &rb, Location l, Value row, ValueRange rowArgs) {
          Value weights = emitSamplerWeights(rb, l, logits, row, sampler);
          Value u = emitUniform(rb, l, sampler.getSeed(), counter, row);
          Value token = emitDraw(rb, l, weights, u);
          Value out = tensor::InsertOp::create(rb, l, token, rowArgs[0],
                                               ValueRange{row});
          scf::YieldOp::create(rb, l, out);
        });
    return rowLoop.getResult(0);
  }
};

} // namespace

Value mlir::tok::emitSamplerWeights(OpBuilder &rb, Location l, Value logits,
                                    Value row, SamplerAttr sampler) {
  double invTemperature = 1.0 / sampler.getTemperature().convertToDouble();
  int64_t topK = sampler.getTopK();
  double topP = sampler.getTopP().convertToDouble();
  double inf = std::numeric_limits<double>::infinity();
  Value vocab = tensor::DimOp::create(rb, l, logits, 1);
  Scalars rs{rb, l};
  auto z = [&](OpBuilder &ib, Value v) -> Value {
    Value x = tensor::ExtractOp::create(ib, l, logits, ValueRange{row, v});
    return arith::MulFOp::create(ib, l, x, Scalars{ib, l}.f32(invTemperature));
  };
  // Maximum of z.
  Value maxZ = loopOverVocab(
      rb, l, vocab, ValueRange{rs.f32(-inf)},
      [&](OpBuilder &ib, Value v, ValueRange a) -> SmallVector<Value> {
        return {arith::MaxNumFOp::create(ib, l, a[0], z(ib, v))};
      });

  // Top-k threshold: walk down the distinct values until k tokens
  // are covered.
  Value threshold = rs.f32(-inf);
  if (topK > 0) {
    Type f32 = rb.getF32Type(), i64 = rb.getI64Type();
    auto walk = scf::WhileOp::create(
        rb, l, TypeRange{f32, i64, f32},
        ValueRange{rs.f32(inf), rs.i64(0), rs.f32(-inf)},
        [&](OpBuilder &wb, Location wl, ValueRange a) {
          Value more = arith::CmpIOp::create(wb, wl, arith::CmpIPredicate::slt,
                                             a[1], Scalars{wb, wl}.i64(topK));
          scf::ConditionOp::create(wb, wl, more, a);
        },
        [&](OpBuilder &wb, Location wl, ValueRange a) {
          Scalars ws{wb, wl};
          // The next value below the current one, and its count.
          Value next = loopOverVocab(
              wb, wl, vocab, ValueRange{ws.f32(-inf)},
              [&](OpBuilder &ib, Value v,
                  ValueRange acc) -> SmallVector<Value> {
                Value x = z(ib, v);
                Value below = arith::CmpFOp::create(
                    ib, wl, arith::CmpFPredicate::OLT, x, a[0]);
                Value cand = arith::SelectOp::create(ib, wl, below, x,
                                                     Scalars{ib, wl}.f32(-inf));
                return {arith::MaxNumFOp::create(ib, wl, acc[0], cand)};
              });
          Value count = loopOverVocab(
              wb, wl, vocab, ValueRange{ws.i64(0)},
              [&](OpBuilder &ib, Value v,
                  ValueRange acc) -> SmallVector<Value> {
                Value eq = arith::CmpFOp::create(
                    ib, wl, arith::CmpFPredicate::OEQ, z(ib, v), next);
                Value one = arith::ExtUIOp::create(ib, wl, ib.getI64Type(), eq);
                return {arith::AddIOp::create(ib, wl, acc[0], one)};
              });
          // No value left below (fewer distinct values than k):
          // stop with everything kept.
          Value exhausted = arith::CmpIOp::create(
              wb, wl, arith::CmpIPredicate::eq, count, ws.i64(0));
          Value total = arith::AddIOp::create(wb, wl, a[1], count);
          total =
              arith::SelectOp::create(wb, wl, exhausted, ws.i64(topK), total);
          scf::YieldOp::create(wb, wl, ValueRange{next, total, next});
        });
    threshold = walk.getResult(2);
  }
  auto weight = [&](OpBuilder &ib, Value v) -> Value {
    Value x = z(ib, v);
    Value kept =
        arith::CmpFOp::create(ib, l, arith::CmpFPredicate::OGE, x, threshold);
    Value e = math::ExpOp::create(ib, l, arith::SubFOp::create(ib, l, x, maxZ));
    return arith::SelectOp::create(ib, l, kept, e, Scalars{ib, l}.f32(0.0));
  };
  auto massAbove = [&](OpBuilder &ib, Value t) -> Value {
    return loopOverVocab(
        ib, l, vocab, ValueRange{Scalars{ib, l}.f32(0.0)},
        [&](OpBuilder &jb, Value v, ValueRange acc) -> SmallVector<Value> {
          Value e = weight(jb, v);
          Value in =
              arith::CmpFOp::create(jb, l, arith::CmpFPredicate::OGE, e, t);
          Value add =
              arith::SelectOp::create(jb, l, in, e, Scalars{jb, l}.f32(0.0));
          return {arith::AddFOp::create(jb, l, acc[0], add)};
        });
  };
  // Top-p: bisection for the weight threshold (weights are in
  // (0, 1], the best token has weight 1).
  Value floor = rs.f32(0.0);
  if (topP < 1.0) {
    Value total = massAbove(rb, rs.f32(0.0));
    Value target = arith::MulFOp::create(rb, l, total, rs.f32(topP));
    auto bisect = scf::ForOp::create(
        rb, l, rs.index(0), rs.index(32), rs.index(1),
        ValueRange{rs.f32(0.0), rs.f32(1.0)},
        [&](OpBuilder &ib, Location il, Value, ValueRange a) {
          Scalars is{ib, il};
          Value mid = arith::MulFOp::create(
              ib, il, arith::AddFOp::create(ib, il, a[0], a[1]), is.f32(0.5));
          Value enough = arith::CmpFOp::create(
              ib, il, arith::CmpFPredicate::OGE, massAbove(ib, mid), target);
          scf::YieldOp::create(
              ib, il,
              ValueRange{arith::SelectOp::create(ib, il, enough, mid, a[0]),
                         arith::SelectOp::create(ib, il, enough, a[1], mid)});
        });
    floor = bisect.getResult(0);
  }
  auto kept = [&](OpBuilder &ib, Value v) -> Value {
    Value e = weight(ib, v);
    Value in =
        arith::CmpFOp::create(ib, l, arith::CmpFPredicate::OGE, e, floor);
    return arith::SelectOp::create(ib, l, in, e, Scalars{ib, l}.f32(0.0));
  };
  // The kept weights, materialized for the caller.
  auto type = RankedTensorType::get({ShapedType::kDynamic}, rb.getF32Type());
  Value empty = tensor::EmptyOp::create(rb, l, type, ValueRange{vocab});
  MLIRContext *ctx = rb.getContext();
  return linalg::GenericOp::create(
             rb, l, TypeRange{type}, ValueRange{}, ValueRange{empty},
             ArrayRef<AffineMap>{AffineMap::getMultiDimIdentityMap(1, ctx)},
             {utils::IteratorType::parallel},
             [&](OpBuilder &gb, Location gl, ValueRange) {
               linalg::YieldOp::create(
                   gb, gl, kept(gb, linalg::IndexOp::create(gb, gl, 0)));
             })
      .getResult(0);
}

Value mlir::tok::emitDraw(OpBuilder &rb, Location l, Value weights, Value u) {
  Scalars rs{rb, l};
  Value vocab = tensor::DimOp::create(rb, l, weights, 0);
  auto kept = [&](OpBuilder &ib, Value v) -> Value {
    return tensor::ExtractOp::create(ib, l, weights, ValueRange{v});
  };
  Value total = loopOverVocab(
      rb, l, vocab, ValueRange{rs.f32(0.0)},
      [&](OpBuilder &ib, Value v, ValueRange acc) -> SmallVector<Value> {
        return {arith::AddFOp::create(ib, l, acc[0], kept(ib, v))};
      });
  Value target = arith::MulFOp::create(rb, l, u, total);
  // First token whose running sum exceeds the target; the last kept
  // token if rounding leaves the target unreached.
  Value minusOne = arith::ConstantOp::create(rb, l, rb.getI32IntegerAttr(-1));
  Value token = loopOverVocab(
      rb, l, vocab, ValueRange{rs.f32(0.0), minusOne},
      [&](OpBuilder &ib, Value v, ValueRange a) -> SmallVector<Value> {
        Value e = kept(ib, v);
        Value id = arith::IndexCastOp::create(ib, l, ib.getI32Type(), v);
        Value sum = arith::AddFOp::create(ib, l, a[0], e);
        Value unset = arith::CmpIOp::create(
            ib, l, arith::CmpIPredicate::slt, a[1],
            arith::ConstantOp::create(ib, l, ib.getI32IntegerAttr(0)));
        Value crosses = arith::AndIOp::create(
            ib, l, unset,
            arith::CmpFOp::create(ib, l, arith::CmpFPredicate::OGT, sum,
                                  target));
        return {sum, arith::SelectOp::create(ib, l, crosses, id, a[1])};
      },
      /*resultIndex=*/1);
  // The last kept token, for a target that rounding left unreached.
  Value lastKept = loopOverVocab(
      rb, l, vocab, ValueRange{minusOne},
      [&](OpBuilder &ib, Value v, ValueRange a) -> SmallVector<Value> {
        Value positive =
            arith::CmpFOp::create(ib, l, arith::CmpFPredicate::OGT, kept(ib, v),
                                  Scalars{ib, l}.f32(0.0));
        Value id = arith::IndexCastOp::create(ib, l, ib.getI32Type(), v);
        return {arith::SelectOp::create(ib, l, positive, id, a[0])};
      });
  Value unreached = arith::CmpIOp::create(
      rb, l, arith::CmpIPredicate::slt, token,
      arith::ConstantOp::create(rb, l, rb.getI32IntegerAttr(0)));
  token = arith::SelectOp::create(rb, l, unreached, lastKept, token);
  return token;
}

void mlir::tok::populateSampleToLoopsPatterns(RewritePatternSet &patterns) {
  patterns.add<SampleOpLowering>(patterns.getContext());
}
