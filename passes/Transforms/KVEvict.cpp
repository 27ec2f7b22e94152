//===- KVEvict.cpp - bound KV caches by an eviction policy ----------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// The rewrite is local to each attention over a freshly appended cache:
//
//   %c1 = tok.kv.append %c0, %k, %v, %pos
//   %o  = tok.cached_attention %q, %c1, %pos           (+ scores for ranking)
//   %c2 = tok.kv.evict %c1 [scores(%s)] {policy = #tok.evict<...>}
//   ... later uses of %c1 (the returned cache) use %c2
//
// plus one module-wide change: every cache type gets the capacity
// budget + chunk (and tracked scores for accumulating policies), and every
// tok.generate prefills in chunks of `chunk` tokens.
//
//===----------------------------------------------------------------------===//

#include "tok/Transforms/Passes.h"

#include "KVCacheTypes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "tok/Dialect/Tok/IR/TokOps.h"

#include <limits>

namespace mlir {
namespace tok {
#define GEN_PASS_DEF_TOKKVEVICTPASS
#include "tok/Transforms/Passes.h.inc"
} // namespace tok
} // namespace mlir

using namespace mlir;
using namespace mlir::tok;

namespace {

struct TokKVEvictPass : tok::impl::TokKVEvictPassBase<TokKVEvictPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *ctx = &getContext();
    auto fail = [&](const Twine &message) {
      module.emitError("tok-kv-evict: ") << message;
      signalPassFailure();
    };

    // The policy, checked like the attribute.
    std::optional<EvictPolicy> kind = symbolizeEvictPolicy(policy);
    if (!kind)
      return fail("unknown policy '" + policy +
                  "' (window, h2o, a2sf, tova, snapkv)");
    if (budget <= 0)
      return fail("budget must be positive, got " + Twine(budget));
    if (chunk <= 0)
      return fail("chunk must be positive, got " + Twine(chunk));
    if (budget > std::numeric_limits<int64_t>::max() - chunk)
      return fail("budget + chunk overflows");
    EvictAttr evict = EvictAttr::getChecked(
        [&]() { return module.emitError("tok-kv-evict: invalid options: "); },
        ctx, *kind, static_cast<int64_t>(budget), static_cast<int64_t>(sinks),
        static_cast<int64_t>(recent), llvm::APFloat(static_cast<double>(decay)),
        static_cast<int64_t>(observe), static_cast<int64_t>(pool));
    if (!evict)
      return signalPassFailure();

    // Attentions over a cache this step appended to.
    SmallVector<CachedAttentionOp> attentions;
    module.walk([&](CachedAttentionOp op) {
      if (op.getCache().getDefiningOp<KVAppendOp>())
        attentions.push_back(op);
    });
    if (attentions.empty())
      return fail("no tok.cached_attention reads a cache appended in the "
                  "same step; nothing to evict from");

    // Caches: budget + chunk slots, scores tracked if accumulated.
    int64_t capacity = static_cast<int64_t>(budget) + chunk;
    replaceCacheTypes(module, [&](KVCacheType t) {
      return KVCacheType::get(ctx, t.getKvHeads(), capacity, t.getHeadDim(),
                              t.getElementType(),
                              t.getScores() || evict.accumulatesScores(),
                              t.getQuant(), t.getPages());
    });

    // Which query rows count (ALGORITHMS.md §3): all for h2o, decayed for
    // a2sf, the observation window for snapkv, the last query for tova.
    int64_t rows = *kind == EvictPolicy::snapkv ? static_cast<int64_t>(observe)
                   : *kind == EvictPolicy::tova ? 1
                                                : 0;
    double rowDecay =
        *kind == EvictPolicy::a2sf ? static_cast<double>(decay) : 1.0;
    auto scoresAttr = ScoresAttr::get(ctx, rows, llvm::APFloat(rowDecay));

    OpBuilder b(ctx);
    for (CachedAttentionOp att : attentions) {
      Value cache = att.getCache();
      auto cacheType = cast<KVCacheType>(cache.getType());
      b.setInsertionPointAfter(att);
      Value scores;
      Operation *reader = att;
      if (evict.needsScores()) {
        if (att.getReceived())
          return fail("the attention already returns scores; apply one "
                      "eviction pass");
        auto scoresType = RankedTensorType::get(
            {cacheType.getKvHeads(), cacheType.getCapacity()}, b.getF32Type());
        auto scored = CachedAttentionOp::create(
            b, att.getLoc(), att.getOutput().getType(), scoresType,
            att.getQuery(), cache, att.getPositions(), att.getTreeParents(),
            att.getMaskAttr(), att.getScaleAttr(), scoresAttr,
            att.getSelectBudgetAttr());
        att.getOutput().replaceAllUsesWith(scored.getOutput());
        att.erase();
        scores = scored.getReceived();
        reader = scored;
        b.setInsertionPointAfter(scored);
      }
      auto evicted =
          KVEvictOp::create(b, reader->getLoc(), cache, evict, scores);
      cache.replaceUsesWithIf(evicted.getResult(), [&](OpOperand &use) {
        Operation *user = use.getOwner();
        return user != evicted && user != reader &&
               user->getBlock() == reader->getBlock() &&
               reader->isBeforeInBlock(user);
      });
    }

    module.walk([&](GenerateOp op) {
      std::optional<uint64_t> current = op.getPrefillChunk();
      if (!current || static_cast<int64_t>(*current) > chunk)
        op.setPrefillChunk(static_cast<uint64_t>(chunk));
    });
  }
};

} // namespace
