//===- LinearToVector.cpp - tok.linear as a vectorized, threaded kernel ---===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// y[t, n] = sum_k x[t, k] W[n, k] (+ b[n]) for f32 x [T, K] and W [N, K]
// with static N and K, the shape of every projection of a decoder. The
// generic lowering (ModelOpsToLinalg.cpp) becomes scalar loops; this one
// is written for the memory system:
//
//   scf.forall over 8 chunks of output features (OpenMP threads)
//     for each block of R = 4 rows of W in the chunk
//       for groups of 4 tokens, then the remaining 1-3 tokens as one
//         group (the block stays in L1/L2 across groups)
//         R x 4 dot products of W rows with x[t], 16 lanes wide, each W
//         vector feeding the group's 4 tokens:
//           acc_rt = fma(W[n + r, k : k+16], x[t, k : k+16], acc_rt)
//         then the R x 4 sums across lanes together by a butterfly of
//         shuffles (LaneSums.h) and each token's R outputs written as
//         one vector, plus the bias (K % 16 != 0 or single rows: a
//         horizontal sum per dot product, a scalar tail, scalar writes)
//     rows left over (chunk % R) one at a time.
//
// Each W row is read contiguously once per call (decode, T = 1, is a pure
// stream over the weights, split across the threads), and once per block
// of T rows for prefill. f16 / bf16 weights (a checkpoint's, used in place)
// are widened to f32 as they are read. f16 / bf16 activations and other
// ranks keep the generic lowering.
//
//===----------------------------------------------------------------------===//

#include "tok/Conversion/Passes.h"

#include "LaneSums.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/TypeUtilities.h"
#include "mlir/Transforms/DialectConversion.h"
#include "tok/Dialect/Tok/IR/TokOps.h"

using namespace mlir;
using namespace mlir::tok;

namespace {

constexpr int64_t kLanes = 16;
constexpr int64_t kRows = 4;
constexpr int64_t kChunks = 8;
/// Tokens per group sharing the W reads: kRows x kTokens accumulators.
constexpr int64_t kTokens = 4;

struct LinearToVectorLowering : OpConversionPattern<LinearOp> {
  LinearToVectorLowering(MLIRContext *ctx)
      : OpConversionPattern(ctx, /*benefit=*/2) {}

  LogicalResult
  matchAndRewrite(LinearOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Value x = adaptor.getInput(), w = adaptor.getWeight(),
          bias = adaptor.getBias();
    auto xType = cast<RankedTensorType>(x.getType());
    auto wType = cast<RankedTensorType>(w.getType());
    RankedTensorType resultType = op.getResult().getType();
    auto isF32 = [](Type t) { return getElementTypeOrSelf(t).isF32(); };
    Type wElem = wType.getElementType();
    if (xType.getRank() != 2 || !wType.hasStaticShape() || !isF32(xType) ||
        !(wElem.isF32() || wElem.isF16() || wElem.isBF16()) ||
        !isF32(resultType) || (bias && !isF32(bias.getType())))
      return rewriter.notifyMatchFailure(op, "not an f32 [T, K] x [N, K]");
    int64_t n = wType.getDimSize(0), k = wType.getDimSize(1);
    // The vector reads are unchecked: K must be the weight's, statically.
    if (xType.getDimSize(1) != k || n == 0)
      return rewriter.notifyMatchFailure(op, "dynamic K or no outputs");

    Location loc = op.getLoc();
    OpBuilder &b = rewriter;
    auto idx = [&](int64_t v) -> Value {
      return arith::ConstantIndexOp::create(b, loc, v);
    };
    Value c0 = idx(0), c1 = idx(1);
    Value tokens = tensor::DimOp::create(b, loc, x, 0);
    Type f32 = b.getF32Type();
    auto vecType = VectorType::get({kLanes}, f32);
    auto wVecType = VectorType::get({kLanes}, wElem);
    Value wPad = arith::ConstantOp::create(b, loc, b.getFloatAttr(wElem, 0.0));
    // Narrow weights are widened as they are read.
    auto widen = [&](OpBuilder &ob, Value v, Type to) -> Value {
      return v.getType() == to ? v : arith::ExtFOp::create(ob, loc, to, v);
    };
    Value zeroF = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.0f));
    Value zeroVec = arith::ConstantOp::create(
        b, loc, DenseElementsAttr::get(vecType, b.getF32FloatAttr(0.0f)));
    arith::FastMathFlagsAttr reassoc = arith::FastMathFlagsAttr::get(
        b.getContext(), arith::FastMathFlags::reassoc);

    auto outType = RankedTensorType::get({ShapedType::kDynamic, n}, f32);
    Value init = tensor::EmptyOp::create(b, loc, outType, ValueRange{tokens});
    int64_t chunks = std::min<int64_t>(kChunks, (n + kRows - 1) / kRows);
    // Rows per chunk, a multiple of kRows so that blocks never straddle.
    int64_t chunkRows = ((n + chunks - 1) / chunks + kRows - 1) / kRows * kRows;
    chunks = (n + chunkRows - 1) / chunkRows;
    int64_t kFull = k / kLanes * kLanes;

