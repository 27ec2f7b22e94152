//===- KVSelect.cpp - query-aware KV page selection (Quest) ---------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// Two module-wide changes: every !tok.kv_cache gets `pages = P` (page
// bounds kept by the cache ops' lowering), and every tok.cached_attention
// after the first `dense-layers` of its function gets
// `select_budget = budget`. The attention kernels do the selection
// (AttentionToVector.cpp); nothing here changes which slots a cache holds.
//
//===----------------------------------------------------------------------===//

#include "tok/Transforms/Passes.h"

#include "KVCacheTypes.h"
#include "KVPoolGuard.h"
#include "LayerFunctions.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "tok/Dialect/Tok/IR/TokLimits.h"
#include "tok/Dialect/Tok/IR/TokOps.h"

namespace mlir {
namespace tok {
#define GEN_PASS_DEF_TOKKVSELECTPASS
#include "tok/Transforms/Passes.h.inc"
} // namespace tok
} // namespace mlir

using namespace mlir;
using namespace mlir::tok;

namespace {

struct TokKVSelectPass : tok::impl::TokKVSelectPassBase<TokKVSelectPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *ctx = &getContext();
    auto error = [&](Location loc) {
      InFlightDiagnostic diag = emitError(loc, "tok-kv-select: ");
      signalPassFailure();
      return diag;
    };
    if (page <= 0 || page % 16 != 0 || page > kMaxCacheSlots) {
      error(module.getLoc())
          << "page must be a positive multiple of 16, at most "
          << kMaxCacheSlots << ", got " << static_cast<int64_t>(page);
      return;
    }
    if (budget <= 0 || budget > kMaxCacheSlots) {
      error(module.getLoc()) << "budget must be in [1, " << kMaxCacheSlots
                             << "], got " << static_cast<int64_t>(budget);
      return;
    }
    if (denseLayers < 0) {
      error(module.getLoc()) << "dense-layers must not be negative, got "
                             << static_cast<int64_t>(denseLayers);
      return;
    }

    if (failed(refusePagedKV(
            module, "tok-kv-select",
            "Quest selection reads per-page key bounds of a !tok.kv_cache, "
            "which a !tok.kv_pool does not keep, and has no paged lowering")))
      return signalPassFailure();

    bool sawCache = false;
    WalkResult walk =
        module.walk<WalkOrder::PreOrder>([&](Operation *op) -> WalkResult {
          if (isa<KVEvictOp, KVCommitOp>(op)) {
            error(op->getLoc())
                << "'" << op->getName()
                << "' over caches with page bounds has no lowering yet; "
                   "select or evict, not both";
            return WalkResult::interrupt();
          }
          for (KVCacheType cache : cacheTypesOf(op)) {
            sawCache = true;
            if (cache.getPages()) {
              error(op->getLoc())
                  << "the cache already has page bounds: " << cache;
              return WalkResult::interrupt();
            }
            if (cache.getQuant()) {
              error(op->getLoc()) << "page bounds over quantized storage "
                                     "are not supported: "
                                  << cache;
              return WalkResult::interrupt();
            }
            if (cache.getCapacity() < page) {
              error(op->getLoc()) << "page " << static_cast<int64_t>(page)
                                  << " is larger than the cache's "
                                  << cache.getCapacity() << " slots: " << cache;
              return WalkResult::interrupt();
            }
          }
          return WalkResult::advance();
        });
    if (walk.wasInterrupted())
      return;
    if (!sawCache) {
      error(module.getLoc()) << "the module has no KV cache to select from";
      return;
    }

    replaceCacheTypes(module, [&](KVCacheType t) {
      return KVCacheType::get(ctx, t.getKvHeads(), t.getCapacity(),
                              t.getHeadDim(), t.getElementType(), t.getScores(),
                              t.getQuant(), static_cast<int64_t>(page));
    });

    // Token trees and attentions that return scores keep dense reads.
    auto budgetAttr = IntegerAttr::get(IntegerType::get(ctx, 64),
                                       static_cast<int64_t>(budget));
    auto select = [&](CachedAttentionOp att) {
      if (!att.getTreeParents() && !att.getReceived()) {
        att.setSelectBudgetAttr(budgetAttr);
        ++numSelecting;
      }
    };
    // Layers built as functions: the calls of the first dense-layers layers
    // keep a dense copy, the others call one that selects
    // (LayerFunctions.h).
    // A call without its layer index counts by its position in its caller.
    SmallVector<func::CallOp> calls;
    SmallVector<std::string> keys;
    for (auto fn : module.getOps<func::FuncOp>())
      for (auto [position, call] : llvm::enumerate(getLayerCalls(fn))) {
        calls.push_back(call);
        keys.push_back(getLayerIndex(call, position) < denseLayers ? "dense"
                                                                   : "select");
      }
    specializeLayerCalls(module, calls, keys);
    llvm::SmallPtrSet<Operation *, 4> selecting;
    for (auto [call, key] : llvm::zip(calls, keys))
      if (key == "select")
        if (func::FuncOp callee = getCallee(call))
          selecting.insert(callee);
    for (Operation *fn : selecting)
      fn->walk(select);
    // Attentions directly in a function: the first dense-layers stay dense.
    module.walk([&](func::FuncOp fn) {
      if (fn->hasAttr(TokDialect::getLayerAttrName()))
        return;
      int64_t seen = 0;
      fn.walk([&](CachedAttentionOp att) {
        if (seen++ >= denseLayers)
          select(att);
      });
    });
  }
};

} // namespace
