//===- CostModel.h - FLOPs, bytes and KV bytes of tok functions -*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// The static cost of a function's tok ops, as tok-cost-report prints it
// (see that pass's description for what each figure counts).
//
//===----------------------------------------------------------------------===//

#ifndef TOK_TRANSFORMS_COSTMODEL_H
#define TOK_TRANSFORMS_COSTMODEL_H

#include "mlir/Dialect/Func/IR/FuncOps.h"

#include <cstdint>
#include <string>
#include <vector>

namespace mlir {
namespace tok {

struct FunctionCost {
  int64_t flops = 0, attentionFlops = 0, bytes = 0, kvBytes = 0;
};

/// The cost of `fn`, counting every dynamic dimension as `dynamicSize`.
/// The cost of one call of `fn` with dynamic dimensions of `dynamicSize`:
/// its ops and, once per call, those of the functions it calls (a step's
/// layer functions). kvBytes counts the caches `fn` takes and creates.
FunctionCost computeFunctionCost(func::FuncOp fn, int64_t dynamicSize);

/// One call in a function's body and the cost of one run of its callee
/// (kvBytes: the caches the callee takes).
struct CallCost {
  func::CallOp call;
  std::string callee;
  FunctionCost cost;
};

/// The calls directly in `fn`'s body (a step's layers), in order, with
/// their costs.
std::vector<CallCost> computeCallCosts(func::FuncOp fn, int64_t dynamicSize);

} // namespace tok
} // namespace mlir

#endif // TOK_TRANSFORMS_COSTMODEL_H
