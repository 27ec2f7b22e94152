//===- OutlineKernels.cpp - one function per distinct parallel loop -------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// After bufferization a model's step is a straight line of kernels, most of
// them an scf.forall (the threaded linear layers, attention), and a model
// of L layers has L copies of each, differing only in the buffers they
// read. Lowered as they are, LLVM optimizes and generates code for every
// copy: compile time grows with the layers (a model of the built-in
// shape: 2.5 s with one layer, 10.9 s with six) while the code does not
// change. This pass outlines each outermost forall into a function and
// keeps one function per distinct loop.
//
//===----------------------------------------------------------------------===//

#include "tok/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Transforms/RegionUtils.h"

#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/StringMap.h"

namespace mlir {
namespace tok {
#define GEN_PASS_DEF_TOKOUTLINEKERNELSPASS
#include "tok/Transforms/Passes.h.inc"
} // namespace tok
} // namespace mlir

using namespace mlir;

namespace {

/// `fn` printed as it decides the code: generic form, no locations, and its
/// own name left out (set to a placeholder while printing).
std::string printBody(func::FuncOp fn) {
  StringAttr name = fn.getSymNameAttr();
  fn.setSymName("__tok_kernel");
  std::string text;
  llvm::raw_string_ostream os(text);
  fn->print(os,
            OpPrintingFlags()
                .printGenericOpForm()
                .enableDebugInfo(false)
                .useLocalScope()
                .skipRegions(false)
                .elideLargeElementsAttrs(std::numeric_limits<int64_t>::max()));
  fn.setSymNameAttr(name);
  return text;
}

struct TokOutlineKernelsPass
    : tok::impl::TokOutlineKernelsPassBase<TokOutlineKernelsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SymbolTable symbols(module);
    // Printed function -> the function every loop that prints so calls.
    llvm::StringMap<func::FuncOp> byText;
    for (func::FuncOp fn : llvm::to_vector(module.getOps<func::FuncOp>())) {
      if (fn.isExternal())
        continue;
      SmallVector<scf::ForallOp> loops;
      fn.walk<WalkOrder::PreOrder>([&](scf::ForallOp loop) {
        if (loop->getNumResults() == 0)
          loops.push_back(loop);
        return WalkResult::skip(); // outermost loops only
      });
      unsigned counter = 0;
      Operation *last = fn; // new functions follow `fn` in order
      for (scf::ForallOp loop : loops)
        outline(loop, fn, last, symbols, byText, counter);
    }
  }

  void outline(scf::ForallOp loop, func::FuncOp parent, Operation *&last,
               SymbolTable &symbols, llvm::StringMap<func::FuncOp> &byText,
               unsigned &counter) {
    // Inputs: the loop's operands (dynamic bounds), then the values its
    // body reads from outside, in order of first use. Constants are copied
    // into the function instead.
    llvm::SetVector<Value> used;
    used.insert(loop->getOperands().begin(), loop->getOperands().end());
    getUsedValuesDefinedAbove(loop->getRegions(), used);
    SmallVector<Value> inputs;
    SmallVector<Operation *> constants;
    for (Value v : used) {
      Operation *def = v.getDefiningOp();
      if (def && def->getNumResults() == 1 && matchPattern(v, m_Constant()))
        constants.push_back(def);
      else
        inputs.push_back(v);
    }

    OpBuilder b(parent);
    b.setInsertionPointAfter(last);
    Location loc = loop.getLoc();
    auto type = b.getFunctionType(ValueRange(inputs).getTypes(), {});
    auto fn = func::FuncOp::create(
        b, loc, (parent.getSymName() + "_kernel_" + Twine(counter)).str(),
        type);
    fn.setPrivate();
    Block *body = fn.addEntryBlock();
    OpBuilder inner = OpBuilder::atBlockBegin(body);
    IRMapping mapping;
    for (auto [v, arg] : llvm::zip(inputs, body->getArguments()))
      mapping.map(v, arg);
    for (Operation *c : constants)
      inner.clone(*c, mapping);
    inner.clone(*loop, mapping);
    func::ReturnOp::create(inner, loc);

    // One function per distinct loop.
    std::string text = printBody(fn);
    auto [it, isNew] = byText.try_emplace(text, fn);
    if (isNew) {
      symbols.insert(fn);
      last = fn;
      ++counter;
    } else {
      fn.erase();
      fn = it->second;
    }
    OpBuilder call(loop);
    func::CallOp::create(call, loop.getLoc(), fn, inputs);
    loop.erase();
  }
};

} // namespace
