//===- TokenPrune.cpp - cascade token pruning in encoder blocks -----------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// In every encoder block (a non-causal tok.attention) chosen by `layers`:
//
//   score  cls:      the attention the first token (CLS) pays each token,
//                    summed over heads: a one-row tok.attention on the
//                    block's keys with received scores (EViT)
//          received: the attention mass each token received from every
//                    query row, summed over heads, from the block's own
//                    attention (scores inside the kernel), accumulated
//                    over the pruning blocks (SpAtten's cascade)
//   %x     = <residual add after the attention> (or its LayerNorm)
//   %y, %i = tok.prune %x, %score {keep, protect_first, protect_last}
//   every later use of %x uses %y: pruned tokens leave every later block
//
// Where the function returns token rows, tok.scatter puts the kept rows
// back among the pruned tokens' rows as they were when pruned (innermost
// prune first), so callers see one row per input token; with
// restore=none the function returns the surviving rows only (pooling over
// the survivors, EViT-style).
//
//===----------------------------------------------------------------------===//

#include "KVPoolGuard.h"
#include "LayerFunctions.h"
#include "TokenReduction.h"
#include "tok/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "tok/Dialect/Tok/IR/TokOps.h"

#include "llvm/Support/FormatVariadic.h"

namespace mlir {
namespace tok {
#define GEN_PASS_DEF_TOKTOKENPRUNEPASS
#include "tok/Transforms/Passes.h.inc"
} // namespace tok
} // namespace mlir

using namespace mlir;
using namespace mlir::tok;

namespace {

struct TokTokenPrunePass : tok::impl::TokTokenPrunePassBase<TokTokenPrunePass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto fail = [&](const Twine &message) {
      module.emitError("tok-token-prune: ") << message;
      signalPassFailure();
    };
    if (!(keep > 0.0 && keep <= 1.0))
      return fail("keep must be in (0, 1], got " +
                  llvm::formatv("{0}", static_cast<double>(keep)).str());
    for (double k : keepList)
      if (!(k > 0.0 && k <= 1.0))
        return fail("keep-list entries must be in (0, 1], got " +
                    llvm::formatv("{0}", k).str());
    if (!keepList.empty() && !layers.empty())
      return fail("give keep-list (a ratio per block) or layers, not both");
    if (score != "cls" && score != "received")
      return fail("unknown score '" + score + "' (cls, received)");
    if (protectFirst < 0 || protectLast < 0)
      return fail("protect-first and protect-last must be non-negative");
    if (score == "cls" && protectFirst < 1)
      return fail("score=cls ranks tokens by the first token's attention; "
                  "protect it (protect-first >= 1)");
    for (int64_t l : layers)
      if (l < 0)
        return fail("layers must be non-negative, got " + Twine(l));
    if (restore != "scatter" && restore != "none")
      return fail("unknown restore '" + restore + "' (scatter, none)");

    if (failed(refusePagedKV(
            module, "tok-token-prune",
            "pruning drops rows of a step, but a batch step's rows are other "
            "sequences' tokens whose keys and values the scheduler placed "
            "in pages")))
      return signalPassFailure();

    // The reduction carries its state (token maps, sizes, scores) from one
    // block into the next: encoder blocks built as layer functions are
    // inlined into their caller first (LayerFunctions.h).
    if (failed(inlineLayerCalls(module, [](func::FuncOp block) {
          return !getEncoderAttentions(block).empty();
        })))
      return signalPassFailure();

