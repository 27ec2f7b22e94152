//===- KVQuantize.cpp - KIVI-quantized storage for every KV cache ---------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// A module-wide type change: every !tok.kv_cache gets
// quant = #tok.kv_quant<bits, group, residual>. The ops keep their meaning
// (the cache ops and tok.cached_attention are defined on the cache's
// contents, whatever its storage); their lowering (KVQuantToTensors.cpp)
// quantizes on append and dequantizes inside the attention kernels.
//
//===----------------------------------------------------------------------===//

#include "tok/Transforms/Passes.h"

#include "KVCacheTypes.h"
#include "KVPoolGuard.h"

#include "mlir/IR/BuiltinOps.h"
#include "tok/Dialect/Tok/IR/TokOps.h"

namespace mlir {
namespace tok {
#define GEN_PASS_DEF_TOKKVQUANTIZEPASS
#include "tok/Transforms/Passes.h.inc"
} // namespace tok
} // namespace mlir

using namespace mlir;
using namespace mlir::tok;

namespace {

struct TokKVQuantizePass : tok::impl::TokKVQuantizePassBase<TokKVQuantizePass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *ctx = &getContext();
    auto error = [&](Location loc) {
      InFlightDiagnostic diag = emitError(loc, "tok-kv-quantize: ");
      signalPassFailure();
      return diag;
    };
    KVQuantAttr quant = KVQuantAttr::getChecked(
        [&]() { return error(module.getLoc()) << "invalid options: "; }, ctx,
        static_cast<int64_t>(bits), static_cast<int64_t>(group),
        static_cast<int64_t>(residual));
    if (!quant)
      return;

    if (failed(refusePagedKV(
            module, "tok-kv-quantize",
            "quantized pages are not implemented yet (a !tok.kv_pool holds "
            "f32 keys and values only)")))
      return signalPassFailure();

    // What quantized storage cannot do yet, and caches it cannot take.
    bool sawCache = false;
    WalkResult walk =
        module.walk<WalkOrder::PreOrder>([&](Operation *op) -> WalkResult {
          if (isa<KVEvictOp>(op)) {
            error(op->getLoc()) << "eviction (tok.kv.evict) over quantized "
                                   "caches has no lowering yet; quantize or "
                                   "evict, not both";
            return WalkResult::interrupt();
          }
          if (isa<KVCommitOp>(op)) {
            error(op->getLoc()) << "token-tree commits (tok.kv.commit) over "
                                   "quantized caches have no lowering yet";
            return WalkResult::interrupt();
          }
          for (KVCacheType cache : cacheTypesOf(op)) {
            sawCache = true;
            if (cache.getQuant()) {
              error(op->getLoc())
                  << "the cache is already quantized: " << cache;
              return WalkResult::interrupt();
            }
            if (failed(KVCacheType::verifyInvariants(
                    [&]() {
                      return error(op->getLoc())
                             << "cannot quantize " << cache << ": ";
                    },
                    cache.getKvHeads(), cache.getCapacity(), cache.getHeadDim(),
                    cache.getElementType(), cache.getScores(), quant,
                    cache.getPages())))
              return WalkResult::interrupt();
            if (cache.getScores()) {
              error(op->getLoc()) << "caches that track attention scores "
                                     "(score-based eviction) cannot be "
                                     "quantized yet: "
                                  << cache;
              return WalkResult::interrupt();
            }
          }
          return WalkResult::advance();
        });
    if (walk.wasInterrupted())
      return;
    if (!sawCache) {
      error(module.getLoc()) << "the module has no KV cache to quantize";
      return;
    }

    llvm::SmallDenseSet<Type> quantized;
    replaceCacheTypes(module, [&](KVCacheType t) {
      if (quantized.insert(t).second)
        ++numCacheTypes;
      return KVCacheType::get(ctx, t.getKvHeads(), t.getCapacity(),
                              t.getHeadDim(), t.getElementType(), t.getScores(),
                              quant, t.getPages());
    });
  }
};

} // namespace
