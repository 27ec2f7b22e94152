//===- CostReport.cpp - FLOPs, bytes and KV bytes per function ------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#include "tok/Transforms/CostModel.h"
#include "tok/Transforms/Passes.h"

#include "LayerFunctions.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

namespace mlir {
namespace tok {
#define GEN_PASS_DEF_TOKCOSTREPORTPASS
#include "tok/Transforms/Passes.h.inc"
} // namespace tok
} // namespace mlir

using namespace mlir;
using namespace mlir::tok;

namespace {

struct TokCostReportPass : tok::impl::TokCostReportPassBase<TokCostReportPass> {
  using Base::Base;

  void runOnOperation() override {
    if (dynamicSize <= 0) {
      getOperation()->emitError("tok-cost-report: dynamic-size must be "
                                "positive, got ")
          << static_cast<int64_t>(dynamicSize);
      return signalPassFailure();
    }
    getOperation().walk([&](func::FuncOp fn) {
      if (fn.isExternal())
        return;
      FunctionCost cost = computeFunctionCost(fn, dynamicSize);
      fn.emitRemark() << "tok-cost: flops " << cost.flops << ", bytes "
                      << cost.bytes << ", kv-bytes " << cost.kvBytes
                      << ", attention-flops " << cost.attentionFlops;
      if (!perLayer)
        return;
      for (auto [i, entry] :
           llvm::enumerate(computeCallCosts(fn, dynamicSize))) {
        if (!isLayerCall(entry.call))
          continue;
        const FunctionCost &c = entry.cost;
        entry.call.emitRemark()
            << "tok-cost layer " << getLayerIndex(entry.call, i) << " (@"
            << entry.callee << "): flops " << c.flops << ", bytes " << c.bytes
            << ", kv-bytes " << c.kvBytes << ", attention-flops "
            << c.attentionFlops;
      }
    });
  }
};

} // namespace
