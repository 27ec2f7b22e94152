//===- SpeculativeDecoding.cpp - tok.generate as draft / verify / accept --===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// Rewrites every tok.generate into a speculative decoding loop
// (docs/algorithms.md, "Speculative rounds"), on tok ops that
// convert-tok-to-linalg lowers:
//
//   prefill; t = first token; emit t                   (as plain decoding)
//   while not done:                  t: the pending token, not yet cached
//     d, parents, q = tok.draft context[0 : P + n]      (up to k drafts)
//     d = d[0 : min(|d|, max_new - n - 1)]              (the budget left)
//     logits, caches = step([t] ++ d, positions P+n-1 ..., caches)
//     path, next = tok.verify logits, d, parents
//     caches = tok.kv.truncate caches, |d| - |path|     (drop the rejected)
//     emit d[path[0]], ..., d[path[-1]], next           (stop at eos / max)
//     on_round(|d|, |path|)
//
// Every emitted token goes through on_token and into both the output and
// a context buffer (prompt ++ generated, capacity P + max_new) that the
// drafter reads in place. The caches keep the pending token and the
// accepted drafts: what plain decoding would have appended, so greedy
// output is token-for-token that of plain greedy decoding.
//
// Files: this one has the pass (options, checks of the step and draft
// functions, the tree step copy); SpeculativeRound.cpp builds the loop
// above, SpeculativeDraftModel.cpp the model drafter, and
// SpeculativeExpander.h declares the builder they share.
//
//===----------------------------------------------------------------------===//

#include "tok/Transforms/Passes.h"

#include "KVPoolGuard.h"
#include "LayerFunctions.h"
#include "SpeculativeExpander.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "tok/Dialect/Tok/IR/TokLimits.h"
#include "tok/Dialect/Tok/IR/TokOps.h"
#include "tok/Dialect/Tok/Utils/GenerateExpansion.h"
#include "llvm/Support/FormatVariadic.h"

namespace mlir {
namespace tok {
#define GEN_PASS_DEF_TOKSPECULATIVEDECODINGPASS
#include "tok/Transforms/Passes.h.inc"
} // namespace tok
} // namespace mlir

using namespace mlir;
using namespace mlir::tok;
using namespace mlir::tok::speculative;

