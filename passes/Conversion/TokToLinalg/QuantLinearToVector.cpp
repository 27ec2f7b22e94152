//===- QuantLinearToVector.cpp - tok.linear over #tok.quant weights -------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// y[t, n] = sum_k x[t, k] W[n, k] (+ b[n]) for f32 x [T, K] and a weight
// stored block-quantized (#tok.quant), read in place from its bytes:
//
//   scf.forall over 8 chunks of output features (OpenMP threads)
//     for each row n of the chunk
//       for groups of 4 tokens, then the remaining tokens one at a time
//         for each block of the row
//           for each group of 16 weights of the block (QuantBlocks.h):
//             the codes widened to f32 lanes once, then for each token
//               acc_t,c = fma(codes * x[t, k0 : k0 + 16], mult, acc_t,c)
//               acc_t,c' = fma(x[t, k0 : k0 + 16], -min, acc_t,c') (q4_k)
//             the groups taking the token's independent accumulators c in
//             turn (up to 8 / tokens: no chain of dependent FMAs)
//         each token's lanes summed, plus the bias, written to y[t, n]
//
// That kernel runs up to 8 tokens (decode, a speculative verification).
// More tokens (prefill) run the tiled kernel of LinearKernel.cpp over
// panels of 4 rows dequantized once per block of 256 tokens (emitTiled;
// bf16 panels with bf16 dot products, or f32 ones, as bf16-dot says).
//
// Decode (T = 1) streams each row's bytes once, split across the threads:
// the bytes read per token are the quantized size of the weights, which is
// what bounds decode on a CPU. The weights are widened to f32 and
// multiplied in f32 (rather than the activation quantized to int8 for
// integer dot products): exact products, and measured fast enough to stay
// bound by memory (docs/quantization.md).
//
// With quant-dot=vnni (the default where the host has AVX512-VNNI) the
// activations are quantized instead, per block of 32, and each 32-weight
// piece is one integer dot product: u8 x s8 (vpdpbusd) with 8-bit
// activations, or for the 8-bit weights (q8_0, i8_channel) s16 x s16
// (vpdpwssd) with 16-bit activations, which keeps them as faithful as f32
// products.
//
//===----------------------------------------------------------------------===//

#include "tok/Conversion/Passes.h"

#include "LinearKernel.h"
#include "QuantBlocks.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Transforms/DialectConversion.h"
#include "tok/Dialect/Tok/IR/TokOps.h"
#include "llvm/TargetParser/Host.h"

using namespace mlir;
using namespace mlir::tok;

namespace {

constexpr int64_t kLanes = 16;
constexpr int64_t kChunks = 8;
constexpr int64_t kTokens = 4;

struct QuantLinearLowering : OpConversionPattern<LinearOp> {
  QuantLinearLowering(MLIRContext *ctx, QuantDot how, Bf16Dot bf16)
      : OpConversionPattern(ctx, /*benefit=*/3), how(how), bf16(bf16) {}
  QuantDot how;
  Bf16Dot bf16;

  LogicalResult
  matchAndRewrite(LinearOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    RankedTensorType weightType = op.getWeight().getType();
    WeightQuantAttr quant = getWeightQuant(weightType);
    if (!quant)
      return rewriter.notifyMatchFailure(op, "not a #tok.quant weight");
    Value x = adaptor.getInput(), w = adaptor.getWeight(),
          bias = adaptor.getBias();
    auto xType = cast<RankedTensorType>(x.getType());
    if (xType.getRank() != 2)
      return op.emitOpError("with a #tok.quant weight lowers for inputs of "
                            "rank 2 (tokens x features) only, got ")
             << xType;
    int64_t n = weightType.getDimSize(0), k = weightType.getDimSize(1);
    int64_t blockSize = quant.getBlockSize(),
            blockBytes = quant.getBlockBytes();
    bool int8 = how == QuantDot::Int8 ||
                (how == QuantDot::Auto && hostHasInt8DotProducts());

    Location loc = op.getLoc();
    OpBuilder &b = rewriter;
    auto idx = [&](int64_t v) -> Value {
      return arith::ConstantIndexOp::create(b, loc, v);
    };
    Value c0 = idx(0);
    Type f32 = b.getF32Type();
    auto vecType = VectorType::get({kLanes}, f32);
    Value zeroF = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.0f));
    Value zeroVec = arith::ConstantOp::create(
        b, loc, DenseElementsAttr::get(vecType, b.getF32FloatAttr(0.0f)));
    arith::FastMathFlagsAttr reassoc = arith::FastMathFlagsAttr::get(
        b.getContext(), arith::FastMathFlags::reassoc);
    Value tokens = tensor::DimOp::create(b, loc, x, 0);
    auto outType = RankedTensorType::get({ShapedType::kDynamic, n}, f32);

