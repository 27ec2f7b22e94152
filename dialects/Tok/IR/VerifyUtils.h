//===- VerifyUtils.h - helpers shared by the tok verifiers ------*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// Private to dialects/Tok/IR.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_DIALECTS_TOK_IR_VERIFYUTILS_H
#define TOK_DIALECTS_TOK_IR_VERIFYUTILS_H

#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Operation.h"
#include "mlir/IR/SymbolTable.h"

namespace mlir {
namespace tok {

/// Whether two dimension sizes can describe the same tensor: equal, or at
/// least one of them dynamic.
inline bool dimsCompatible(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b;
}

/// Checks that the 1-D tensor `operand` (named `name`) has `expected`
/// elements, where both may be dynamic. `what` says where the count comes
/// from, e.g. "the query tokens".
LogicalResult verifyLength(Operation *op, StringRef name, Value operand,
                           int64_t expected, StringRef what);

/// Checks that `step` names a func.func usable as a model step function for
/// `params` and `caches`: (tensor<?xi32> tokens, tensor<?xi32> positions,
/// params..., caches...) -> (tensor<? x V x f32> logits, caches...). Returns
/// the vocabulary size V (possibly dynamic) through `vocab`.
LogicalResult verifyStepFunction(Operation *op, FlatSymbolRefAttr step,
                                 TypeRange params, TypeRange caches,
                                 SymbolTableCollection &symbolTable,
                                 int64_t &vocab);

} // namespace tok
} // namespace mlir

#endif // TOK_DIALECTS_TOK_IR_VERIFYUTILS_H