    // The rows x |ts| dot products of W rows [row0, row0 + rows) with the
    // token rows x[t] for t in `ts`, written into `slice` (the chunk's
    // columns) at column `col0`. Each W vector read feeds every token.
    auto emitDots = [&](OpBuilder &ob, Value slice, ArrayRef<Value> ts,
                        Value row0, Value col0, int64_t rows) -> Value {
      int64_t nt = static_cast<int64_t>(ts.size());
      SmallVector<Value> inits(rows * nt, zeroVec);
      SmallVector<Value> sums;
      auto kLoop = scf::ForOp::create(
          ob, loc, c0, idx(kFull), idx(kLanes), inits,
          [&](OpBuilder &kb, Location, Value kk, ValueRange accs) {
            SmallVector<Value> xs;
            for (Value t : ts)
              xs.push_back(vector::TransferReadOp::create(
                  kb, loc, vecType, x, ValueRange{t, kk}, zeroF,
                  ArrayRef<bool>{true}));
            SmallVector<Value> next;
            for (int64_t r = 0; r < rows; ++r) {
              Value row = arith::AddIOp::create(kb, loc, row0, idx(r));
              Value wv = widen(kb,
                               vector::TransferReadOp::create(
                                   kb, loc, wVecType, w, ValueRange{row, kk},
                                   wPad, ArrayRef<bool>{true}),
                               vecType);
              for (int64_t i = 0; i < nt; ++i)
                next.push_back(vector::FMAOp::create(kb, loc, wv, xs[i],
                                                     accs[r * nt + i]));
            }
            scf::YieldOp::create(kb, loc, next);
          });
      if (rows == kRows && kFull == k) {
        // All rows x tokens sums at once (a butterfly of shuffles), then
        // each token's kRows outputs (contiguous in y) as one vector write.
        SmallVector<Value> accs(kLoop.getResults());
        LaneSums lanes = sumLanes(ob, loc, accs, reassoc);
        auto outVecType = VectorType::get({kRows}, f32);
        Value biasVec;
        if (bias)
          biasVec = vector::TransferReadOp::create(ob, loc, outVecType, bias,
                                                   ValueRange{row0}, zeroF,
                                                   ArrayRef<bool>{true});
        for (int64_t i = 0; i < nt; ++i) {
          SmallVector<int64_t> pick;
          for (int64_t r = 0; r < rows; ++r)
            pick.push_back(lanes.laneOf[r * nt + i]);
          Value y =
              vector::ShuffleOp::create(ob, loc, lanes.sums, lanes.sums, pick);
          if (biasVec)
            y = arith::AddFOp::create(ob, loc, y, biasVec);
          slice = vector::TransferWriteOp::create(ob, loc, y, slice,
                                                  ValueRange{ts[i], col0},
                                                  ArrayRef<bool>{true})
                      .getResult();
        }
        return slice;
      }
      for (int64_t a = 0; a < rows * nt; ++a) {
        auto red = vector::ReductionOp::create(
            ob, loc, vector::CombiningKind::ADD, kLoop.getResult(a));
        red.setFastmathAttr(reassoc);
        sums.push_back(red);
      }
      if (kFull < k) {
        auto tail = scf::ForOp::create(
            ob, loc, idx(kFull), idx(k), c1, sums,
            [&](OpBuilder &tb, Location, Value kk, ValueRange acc) {
              SmallVector<Value> xs;
              for (Value t : ts)
                xs.push_back(
                    tensor::ExtractOp::create(tb, loc, x, ValueRange{t, kk}));
              SmallVector<Value> next;
              for (int64_t r = 0; r < rows; ++r) {
                Value row = arith::AddIOp::create(tb, loc, row0, idx(r));
                Value ws = widen(
                    tb,
                    tensor::ExtractOp::create(tb, loc, w, ValueRange{row, kk}),
                    f32);
                for (int64_t i = 0; i < nt; ++i)
                  next.push_back(
                      math::FmaOp::create(tb, loc, ws, xs[i], acc[r * nt + i]));
              }
              scf::YieldOp::create(tb, loc, next);
            });
        sums.assign(tail.getResults().begin(), tail.getResults().end());
      }
      for (int64_t r = 0; r < rows; ++r) {
        Value row = arith::AddIOp::create(ob, loc, row0, idx(r));
        Value col = arith::AddIOp::create(ob, loc, col0, idx(r));
        Value b0;
        if (bias)
          b0 = tensor::ExtractOp::create(ob, loc, bias, row);
        for (int64_t i = 0; i < nt; ++i) {
          Value s = sums[r * nt + i];
          if (b0)
            s = arith::AddFOp::create(ob, loc, s, b0);
          slice = tensor::InsertOp::create(ob, loc, s, slice,
                                           ValueRange{ts[i], col});
        }
      }
      return slice;
    };

