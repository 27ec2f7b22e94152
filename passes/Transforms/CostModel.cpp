//===- CostModel.cpp - FLOPs, bytes and KV bytes of tok functions ---------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#include "tok/Transforms/CostModel.h"

#include "tok/Dialect/Tok/IR/TokOps.h"

#include "mlir/IR/SymbolTable.h"
#include "llvm/ADT/SmallPtrSet.h"

#include <algorithm>

using namespace mlir;
using namespace mlir::tok;

namespace {

/// Counts the cost of tok ops with dynamic dimensions of `dynamicSize`.
struct CostCounter {
  int64_t dynamicSize;

  int64_t dimSize(int64_t d) const {
    return ShapedType::isDynamic(d) ? static_cast<int64_t>(dynamicSize) : d;
  }
  int64_t elements(ShapedType type) const {
    int64_t n = 1;
    for (int64_t d : type.getShape())
      n *= dimSize(d);
    return n;
  }
  static int64_t elementBytes(Type type) {
    return std::max<int64_t>(1, type.getIntOrFloatBitWidth() / 8);
  }
  int64_t tensorBytes(Type type) const {
    // A block-quantized weight is read as its blocks.
    if (WeightQuantAttr quant = getWeightQuant(type)) {
      auto tensor = cast<RankedTensorType>(type);
      return dimSize(tensor.getDimSize(0)) *
             quant.getRowBytes(tensor.getDimSize(1));
    }
    if (auto tensor = dyn_cast<RankedTensorType>(type))
      return elements(tensor) * elementBytes(tensor.getElementType());
    if (auto cache = dyn_cast<KVCacheType>(type))
      return cacheBytes(cache);
    return 0;
  }
  static int64_t cacheBytes(KVCacheType type) {
    int64_t slots = type.getKvHeads() * type.getCapacity();
    int64_t bytes;
    if (KVQuantAttr quant = type.getQuant()) {
      // Codes, f16 scale + min per group (keys: per channel and group of
      // tokens; values: per token and group of channels) and the
      // full-precision tail (KVQuantToTensors.cpp).
      int64_t d = type.getHeadDim(), g = quant.getGroup();
      int64_t keyGroups = (type.getCapacity() + g - 1) / g;
      int64_t tail = std::min(type.getCapacity(), quant.getResidual() + g - 1);
      bytes = 2 * slots * d * quant.getBits() / 8;
      bytes += 2 * 2 * type.getKvHeads() * keyGroups * d;
      bytes += 2 * 2 * slots * (d / g);
      bytes += 2 * type.getKvHeads() * tail * d *
               elementBytes(type.getElementType());
    } else {
      bytes =
          2 * slots * type.getHeadDim() * elementBytes(type.getElementType());
    }
    bytes += 4 * slots;              // positions
    if (int64_t p = type.getPages()) // page bounds: min and max, f32
      bytes += 2 * 4 * type.getKvHeads() * ((type.getCapacity() + p - 1) / p) *
               type.getHeadDim();
    if (type.getScores())
      bytes += 4 * slots;
    return bytes;
  }

  /// FLOPs of one attention: 2 Hq T S (D + Dv).
  int64_t attentionFlops(RankedTensorType query, int64_t keys,
                         int64_t valueDim) const {
    return 2 * dimSize(query.getDimSize(0)) * dimSize(query.getDimSize(1)) *
           keys * (dimSize(query.getDimSize(2)) + valueDim);
  }

