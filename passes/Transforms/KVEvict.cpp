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
// tok.generate prefills in chunks of `chunk` tokens. With a `profile`, the
// retyping is per layer instead (KVCacheClasses.h: each layer's cache
// thread alone), and a layer with per-head rules first splits its cache by
// head (KVHeadSplit.h).
//
//===----------------------------------------------------------------------===//

#include "tok/Transforms/Passes.h"

#include "KVCacheClasses.h"
#include "KVCacheTypes.h"
#include "KVHeadSplit.h"
#include "KVPoolGuard.h"
#include "LayerFunctions.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "tok/Dialect/Tok/IR/TokLimits.h"
#include "tok/Dialect/Tok/IR/TokOps.h"
#include "tok/Support/Json.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"

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

/// One layer's eviction settings: the pass options, overridden by the
/// layer's entry of a profile.
struct EvictSettings {
  std::string policy;
  int64_t budget, sinks, recent, observe, pool;
  double decay;
  bool full = false; // keep the layer's cache whole (no eviction)
  /// Per KV head, whether it keeps everything (the others follow the
  /// policy); empty: every head follows the policy.
  SmallVector<bool> keepHead;

  /// Equal for equal settings: layers with one key share a layer function.
  std::string key() const {
    std::string s;
    llvm::raw_string_ostream os(s);
    if (full)
      return "full";
    os << policy << ' ' << budget << ' ' << sinks << ' ' << recent << ' '
       << observe << ' ' << pool << ' ' << llvm::format("%a", decay) << ' ';
    for (bool keep : keepHead)
      os << (keep ? 'f' : 's');
    return s;
  }
};

/// Parses a calibration profile (docs/kv-compression.md):
///   {"layers": ["full", {"budget": 64, "recent": 60, "sinks": 4}, ...]}
/// one entry per layer, in the order the layers' attentions appear; an
/// object overrides the pass options it names.
static LogicalResult parseProfile(StringRef path, const EvictSettings &base,
                                  SmallVectorImpl<EvictSettings> &layers,
                                  function_ref<void(const Twine &)> fail) {
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/true);
  if (!buffer) {
    fail("cannot read profile '" + path + "': " + buffer.getError().message());
    return failure();
  }
  llvm::Expected<llvm::json::Value> json = parseJson((*buffer)->getBuffer());
  if (!json) {
    fail("profile '" + path + "' is not JSON: " + toString(json.takeError()));
    return failure();
  }
  const llvm::json::Object *root = json->getAsObject();
  const llvm::json::Array *entries = root ? root->getArray("layers") : nullptr;
  if (!entries || root->size() != 1) {
    fail("profile '" + path +
         "' must be an object with one key, \"layers\": an array of one "
         "entry per layer");
    return failure();
  }
  for (auto [i, entry] : llvm::enumerate(*entries)) {
    EvictSettings layer = base;
    std::string where = ("profile '" + path + "', layer " + Twine(i)).str();
    if (std::optional<StringRef> word = entry.getAsString()) {
      if (*word != "full") {
        fail(where + ": a string entry must be \"full\", got \"" + *word +
             "\"");
        return failure();
      }
      layer.full = true;
      layers.push_back(layer);
      continue;
    }
    const llvm::json::Object *fields = entry.getAsObject();
    if (!fields) {
      fail(where + ": expected \"full\" or an object of options");
      return failure();
    }
    for (const auto &[key, value] : *fields) {
      StringRef name = key;
      if (name == "policy") {
        std::optional<StringRef> text = value.getAsString();
        if (!text) {
          fail(where + ": \"policy\" must be a string");
          return failure();
        }
        layer.policy = text->str();
        continue;
      }
      if (name == "heads") {
        const llvm::json::Array *heads = value.getAsArray();
        if (!heads) {
          fail(where + ": \"heads\" must be an array of \"full\" and "
                       "\"stream\", one per KV head");
          return failure();
        }
        for (const llvm::json::Value &head : *heads) {
          std::optional<StringRef> kind = head.getAsString();
          if (!kind || (*kind != "full" && *kind != "stream")) {
            fail(where + ": \"heads\" entries must be \"full\" or "
                         "\"stream\"");
            return failure();
          }
          layer.keepHead.push_back(*kind == "full");
        }
        continue;
      }
      if (name == "decay") {
        std::optional<double> number = value.getAsNumber();
        if (!number) {
          fail(where + ": \"decay\" must be a number");
          return failure();
        }
        layer.decay = *number;
        continue;
      }
      int64_t *field = llvm::StringSwitch<int64_t *>(name)
                           .Case("budget", &layer.budget)
                           .Case("sinks", &layer.sinks)
                           .Case("recent", &layer.recent)
                           .Case("observe", &layer.observe)
                           .Case("pool", &layer.pool)
                           .Default(nullptr);
      if (!field) {
        fail(where + ": unknown key \"" + name +
             "\" (policy, budget, sinks, recent, decay, observe, pool, "
             "heads)");
        return failure();
      }
      std::optional<int64_t> number = value.getAsInteger();
      if (!number) {
        fail(where + ": \"" + name + "\" must be an integer");
        return failure();
      }
      *field = *number;
    }
    layers.push_back(layer);
  }
  return success();
}