    for (auto fn : module.getOps<func::FuncOp>()) {
      SmallVector<AttentionOp> blocks = getEncoderAttentions(fn);
      if (blocks.empty())
        continue;
      // Both passes restore one row per token at the returns; stacked,
      // the second would restore rows the first already changed.
      bool other = false;
      fn.walk([&](MergeOp) { other = true; });
      if (other) {
        fn.emitError(
            "tok-token-prune: the function already has token reduction "
            "(tok-token-merge); apply one of the two passes");
        return signalPassFailure();
      }
      for (int64_t l : layers)
        if (l >= static_cast<int64_t>(blocks.size())) {
          fn.emitError("tok-token-prune: layer ")
              << l << " does not exist (" << blocks.size()
              << " encoder blocks)";
          return signalPassFailure();
        }
      if (failed(pruneFunction(fn, blocks)))
        return signalPassFailure();
    }
  }

  /// Received mass per token ([T]), summed over the heads of `attention`;
  /// `attention` may be replaced (by a copy that also returns scores).
  FailureOr<Value> buildScore(OpBuilder &b, AttentionOp &attention) {
    Location loc = attention.getLoc();
    MLIRContext *ctx = &getContext();
    auto scoresAttr = ScoresAttr::get(ctx, 0, llvm::APFloat(1.0));
    auto keyType = cast<RankedTensorType>(attention.getKey().getType());
    auto receivedType = RankedTensorType::get(
        {keyType.getDimSize(0), keyType.getDimSize(1)}, b.getF32Type());
    if (score == "received") {
      if (attention.getReceived())
        return attention.emitError("tok-token-prune: the attention already "
                                   "returns scores");
      b.setInsertionPoint(attention);
      auto scored = AttentionOp::create(
          b, loc, attention.getOutput().getType(), receivedType,
          attention.getQuery(), attention.getKey(), attention.getValue(),
          attention.getQueryPositions(), attention.getKeyPositions(),
          attention.getTreeParents(), attention.getQuerySegments(),
          attention.getKeySegments(), attention.getKeySizes(),
          attention.getMaskAttr(), attention.getScaleAttr(),
          attention.getSoftcapAttr(), scoresAttr);
      attention.getOutput().replaceAllUsesWith(scored.getOutput());
      attention.erase();
      attention = scored;
      b.setInsertionPointAfter(scored);
      return buildSumOverHeads(b, loc, scored.getReceived());
    }
    // cls: the first query row alone, on the same keys.
    b.setInsertionPointAfter(attention);
    auto qType = cast<RankedTensorType>(attention.getQuery().getType());
    auto vType = cast<RankedTensorType>(attention.getValue().getType());
    SmallVector<OpFoldResult> offsets(3, b.getIndexAttr(0));
    SmallVector<OpFoldResult> sizes =
        tensor::getMixedSizes(b, loc, attention.getQuery());
    sizes[1] = b.getIndexAttr(1);
    SmallVector<OpFoldResult> strides(3, b.getIndexAttr(1));
    auto rowType = RankedTensorType::get(
        {qType.getDimSize(0), 1, qType.getDimSize(2)}, qType.getElementType());
    Value row = tensor::ExtractSliceOp::create(
        b, loc, rowType, attention.getQuery(), offsets, sizes, strides);
    auto outType = RankedTensorType::get(
        {qType.getDimSize(0), 1, vType.getDimSize(2)}, vType.getElementType());
    if (attention.getQueryPositions() || attention.getTreeParents() ||
        attention.getQuerySegments())
      return attention.emitError("tok-token-prune: score=cls needs an "
                                 "attention without positions, trees or "
                                 "segments");
    auto cls = AttentionOp::create(
        b, loc, outType, receivedType, row, attention.getKey(),
        attention.getValue(), Value(), Value(), Value(), Value(), Value(),
        attention.getKeySizes(), attention.getMaskAttr(),
        attention.getScaleAttr(), attention.getSoftcapAttr(), scoresAttr);
    return buildSumOverHeads(b, loc, cls.getReceived());
  }

  LogicalResult pruneFunction(func::FuncOp fn, ArrayRef<AttentionOp> blocks) {
    MLIRContext *ctx = &getContext();
    // (pre-prune stream, kept indices) per prune, in order.
    SmallVector<std::pair<Value, Value>> prunes;
    SmallVector<Value> roots;
    Value accumulated, lastIndices;
    for (auto [index, original] : llvm::enumerate(blocks)) {
      if (!layers.empty() &&
          !llvm::is_contained(layers, static_cast<int64_t>(index)))
        continue;
      // keep-list: a ratio per block; blocks past its end, or at 1.0, keep
      // everything.
      double ratio = keep;
      if (!keepList.empty()) {
        ratio = index < keepList.size() ? keepList[index] : 1.0;
        if (ratio == 1.0)
          continue;
      }
      AttentionOp attention = original;
      FailureOr<Value> point = findReductionPoint(attention);
      if (failed(point))
        return failure();
      auto rows = cast<RankedTensorType>(point->getType());
      if (!rows.isDynamicDim(0))
        return attention.emitError("tok-token-prune: the token rows after "
                                   "this attention have a static count (")
               << rows << "); pruning needs a dynamic token dimension";
      OpBuilder b(ctx);
      FailureOr<Value> s = buildScore(b, attention);
      if (failed(s))
        return failure();
      Location loc = attention.getLoc();
      b.setInsertionPointAfterValue(*point);
      // The prune needs both the stream and the score: after the later.
      if (point->getDefiningOp()->isBeforeInBlock(s->getDefiningOp()))
        b.setInsertionPointAfterValue(*s);
      Value tokenScore = *s;
      if (score == "received" && accumulated) {
        // SpAtten: importance accumulates over the pruning blocks (the
        // survivors' earlier totals, gathered to the current tokens).
        Value carried =
            GatherOp::create(b, loc, accumulated, lastIndices, 0).getResult();
        tokenScore = arith::AddFOp::create(b, loc, tokenScore, carried);
      }
      auto dyn = ShapedType::kDynamic;
      auto prune = PruneOp::create(
          b, loc, rows, RankedTensorType::get({dyn}, b.getI32Type()), *point,
          tokenScore, b.getF32FloatAttr(ratio),
          b.getI64IntegerAttr(protectFirst), b.getI64IntegerAttr(protectLast));
      ++numPrunes;
      replaceStream(*point, prune.getOutput(), prune);
      prunes.push_back({*point, prune.getIndices()});
      roots.push_back(prune.getOutput());
      accumulated = tokenScore;
      lastIndices = prune.getIndices();
    }
    if (roots.empty())
      return success();
    if (failed(verifyReducedRegion(fn, roots, "tok-token-prune")))
      return failure();
    if (restore == "none")
      return success();
    return restoreReturnedRows(
        fn, roots, "tok-token-prune", [&](OpBuilder &b, Value v) -> Value {
          for (auto &[stream, indices] : llvm::reverse(prunes))
            v = ScatterOp::create(b, v.getLoc(), v, stream, indices, 0);
          return v;
        });
  }
};

} // namespace
