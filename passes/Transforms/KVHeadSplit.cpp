//===- KVHeadSplit.cpp - split a layer's KV cache by head -----------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// One cache per layer becomes two, so that the two groups of heads can have
// different capacities (the kept heads whole, the others evicted to a
// budget): real memory savings per head, with the [H, C, D] layout of a
// cache and its kernels unchanged. The rewrite is a 1:2 expansion of every
// value on the layer's cache thread (KVCacheClasses):
//
//   %c  = tok.kv.empty                 %ck = tok.kv.empty ; %cs = tok.kv.empty
//   %a  = tok.kv.append %c, %k, %v     %ak = tok.kv.append %ck, %k[kept], ...
//                                      %as = tok.kv.append %cs, %k[others], ...
//   %o  = tok.cached_attention %q, %a  %ok = tok.cached_attention %q[kept], %ak
//                                      %os = tok.cached_attention %q[others],
//                                      %as %o  = heads of %ok and %os in order
//   return %a                          return %ak, %as
//
// and calls, tok.generate and scf.for loops pass both parts.
//
//===----------------------------------------------------------------------===//

#include "KVHeadSplit.h"

#include "KVCacheClasses.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/DenseSet.h"

using namespace mlir;
using namespace mlir::tok;

namespace {

/// Rows [h * group, (h + 1) * group) of `x` ([rows, T, D]) for each h of
/// `heads`, in that order.
Value gatherHeads(OpBuilder &b, Location loc, Value x, ArrayRef<int64_t> heads,
                  int64_t group) {
  auto type = cast<RankedTensorType>(x.getType());
  SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(b, loc, x);
  SmallVector<OpFoldResult> zeros(type.getRank(), b.getIndexAttr(0));
  SmallVector<OpFoldResult> ones(type.getRank(), b.getIndexAttr(1));
  bool contiguous = true;
  for (size_t i = 1; i < heads.size(); ++i)
    contiguous &= heads[i] == heads[i - 1] + 1;
  int64_t rows = static_cast<int64_t>(heads.size()) * group;
  if (contiguous) {
    SmallVector<OpFoldResult> offsets = zeros, sliceSizes = sizes;
    offsets[0] = b.getIndexAttr(heads.front() * group);
    sliceSizes[0] = b.getIndexAttr(rows);
    return tensor::ExtractSliceOp::create(b, loc, x, offsets, sliceSizes, ones);
  }
  SmallVector<OpFoldResult> outSizes = sizes;
  outSizes[0] = b.getIndexAttr(rows);
  Value out = tensor::EmptyOp::create(b, loc, outSizes, type.getElementType());
  SmallVector<OpFoldResult> pieceSizes = sizes;
  pieceSizes[0] = b.getIndexAttr(group);
  for (auto [i, h] : llvm::enumerate(heads)) {
    SmallVector<OpFoldResult> from = zeros, to = zeros;
    from[0] = b.getIndexAttr(h * group);
    to[0] = b.getIndexAttr(static_cast<int64_t>(i) * group);
    Value piece =
        tensor::ExtractSliceOp::create(b, loc, x, from, pieceSizes, ones);
    out =
        tensor::InsertSliceOp::create(b, loc, piece, out, to, pieceSizes, ones);
  }
  return out;
}

/// Writes the rows of `part` (gathered by gatherHeads) back to their heads'
/// places in `into`.
Value scatterHeads(OpBuilder &b, Location loc, Value part, Value into,
                   ArrayRef<int64_t> heads, int64_t group) {
  auto type = cast<RankedTensorType>(part.getType());
  SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(b, loc, part);
  SmallVector<OpFoldResult> zeros(type.getRank(), b.getIndexAttr(0));
  SmallVector<OpFoldResult> ones(type.getRank(), b.getIndexAttr(1));
  sizes[0] = b.getIndexAttr(group);
  for (auto [i, h] : llvm::enumerate(heads)) {
    SmallVector<OpFoldResult> from = zeros, to = zeros;
    from[0] = b.getIndexAttr(static_cast<int64_t>(i) * group);
    to[0] = b.getIndexAttr(h * group);
    Value piece =
        tensor::ExtractSliceOp::create(b, loc, part, from, sizes, ones);
    into = tensor::InsertSliceOp::create(b, loc, piece, into, to, sizes, ones);
  }
  return into;
}

struct Splitter {
  ModuleOp module;
  KVCacheType streamedType;
  SmallVector<int64_t> kept, streamed;
  llvm::DenseSet<Value> onThread;
  DenseMap<Value, Value> twin; // a value on the thread -> its second part
  CachedAttentionOp target, result;

