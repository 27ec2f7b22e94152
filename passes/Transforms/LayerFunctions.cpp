//===- LayerFunctions.cpp - a model's layers as called functions ----------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#include "LayerFunctions.h"

#include "mlir/IR/IRMapping.h"
#include "mlir/IR/SymbolTable.h"
#include "tok/Dialect/Tok/IR/TokDialect.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/SetVector.h"

using namespace mlir;
using namespace mlir::tok;

func::FuncOp mlir::tok::getCallee(func::CallOp call) {
  return SymbolTable::lookupNearestSymbolFrom<func::FuncOp>(
      call, call.getCalleeAttr());
}

bool mlir::tok::isLayerCall(func::CallOp call) {
  if (call->hasAttr(TokDialect::getLayerAttrName()))
    return true;
  func::FuncOp callee = getCallee(call);
  return callee && callee->hasAttr(TokDialect::getLayerAttrName());
}

SmallVector<func::CallOp> mlir::tok::getLayerCalls(func::FuncOp caller) {
  SmallVector<func::CallOp> calls;
  caller.walk([&](func::CallOp call) {
    if (isLayerCall(call))
      calls.push_back(call);
  });
  return calls;
}

SmallVector<func::CallOp> mlir::tok::getLayerCalls(ModuleOp module) {
  SmallVector<func::CallOp> calls;
  module.walk([&](func::CallOp call) {
    if (isLayerCall(call))
      calls.push_back(call);
  });
  return calls;
}

int64_t mlir::tok::getLayerIndex(func::CallOp call, int64_t fallback) {
  if (auto index =
          call->getAttrOfType<IntegerAttr>(TokDialect::getLayerAttrName()))
    return index.getInt();
  return fallback;
}

/// Erases the functions marked `tok.layer` that no call refers to.
static void eraseDeadLayerFunctions(ModuleOp module) {
  llvm::DenseSet<StringAttr> called;
  module.walk([&](func::CallOp call) {
    called.insert(call.getCalleeAttr().getAttr());
  });
  for (func::FuncOp fn :
       llvm::make_early_inc_range(module.getOps<func::FuncOp>()))
    if (fn->hasAttr(TokDialect::getLayerAttrName()) && fn.isPrivate() &&
        !called.contains(fn.getSymNameAttr()))
      fn.erase();
}

void mlir::tok::specializeLayerCalls(ModuleOp module,
                                     ArrayRef<func::CallOp> calls,
                                     ArrayRef<std::string> keys) {
  assert(calls.size() == keys.size() && "one key per call");
  // Callee -> (key -> calls), in the order first seen.
  llvm::MapVector<Operation *,
                  llvm::MapVector<StringRef, SmallVector<func::CallOp>>>
      groups;
  for (auto [call, key] : llvm::zip(calls, keys))
    if (func::FuncOp callee = getCallee(call))
      groups[callee][key].push_back(call);
  SymbolTable symbols(module);
  for (auto &[calleeOp, byKey] : groups) {
    auto callee = cast<func::FuncOp>(calleeOp);
    // Calls of the callee outside `calls` keep it; so does the only key.
    bool othersCall = false;
    llvm::SmallPtrSet<Operation *, 16> listed;
    for (auto &entry : byKey)
      for (func::CallOp call : entry.second)
        listed.insert(call);
    if (std::optional<SymbolTable::UseRange> uses =
            SymbolTable::getSymbolUses(callee, module))
      for (const SymbolTable::SymbolUse &use : *uses)
        if (!listed.contains(use.getUser()))
          othersCall = true;
    if (byKey.size() == 1 && !othersCall)
      continue;
    Operation *insertAfter = callee;
    for (auto [n, entry] : llvm::enumerate(byKey)) {
      auto clone = cast<func::FuncOp>(callee->clone());
      clone.setSymName((callee.getSymName() + "_" + Twine(n)).str());
      // Renames on a clash, keeping the clone private.
      symbols.insert(clone, Block::iterator(insertAfter->getNextNode()));
      insertAfter = clone;
      for (func::CallOp call : entry.second)
        call.setCalleeAttr(FlatSymbolRefAttr::get(clone.getSymNameAttr()));
    }
  }
  eraseDeadLayerFunctions(module);
}

void mlir::tok::inlineCall(func::CallOp call, func::FuncOp callee) {
  assert(callee.getBody().hasOneBlock() && "a single-block callee");
  Block &body = callee.getBody().front();
  IRMapping map;
  map.map(body.getArguments(), call.getOperands());
  OpBuilder b(call);
  for (Operation &op : body.without_terminator())
    b.clone(op, map);
  Operation *ret = body.getTerminator();
  for (auto [result, value] : llvm::zip(call.getResults(), ret->getOperands()))
    result.replaceAllUsesWith(map.lookupOrDefault(value));
  call.erase();
}

LogicalResult
mlir::tok::inlineLayerCalls(func::FuncOp caller,
                            function_ref<bool(func::FuncOp)> which) {
  auto module = caller->getParentOfType<ModuleOp>();
  for (func::CallOp call : getLayerCalls(caller)) {
    func::FuncOp callee = getCallee(call);
    if (callee && which && !which(callee))
      continue;
    if (!callee || callee.isExternal() || !callee.getBody().hasOneBlock())
      return call.emitError("cannot inline this layer call: its callee is "
                            "not one block in this module");
    inlineCall(call, callee);
  }
  if (module)
    eraseDeadLayerFunctions(module);
  return success();
}

LogicalResult
mlir::tok::inlineLayerCalls(ModuleOp module,
                            function_ref<bool(func::FuncOp)> which) {
  SmallVector<func::FuncOp> callers;
  for (func::FuncOp fn : module.getOps<func::FuncOp>())
    if (llvm::any_of(getLayerCalls(fn), [&](func::CallOp call) {
          func::FuncOp callee = getCallee(call);
          return !callee || !which || which(callee);
        }))
      callers.push_back(fn);
  for (func::FuncOp fn : callers)
    if (failed(inlineLayerCalls(fn, which)))
      return failure();
  return success();
}

void mlir::tok::walkWithCallees(func::FuncOp root,
                                function_ref<void(Operation *)> fn) {
  llvm::SetVector<Operation *> functions;
  functions.insert(root);
  for (size_t i = 0; i < functions.size(); ++i)
    functions[i]->walk([&](Operation *op) {
      fn(op);
      if (auto call = dyn_cast<func::CallOp>(op))
        if (func::FuncOp callee = getCallee(call))
          functions.insert(callee);
    });
}
