//===- TokToLinalg.cpp - lower tok compute ops to linalg ------------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#include "tok/Conversion/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Func/Transforms/FuncConversions.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SCF/Transforms/Patterns.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/StructuredOpsUtils.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "mlir/Transforms/DialectConversion.h"
#include "tok/Dialect/Tok/IR/TokOps.h"
#include "tok/Dialect/Tok/Utils/GenerateExpansion.h"

namespace mlir {
namespace tok {
#define GEN_PASS_DEF_CONVERTTOKTOLINALGPASS
#include "tok/Conversion/Passes.h.inc"
} // namespace tok
} // namespace mlir

using namespace mlir;
using namespace mlir::tok;

/// Accumulation type for reductions over `type`: narrow floats accumulate in
/// f32 so that a long row of f16/bf16 squares does not lose its low bits.
static FloatType getAccumulatorType(FloatType type) {
  if (type.getWidth() < 32)
    return Float32Type::get(type.getContext());
  return type;
}

static Value castFloat(OpBuilder &b, Location loc, Value v, Type to) {
  Type from = v.getType();
  if (from == to)
    return v;
  if (cast<FloatType>(from).getWidth() < cast<FloatType>(to).getWidth())
    return arith::ExtFOp::create(b, loc, to, v);
  return arith::TruncFOp::create(b, loc, to, v);
}

namespace {

/// tok.rms_norm -> reduction linalg.generic (sum of squares per row) followed
/// by an elementwise linalg.generic (scale by rsqrt(mean + eps) and weight).
struct RMSNormOpLowering : OpConversionPattern<RMSNormOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(RMSNormOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value input = adaptor.getInput();
    Value weight = adaptor.getWeight();
    auto inputType = cast<RankedTensorType>(input.getType());
    auto elemType = cast<FloatType>(inputType.getElementType());
    FloatType accType = getAccumulatorType(elemType);
    int64_t rank = inputType.getRank();
    int64_t features = inputType.getShape().back();
    MLIRContext *ctx = rewriter.getContext();

    SmallVector<OpFoldResult> sizes =
        tensor::getMixedSizes(rewriter, loc, input);
    SmallVector<OpFoldResult> rowSizes(sizes.begin(), sizes.end() - 1);

    // Sum of squares of every row, accumulated in `accType`.
    Value zero = arith::ConstantOp::create(rewriter, loc, accType,
                                           rewriter.getFloatAttr(accType, 0.0));
    Value rowInit = tensor::EmptyOp::create(rewriter, loc, rowSizes, accType);
    Value rowZero =
        linalg::FillOp::create(rewriter, loc, zero, rowInit).getResult(0);

    AffineMap full = AffineMap::getMultiDimIdentityMap(rank, ctx);
    AffineMap rows = full.dropResult(rank - 1);
    AffineMap lastDim =
        AffineMap::get(rank, 0, getAffineDimExpr(rank - 1, ctx), ctx);

    SmallVector<utils::IteratorType> reduceIters(rank - 1,
                                                 utils::IteratorType::parallel);
    reduceIters.push_back(utils::IteratorType::reduction);
    Value sumSquares =
        linalg::GenericOp::create(
            rewriter, loc, rowZero.getType(), ValueRange{input},
            ValueRange{rowZero}, ArrayRef<AffineMap>{full, rows}, reduceIters,
            [&](OpBuilder &b, Location l, ValueRange args) {
              Value x = castFloat(b, l, args[0], accType);
              Value sq = arith::MulFOp::create(b, l, x, x);
              Value acc = arith::AddFOp::create(b, l, args[1], sq);
              linalg::YieldOp::create(b, l, acc);
            })
            .getResult(0);

    // result = x * rsqrt(sum / D + eps) * w.
    Value invFeatures = arith::ConstantOp::create(
        rewriter, loc, accType,
        rewriter.getFloatAttr(accType, 1.0 / static_cast<double>(features)));
    Value eps = arith::ConstantOp::create(
        rewriter, loc, accType,
        rewriter.getFloatAttr(accType, op.getEpsilon().convertToDouble()));
    Value outInit = tensor::EmptyOp::create(rewriter, loc, sizes, elemType);
    SmallVector<utils::IteratorType> parallelIters(
        rank, utils::IteratorType::parallel);
    Value result =
        linalg::GenericOp::create(
            rewriter, loc, inputType, ValueRange{input, sumSquares, weight},
            ValueRange{outInit}, ArrayRef<AffineMap>{full, rows, lastDim, full},
            parallelIters,
            [&](OpBuilder &b, Location l, ValueRange args) {
              Value x = castFloat(b, l, args[0], accType);
              Value w = castFloat(b, l, args[2], accType);
              Value mean = arith::MulFOp::create(b, l, args[1], invFeatures);
              Value scale = math::RsqrtOp::create(
                  b, l, arith::AddFOp::create(b, l, mean, eps));
              Value y = arith::MulFOp::create(
                  b, l, arith::MulFOp::create(b, l, x, scale), w);
              linalg::YieldOp::create(b, l, castFloat(b, l, y, elemType));
            })
            .getResult(0);

    rewriter.replaceOp(op, result);
    return success();
  }
};