namespace {

/// A draft step must look like a step: the step's tokens and positions,
/// then `params` (layer_skip: the step's parameters; model: the generate
/// op's draft_params), then caches; logits over the same vocabulary, then
/// the same caches.
LogicalResult checkDraftStep(GenerateOp op, func::FuncOp step,
                             func::FuncOp draft, ValueRange params,
                             StringRef paramsName) {
  FunctionType type = draft.getFunctionType();
  FunctionType target = step.getFunctionType();
  size_t fixed = 2 + params.size();
  auto bad = [&](const Twine &why) {
    return op.emitOpError("draft step @")
           << draft.getSymName() << " " << why << "; it has type " << type;
  };
  if (type.getNumInputs() < fixed ||
      type.getInputs().take_front(2) != target.getInputs().take_front(2) ||
      TypeRange(type.getInputs().slice(2, params.size())) !=
          TypeRange(params.getTypes()))
    return bad("must take the tokens and positions of @" + step.getSymName() +
               ", then " + paramsName);
  TypeRange caches = type.getInputs().drop_front(fixed);
  if (!llvm::all_of(caches, [](Type t) { return isa<KVCacheType>(t); }))
    return bad("must take only KV caches after the parameters");
  if (type.getNumResults() != 1 + caches.size() ||
      type.getResult(0) != target.getResult(0) ||
      TypeRange(type.getResults().drop_front()) != caches)
    return bad("must return logits like @" + step.getSymName() +
               " (the same vocabulary) and its caches");
  return success();
}

/// A private copy of `fn` named `<fn>_tree` (or `_tree<i>` on a clash),
/// after it, with a tree-parents argument inserted at `index` that becomes
/// the tree mask of its tok.cached_attention ops; each call in it of a
/// function that holds attention is redirected to such a copy of that
/// function (`copies`: the copies made so far).
static FailureOr<func::FuncOp>
cloneForTree(func::FuncOp fn, unsigned index,
             llvm::DenseMap<Operation *, func::FuncOp> &copies) {
  if (func::FuncOp done = copies.lookup(fn))
    return done;
  Operation *table = SymbolTable::getNearestSymbolTable(fn);
  std::string name = (fn.getSymName() + "_tree").str();
  for (int i = 0; SymbolTable::lookupSymbolIn(table, name); ++i)
    name = (fn.getSymName() + "_tree" + Twine(i)).str();
  OpBuilder b(fn);
  b.setInsertionPointAfter(fn);
  auto copy = cast<func::FuncOp>(b.clone(*fn));
  copy.setSymName(name);
  copy.setPrivate();
  copies[fn] = copy;
  auto dynI32 = RankedTensorType::get({ShapedType::kDynamic}, b.getI32Type());
  if (failed(copy.insertArgument(index, dynI32, {}, fn.getLoc())))
    return failure();
  Value parents = copy.getArgument(index);
  copy.walk([&](CachedAttentionOp attention) {
    attention.getTreeParentsMutable().assign(parents);
  });
  // Layer functions: the parents go in after their positions, too.
  SmallVector<func::CallOp> calls;
  copy.walk([&](func::CallOp call) { calls.push_back(call); });
  for (func::CallOp call : calls) {
    func::FuncOp callee = getCallee(call);
    if (!callee || callee.isExternal() ||
        !callee.walk([](CachedAttentionOp) { return WalkResult::interrupt(); })
             .wasInterrupted())
      continue;
    FailureOr<func::FuncOp> calleeCopy = cloneForTree(callee, 2, copies);
    if (failed(calleeCopy))
      return failure();
    call->insertOperands(2, parents);
    call.setCalleeAttr(FlatSymbolRefAttr::get(calleeCopy->getSymNameAttr()));
  }
  return copy;
}

/// A copy of `step` that verifies a token tree: a `parents` argument after
/// the positions (row i's parent row, -1 for the root) becomes the tree
/// mask of every tok.cached_attention (the last T slots are the nodes),
/// in the step and in copies of the layer functions it calls.
LogicalResult buildTreeStep(GenerateOp op, func::FuncOp step,
                            func::FuncOp &treeStep) {
  if (step.isExternal())
    return op.emitOpError("token trees need the body of @")
           << step.getSymName() << " (its attention takes the tree mask)";
  bool any = false, bad = false;
  walkWithCallees(step, [&](Operation *nested) {
    if (auto attention = dyn_cast<CachedAttentionOp>(nested)) {
      any = true;
      bad |= static_cast<bool>(attention.getTreeParents());
    }
  });
  if (!any || bad)
    return op.emitOpError("token trees need every attention of @")
           << step.getSymName()
           << " to be a tok.cached_attention without a tree mask of its own";
  llvm::DenseMap<Operation *, func::FuncOp> copies;
  FailureOr<func::FuncOp> copy = cloneForTree(step, 2, copies);
  if (failed(copy))
    return failure();
  treeStep = *copy;
  return success();
}

/// Whether `fn` or a function it calls evicts from a cache.
static bool evictsInside(func::FuncOp fn) {
  bool evicts = false;
  walkWithCallees(fn, [&](Operation *op) { evicts |= isa<KVEvictOp>(op); });
  return evicts;
}

struct TokSpeculativeDecodingPass
    : tok::impl::TokSpeculativeDecodingPassBase<TokSpeculativeDecodingPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *ctx = &getContext();
    auto fail = [&](const Twine &message) {
      module.emitError("tok-speculative-decoding: ") << message;
      signalPassFailure();
    };
    std::optional<DrafterKind> kind = symbolizeDrafterKind(drafterName);
    if (!kind)
      return fail("unknown drafter '" + drafterName +
                  "'; expected ngram, layer_skip or model");
    if (k <= 0 || k > kMaxDraftTokens)
      return fail("k must be in [1, " + Twine(kMaxDraftTokens) + "], got " +
                  Twine(k));
    if (!(confidence >= 0.0 && confidence <= 1.0))
      return fail("confidence must be in [0, 1], got " +
                  llvm::formatv("{0}", static_cast<double>(confidence)).str());
    if (branch < 1 || branch > kMaxDraftBranch)
      return fail("branch must be in [1, " + Twine(kMaxDraftBranch) +
                  "], got " + Twine(branch));
    if (branch > 1 && *kind == DrafterKind::ngram)
      return fail("the ngram drafter proposes a chain; token trees "
                  "(branch > 1) need a model drafter (layer_skip or model)");
    if (nMin <= 0 || nMax < nMin || nMax > kMaxNgram)
      return fail("expects 0 < n-min <= n-max <= " + Twine(kMaxNgram) +
                  ", got n-min = " + Twine(nMin) + ", n-max = " + Twine(nMax));
    std::optional<NgramMatch> matchRule = symbolizeNgramMatch(match);
    if (!matchRule)
      return fail("unknown match '" + match + "'; expected recent or earliest");
    if (failed(refusePagedKV(
            module, "tok-speculative-decoding",
            "draft / verify rounds rewrite @generate's decoding loop, and a "
            "batch step is driven by the host's scheduler, which has no "
            "draft or verify rounds")))
      return signalPassFailure();
    Builder builder(ctx);
    // n-max, n-min and match only shape the ngram drafter; model drafters
    // keep the attribute's defaults.
    bool ngram = *kind == DrafterKind::ngram;
    auto drafter = DrafterAttr::get(
        ctx, *kind, k, /*branch=*/1, ngram ? nMax : 3, ngram ? nMin : 1,
        ngram ? *matchRule : NgramMatch::recent, /*step=*/nullptr,
        /*skip=*/nullptr, llvm::APFloat(0.0));

