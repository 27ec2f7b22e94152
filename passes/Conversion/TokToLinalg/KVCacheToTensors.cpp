//===- KVCacheToTensors.cpp - !tok.kv_cache as a bundle of tensors --------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// A cache value becomes the tensors it is made of (a 1:N type conversion):
//
//   !tok.kv_cache<H x C x D x T [, scores]>
//     -> keys      tensor<H x C x D x T>
//        values    tensor<H x C x D x T>
//        positions tensor<H x C x i32>   (per KV head: eviction is per head)
//        length    index                 (live slots are [0, length))
//        [scores   tensor<H x C x f32>]
//
// Every cache op then updates these in destination-passing style, writing
// only the slots it changes (tensor.insert_slice into the operand tensors),
// so that one-shot bufferization updates the cache buffers in place: append
// writes T slots, truncate changes only the length, commit and window
// eviction move the slots they keep.
//
//===----------------------------------------------------------------------===//

#include "AttentionEmitter.h"
#include "KVCacheParts.h"
#include "tok/Conversion/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Func/Transforms/FuncConversions.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SCF/Transforms/Patterns.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Transforms/DialectConversion.h"
#include "tok/Dialect/Tok/IR/TokOps.h"

using namespace mlir;
using namespace mlir::tok;

namespace {

//===----------------------------------------------------------------------===//
// Patterns
//===----------------------------------------------------------------------===//

struct KVEmptyLowering : OpConversionPattern<KVEmptyOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(KVEmptyOp op, OneToNOpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    KVCacheType type = op.getType();
    SmallVector<Type> parts;
    if (failed(getTypeConverter()->convertType(type, parts)))
      return failure();
    if (type.getQuant()) {
      rewriter.replaceOpWithMultiple(
          op, {emitQuantizedEmpty(rewriter, loc, parts).pack()});
      return success();
    }
    // Each buffer is its own allocation: tensor.empty ops of one type are
    // CSE'd into one, and One-Shot Bufferize then lets the keys and values
    // (or two layers' caches) share a buffer.
    auto alloc = [&](Type t) -> Value {
      return bufferization::AllocTensorOp::create(
          rewriter, loc, cast<RankedTensorType>(t), ValueRange{});
    };
    CacheParts c;
    c.keys = alloc(parts[0]);
    c.values = alloc(parts[1]);
    c.positions = alloc(parts[2]);
    c.length = constIndex(rewriter, loc, 0);
    if (type.getScores()) {
      Value empty = alloc(parts[4]);
      Value zero = arith::ConstantOp::create(rewriter, loc,
                                             rewriter.getF32FloatAttr(0.0f));
      c.scores =
          linalg::FillOp::create(rewriter, loc, zero, empty).getResult(0);
    }
    if (type.getPages()) {
      // Page bounds are written by the appends that fill a page.
      c.pageMin = alloc(pageBoundsType(type));
      c.pageMax = alloc(pageBoundsType(type));
    }
    rewriter.replaceOpWithMultiple(op, {c.pack()});
    return success();
  }
};

struct KVLengthLowering : OpConversionPattern<KVLengthOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(KVLengthOp op, OneToNOpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    rewriter.replaceOp(op, CacheParts::unpack(adaptor.getCache()).length);
    return success();
  }
};