    // More than a few tokens (prefill): the tiled kernel of bf16 prefill,
    // its panels of 4 rows dequantized once per token block. (No outputs:
    // only the kernel below, whose loops then run empty.)
    Value many = n == 0
                     ? arith::ConstantOp::create(b, loc, b.getBoolAttr(false))
                           .getResult()
                     : arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ugt,
                                             tokens, idx(kLinearSmallTokens))
                           .getResult();
    auto ifMany = scf::IfOp::create(b, loc, TypeRange{outType}, many,
                                    /*withElseRegion=*/true);
    b.setInsertionPointToStart(ifMany.thenBlock());
    scf::YieldOp::create(
        b, loc,
        n == 0 ? tensor::EmptyOp::create(b, loc, outType, ValueRange{tokens})
                     .getResult()
               : emitTiled(b, loc, quant, x, w, bias, tokens, n, k));
    b.setInsertionPointToStart(ifMany.elseBlock());
    Value init = tensor::EmptyOp::create(b, loc, outType, ValueRange{tokens});
    int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(kChunks, n));
    int64_t chunkRows = (n + chunks - 1) / chunks;
    chunks = n ? (n + chunkRows - 1) / chunkRows : 1;

    // Independent accumulators per token. A single one makes the loop a
    // chain of dependent FMAs (4 cycles each): with 2 groups per q8_0 block
    // that was 8 cycles per 32 weights, the whole cost of the kernel. The
    // groups of a block take them in turn; a group of 4 tokens has 4
    // chains already.
    int64_t groupsPerBlock = blockSize / kLanes;

    // Each token's accumulators (`chains` per token, first in `accs`)
    // summed across chains and lanes, minus its correction if any, plus the
    // bias, written to y[t, col].
    auto writeRow = [&](OpBuilder &ob, Value slice, ArrayRef<Value> ts,
                        Value row, Value col, ValueRange accs, int64_t chains,
                        llvm::function_ref<Value(int64_t)> correction) {
      Value b0;
      if (bias)
        b0 = tensor::ExtractOp::create(ob, loc, bias, row);
      for (auto [i, t] : llvm::enumerate(ts)) {
        Value sum = accs[i * chains];
        for (int64_t c = 1; c < chains; ++c)
          sum = arith::AddFOp::create(ob, loc, sum, accs[i * chains + c]);
        auto red = vector::ReductionOp::create(ob, loc,
                                               vector::CombiningKind::ADD, sum);
        red.setFastmathAttr(reassoc);
        Value s = red;
        if (correction)
          s = arith::SubFOp::create(ob, loc, s, correction(i));
        if (b0)
          s = arith::AddFOp::create(ob, loc, s, b0);
        slice = tensor::InsertOp::create(ob, loc, s, slice, ValueRange{t, col});
      }
      return slice;
    };

    // Row `row`'s dot products with the tokens `ts`, written into `slice`
    // at column `col`.
    auto emitRow = [&](OpBuilder &ob, Value slice, ArrayRef<Value> ts,
                       Value row, Value col) -> Value {
      int64_t nt = static_cast<int64_t>(ts.size());
      int64_t chains =
          std::max<int64_t>(1, std::min<int64_t>(groupsPerBlock, 8 / nt));
      SmallVector<Value> inits(nt * chains, zeroVec);
      auto blocks = scf::ForOp::create(
          ob, loc, c0, idx(k / blockSize), idx(1), inits,
          [&](OpBuilder &kb, Location, Value blk, ValueRange accs) {
            SmallVector<Value> next(accs);
            Value base = arith::MulIOp::create(kb, loc, blk, idx(blockBytes));
            Value k0 = arith::MulIOp::create(kb, loc, blk, idx(blockSize));
            int64_t group = 0;
            forEachLaneGroup(
                kb, loc, quant, w, row, base, [&](const LaneGroup &g) {
                  Value at = arith::AddIOp::create(kb, loc, k0, idx(g.k0));
                  Value mult =
                      vector::BroadcastOp::create(kb, loc, vecType, g.mult);
                  Value negMin;
                  if (g.min)
                    negMin = vector::BroadcastOp::create(
                        kb, loc, vecType,
                        arith::NegFOp::create(kb, loc, g.min));
                  int64_t chain = group % chains;
                  // The minimum's term goes to the next chain.
                  int64_t minChain = (group + 1) % chains;
                  ++group;
                  for (auto [i, t] : llvm::enumerate(ts)) {
                    Value xv = vector::TransferReadOp::create(
                        kb, loc, vecType, x, ValueRange{t, at}, zeroF,
                        ArrayRef<bool>{true});
                    Value prod = arith::MulFOp::create(kb, loc, g.codes, xv);
                    Value &acc = next[i * chains + chain];
                    acc = vector::FMAOp::create(kb, loc, prod, mult, acc);
                    if (negMin) {
                      Value &accMin = next[i * chains + minChain];
                      accMin =
                          vector::FMAOp::create(kb, loc, xv, negMin, accMin);
                    }
                  }
                });
            scf::YieldOp::create(kb, loc, next);
          });
      return writeRow(ob, slice, ts, row, col, blocks.getResults(), chains,
                      nullptr);
    };

    // The integer path: activations quantized once per call, then per
    // 32-weight piece one u8 x s8 dot product (8 lanes of 4 products). For
    // q8_0, whose 8-bit weights leave the activations' rounding as the
    // largest error, the activations take 16 bits and the dot product is
    // s16 x s16 (vpdpwssd: 16 lanes of 2 products).
    bool wide = quant.getScheme() == WeightScheme::q8_0 ||
                quant.getScheme() == WeightScheme::i8_channel;
    QuantizedActivations acts;
    if (int8)
      acts = emitQuantizeActivations(b, loc, x, k, wide ? 16 : 8);
    int64_t dotLanes = wide ? 16 : 8;
    auto vec8 = VectorType::get({dotLanes}, f32);
    Value zero8 = arith::ConstantOp::create(
        b, loc, DenseElementsAttr::get(vec8, b.getF32FloatAttr(0.0f)));
    Value zeroDot = arith::ConstantOp::create(
        b, loc,
        DenseElementsAttr::get(VectorType::get({dotLanes}, b.getI32Type()),
                               b.getI32IntegerAttr(0)));
    Type codeType = b.getIntegerType(wide ? 16 : 8);
    auto xqType = VectorType::get({32}, codeType);
    Value zeroI8 =
        arith::ConstantOp::create(b, loc, b.getIntegerAttr(codeType, 0));
    int64_t piecesPerBlock = blockSize / 32;
    // 32-weight blocks two at a time (when their count is even, as in every
    // published shape): one block a step would chain each accumulator's
    // FMAs and each correction's, 4 cycles per 32 weights.
    int64_t unroll = blockSize == 32 && (k / 32) % 2 == 0 ? 2 : 1;
    bool vectorMinimums = quant.getScheme() == WeightScheme::q4_k;
    auto vecMin = VectorType::get({8}, f32);
    auto emitRowInt8 = [&](OpBuilder &ob, Value slice, ArrayRef<Value> ts,
                           Value row, Value col) -> Value {
      int64_t nt = static_cast<int64_t>(ts.size());
      int64_t chains = std::max<int64_t>(
          1, std::min<int64_t>(piecesPerBlock * unroll, 8 / nt));
      SmallVector<Value> inits(nt * chains, zero8);
      // The corrections: one per token and chain, or (q4_k) one vector of 8
      // per token.
      if (vectorMinimums)
        inits.append(
            nt, arith::ConstantOp::create(
                    ob, loc,
                    DenseElementsAttr::get(vecMin, ob.getF32FloatAttr(0.0f))));
      else
        inits.append(nt * chains, zeroF);
      auto blocks = scf::ForOp::create(
          ob, loc, c0, idx(k / blockSize), idx(unroll), inits,
          [&](OpBuilder &kb, Location, Value blk0, ValueRange accs) {
            SmallVector<Value> next(accs);
            int64_t piece = 0;
            for (int64_t u = 0; u < unroll; ++u) {
              Value blk = arith::AddIOp::create(kb, loc, blk0, idx(u));
              Value base = arith::MulIOp::create(kb, loc, blk, idx(blockBytes));
              Value k0 = arith::MulIOp::create(kb, loc, blk, idx(blockSize));
              Value minimums;
              auto onPiece = [&](const Int8Piece &p) {
                Value at = arith::AddIOp::create(kb, loc, k0, idx(p.k0));
                Value xBlock = arith::DivUIOp::create(kb, loc, at, idx(32));
                int64_t chain = piece++ % chains;
                for (auto [i, t] : llvm::enumerate(ts)) {
                  Value xq = vector::TransferReadOp::create(
                      kb, loc, xqType, acts.codes, ValueRange{t, at}, zeroI8,
                      ArrayRef<bool>{true});
                  Value dot;
                  if (wide) {
                    Value w16 = arith::ExtSIOp::create(
                        kb, loc, VectorType::get({32}, codeType), p.signOf);
                    dot = emitDotS16(kb, loc, zeroDot, w16, xq);
                  } else {
                    if (p.signOf)
                      xq = emitSignBytes(kb, loc, xq, p.signOf);
                    dot = emitDotU8S8(kb, loc, zeroDot, p.codes, xq);
                  }
                  Value dotF = arith::SIToFPOp::create(kb, loc, vec8, dot);
                  Value dx = tensor::ExtractOp::create(kb, loc, acts.scales,
                                                       ValueRange{t, xBlock});
                  Value scale =
                      isa<VectorType>(p.scale.getType())
                          ? arith::MulFOp::create(
                                kb, loc, p.scale,
                                vector::BroadcastOp::create(kb, loc, vec8, dx))
                                .getResult()
                          : vector::BroadcastOp::create(
                                kb, loc, vec8,
                                arith::MulFOp::create(kb, loc, p.scale, dx))
                                .getResult();
                  Value &acc = next[i * chains + chain];
                  acc = vector::FMAOp::create(kb, loc, dotF, scale, acc);
                  if (vectorMinimums)
                    continue;
                  Value &corr = next[nt * chains + i * chains + chain];
                  if (p.coef32) {
                    Value sum = tensor::ExtractOp::create(
                        kb, loc, acts.sums32, ValueRange{t, xBlock});
                    corr = math::FmaOp::create(kb, loc, p.coef32, sum, corr);
                  }
                }
              };
              forEachInt8Piece(kb, loc, quant, w, row, base, onPiece,
                               vectorMinimums ? &minimums : nullptr);
              if (vectorMinimums) {
                // The block's 8 minimums times its 8 sums of x at once.
                Value first = arith::MulIOp::create(kb, loc, blk, idx(8));
                for (auto [i, t] : llvm::enumerate(ts)) {
                  Value sums = vector::TransferReadOp::create(
                      kb, loc, vecMin, acts.sums32, ValueRange{t, first}, zeroF,
                      ArrayRef<bool>{true});
                  Value &corr = next[nt * chains + i];
                  corr = vector::FMAOp::create(kb, loc, minimums, sums, corr);
                }
              }
            }
            scf::YieldOp::create(kb, loc, next);
          });
      auto correction = [&](int64_t i) -> Value {
        if (vectorMinimums) {
          auto c =
              vector::ReductionOp::create(ob, loc, vector::CombiningKind::ADD,
                                          blocks.getResult(nt * chains + i));
          c.setFastmathAttr(reassoc);
          return c;
        }
        Value corr = blocks.getResult(nt * chains + i * chains);
        for (int64_t c = 1; c < chains; ++c)
          corr = arith::AddFOp::create(
              ob, loc, corr, blocks.getResult(nt * chains + i * chains + c));
        return corr;
      };
      return writeRow(ob, slice, ts, row, col, blocks.getResults(), chains,
                      correction);
    };
    auto rowKernel = [&](OpBuilder &ob, Value slice, ArrayRef<Value> ts,
                         Value row, Value col) -> Value {
      return int8 ? emitRowInt8(ob, slice, ts, row, col)
                  : emitRow(ob, slice, ts, row, col);
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
      Value fullT = arith::MulIOp::create(
          b, loc, arith::DivUIOp::create(b, loc, tokens, idx(kTokens)),
          idx(kTokens));
      auto rows = scf::ForOp::create(
          b, loc, c0, size, idx(1), ValueRange{slice},
          [&](OpBuilder &rb, Location, Value j, ValueRange rowArgs) {
            Value row = arith::AddIOp::create(rb, loc, n0, j);
            auto groups = scf::ForOp::create(
                rb, loc, c0, fullT, idx(kTokens), rowArgs,
                [&](OpBuilder &tb, Location, Value t, ValueRange tArgs) {
                  SmallVector<Value> ts{t};
                  for (int64_t i = 1; i < kTokens; ++i)
                    ts.push_back(arith::AddIOp::create(tb, loc, t, idx(i)));
                  scf::YieldOp::create(tb, loc,
                                       rowKernel(tb, tArgs[0], ts, row, j));
                });
            auto rest = scf::ForOp::create(
                rb, loc, fullT, tokens, idx(1), groups.getResults(),
                [&](OpBuilder &tb, Location, Value t, ValueRange tArgs) {
                  scf::YieldOp::create(tb, loc,
                                       rowKernel(tb, tArgs[0], {t}, row, j));
                });
            scf::YieldOp::create(rb, loc, rest.getResults());
          });
      b.setInsertionPointToStart(forall.getTerminator().getBody());
      tensor::ParallelInsertSliceOp::create(b, loc, rows.getResult(0),
                                            forall.getRegionIterArgs()[0],
                                            offsets, sizes, strides);
    }
    scf::YieldOp::create(b, loc, forall.getResult(0));
    b.setInsertionPointAfter(ifMany);
    Value result = ifMany.getResult(0);
    RankedTensorType resultType = op.getResult().getType();
    if (result.getType() != resultType)
      result = tensor::CastOp::create(b, loc, resultType, result);
    rewriter.replaceOp(op, result);
    return success();
  }

  /// The blocked kernel of LinearKernel.h over panels of W dequantized from
  /// its blocks: bf16 (with bf16 dot products) or f32 (exact, f32 FMAs).
  Value emitTiled(OpBuilder &b, Location loc, WeightQuantAttr quant, Value x,
                  Value w, Value bias, Value tokens, int64_t n,
                  int64_t k) const {
    bool dot = bf16 == Bf16Dot::Dot ||
               (bf16 == Bf16Dot::Auto && hostHasBf16DotProducts());
    Type elem = dot ? b.getBF16Type() : b.getF32Type();
    // A panel spans at most the kernel's K block.
    int64_t panelK =
        std::min<int64_t>(k, dot ? kLinearBlockKBf16 : kLinearBlockK);
    int64_t blockSize = quant.getBlockSize(),
            blockBytes = quant.getBlockBytes();
    auto idx = [&](OpBuilder &ob, int64_t v) -> Value {
      return arith::ConstantIndexOp::create(ob, loc, v);
    };
    auto vecType = VectorType::get({kLanes}, b.getF32Type());
    auto laneType = VectorType::get({kLanes}, elem);
    Value c0 = idx(b, 0);
    // Rows [row0, row0 + count) over K [kBegin, kEnd): the blocks' groups
    // of 16 weights as mult * codes - min, each written once.
    auto dequantize = [&](OpBuilder &pb, Value row0, int64_t count,
                          Value kBegin, Value kEnd) -> WeightPanel {
      Value panel = tensor::EmptyOp::create(
          pb, loc, RankedTensorType::get({count, panelK}, elem), ValueRange{});
      Value size = idx(pb, blockSize);
      auto blocks = scf::ForOp::create(
          pb, loc, arith::DivUIOp::create(pb, loc, kBegin, size),
          arith::DivUIOp::create(pb, loc, kEnd, size), idx(pb, 1),
          ValueRange{panel},
          [&](OpBuilder &kb, Location, Value blk, ValueRange args) {
            Value out = args[0];
            Value base =
                arith::MulIOp::create(kb, loc, blk, idx(kb, blockBytes));
            Value at0 = arith::SubIOp::create(
                kb, loc, arith::MulIOp::create(kb, loc, blk, size), kBegin);
            for (int64_t r = 0; r < count; ++r) {
              Value row = arith::AddIOp::create(kb, loc, row0, idx(kb, r));
              forEachLaneGroup(
                  kb, loc, quant, w, row, base, [&](const LaneGroup &g) {
                    Value mult =
                        vector::BroadcastOp::create(kb, loc, vecType, g.mult);
                    Value v;
                    if (g.min)
                      v = vector::FMAOp::create(
                          kb, loc, g.codes, mult,
                          vector::BroadcastOp::create(
                              kb, loc, vecType,
                              arith::NegFOp::create(kb, loc, g.min)));
                    else
                      v = arith::MulFOp::create(kb, loc, g.codes, mult);
                    if (laneType != vecType)
                      v = arith::TruncFOp::create(kb, loc, laneType, v);
                    Value at =
                        arith::AddIOp::create(kb, loc, at0, idx(kb, g.k0));
                    out = vector::TransferWriteOp::create(
                              kb, loc, v, out, ValueRange{idx(kb, r), at},
                              ArrayRef<bool>{true})
                              .getResult();
                  });
            }
            scf::YieldOp::create(kb, loc, out);
          });
      return {blocks.getResult(0), c0, kBegin};
    };
    return emitLinearKernel(
        b, loc,
        {x, tokens, n, k, bias, elem, /*blocked=*/true, dot, dequantize});
  }
};

} // namespace

void mlir::tok::populateQuantWeightTypeConversion(TypeConverter &converter) {
  converter.addConversion([](RankedTensorType type) -> std::optional<Type> {
    if (!getWeightQuant(type))
      return std::nullopt;
    return getQuantStorageType(type);
  });
}

void mlir::tok::populateQuantLinearToVectorPatterns(RewritePatternSet &patterns,
                                                    QuantDot how,
                                                    Bf16Dot bf16) {
  patterns.add<QuantLinearLowering>(patterns.getContext(), how, bf16);
}

bool mlir::tok::hostHasInt8DotProducts() {
  // Asked per quantized linear op; the host does not change.
  static const bool has = [] {
    llvm::StringMap<bool> features = llvm::sys::getHostCPUFeatures();
    return features.lookup("avx512vnni") && features.lookup("avx512vl") &&
           features.lookup("avx2");
  }();
  return has;
}
