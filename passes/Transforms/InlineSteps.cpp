//===- InlineSteps.cpp - step functions into their callers ----------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#include "tok/Transforms/Passes.h"

#include "LayerFunctions.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/SymbolTable.h"
#include "tok/Dialect/Tok/IR/TokDialect.h"

namespace mlir {
namespace tok {
#define GEN_PASS_DEF_TOKINLINESTEPSPASS
#include "tok/Transforms/Passes.h.inc"
} // namespace tok
} // namespace mlir

using namespace mlir;
using namespace mlir::tok;

namespace {

/// Whether `fn` is a step: defined, one block, and calling a layer
/// function (marked `tok.layer`) directly.
bool isStep(func::FuncOp fn) {
  if (!fn || fn.isExternal() || !fn.getBody().hasOneBlock() ||
      fn->hasAttr(TokDialect::getLayerAttrName()))
    return false;
  bool callsLayer = false;
  fn.walk([&](func::CallOp call) {
    if (func::FuncOp callee = getCallee(call))
      callsLayer |= callee->hasAttr(TokDialect::getLayerAttrName());
  });
  return callsLayer;
}

struct TokInlineStepsPass
    : tok::impl::TokInlineStepsPassBase<TokInlineStepsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    llvm::DenseMap<Operation *, bool> stepCache;
    auto isStepCached = [&](func::FuncOp fn) {
      auto [it, inserted] = stepCache.try_emplace(fn, false);
      if (inserted)
        it->second = isStep(fn);
      return it->second;
    };
    SmallVector<func::CallOp> calls;
    module.walk([&](func::CallOp call) {
      if (isStepCached(getCallee(call)))
        calls.push_back(call);
    });
    llvm::SmallPtrSet<Operation *, 4> inlined;
    for (func::CallOp call : calls) {
      func::FuncOp callee = getCallee(call);
      // A step that calls itself (never built so) is left alone.
      if (call->getParentOfType<func::FuncOp>() == callee)
        continue;
      inlineCall(call, callee);
      inlined.insert(callee);
    }
    // Private steps without a use left are dead.
    for (Operation *op : inlined) {
      auto fn = cast<func::FuncOp>(op);
      if (fn.isPrivate() && SymbolTable::symbolKnownUseEmpty(fn, module))
        fn.erase();
    }
  }
};

} // namespace
