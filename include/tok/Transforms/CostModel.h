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

namespace mlir {
namespace tok {

struct FunctionCost {
  int64_t flops = 0, attentionFlops = 0, bytes = 0, kvBytes = 0;
};

/// The cost of `fn`, counting every dynamic dimension as `dynamicSize`.
FunctionCost computeFunctionCost(func::FuncOp fn, int64_t dynamicSize);

} // namespace tok
} // namespace mlir

#endif // TOK_TRANSFORMS_COSTMODEL_H