struct KVAppendLowering : OpConversionPattern<KVAppendOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(KVAppendOp op, OneToNOpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    KVCacheType type = op.getCache().getType();
    CacheParts c = CacheParts::unpack(adaptor.getCache());
    Value keys = adaptor.getKeys().front();
    Value values = adaptor.getValues().front();
    Value positions = adaptor.getPositions().front();
    Value tokens = tensor::DimOp::create(rewriter, loc, keys, 1);

    // Appending past the capacity is a run-time error, never a write out of
    // bounds.
    Value newLength = arith::AddIOp::create(rewriter, loc, c.length, tokens);
    Value fits = arith::CmpIOp::create(
        rewriter, loc, arith::CmpIPredicate::ule, newLength,
        constIndex(rewriter, loc, type.getCapacity()));
    cf::AssertOp::create(rewriter, loc, fits,
                         "tok.kv.append: the cache capacity of " +
                             std::to_string(type.getCapacity()) +
                             " slots is exceeded");

    if (type.getQuant()) {
      c = emitQuantizedAppend(rewriter, loc, type, c, keys, values, newLength);
    } else {
      c.keys = insertSlots(rewriter, loc, keys, c.keys, c.length);
      c.values = insertSlots(rewriter, loc, values, c.values, c.length);
    }
    // Every KV head records the same positions for new slots.
    int64_t staticTokens = cast<RankedTensorType>(keys.getType()).getDimSize(1);
    SmallVector<Value> dynTokens;
    if (ShapedType::isDynamic(staticTokens))
      dynTokens.push_back(tokens);
    auto posVecType =
        RankedTensorType::get({staticTokens}, rewriter.getI32Type());
    if (positions.getType() != posVecType)
      positions = tensor::CastOp::create(rewriter, loc, posVecType, positions);
    auto posType = RankedTensorType::get({type.getKvHeads(), staticTokens},
                                         rewriter.getI32Type());
    Value posInit = tensor::EmptyOp::create(rewriter, loc, posType, dynTokens);
    Value broadcast = linalg::BroadcastOp::create(rewriter, loc, positions,
                                                  posInit, ArrayRef<int64_t>{0})
                          .getResult()[0];
    c.positions = insertSlots(rewriter, loc, broadcast, c.positions, c.length);
    if (c.scores) {
      auto scoresType = RankedTensorType::get({type.getKvHeads(), staticTokens},
                                              rewriter.getF32Type());
      Value empty =
          tensor::EmptyOp::create(rewriter, loc, scoresType, dynTokens);
      Value zero = arith::ConstantOp::create(rewriter, loc,
                                             rewriter.getF32FloatAttr(0.0f));
      Value zeros =
          linalg::FillOp::create(rewriter, loc, zero, empty).getResult(0);
      c.scores = insertSlots(rewriter, loc, zeros, c.scores, c.length);
    }
    Value oldLength = c.length;
    c.length = newLength;
    if (c.pageMin)
      c = emitPageBoundsAfterResize(rewriter, loc, type.getPages(), c,
                                    oldLength);
    rewriter.replaceOpWithMultiple(op, {c.pack()});
    return success();
  }
};

struct KVTruncateLowering : OpConversionPattern<KVTruncateOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(KVTruncateOp op, OneToNOpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    CacheParts c = CacheParts::unpack(adaptor.getCache());
    Value count = adaptor.getCount().front();
    Value dropped = arith::MinUIOp::create(rewriter, loc, count, c.length);
    Value newLength = arith::SubIOp::create(rewriter, loc, c.length, dropped);
    if (c.quant)
      emitQuantizedTruncateCheck(rewriter, loc, c, newLength);
    Value oldLength = c.length;
    c.length = newLength;
    if (c.pageMin)
      c = emitPageBoundsAfterResize(
          rewriter, loc, op.getCache().getType().getPages(), c, oldLength);
    rewriter.replaceOpWithMultiple(op, {c.pack()});
    return success();
  }
};

struct KVCommitLowering : OpConversionPattern<KVCommitOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(KVCommitOp op, OneToNOpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    CacheParts c = CacheParts::unpack(adaptor.getCache());
    Value base = adaptor.getBase().front();
    Value path = adaptor.getPath().front();
    Value count = tensor::DimOp::create(rewriter, loc, path, 0);
    Value baseOk = arith::CmpIOp::create(
        rewriter, loc, arith::CmpIPredicate::ule, base, c.length);
    cf::AssertOp::create(rewriter, loc, baseOk,
                         "tok.kv.commit: the tree base is past the live "
                         "slots");

    // Path nodes increase along the path (parents precede children), so
    // each target slot base + j is at or before its source base + path[j]
    // and no source is overwritten before it is read.
    SmallVector<Value> init = c.pack();
    Value oldLength = c.length;
    auto loop = scf::ForOp::create(
        rewriter, loc, constIndex(rewriter, loc, 0), count,
        constIndex(rewriter, loc, 1), init,
        [&](OpBuilder &b, Location l, Value j, ValueRange args) {
          CacheParts cur = CacheParts::unpack(args);
          Value node = arith::IndexCastOp::create(
              b, l, b.getIndexType(),
              tensor::ExtractOp::create(b, l, path, ValueRange{j}));
          Value src = arith::AddIOp::create(b, l, base, node);
          Value dst = arith::AddIOp::create(b, l, base, j);
          Value inTree = arith::AndIOp::create(
              b, l,
              arith::CmpIOp::create(b, l, arith::CmpIPredicate::sge, src, dst),
              arith::CmpIOp::create(b, l, arith::CmpIPredicate::ult, src,
                                    oldLength));
          cf::AssertOp::create(b, l, inTree,
                               "tok.kv.commit: a path node is not a live "
                               "tree slot or the path is not increasing");
          cur = moveSlots(b, l, cur, src, dst, b.getIndexAttr(1));
          scf::YieldOp::create(b, l, cur.pack());
        });
    CacheParts out = CacheParts::unpack(loop.getResults());
    out.length = arith::AddIOp::create(rewriter, loc, base, count);
    rewriter.replaceOpWithMultiple(op, {out.pack()});
    return success();
  }
};