  LogicalResult fail(Operation *op, const Twine &what) {
    return op->emitError("tok-kv-evict: cannot split the KV cache by head ")
           << what;
  }

  /// `v` now stands for the kept part, `t` for the other.
  void record(Value v, Value t) {
    onThread.insert(v);
    twin[v] = t;
  }

  /// `values` with each value on the thread followed by its twin.
  SmallVector<Value> withTwins(ValueRange values) {
    SmallVector<Value> out;
    for (Value v : values) {
      out.push_back(v);
      if (onThread.contains(v))
        out.push_back(twin.lookup(v));
    }
    return out;
  }

  LogicalResult splitSignatures() {
    for (auto fn : module.getOps<func::FuncOp>()) {
      if (fn.isExternal())
        continue;
      SmallVector<BlockArgument> args;
      SmallVector<unsigned> argAt;
      for (BlockArgument arg : fn.getArguments())
        if (onThread.contains(arg)) {
          args.push_back(arg);
          argAt.push_back(arg.getArgNumber() + 1);
        }
      SmallVector<unsigned> resultAt;
      fn.walk([&](func::ReturnOp ret) {
        if (!resultAt.empty())
          return;
        for (auto [i, v] : llvm::enumerate(ret.getOperands()))
          if (onThread.contains(v))
            resultAt.push_back(static_cast<unsigned>(i) + 1);
      });
      if (!argAt.empty()) {
        SmallVector<Type> types(argAt.size(), streamedType);
        SmallVector<DictionaryAttr> attrs(argAt.size());
        SmallVector<Location> locs(argAt.size(), fn.getLoc());
        if (failed(fn.insertArguments(argAt, types, attrs, locs)))
          return fail(fn, "(its arguments cannot be extended)");
        for (BlockArgument arg : args)
          record(arg, fn.getArgument(arg.getArgNumber() + 1));
      }
      if (!resultAt.empty()) {
        SmallVector<Type> types(resultAt.size(), streamedType);
        SmallVector<DictionaryAttr> attrs(resultAt.size());
        if (failed(fn.insertResults(resultAt, types, attrs)))
          return fail(fn, "(its results cannot be extended)");
      }
    }
    return success();
  }

  LogicalResult splitAttention(OpBuilder &b, CachedAttentionOp att) {
    if (att.getReceived())
      return fail(att, "under an attention that returns scores");
    Location loc = att.getLoc();
    auto cacheType = cast<KVCacheType>(att.getCache().getType());
    auto outType = cast<RankedTensorType>(att.getOutput().getType());
    int64_t group = outType.getDimSize(0) / cacheType.getKvHeads();
    b.setInsertionPoint(att);
    auto attend = [&](Value cache, ArrayRef<int64_t> heads) {
      Value query = gatherHeads(b, loc, att.getQuery(), heads, group);
      SmallVector<int64_t> shape(outType.getShape());
      shape[0] = static_cast<int64_t>(heads.size()) * group;
      return CachedAttentionOp::create(
          b, loc, RankedTensorType::get(shape, outType.getElementType()),
          Type(), query, cache, att.getPositions(), att.getTreeParents(),
          att.getMaskAttr(), att.getScaleAttr(), att.getSoftcapAttr(),
          att.getScoresAttr(), att.getSelectBudgetAttr());
    };
    CachedAttentionOp first = attend(att.getCache(), kept);
    CachedAttentionOp second = attend(twin.lookup(att.getCache()), streamed);
    Value out = tensor::EmptyOp::create(
        b, loc, tensor::getMixedSizes(b, loc, att.getQuery()),
        outType.getElementType());
    out = scatterHeads(b, loc, first.getOutput(), out, kept, group);
    out = scatterHeads(b, loc, second.getOutput(), out, streamed, group);
    if (out.getType() != outType)
      out = tensor::CastOp::create(b, loc, outType, out);
    att.getOutput().replaceAllUsesWith(out);
    if (att == target)
      result = second;
    att.erase();
    return success();
  }