  void add(Operation *op, FunctionCost &cost) const {
    if (!isa<TokDialect>(op->getDialect()))
      return;
    for (Type t : op->getOperandTypes())
      cost.bytes += tensorBytes(t);
    for (Type t : op->getResultTypes())
      cost.bytes += tensorBytes(t);
    if (auto linear = dyn_cast<LinearOp>(op)) {
      RankedTensorType out = linear.getResult().getType();
      cost.flops += 2 * elements(out) *
                    dimSize(linear.getWeight().getType().getDimSize(1));
    } else if (auto att = dyn_cast<AttentionOp>(op)) {
      int64_t f =
          attentionFlops(att.getQuery().getType(),
                         dimSize(att.getKey().getType().getDimSize(1)),
                         dimSize(att.getValue().getType().getDimSize(2)));
      cost.flops += f;
      cost.attentionFlops += f;
    } else if (auto cached = dyn_cast<CachedAttentionOp>(op)) {
      KVCacheType cache = cached.getCache().getType();
      int64_t keys = cache.getCapacity();
      // Query-aware selection reads k pages of P slots (plus one bound per
      // page, small next to them).
      if (std::optional<int64_t> budget = cached.getSelectBudget())
        keys = std::min(keys, std::max<int64_t>(3, *budget / cache.getPages()) *
                                  cache.getPages());
      int64_t f =
          attentionFlops(cached.getQuery().getType(), keys, cache.getHeadDim());
      cost.flops += f;
      cost.attentionFlops += f;
    } else if (auto norm = dyn_cast<RMSNormOp>(op)) {
      cost.flops += 4 * elements(norm.getInput().getType());
    } else if (auto rope = dyn_cast<RopeOp>(op)) {
      cost.flops += 6 * elements(rope.getInput().getType());
    } else if (auto sample = dyn_cast<SampleOp>(op)) {
      cost.flops += 2 * elements(sample.getLogits().getType());
    } else if (auto empty = dyn_cast<KVEmptyOp>(op)) {
      cost.kvBytes += cacheBytes(empty.getType());
    }
  }
};

} // namespace

/// Adds the cost of the ops of `fn`'s body to `cost`, and that of every
/// function it calls, once per call (`active`: the functions on the call
/// stack, so that recursion is counted once).
static void addBodyCost(func::FuncOp fn, const CostCounter &counter,
                        FunctionCost &cost,
                        llvm::SmallPtrSetImpl<Operation *> &active) {
  if (!active.insert(fn).second)
    return;
  fn.walk([&](Operation *op) {
    counter.add(op, cost);
    if (auto call = dyn_cast<func::CallOp>(op))
      if (auto callee = SymbolTable::lookupNearestSymbolFrom<func::FuncOp>(
              call, call.getCalleeAttr());
          callee && !callee.isExternal())
        addBodyCost(callee, counter, cost, active);
  });
  active.erase(fn);
}

FunctionCost mlir::tok::computeFunctionCost(func::FuncOp fn,
                                            int64_t dynamicSize) {
  CostCounter counter{dynamicSize};
  FunctionCost cost;
  for (Type arg : fn.getArgumentTypes())
    if (auto cache = dyn_cast<KVCacheType>(arg))
      cost.kvBytes += CostCounter::cacheBytes(cache);
  llvm::SmallPtrSet<Operation *, 8> active;
  addBodyCost(fn, counter, cost, active);
  return cost;
}

std::vector<CallCost> mlir::tok::computeCallCosts(func::FuncOp fn,
                                                  int64_t dynamicSize) {
  CostCounter counter{dynamicSize};
  std::vector<CallCost> calls;
  for (Operation &op : fn.getBody().getOps()) {
    auto call = dyn_cast<func::CallOp>(op);
    if (!call)
      continue;
    auto callee = SymbolTable::lookupNearestSymbolFrom<func::FuncOp>(
        call, call.getCalleeAttr());
    if (!callee || callee.isExternal())
      continue;
    CallCost entry{call, callee.getSymName().str(), {}};
    for (Type arg : callee.getArgumentTypes())
      if (auto cache = dyn_cast<KVCacheType>(arg))
        entry.cost.kvBytes += CostCounter::cacheBytes(cache);
    llvm::SmallPtrSet<Operation *, 8> active{fn};
    addBodyCost(callee, counter, entry.cost, active);
    calls.push_back(std::move(entry));
  }
  return calls;
}