/// Window eviction of a batch step: every tok.paged_attention's mask gets
/// the window (recent + 1 positions) and the sinks, and every function that
/// runs one (itself or through calls) records `evict` for the host, whose
/// scheduler releases the pages a sequence can no longer see. A model
/// window narrower than the new one, without sinks, stays as it is (it
/// already hides what eviction would); any other existing window is
/// refused, as its intersection with the new one is no mask.
static LogicalResult evictPagedAttentions(ModuleOp module,
                                          ArrayRef<PagedAttentionOp> paged,
                                          EvictAttr evict) {
  MLIRContext *ctx = module.getContext();
  int64_t window = evict.getRecent() + 1, sinks = evict.getSinks();
  for (PagedAttentionOp op : paged) {
    MaskAttr mask = op.getMask();
    if (op->getParentOfType<func::FuncOp>()->hasAttr(kBatchEvictAttrName))
      return op.emitError("tok-kv-evict: the batch step already has window "
                          "eviction; apply one eviction pass");
    if (mask.getBlockDiagonal())
      return op.emitError("tok-kv-evict: a block-diagonal mask has no "
                          "per-sequence window");
    if (mask.getWindow() == 0 && mask.getSinks() == 0) {
      op.setMaskAttr(MaskAttr::get(ctx, mask.getKind(), window, sinks,
                                   /*blockDiagonal=*/false));
      continue;
    }
    if (mask.getSinks() == 0 && mask.getWindow() <= window)
      continue;
    return op.emitError("tok-kv-evict: the attention already has ")
           << mask << "; window eviction over a batch step composes only "
           << "with a model window of at most recent + 1 = " << window
           << " positions and no sinks";
  }
  // The functions that run the attentions, and their callers.
  llvm::SmallPtrSet<Operation *, 8> marked;
  for (PagedAttentionOp op : paged)
    marked.insert(op->getParentOfType<func::FuncOp>());
  for (bool changed = true; changed;) {
    changed = false;
    module.walk([&](func::CallOp call) {
      auto callee = module.lookupSymbol<func::FuncOp>(call.getCallee());
      auto caller = call->getParentOfType<func::FuncOp>();
      if (callee && caller && marked.contains(callee) &&
          marked.insert(caller).second)
        changed = true;
    });
  }
  for (Operation *fn : marked)
    fn->setAttr(kBatchEvictAttrName, evict);
  return success();
}