/// tok.layer_norm -> two row reductions (sum, then sum of squared
/// deviations from the mean: the two-pass form, exact for rows with a large
/// mean) and an elementwise linalg.generic.
struct LayerNormOpLowering : OpConversionPattern<LayerNormOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(LayerNormOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value input = adaptor.getInput();
    auto inputType = cast<RankedTensorType>(input.getType());
    auto elemType = cast<FloatType>(inputType.getElementType());
    FloatType accType = getAccumulatorType(elemType);
    int64_t rank = inputType.getRank();
    int64_t features = inputType.getShape().back();
    MLIRContext *ctx = rewriter.getContext();

    SmallVector<OpFoldResult> sizes =
        tensor::getMixedSizes(rewriter, loc, input);
    SmallVector<OpFoldResult> rowSizes(sizes.begin(), sizes.end() - 1);
    AffineMap full = AffineMap::getMultiDimIdentityMap(rank, ctx);
    AffineMap rows = full.dropResult(rank - 1);
    AffineMap lastDim =
        AffineMap::get(rank, 0, getAffineDimExpr(rank - 1, ctx), ctx);
    SmallVector<utils::IteratorType> reduceIters(rank - 1,
                                                 utils::IteratorType::parallel);
    reduceIters.push_back(utils::IteratorType::reduction);
    Value zero = arith::ConstantOp::create(rewriter, loc, accType,
                                           rewriter.getFloatAttr(accType, 0.0));
    Value invFeatures = arith::ConstantOp::create(
        rewriter, loc, accType,
        rewriter.getFloatAttr(accType, 1.0 / static_cast<double>(features)));
    Value rowInit = tensor::EmptyOp::create(rewriter, loc, rowSizes, accType);
    Value rowZero =
        linalg::FillOp::create(rewriter, loc, zero, rowInit).getResult(0);

    // Row means.
    Value sums =
        linalg::GenericOp::create(
            rewriter, loc, rowZero.getType(), ValueRange{input},
            ValueRange{rowZero}, ArrayRef<AffineMap>{full, rows}, reduceIters,
            [&](OpBuilder &b, Location l, ValueRange args) {
              Value x = castFloat(b, l, args[0], accType);
              Value acc = arith::AddFOp::create(b, l, args[1], x);
              linalg::YieldOp::create(b, l, acc);
            })
            .getResult(0);
    // Sums of squared deviations.
    Value squares = linalg::GenericOp::create(
                        rewriter, loc, rowZero.getType(),
                        ValueRange{input, sums}, ValueRange{rowZero},
                        ArrayRef<AffineMap>{full, rows, rows}, reduceIters,
                        [&](OpBuilder &b, Location l, ValueRange args) {
                          Value x = castFloat(b, l, args[0], accType);
                          Value mean =
                              arith::MulFOp::create(b, l, args[1], invFeatures);
                          Value dev = arith::SubFOp::create(b, l, x, mean);
                          Value sq = arith::MulFOp::create(b, l, dev, dev);
                          Value acc = arith::AddFOp::create(b, l, args[2], sq);
                          linalg::YieldOp::create(b, l, acc);
                        })
                        .getResult(0);

    Value eps = arith::ConstantOp::create(
        rewriter, loc, accType,
        rewriter.getFloatAttr(accType, op.getEpsilon().convertToDouble()));
    Value outInit = tensor::EmptyOp::create(rewriter, loc, sizes, elemType);
    SmallVector<utils::IteratorType> parallelIters(
        rank, utils::IteratorType::parallel);
    Value result =
        linalg::GenericOp::create(
            rewriter, loc, inputType,
            ValueRange{input, sums, squares, adaptor.getWeight(),
                       adaptor.getBias()},
            ValueRange{outInit},
            ArrayRef<AffineMap>{full, rows, rows, lastDim, lastDim, full},
            parallelIters,
            [&](OpBuilder &b, Location l, ValueRange args) {
              Value x = castFloat(b, l, args[0], accType);
              Value mean = arith::MulFOp::create(b, l, args[1], invFeatures);
              Value var = arith::MulFOp::create(b, l, args[2], invFeatures);
              Value scale = math::RsqrtOp::create(
                  b, l, arith::AddFOp::create(b, l, var, eps));
              Value y = arith::MulFOp::create(
                  b, l, arith::SubFOp::create(b, l, x, mean), scale);
              y = arith::MulFOp::create(b, l, y,
                                        castFloat(b, l, args[3], accType));
              y = arith::AddFOp::create(b, l, y,
                                        castFloat(b, l, args[4], accType));
              linalg::YieldOp::create(b, l, castFloat(b, l, y, elemType));
            })
            .getResult(0);
    rewriter.replaceOp(op, result);
    return success();
  }
};

