//===- KVCacheClasses.cpp - caches that must share one type ---------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#include "KVCacheClasses.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "tok/Dialect/Tok/IR/TokOps.h"

using namespace mlir;
using namespace mlir::tok;

static bool isCache(Type type) { return isa<KVCacheType>(type); }

KVCacheClasses::Node KVCacheClasses::slot(Operation *function, bool result,
                                          unsigned index) {
  auto [it, inserted] = slotNodes.try_emplace(
      std::make_tuple(function, static_cast<unsigned>(result), index), nullptr);
  if (inserted) {
    slotStorage.push_back(
        std::make_unique<Slot>(Slot{function, result, index}));
    it->second = slotStorage.back().get();
    slotOf[it->second] = slotStorage.back().get();
    classes.insert(it->second);
  }
  return it->second;
}

LogicalResult KVCacheClasses::build(ModuleOp module) {
  SymbolTableCollection symbols;
  auto addValue = [&](Value v) {
    if (!isCache(v.getType()))
      return;
    valueOf[node(v)] = v;
    classes.insert(node(v));
  };
  module.walk([&](Operation *op) {
    for (Value result : op->getResults())
      addValue(result);
    for (Region &region : op->getRegions())
      for (Block &block : region)
        for (BlockArgument arg : block.getArguments())
          addValue(arg);
  });

  // A function's signature slots are its entry block's arguments and what
  // its returns pass. Caches into a declaration (what it does with them is
  // unknown) or through branches between blocks are not followed.
  WalkResult signatures = module.walk([&](func::FuncOp fn) -> WalkResult {
    FunctionType type = fn.getFunctionType();
    if (fn.isExternal() && (llvm::any_of(type.getInputs(), isCache) ||
                            llvm::any_of(type.getResults(), isCache))) {
      fn.emitError("cannot follow KV caches into a function without a "
                   "body");
      return WalkResult::interrupt();
    }
    for (Block &block : llvm::drop_begin(fn.getBody()))
      if (llvm::any_of(block.getArgumentTypes(), isCache)) {
        fn.emitError("cannot follow KV caches through branches between "
                     "blocks (a cache-typed block argument)");
        return WalkResult::interrupt();
      }
    for (auto [i, input] : llvm::enumerate(type.getInputs()))
      if (isCache(input)) {
        Node s = slot(fn, /*result=*/false, i);
        if (!fn.isExternal())
          join(s, node(fn.getArgument(i)));
      }
    for (auto [i, result] : llvm::enumerate(type.getResults()))
      if (isCache(result))
        slot(fn, /*result=*/true, i);
    return WalkResult::advance();
  });
  if (signatures.wasInterrupted())
    return failure();

  auto lookup = [&](Operation *from, FlatSymbolRefAttr ref) -> Operation * {
    return ref ? symbols.lookupNearestSymbolFrom<func::FuncOp>(from, ref)
               : nullptr;
  };
  auto unknown = [&](Operation *op) {
    op->emitError("cannot follow KV caches through '")
        << op->getName() << "' (calls, returns, scf.for, scf.if, "
        << "tok.generate, tok.draft and ops with one cache operand are "
           "followed)";
    return WalkResult::interrupt();
  };

  WalkResult walked = module.walk([&](Operation *op) -> WalkResult {
    if (auto ret = dyn_cast<func::ReturnOp>(op)) {
      auto fn = ret->getParentOfType<func::FuncOp>();
      for (auto [i, v] : llvm::enumerate(ret.getOperands()))
        if (isCache(v.getType()))
          join(node(v), slot(fn, /*result=*/true, i));
      return WalkResult::advance();
    }
    if (auto call = dyn_cast<func::CallOp>(op)) {
      Operation *callee = lookup(op, call.getCalleeAttr());
      for (auto [i, v] : llvm::enumerate(call.getOperands()))
        if (isCache(v.getType())) {
          if (!callee)
            return unknown(op);
          join(node(v), slot(callee, /*result=*/false, i));
        }
      for (auto [i, v] : llvm::enumerate(call.getResults()))
        if (isCache(v.getType())) {
          if (!callee)
            return unknown(op);
          join(node(v), slot(callee, /*result=*/true, i));
        }
      return WalkResult::advance();
    }
    if (auto generate = dyn_cast<GenerateOp>(op)) {
      Operation *step = lookup(op, generate.getStepAttr());
      if (!step && !generate.getCaches().empty())
        return unknown(op);
      unsigned first = 2 + generate.getParams().size();
      for (auto [i, v] : llvm::enumerate(generate.getCaches())) {
        join(node(v), slot(step, /*result=*/false, first + i));
        join(node(v), slot(step, /*result=*/true, 1 + i));
      }
      return WalkResult::advance();
    }
    if (auto draft = dyn_cast<DraftOp>(op)) {
      for (auto [in, out] : llvm::zip(draft.getCaches(), draft.getNewCaches()))
        join(node(in), node(out));
      return WalkResult::advance();
    }
    if (auto loop = dyn_cast<scf::ForOp>(op)) {
      for (auto [init, arg, result] : llvm::zip(
               loop.getInitArgs(), loop.getRegionIterArgs(), loop.getResults()))
        if (isCache(init.getType())) {
          join(node(init), node(arg));
          join(node(init), node(result));
        }
      return WalkResult::advance();
    }
    if (auto yield = dyn_cast<scf::YieldOp>(op)) {
      Operation *parent = op->getParentOp();
      bool any = llvm::any_of(yield.getOperandTypes(), isCache);
      if (any && !isa<scf::ForOp, scf::IfOp>(parent))
        return unknown(parent);
      for (auto [i, v] : llvm::enumerate(yield.getOperands()))
        if (isCache(v.getType()))
          join(node(v), node(parent->getResult(i)));
      return WalkResult::advance();
    }
    if (isa<func::FuncOp, scf::IfOp>(op))
      return WalkResult::advance();
    // Any other op: caches in block arguments or several cache operands
    // feeding cache results are not understood; one cache operand flows
    // into every cache result (append, evict, truncate, commit, ...).
    for (Region &region : op->getRegions())
      for (Block &block : region)
        if (llvm::any_of(block.getArgumentTypes(), isCache))
          return unknown(op);
    SmallVector<Value> in, out;
    for (Value v : op->getOperands())
      if (isCache(v.getType()))
        in.push_back(v);
    for (Value v : op->getResults())
      if (isCache(v.getType()))
        out.push_back(v);
    if (out.empty())
      return WalkResult::advance();
    if (in.size() > 1)
      return unknown(op);
    if (in.size() == 1)
      for (Value v : out)
        join(node(in.front()), node(v));
    return WalkResult::advance();
  });
  if (walked.wasInterrupted())
    return failure();

  module.walk([&](CachedAttentionOp attention) {
    Node leader = classes.getLeaderValue(node(attention.getCache()));
    if (!llvm::is_contained(layerLeaders, leader))
      layerLeaders.push_back(leader);
  });
  return success();
}