struct TokKVEvictPass : tok::impl::TokKVEvictPassBase<TokKVEvictPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *ctx = &getContext();
    auto fail = [&](const Twine &message) {
      module.emitError("tok-kv-evict: ") << message;
      signalPassFailure();
    };
    if (chunk <= 0 || chunk > kMaxCacheSlots)
      return fail("chunk must be in [1, " + Twine(kMaxCacheSlots) + "], got " +
                  Twine(chunk));

    // The policy of one layer (or of all), checked like the attribute.
    auto buildEvict = [&](const EvictSettings &s,
                          const Twine &where) -> EvictAttr {
      std::optional<EvictPolicy> kind = symbolizeEvictPolicy(s.policy);
      if (!kind) {
        fail(where + "unknown policy '" + s.policy +
             "' (window, h2o, a2sf, tova, snapkv)");
        return {};
      }
      if (s.budget <= 0) {
        fail(where + "budget must be positive, got " + Twine(s.budget));
        return {};
      }
      // The evicted caches hold budget + chunk slots.
      if (s.budget > kMaxCacheSlots - chunk) {
        fail(where + "budget + chunk (" + Twine(s.budget) + " + " +
             Twine(chunk) + ") exceeds the " + Twine(kMaxCacheSlots) +
             " slots a cache may have");
        return {};
      }
      EvictAttr evict = EvictAttr::getChecked(
          [&]() {
            return module.emitError("tok-kv-evict: ")
                   << where << "invalid options: ";
          },
          ctx, *kind, s.budget, s.sinks, s.recent, llvm::APFloat(s.decay),
          s.observe, s.pool);
      if (!evict)
        signalPassFailure();
      return evict;
    };

    EvictSettings base{policy,
                       static_cast<int64_t>(budget),
                       static_cast<int64_t>(sinks),
                       static_cast<int64_t>(recent),
                       static_cast<int64_t>(observe),
                       static_cast<int64_t>(pool),
                       static_cast<double>(decay),
                       /*full=*/false,
                       /*keepHead=*/{}};
    // Without a profile, the options are one policy for every layer:
    // checked before anything else.
    EvictAttr uniform;
    if (profile.empty() && !(uniform = buildEvict(base, "")))
      return;

    // A batch step: window eviction per sequence, nothing else.
    SmallVector<PagedAttentionOp> paged;
    module.walk([&](PagedAttentionOp op) { paged.push_back(op); });
    if (!paged.empty()) {
      if (!profile.empty()) {
        paged.front().emitError(
            "tok-kv-evict: per-layer profiles do not apply to a batch step "
            "(tok.paged_attention): the scheduler releases a sequence's "
            "pages for every layer at once; give one window policy");
        return signalPassFailure();
      }
      if (uniform.getPolicy() != EvictPolicy::window) {
        paged.front().emitError("tok-kv-evict: policy '")
            << policy
            << "' ranks slots by the attention they received, which "
               "tok.paged_attention does not compute and the scheduler, "
               "which hands out whole pages shared between sequences, could "
               "not act on; a batch step takes policy=window only";
        return signalPassFailure();
      }
      if (failed(evictPagedAttentions(module, paged, uniform)))
        return signalPassFailure();
    }

    // Attentions over a cache this step appended to.
    SmallVector<CachedAttentionOp> attentions;
    module.walk([&](CachedAttentionOp op) {
      if (op.getCache().getDefiningOp<KVAppendOp>())
        attentions.push_back(op);
    });
    if (attentions.empty()) {
      if (!paged.empty())
        return;
      return fail("no tok.cached_attention reads a cache appended in the "
                  "same step; nothing to evict from");
    }
    // Page bounds (tok-kv-select) and eviction do not compose: the
    // lowering has none for it, and a smaller cache than a page would not
    // be a valid type.
    for (CachedAttentionOp att : attentions)
      if (att.getCache().getType().getPages())
        return fail("the cache has page bounds (tok-kv-select): select or "
                    "evict, not both");

    // One policy per attention: all alike, or per layer from the profile.
    DenseMap<Operation *, EvictAttr> evictOf;
    if (uniform) {
      EvictAttr evict = uniform;
      for (CachedAttentionOp att : attentions)
        evictOf[att] = evict;
      // Caches: budget + chunk slots, scores tracked if accumulated.
      int64_t capacity = evict.getBudget() + chunk;
      replaceCacheTypes(module, [&](KVCacheType t) {
        return KVCacheType::get(ctx, t.getKvHeads(), capacity, t.getHeadDim(),
                                t.getElementType(),
                                t.getScores() || evict.accumulatesScores(),
                                t.getQuant(), t.getPages());
      });
    } else {
      SmallVector<EvictSettings> settings;
      if (failed(parseProfile(profile, base, settings, fail)))
        return;
      // Layers built as functions: one copy per distinct setting, each
      // call's settings by its layer index (LayerFunctions.h). Attentions
      // directly in a step are numbered by their cache threads.
      SmallVector<func::CallOp> calls = getLayerCalls(module);
      DenseMap<Operation *, const EvictSettings *> settingsOfFunction;
      if (!calls.empty()) {
        int64_t layers = 0;
        SmallVector<int64_t> indices;
        for (func::CallOp call : calls) {
          indices.push_back(getLayerIndex(call, -1));
          if (indices.back() < 0)
            return fail("a layer call has no layer index (tok.layer)");
          layers = std::max(layers, indices.back() + 1);
        }
        if (static_cast<int64_t>(settings.size()) != layers)
          return fail("profile '" + profile + "' has " +
                      Twine(settings.size()) + " layer(s), the module " +
                      Twine(layers));
        // Every layer's policy is checked before the layer functions are
        // copied (the heads of a split are checked per attention below).
        for (auto [i, s] : llvm::enumerate(settings))
          if (!s.full && !buildEvict(s, "profile layer " + Twine(i) + ": "))
            return;
        SmallVector<std::string> keys;
        for (int64_t index : indices)
          keys.push_back(settings[index].key());
        specializeLayerCalls(module, calls, keys);
        for (auto fn : module.getOps<func::FuncOp>())
          if (fn->hasAttr(TokDialect::getLayerAttrName()))
            ++numLayerCopies;
        for (auto [call, index] : llvm::zip(calls, indices))
          if (func::FuncOp callee = getCallee(call))
            settingsOfFunction[callee] = &settings[index];
        attentions.clear();
        module.walk([&](CachedAttentionOp op) {
          if (op.getCache().getDefiningOp<KVAppendOp>())
            attentions.push_back(op);
        });
      }
      KVCacheClasses classes;
      if (failed(classes.build(module)))
        return signalPassFailure();
      auto settingsOf = [&](CachedAttentionOp att) -> const EvictSettings * {
        if (const EvictSettings *s =
                settingsOfFunction.lookup(att->getParentOfType<func::FuncOp>()))
          return s;
        unsigned layer = *classes.layerOf(att);
        return layer < settings.size() ? &settings[layer] : nullptr;
      };
      if (calls.empty() && settings.size() != classes.numLayers())
        return fail("profile '" + profile + "' has " + Twine(settings.size()) +
                    " layer(s), the module " + Twine(classes.numLayers()));
      // Every layer's settings are checked before anything is rewritten.
      struct Plan {
        CachedAttentionOp attention;
        EvictAttr evict;
        bool split;
        ArrayRef<bool> keep;
      };
      SmallVector<Plan> plans;
      for (CachedAttentionOp att : attentions) {
        const EvictSettings *found = settingsOf(att);
        if (!found) {
          att.emitError("tok-kv-evict: this attention is in no layer of "
                        "the profile");
          return signalPassFailure();
        }
        const EvictSettings &s = *found;
        unsigned layer = &s - settings.data();
        int64_t heads =
            cast<KVCacheType>(att.getCache().getType()).getKvHeads();
        if (!s.keepHead.empty() &&
            static_cast<int64_t>(s.keepHead.size()) != heads)
          return fail("profile layer " + Twine(layer) + ": \"heads\" has " +
                      Twine(s.keepHead.size()) + " entries, the layer " +
                      Twine(heads) + " KV heads");
        bool allKept = !s.keepHead.empty() &&
                       llvm::all_of(s.keepHead, [](bool k) { return k; });
        if (s.full || allKept)
          continue;
        EvictAttr evict = buildEvict(s, "profile layer " + Twine(layer) + ": ");
        if (!evict)
          return;
        plans.push_back(
            {att, evict, llvm::is_contained(s.keepHead, true), s.keepHead});
      }
      for (const Plan &plan : plans) {
        if (!plan.split) {
          evictOf[plan.attention] = plan.evict;
          continue;
        }
        // Some heads keep everything: the layer's cache splits in two.
        FailureOr<CachedAttentionOp> streamed =
            splitCacheHeads(module, plan.attention, plan.keep);
        if (failed(streamed))
          return signalPassFailure();
        evictOf[*streamed] = plan.evict;
      }
      // Each evicted cache's thread: budget + chunk slots.
      KVCacheClasses split;
      if (failed(split.build(module)))
        return signalPassFailure();
      llvm::SmallDenseSet<unsigned> retyped;
      for (auto [op, evict] : evictOf) {
        unsigned layer = *split.layerOf(cast<CachedAttentionOp>(op));
        if (!retyped.insert(layer).second)
          continue;
        int64_t capacity = evict.getBudget() + chunk;
        bool scores = evict.accumulatesScores();
        split.retypeLayer(layer, [&](KVCacheType t) {
          return KVCacheType::get(ctx, t.getKvHeads(), capacity, t.getHeadDim(),
                                  t.getElementType(), t.getScores() || scores,
                                  t.getQuant(), t.getPages());
        });
      }
      split.updateFunctionTypes(module);
    }

    // The attentions to evict after (the list above may hold attentions a
    // head split replaced).
    SmallVector<CachedAttentionOp> evicting;
    module.walk([&](CachedAttentionOp op) {
      if (evictOf.count(op))
        evicting.push_back(op);
    });
    OpBuilder b(ctx);
    for (CachedAttentionOp att : evicting) {
      EvictAttr evict = evictOf.lookup(att);
      // Which query rows count (docs/algorithms.md, "KV-cache eviction"):
      // all for h2o, decayed for a2sf, the observation window for snapkv,
      // the last query for tova.
      EvictPolicy kind = evict.getPolicy();
      int64_t rows = kind == EvictPolicy::snapkv ? evict.getObserve()
                     : kind == EvictPolicy::tova ? 1
                                                 : 0;
      double rowDecay =
          kind == EvictPolicy::a2sf ? evict.getDecay().convertToDouble() : 1.0;
      auto scoresAttr = ScoresAttr::get(ctx, rows, llvm::APFloat(rowDecay));

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
            att.getMaskAttr(), att.getScaleAttr(), att.getSoftcapAttr(),
            scoresAttr, att.getSelectBudgetAttr());
        att.getOutput().replaceAllUsesWith(scored.getOutput());
        att.erase();
        scores = scored.getReceived();
        reader = scored;
        b.setInsertionPointAfter(scored);
      }
      auto evicted =
          KVEvictOp::create(b, reader->getLoc(), cache, evict, scores);
      ++numEvictions;
      // Every use after the reader, in its block or nested in an op after
      // it (a loop or branch that reads the cache), sees the evicted cache.
      cache.replaceUsesWithIf(evicted.getResult(), [&](OpOperand &use) {
        Operation *after =
            reader->getBlock()->findAncestorOpInBlock(*use.getOwner());
        return after && after != evicted && after != reader &&
               reader->isBeforeInBlock(after);
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
