//===- TokenMerge.cpp - ToMe token merging in encoder blocks --------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// In every encoder block (a non-causal tok.attention) with r_l > 0:
//
//   %x  = <residual add after the attention> (or its LayerNorm, post-LN)
//   %m  = mean over heads of the attention's keys            [T, D]
//         (metric=hidden: %x itself)
//   %y, %sz, %map = tok.merge %x, %m sizes(%sz_prev) {r = r_l}
//                   (method = pitome: energy-ranked matching, margin
//                    0.9 - 0.8 l / L as PiToMe's DeiT patch)
//   every later use of %x uses %y; the next blocks' attentions get
//   sizes(%sz) (proportional attention); the maps compose
//
// and where the function returns token rows, tok.unmerge with the composed
// map gives every input token the row of the token it ended up in.
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

namespace mlir {
namespace tok {
#define GEN_PASS_DEF_TOKTOKENMERGEPASS
#include "tok/Transforms/Passes.h.inc"
} // namespace tok
} // namespace mlir

using namespace mlir;
using namespace mlir::tok;

/// ToMe's parse_r: r per layer for `layers` layers, linear from
/// int(r (1 - inflect)) to 2r minus that, each truncated toward zero.
static SmallVector<int64_t> scheduleR(int64_t r, double inflect,
                                      int64_t layers) {
  SmallVector<int64_t> result;
  double lo = static_cast<int64_t>(r * (1.0 - inflect));
  double hi = 2.0 * r - lo;
  double step = layers > 1 ? (hi - lo) / (layers - 1) : 0.0;
  for (int64_t l = 0; l < layers; ++l)
    result.push_back(static_cast<int64_t>(lo + step * l));
  return result;
}

/// map2[i] = step[map[i]]: composes a map with the next layer's.
static Value composeMaps(OpBuilder &b, Location loc, Value map, Value step) {
  MLIRContext *ctx = b.getContext();
  Value init = tensor::EmptyOp::create(
      b, loc, tensor::getMixedSizes(b, loc, map), b.getI32Type());
  AffineMap id = AffineMap::getMultiDimIdentityMap(1, ctx);
  return linalg::GenericOp::create(
             b, loc, init.getType(), ValueRange{map}, ValueRange{init},
             ArrayRef<AffineMap>{id, id}, {utils::IteratorType::parallel},
             [&](OpBuilder &nb, Location l, ValueRange args) {
               Value i = arith::IndexCastOp::create(nb, l, nb.getIndexType(),
                                                    args[0]);
               Value v = tensor::ExtractOp::create(nb, l, step, i);
               linalg::YieldOp::create(nb, l, v);
             })
      .getResult(0);
}

namespace {

struct TokTokenMergePass : tok::impl::TokTokenMergePassBase<TokTokenMergePass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto fail = [&](const Twine &message) {
      module.emitError("tok-token-merge: ") << message;
      signalPassFailure();
    };
    std::optional<MergeMethod> kind = symbolizeMergeMethod(method);
    if (!kind)
      return fail("unknown method '" + method + "' (tome, pitome)");
    if (r < 0)
      return fail("r must be non-negative, got " + Twine(r));
    if (metricKind != "keys" && metricKind != "hidden")
      return fail("unknown metric '" + metricKind + "' (keys, hidden)");
    if (protectFirst < 0)
      return fail("protect-first must be non-negative, got " +
                  Twine(protectFirst));
    double inflect;
    if (schedule == "constant")
      inflect = 0.0;
    else if (schedule == "decreasing")
      inflect = -1.0;
    else if (schedule == "increasing")
      inflect = 1.0;
    else
      return fail("unknown schedule '" + schedule +
                  "' (constant, decreasing, increasing)");
    for (int64_t v : rList)
      if (v < 0)
        return fail("r-list entries must be non-negative, got " + Twine(v));

    if (failed(refusePagedKV(
            module, "tok-token-merge",
            "merging tokens would mix rows of different sequences whose "
            "keys and values live at fixed slots of their own pages")))
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
      fn.walk([&](PruneOp) { other = true; });
      if (other) {
        fn.emitError(
            "tok-token-merge: the function already has token reduction "
            "(tok-token-prune); apply one of the two passes");
        return signalPassFailure();
      }
      SmallVector<int64_t> rs =
          rList.empty() ? scheduleR(r, inflect, blocks.size())
                        : SmallVector<int64_t>(rList.begin(), rList.end());
      rs.resize(blocks.size(), 0);
      if (failed(mergeFunction(fn, blocks, rs, *kind)))
        return signalPassFailure();
    }
  }

  LogicalResult mergeFunction(func::FuncOp fn, ArrayRef<AttentionOp> blocks,
                              ArrayRef<int64_t> rs, MergeMethod kind) {
    MLIRContext *ctx = &getContext();
    Value sizes, map;
    SmallVector<Value> roots;
    for (auto [index, rl] : llvm::enumerate(rs)) {
      AttentionOp attention = blocks[index];
      // Proportional attention over merged keys.
      if (sizes && propAttn) {
        if (attention.getKeySizes())
          return attention.emitError("tok-token-merge: the attention "
                                     "already has key sizes");
        attention.getKeySizesMutable().assign(sizes);
      }
      if (rl == 0)
        continue;
      FailureOr<Value> point = findReductionPoint(attention);
      if (failed(point))
        return failure();
      auto rows = cast<RankedTensorType>(point->getType());
      if (!rows.isDynamicDim(0))
        return attention.emitError("tok-token-merge: the token rows after "
                                   "this attention have a static count (")
               << rows << "); merging needs a dynamic token dimension";
      OpBuilder b(ctx);
      b.setInsertionPointAfterValue(*point);
      Location loc = attention.getLoc();
      Value metric = metricKind == "hidden"
                         ? *point
                         : buildMeanOverHeads(b, loc, attention.getKey());
      auto dyn = ShapedType::kDynamic;
      // PiToMe's margin falls from 0.9 to 0.1 over the blocks (its DeiT
      // patch: 0.9 - 0.8 l / L).
      double margin = 0.9 - 0.8 * static_cast<double>(index) /
                                static_cast<double>(blocks.size());
      auto merge = MergeOp::create(
          b, loc, rows, RankedTensorType::get({dyn}, b.getF32Type()),
          RankedTensorType::get({dyn}, b.getI32Type()), *point, metric, sizes,
          b.getI64IntegerAttr(rl), b.getI64IntegerAttr(protectFirst),
          MergeMethodAttr::get(ctx, kind),
          b.getF32FloatAttr(kind == MergeMethod::pitome ? margin : 0.5));
      ++numMerges;
      replaceStream(*point, merge.getOutput(), merge);
      sizes = merge.getOutputSizes();
      map = map ? composeMaps(b, loc, map, merge.getMap()) : merge.getMap();
      roots.push_back(merge.getOutput());
      roots.push_back(sizes);
    }
    if (roots.empty())
      return success();
    if (failed(verifyReducedRegion(fn, roots, "tok-token-merge")))
      return failure();
    return restoreReturnedRows(
        fn, roots, "tok-token-merge", [&](OpBuilder &b, Value v) -> Value {
          return UnmergeOp::create(b, v.getLoc(), v, map);
        });
  }
};

} // namespace