struct CachedAttentionLowering : OpConversionPattern<CachedAttentionOp> {
  CachedAttentionLowering(const TypeConverter &converter, MLIRContext *ctx,
                          const AttentionLowering &how)
      : OpConversionPattern(converter, ctx), how(how) {}

  LogicalResult
  matchAndRewrite(CachedAttentionOp op, OneToNOpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    CacheParts c = CacheParts::unpack(adaptor.getCache());
    AttentionInputs in;
    in.query = adaptor.getQuery().front();
    // The live prefix of the cache is the key sequence; of a quantized
    // cache, the codes of [0, quantized) and the tail's live rows.
    Value tailRows = c.length;
    if (c.quant) {
      KVQuantAttr quant = op.getCache().getType().getQuant();
      tailRows =
          arith::SubIOp::create(rewriter, loc, c.length, c.quant.quantized);
      in.quant = c.quant;
      in.quantBits = quant.getBits();
      in.quantGroup = quant.getGroup();
    }
    in.key =
        extractSlots(rewriter, loc, c.keys, rewriter.getIndexAttr(0), tailRows);
    in.value = extractSlots(rewriter, loc, c.values, rewriter.getIndexAttr(0),
                            tailRows);
    in.keyPositions = extractSlots(rewriter, loc, c.positions,
                                   rewriter.getIndexAttr(0), c.length);
    in.queryPositions = adaptor.getPositions().front();
    if (!adaptor.getTreeParents().empty())
      in.treeParents = adaptor.getTreeParents().front();
    in.mask = op.getMask();
    in.scale = op.getScaleAttr();
    in.softcap = op.getSoftcapAttr();
    in.scores = op.getScoresAttr();
    if (std::optional<int64_t> budget = op.getSelectBudget()) {
      in.pageMin = c.pageMin;
      in.pageMax = c.pageMax;
      in.pageSize = op.getCache().getType().getPages();
      in.selectBudget = *budget;
    }
    in.outputType = op.getOutput().getType();
    if (Value received = op.getReceived())
      in.receivedInit = createZeroScores(
          rewriter, loc, cast<RankedTensorType>(received.getType()), {});
    SmallVector<Value> results = emitAttention(rewriter, loc, in, how);
    SmallVector<SmallVector<Value>> replacements;
    for (Value r : results)
      replacements.push_back({r});
    rewriter.replaceOpWithMultiple(op, std::move(replacements));
    return success();
  }

  AttentionLowering how;
};

} // namespace

void mlir::tok::populateKVCacheTypeConversion(TypeConverter &converter) {
  converter.addConversion([](KVCacheType type, SmallVectorImpl<Type> &results)
                              -> std::optional<LogicalResult> {
    if (type.getQuant()) {
      // Eviction and scores over quantized storage are not lowered (the
      // conversion pass reports it first).
      if (type.getScores())
        return failure();
      appendQuantizedCacheTypes(type, results);
      return success();
    }
    MLIRContext *ctx = type.getContext();
    auto kv = RankedTensorType::get(
        {type.getKvHeads(), type.getCapacity(), type.getHeadDim()},
        type.getElementType());
    results.push_back(kv);
    results.push_back(kv);
    results.push_back(RankedTensorType::get(
        {type.getKvHeads(), type.getCapacity()}, IntegerType::get(ctx, 32)));
    results.push_back(IndexType::get(ctx));
    if (type.getScores())
      results.push_back(type.getScoresType());
    if (type.getPages()) {
      results.push_back(pageBoundsType(type));
      results.push_back(pageBoundsType(type));
    }
    return success();
  });
}

void mlir::tok::populateKVCacheToTensorsPatterns(const TypeConverter &converter,
                                                 RewritePatternSet &patterns,
                                                 const AttentionLowering &how) {
  MLIRContext *ctx = patterns.getContext();
  patterns.add<KVAppendLowering, KVCommitLowering, KVEmptyLowering,
               KVLengthLowering, KVTruncateLowering>(converter, ctx);
  populateKVEvictToTensorsPatterns(converter, patterns);
  populateKVQuantToTensorsPatterns(converter, patterns);
  patterns.add<CachedAttentionLowering>(converter, ctx, how);
}