    // Rows [first, first + count) in blocks of `rows` (count a multiple).
    auto emitBlocks = [&](OpBuilder &ob, Value slice, Value n0, Value first,
                          Value count, int64_t rows) -> Value {
      auto blocks = scf::ForOp::create(
          ob, loc, c0, count, idx(rows), ValueRange{slice},
          [&](OpBuilder &bb, Location, Value j, ValueRange blockArgs) {
            Value col0 = arith::AddIOp::create(bb, loc, first, j);
            Value row0 = arith::AddIOp::create(bb, loc, n0, col0);
            // Groups of kTokens tokens share every W read (prefill,
            // speculative verification), then the rest as one group.
            Value fullT = arith::MulIOp::create(
                bb, loc, arith::DivUIOp::create(bb, loc, tokens, idx(kTokens)),
                idx(kTokens));
            auto groups = scf::ForOp::create(
                bb, loc, c0, fullT, idx(kTokens), blockArgs,
                [&](OpBuilder &tb, Location, Value t, ValueRange tArgs) {
                  SmallVector<Value> ts{t};
                  for (int64_t i = 1; i < kTokens; ++i)
                    ts.push_back(arith::AddIOp::create(tb, loc, t, idx(i)));
                  scf::YieldOp::create(
                      tb, loc, emitDots(tb, tArgs[0], ts, row0, col0, rows));
                });
            // The last T mod kTokens tokens as one group of their own
            // (verification steps of 2-3 tokens read W once, not per token).
            Value rest = arith::SubIOp::create(bb, loc, tokens, fullT);
            SmallVector<int64_t> restSizes;
            for (int64_t i = 1; i < kTokens; ++i)
              restSizes.push_back(i);
            auto overT =
                scf::IndexSwitchOp::create(bb, loc, TypeRange{slice.getType()},
                                           rest, restSizes, restSizes.size());
            for (auto [region, nt] :
                 llvm::zip_equal(overT.getCaseRegions(), restSizes)) {
              OpBuilder::InsertionGuard guard(bb);
              bb.setInsertionPointToStart(&region.emplaceBlock());
              SmallVector<Value> ts{fullT};
              for (int64_t i = 1; i < nt; ++i)
                ts.push_back(arith::AddIOp::create(bb, loc, fullT, idx(i)));
              scf::YieldOp::create(
                  bb, loc,
                  emitDots(bb, groups.getResult(0), ts, row0, col0, rows));
            }
            {
              OpBuilder::InsertionGuard guard(bb);
              bb.setInsertionPointToStart(
                  &overT.getDefaultRegion().emplaceBlock());
              scf::YieldOp::create(bb, loc, groups.getResults());
            }
            scf::YieldOp::create(bb, loc, overT.getResults());
          });
      return blocks.getResult(0);
    };

    auto forall = scf::ForallOp::create(
        b, loc, ArrayRef<OpFoldResult>{b.getIndexAttr(chunks)},
        ValueRange{init}, std::nullopt);
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPoint(forall.getBody()->getTerminator());
      Value chunk = forall.getInductionVars()[0];
      Value n0 = arith::MulIOp::create(b, loc, chunk, idx(chunkRows));
      Value size = arith::MinSIOp::create(
          b, loc, idx(chunkRows), arith::SubIOp::create(b, loc, idx(n), n0));
      SmallVector<OpFoldResult> offsets{b.getIndexAttr(0), n0};
      SmallVector<OpFoldResult> sizes{tokens, size};
      SmallVector<OpFoldResult> strides(2, b.getIndexAttr(1));
      Value slice = tensor::ExtractSliceOp::create(
          b, loc, forall.getRegionIterArgs()[0], offsets, sizes, strides);
      Value full = arith::MulIOp::create(
          b, loc, arith::DivUIOp::create(b, loc, size, idx(kRows)), idx(kRows));
      slice = emitBlocks(b, slice, n0, c0, full, kRows);
      slice = emitBlocks(b, slice, n0, full,
                         arith::SubIOp::create(b, loc, size, full), 1);
      b.setInsertionPointToStart(forall.getTerminator().getBody());
      tensor::ParallelInsertSliceOp::create(b, loc, slice,
                                            forall.getRegionIterArgs()[0],
                                            offsets, sizes, strides);
    }
    Value result = forall.getResult(0);
    if (result.getType() != resultType)
      result = tensor::CastOp::create(b, loc, resultType, result);
    rewriter.replaceOp(op, result);
    return success();
  }
};

} // namespace

void mlir::tok::populateLinearToVectorPatterns(RewritePatternSet &patterns) {
  patterns.add<LinearToVectorLowering>(patterns.getContext());
}