std::optional<unsigned>
KVCacheClasses::layerOf(CachedAttentionOp attention) const {
  Node leader = classes.getLeaderValue(node(attention.getCache()));
  auto it = llvm::find(layerLeaders, leader);
  if (it == layerLeaders.end())
    return std::nullopt;
  return static_cast<unsigned>(it - layerLeaders.begin());
}

SmallVector<Value> KVCacheClasses::threadOf(Value cache) const {
  SmallVector<Value> thread;
  for (Node member : classes.members(classes.getLeaderValue(node(cache))))
    if (Value v = valueOf.lookup(member))
      thread.push_back(v);
  return thread;
}

/// The type of a signature slot in the function's current type.
static Type slotType(Operation *function, bool result, unsigned index) {
  FunctionType type = cast<func::FuncOp>(function).getFunctionType();
  return result ? type.getResult(index) : type.getInput(index);
}

void KVCacheClasses::retypeLayer(
    unsigned layer, function_ref<KVCacheType(KVCacheType)> change) {
  for (Node member : classes.members(layerLeaders[layer])) {
    if (auto it = valueOf.find(member); it != valueOf.end()) {
      Value v = it->second;
      v.setType(change(cast<KVCacheType>(v.getType())));
      continue;
    }
    const Slot *s = slotOf.lookup(member);
    Type old = slotTypes.lookup(s);
    if (!old)
      old = slotType(s->function, s->result, s->index);
    slotTypes[s] = change(cast<KVCacheType>(old));
  }
}

void KVCacheClasses::updateFunctionTypes(ModuleOp module) const {
  module.walk([&](func::FuncOp fn) {
    FunctionType type = fn.getFunctionType();
    SmallVector<Type> inputs(type.getInputs()), results(type.getResults());
    bool changed = false;
    auto update = [&](SmallVector<Type> &types, bool result) {
      for (auto [i, t] : llvm::enumerate(types)) {
        auto it = slotNodes.find(std::make_tuple(fn.getOperation(),
                                                 static_cast<unsigned>(result),
                                                 static_cast<unsigned>(i)));
        if (it == slotNodes.end())
          continue;
        if (Type retyped = slotTypes.lookup(slotOf.lookup(it->second))) {
          changed |= retyped != t;
          t = retyped;
        }
      }
    };
    update(inputs, /*result=*/false);
    update(results, /*result=*/true);
    if (changed)
      fn.setFunctionType(FunctionType::get(fn.getContext(), inputs, results));
  });
}