  LogicalResult splitAppend(OpBuilder &b, KVAppendOp append) {
    Location loc = append.getLoc();
    b.setInsertionPoint(append);
    Value keys[2], values[2];
    for (int part = 0; part < 2; ++part) {
      ArrayRef<int64_t> heads = part == 0 ? kept : streamed;
      keys[part] = gatherHeads(b, loc, append.getKeys(), heads, 1);
      values[part] = gatherHeads(b, loc, append.getValues(), heads, 1);
    }
    Operation *second = b.clone(*append);
    second->setOperand(0, twin.lookup(append.getCache()));
    second->setOperand(1, keys[1]);
    second->setOperand(2, values[1]);
    second->getResult(0).setType(streamedType);
    append->setOperand(1, keys[0]);
    append->setOperand(2, values[0]);
    record(append.getResult(), second->getResult(0));
    return success();
  }

  LogicalResult splitCall(OpBuilder &b, func::CallOp call) {
    auto callee = module.lookupSymbol<func::FuncOp>(call.getCalleeAttr());
    if (!callee || callee.isExternal())
      return fail(call, "through a call to a function without a body");
    b.setInsertionPoint(call);
    auto split = func::CallOp::create(b, call.getLoc(), callee,
                                      withTwins(call.getOperands()));
    // Discardable attributes (a layer call's `tok.layer` index) stay.
    split->setDiscardableAttrs(call->getDiscardableAttrDictionary());
    unsigned next = 0;
    for (Value old : call.getResults()) {
      Value kept = split.getResult(next++);
      if (onThread.erase(old))
        record(kept, split.getResult(next++));
      old.replaceAllUsesWith(kept);
    }
    call.erase();
    return success();
  }

  LogicalResult splitLoop(OpBuilder &b, scf::ForOp loop) {
    b.setInsertionPoint(loop);
    auto split = scf::ForOp::create(b, loop.getLoc(), loop.getLowerBound(),
                                    loop.getUpperBound(), loop.getStep(),
                                    withTwins(loop.getInitArgs()));
    Block *body = split.getBody();
    while (!body->empty())
      body->back().erase();
    Block *old = loop.getBody();
    body->getOperations().splice(body->end(), old->getOperations());
    old->getArgument(0).replaceAllUsesWith(split.getInductionVar());
    unsigned next = 0;
    for (auto [init, arg, res] : llvm::zip(
             loop.getInitArgs(), loop.getRegionIterArgs(), loop.getResults())) {
      BlockArgument keptArg = split.getRegionIterArgs()[next];
      Value keptRes = split.getResult(next++);
      if (onThread.contains(init)) {
        record(keptArg, split.getRegionIterArgs()[next]);
        record(keptRes, split.getResult(next++));
      }
      onThread.erase(arg);
      onThread.erase(res);
      arg.replaceAllUsesWith(keptArg);
      res.replaceAllUsesWith(keptRes);
    }
    loop.erase();
    return success();
  }

  /// Whether splitOp can rewrite `op` (checked for every op on the thread
  /// before anything changes, so that a failure leaves the module as it
  /// was).
  LogicalResult canSplit(Operation *op) {
    if (isa<func::FuncOp, KVEmptyOp, KVAppendOp, KVLengthOp, scf::ForOp,
            func::ReturnOp, GenerateOp>(op))
      return success();
    if (auto att = dyn_cast<CachedAttentionOp>(op)) {
      if (att.getReceived())
        return fail(att, "under an attention that returns scores");
      return success();
    }
    if (auto call = dyn_cast<func::CallOp>(op)) {
      auto callee = module.lookupSymbol<func::FuncOp>(call.getCalleeAttr());
      if (!callee || callee.isExternal())
        return fail(call, "through a call to a function without a body");
      return success();
    }
    if (isa<scf::YieldOp>(op)) {
      if (!isa<scf::ForOp>(op->getParentOp()))
        return fail(op->getParentOp(), "through this op");
      return success();
    }
    if (op->getNumResults() == 1 && onThread.contains(op->getResult(0)) &&
        llvm::count_if(op->getOperands(), [&](Value v) {
          return isa<KVCacheType>(v.getType());
        }) == 1)
      return success();
    return fail(op, "through this op");
  }