    SmallVector<GenerateOp> ops;
    module.walk([&](GenerateOp op) { ops.push_back(op); });
    SymbolTableCollection symbols;
    for (GenerateOp op : ops) {
      auto step =
          symbols.lookupNearestSymbolFrom<func::FuncOp>(op, op.getStepAttr());
      if (!step) {
        op.emitOpError("step function ")
            << op.getStepAttr() << " does not name a func.func";
        return signalPassFailure();
      }
      // Rolling back rejected drafts truncates the newest slots; after an
      // eviction inside the step those are no longer the drafts' slots
      // (docs/algorithms.md, "Rollback": no eviction between draft and
      // commit).
      if (evictsInside(step)) {
        op.emitOpError("speculative decoding cannot roll back a cache that "
                       "the step function evicts from (")
            << op.getStepAttr()
            << " contains tok.kv.evict); run tok-speculative-decoding "
               "without tok-kv-evict";
        return signalPassFailure();
      }
      func::FuncOp draftStep;
      ValueRange draftParams;
      if (*kind == DrafterKind::layer_skip && !op.getDraftParams().empty()) {
        op.emitOpError("has draft_params (a separate draft model's); the "
                       "layer_skip drafter drafts with the target's own "
                       "parameters: use drafter=model");
        return signalPassFailure();
      }
      if (*kind == DrafterKind::model && op.getDraftParams().empty()) {
        op.emitOpError("the model drafter needs the draft model's weights as "
                       "draft_params (tok-import --draft-model=..., or "
                       "tok-run generate --draft-model=...)");
        return signalPassFailure();
      }
      if (*kind != DrafterKind::ngram) {
        bool layerSkip = *kind == DrafterKind::layer_skip;
        draftStep = symbols.lookupNearestSymbolFrom<func::FuncOp>(
            op, StringAttr::get(ctx, draftStepName));
        if (!draftStep) {
          op.emitOpError("the ")
              << drafterName << " drafter needs its step function @"
              << draftStepName
              << (layerSkip ? " (tok-import --draft-skip=..., or the "
                              "draft-step option)"
                            : " (tok-import --draft-model=..., or the "
                              "draft-step option)");
          return signalPassFailure();
        }
        draftParams = layerSkip ? op.getParams() : op.getDraftParams();
        if (failed(checkDraftStep(op, step, draftStep, draftParams,
                                  layerSkip ? "the parameters of @" +
                                                  op.getStep().str()
                                            : "the draft_params of the "
                                              "tok.generate")))
          return signalPassFailure();
        if (evictsInside(draftStep)) {
          op.emitOpError("the draft step @")
              << draftStepName
              << " evicts from its caches, which rollback cannot undo; run "
                 "tok-speculative-decoding without tok-kv-evict";
          return signalPassFailure();
        }
      }
      func::FuncOp treeStep;
      if (branch > 1) {
        auto logitsType =
            dyn_cast<RankedTensorType>(step.getFunctionType().getResult(0));
        if (logitsType && !logitsType.isDynamicDim(1) &&
            branch > logitsType.getDimSize(1)) {
          op.emitOpError("branch ")
              << static_cast<int64_t>(branch) << " exceeds the vocabulary of "
              << logitsType.getDimSize(1);
          return signalPassFailure();
        }
        if (failed(buildTreeStep(op, step, treeStep)))
          return signalPassFailure();
        ++numTreeSteps;
      }
      OpBuilder b(op);
      SpeculativeExpander expander{
          op,
          step,
          drafter,
          static_cast<bool>(adaptive),
          b,
          op.getLoc(),
          RankedTensorType::get({ShapedType::kDynamic}, b.getI32Type()),
          draftStep,
          draftParams,
          static_cast<double>(confidence),
          branch - 1,
          treeStep};
      Value tokens = expander.expand();
      op.getResult().replaceAllUsesWith(tokens);
      op.erase();
      ++numRewritten;
    }
  }
};

} // namespace