struct ConvertTokToLinalgPass
    : tok::impl::ConvertTokToLinalgPassBase<ConvertTokToLinalgPass> {
  using Base::Base;

  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    if (queryTile <= 0 || keyTile <= 0) {
      getOperation()->emitError("convert-tok-to-linalg: query-tile and "
                                "key-tile must be positive, got ")
          << static_cast<int64_t>(queryTile) << " and "
          << static_cast<int64_t>(keyTile);
      return signalPassFailure();
    }
    // Quantized caches lower for append, truncate, attention and
    // tok.kv.quantize; eviction, tree commits and received scores over
    // quantized storage do not: say so before any rewriting.
    WalkResult quantized =
        getOperation()->walk<WalkOrder::PreOrder>([](Operation *op) {
          auto quantizedCache = [](Type t) {
            auto cache = dyn_cast<KVCacheType>(t);
            return cache && cache.getQuant() ? cache : KVCacheType();
          };
          SmallVector<Type> types(op->getOperandTypes());
          llvm::append_range(types, op->getResultTypes());
          if (auto fn = dyn_cast<FunctionOpInterface>(op))
            llvm::append_range(types, fn.getArgumentTypes());
          bool uses = false;
          for (Type t : types) {
            KVCacheType cache = quantizedCache(t);
            if (!cache)
              continue;
            uses = true;
            if (cache.getScores()) {
              op->emitError("quantized KV caches with tracked scores (score-"
                            "based eviction) have no lowering yet: ")
                  << cache;
              return WalkResult::interrupt();
            }
          }
          if (!uses)
            return WalkResult::advance();
          const char *what = nullptr;
          if (isa<KVEvictOp>(op))
            what = "eviction";
          else if (isa<KVCommitOp>(op))
            what = "tree commits";
          else if (auto att = dyn_cast<CachedAttentionOp>(op);
                   att && att.getReceived())
            what = "received attention scores";
          if (!what)
            return WalkResult::advance();
          op->emitError() << "'" << op->getName() << "': no lowering yet for "
                          << what
                          << " over a quantized KV cache (keep the cache "
                             "unquantized for it)";
          return WalkResult::interrupt();
        });
    if (quantized.wasInterrupted())
      return signalPassFailure();

    // Query-aware selection runs in the vectorized decode kernel; page
    // bounds are maintained by append and truncate only.
    WalkResult paged = getOperation()->walk([&](Operation *op) {
      if (isa<KVEvictOp, KVCommitOp>(op)) {
        auto cache = cast<KVCacheType>(op->getOperand(0).getType());
        if (cache.getPages()) {
          op->emitError() << "'" << op->getName()
                          << "': no lowering yet over a cache with page "
                             "bounds (pages = "
                          << cache.getPages() << ")";
          return WalkResult::interrupt();
        }
      }
      auto att = dyn_cast<CachedAttentionOp>(op);
      if (!att || !att.getSelectBudget())
        return WalkResult::advance();
      KVCacheType cache = att.getCache().getType();
      bool f32 = cache.getElementType().isF32() &&
                 att.getQuery().getType().getElementType().isF32();
      if (!vectorAttention || !f32 || cache.getHeadDim() % 16 != 0 ||
          cache.getHeadDim() > 256 || cache.getPages() % 16 != 0) {
        att.emitError() << "select_budget is lowered by the vectorized "
                           "attention kernels only: f32, a head dim (at "
                           "most 256) and a page size that are multiples of "
                           "16, and vector-attention enabled (got "
                        << cache << ")";
        return WalkResult::interrupt();
      }
      return WalkResult::advance();
    });
    if (paged.wasInterrupted())
      return signalPassFailure();

    // Speculative decoding and token ops the lowerings do not handle: one
    // clear error each, before any rewriting.
    bool unsupported = false;
    auto f32Rows = [&](Operation *op, Value rows) {
      Type elem = cast<RankedTensorType>(rows.getType()).getElementType();
      if (elem.isF32())
        return;
      op->emitError() << "'" << op->getName()
                      << "' has no CPU lowering yet for " << elem
                      << " token rows (f32 only)";
      unsupported = true;
    };
    getOperation()->walk([&](Operation *op) {
      if (auto draft = dyn_cast<DraftOp>(op)) {
        unsupported |= failed(checkDraftLowering(draft, /*report=*/true));
      } else if (auto verify = dyn_cast<VerifyOp>(op)) {
        unsupported |= failed(checkVerifyLowering(verify, /*report=*/true));
      } else if (auto merge = dyn_cast<MergeOp>(op)) {
        f32Rows(op, merge.getInput());
        if (!unsupported)
          f32Rows(op, merge.getMetric());
      } else if (auto prune = dyn_cast<PruneOp>(op)) {
        f32Rows(op, prune.getInput());
      } else if (auto scatter = dyn_cast<ScatterOp>(op);
                 scatter && scatter.getDim() != 0) {
        op->emitError() << "'tok.scatter' has no CPU lowering yet along "
                           "dimension "
                        << scatter.getDim() << " (dimension 0 only)";
        unsupported = true;
      }
    });
    if (unsupported)
      return signalPassFailure();

    if (quantDot != "auto" && quantDot != "f32" && quantDot != "vnni") {
      getOperation()->emitError()
          << "convert-tok-to-linalg: quant-dot must be 'auto', 'f32' or "
             "'vnni', got '"
          << quantDot << "'";
      return signalPassFailure();
    }
    if (bf16Dot != "auto" && bf16Dot != "widen" && bf16Dot != "dot") {
      getOperation()->emitError()
          << "convert-tok-to-linalg: bf16-dot must be 'auto', 'widen' or "
             "'dot', got '"
          << bf16Dot << "'";
      return signalPassFailure();
    }
    if (attentionDot != "auto" && attentionDot != "f32" &&
        attentionDot != "bf16") {
      getOperation()->emitError()
          << "convert-tok-to-linalg: attention-dot must be 'auto', 'f32' or "
             "'bf16', got '"
          << attentionDot << "'";
      return signalPassFailure();
    }

    // attention-dot=auto follows the model's weights: bf16 linears mean the
    // model already multiplies in bf16 (read before the linears lower).
    bool hasBf16LinearWeights = false;
    getOperation()->walk([&](LinearOp op) {
      if (getElementTypeOrSelf(op.getWeight().getType()).isBF16())
        hasBf16LinearWeights = true;
    });

    // Generation loops first: their bodies are ordinary tok code.
    if (failed(expandGenerateOps(getOperation())))
      return signalPassFailure();

    // Caches become bundles of tensors; every other type stays.
    TypeConverter converter;
    converter.addConversion([](Type type) { return type; });
    populateKVCacheTypeConversion(converter);
    populateKVPoolTypeConversion(converter);
    populateQuantWeightTypeConversion(converter);

    ConversionTarget target(*ctx);
    target.addLegalDialect<
        arith::ArithDialect, bufferization::BufferizationDialect,
        cf::ControlFlowDialect, linalg::LinalgDialect, math::MathDialect,
        scf::SCFDialect, tensor::TensorDialect, vector::VectorDialect>();
    target.addIllegalOp<
        AttentionOp, CachedAttentionOp, DraftOp, EmbedOp, LinearOp, RopeOp,
        KVAppendOp, KVCommitOp, KVEmptyOp, KVEvictOp, KVLengthOp, KVQuantizeOp,
        KVTruncateOp, KVPoolEmptyOp, KVPoolFromTensorsOp, KVPoolToTensorsOp,
        KVPoolWriteOp, PagedAttentionOp, LayerNormOp, GatherOp, MergeOp,
        PruneOp, RMSNormOp, SampleOp, ScatterOp, UnmergeOp, VerifyOp>();
    target.addDynamicallyLegalOp<func::FuncOp>([&](func::FuncOp op) {
      return converter.isSignatureLegal(op.getFunctionType()) &&
             converter.isLegal(&op.getBody());
    });
    target.addDynamicallyLegalOp<func::ReturnOp, func::CallOp>(
        [&](Operation *op) { return converter.isLegal(op); });
    target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });

    RewritePatternSet patterns(ctx);
    Bf16Dot bf16 = bf16Dot == "widen" ? Bf16Dot::Widen
                   : bf16Dot == "dot" ? Bf16Dot::Dot
                                      : Bf16Dot::Auto;
    AttentionLowering how{queryTile, keyTile, vectorAttention};
    how.bf16Prefill = attentionDot == "bf16" ||
                      (attentionDot == "auto" && hasBf16LinearWeights &&
                       (bf16 == Bf16Dot::Dot ||
                        (bf16 == Bf16Dot::Auto && hostHasBf16DotProducts())));
    populateTokToLinalgConversionPatterns(patterns, how);
    populateQuantLinearToVectorPatterns(patterns,
                                        quantDot == "f32"    ? QuantDot::F32
                                        : quantDot == "vnni" ? QuantDot::Int8
                                                             : QuantDot::Auto,
                                        bf16);
    populateLinearToVectorPatterns(patterns, bf16);
    populateKVCacheToTensorsPatterns(converter, patterns, how);
    populateKVPoolToTensorsPatterns(converter, patterns);
    populateFunctionOpInterfaceTypeConversionPattern<func::FuncOp>(patterns,
                                                                   converter);
    populateReturnOpTypeConversionPattern(patterns, converter);
    populateCallOpTypeConversionPattern(patterns, converter);
    scf::populateSCFStructuralTypeConversionsAndLegality(converter, patterns,
                                                         target);
    if (failed(applyPartialConversion(getOperation(), target,
                                      std::move(patterns))))
      return signalPassFailure();

    // This pass is the last word on tok ops for the CPU: one it leaves
    // behind would otherwise surface later as an obscure legalization
    // failure, far from its source.
    WalkResult leftover = getOperation()->walk([&](Operation *op) {
      if (!isa_and_nonnull<TokDialect>(op->getDialect()))
        return WalkResult::advance();
      op->emitError() << "'" << op->getName()
                      << "' has no CPU lowering yet; rewrite it away first "
                         "(see docs/codegen.md for the ops that lower)";
      return WalkResult::interrupt();
    });
    if (leftover.wasInterrupted())
      return signalPassFailure();

    // `tok.weight` names an argument's checkpoint tensor for whoever binds
    // it; below tok it means nothing (and LLVM translation warns on it).
    getOperation()->walk([](func::FuncOp fn) {
      for (unsigned i = 0, e = fn.getNumArguments(); i < e; ++i)
        fn.removeArgAttr(i, "tok.weight");
    });
  }
};

} // namespace

void mlir::tok::populateTokToLinalgConversionPatterns(
    RewritePatternSet &patterns, const AttentionLowering &how) {
  patterns.add<LayerNormOpLowering, RMSNormOpLowering>(patterns.getContext());
  populateAttentionToLinalgPatterns(patterns, how);
  populateSampleToLoopsPatterns(patterns);
  populateDraftToLoopsPatterns(patterns);
  populateTokenOpsToLoopsPatterns(patterns);
  populateVerifyToLoopsPatterns(patterns);
  populateModelOpsToLinalgPatterns(patterns);
}