  LogicalResult splitOp(OpBuilder &b, Operation *op) {
    bool touches =
        llvm::any_of(op->getOperands(),
                     [&](Value v) { return onThread.contains(v); }) ||
        llvm::any_of(op->getResults(),
                     [&](Value v) { return onThread.contains(v); });
    if (isa<func::FuncOp>(op) || !touches)
      return success();
    if (auto empty = dyn_cast<KVEmptyOp>(op)) {
      b.setInsertionPointAfter(empty);
      record(empty.getResult(),
             KVEmptyOp::create(b, empty.getLoc(), streamedType).getResult());
      return success();
    }
    if (auto append = dyn_cast<KVAppendOp>(op))
      return splitAppend(b, append);
    if (auto att = dyn_cast<CachedAttentionOp>(op))
      return splitAttention(b, att);
    if (isa<KVLengthOp>(op))
      return success(); // the first part's length
    if (auto call = dyn_cast<func::CallOp>(op))
      return splitCall(b, call);
    if (auto loop = dyn_cast<scf::ForOp>(op))
      return splitLoop(b, loop);
    if (auto ret = dyn_cast<func::ReturnOp>(op)) {
      ret.getOperandsMutable().assign(withTwins(ret.getOperands()));
      return success();
    }
    if (auto yield = dyn_cast<scf::YieldOp>(op)) {
      if (!isa<scf::ForOp>(op->getParentOp()))
        return fail(op->getParentOp(), "through this op");
      yield.getResultsMutable().assign(withTwins(yield.getResults()));
      return success();
    }
    if (auto generate = dyn_cast<GenerateOp>(op)) {
      generate.getCachesMutable().assign(withTwins(generate.getCaches()));
      return success();
    }
    // One cache in, one out (truncate, commit, evict, quantize): a copy of
    // the op on the second part.
    if (op->getNumResults() == 1 && onThread.contains(op->getResult(0)) &&
        llvm::count_if(op->getOperands(), [&](Value v) {
          return isa<KVCacheType>(v.getType());
        }) == 1) {
      b.setInsertionPointAfter(op);
      Operation *second = b.clone(*op);
      for (OpOperand &use : second->getOpOperands())
        if (onThread.contains(use.get()))
          use.set(twin.lookup(use.get()));
      second->getResult(0).setType(streamedType);
      record(op->getResult(0), second->getResult(0));
      return success();
    }
    return fail(op, "through this op");
  }
};

} // namespace

FailureOr<CachedAttentionOp> tok::splitCacheHeads(ModuleOp module,
                                                  CachedAttentionOp attention,
                                                  ArrayRef<bool> keep) {
  KVCacheClasses classes;
  if (failed(classes.build(module)))
    return failure();
  auto type = cast<KVCacheType>(attention.getCache().getType());
  MLIRContext *ctx = module.getContext();
  Splitter s;
  s.module = module;
  s.target = attention;
  for (auto [h, k] : llvm::enumerate(keep))
    (k ? s.kept : s.streamed).push_back(static_cast<int64_t>(h));
  auto withHeads = [&](size_t heads) {
    return KVCacheType::get(ctx, static_cast<int64_t>(heads),
                            type.getCapacity(), type.getHeadDim(),
                            type.getElementType(), type.getScores(),
                            type.getQuant(), type.getPages());
  };
  KVCacheType keptType = withHeads(s.kept.size());
  s.streamedType = withHeads(s.streamed.size());
  for (Value v : classes.threadOf(attention.getCache()))
    s.onThread.insert(v);
  unsigned readers = 0;
  module.walk([&](CachedAttentionOp att) {
    readers += s.onThread.contains(att.getCache());
  });
  if (readers != 1) {
    attention.emitError("tok-kv-evict: cannot split the KV cache by head: ")
        << readers << " attentions read it";
    return failure();
  }

  for (Value v : s.onThread) {
    Operation *owner = isa<BlockArgument>(v)
                           ? cast<BlockArgument>(v).getOwner()->getParentOp()
                           : v.getDefiningOp();
    if (failed(s.canSplit(owner)))
      return failure();
    for (Operation *user : v.getUsers())
      if (failed(s.canSplit(user)))
        return failure();
  }
  if (failed(s.splitSignatures()))
    return failure();
  SmallVector<Operation *> ops;
  module.walk<WalkOrder::PreOrder>([&](Operation *op) { ops.push_back(op); });
  OpBuilder b(ctx);
  for (Operation *op : ops)
    if (failed(s.splitOp(b, op)))
      return failure();

  // The original values are the kept part now; function types follow their
  // bodies.
  for (Value v : s.onThread)
    v.setType(keptType);
  for (auto fn : module.getOps<func::FuncOp>()) {
    if (fn.isExternal())
      continue;
    SmallVector<Type> results;
    fn.walk([&](func::ReturnOp ret) {
      results.assign(ret.getOperandTypes().begin(),
                     ret.getOperandTypes().end());
    });
    fn.setFunctionType(FunctionType::get(
        ctx, fn.getBody().front().getArgumentTypes(), results));
  }
  return s.result;
}
