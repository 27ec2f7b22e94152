//===- VerifyUtils.cpp - helpers shared by the tok verifiers --------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#include "VerifyUtils.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "tok/Dialect/Tok/IR/TokTypes.h"

using namespace mlir;
using namespace mlir::tok;

static std::string dimString(int64_t d) {
  return ShapedType::isDynamic(d) ? "?" : std::to_string(d);
}

LogicalResult tok::verifyLength(Operation *op, StringRef name, Value operand,
                                int64_t expected, StringRef what) {
  auto type = cast<RankedTensorType>(operand.getType());
  int64_t actual = type.getDimSize(0);
  if (dimsCompatible(actual, expected))
    return success();
  return op->emitOpError("expects '")
         << name << "' of " << dimString(expected) << " elements (" << what
         << "), got " << type;
}

static bool isTokenVector(Type type) {
  auto tensor = dyn_cast<RankedTensorType>(type);
  return tensor && tensor.getRank() == 1 &&
         tensor.getElementType().isInteger(32);
}

LogicalResult tok::verifyStepFunction(Operation *op, FlatSymbolRefAttr step,
                                      TypeRange params, TypeRange caches,
                                      SymbolTableCollection &symbolTable,
                                      int64_t &vocab) {
  auto fn = symbolTable.lookupNearestSymbolFrom<func::FuncOp>(op, step);
  if (!fn)
    return op->emitOpError("step function ")
           << step << " does not name a func.func";
  FunctionType type = fn.getFunctionType();
  size_t numCaches = caches.size(), numParams = params.size();
  if (type.getNumInputs() != 2 + numParams + numCaches)
    return op->emitOpError("step function ")
           << step << " must take tokens, positions, " << numParams
           << " parameter(s) and " << numCaches << " cache(s), i.e. "
           << 2 + numParams + numCaches << " arguments, but takes "
           << type.getNumInputs();
  if (!isTokenVector(type.getInput(0)) || !isTokenVector(type.getInput(1)))
    return op->emitOpError("step function ")
           << step
           << " must take 1-D i32 tensors of tokens and positions first, got "
           << type.getInput(0) << " and " << type.getInput(1);
  if (type.getNumResults() != 1 + numCaches)
    return op->emitOpError("step function ")
           << step << " must return logits and " << numCaches
           << " cache(s), but returns " << type.getNumResults() << " values";
  auto logits = dyn_cast<RankedTensorType>(type.getResult(0));
  if (!logits || logits.getRank() != 2 || !logits.getElementType().isF32())
    return op->emitOpError("step function ")
           << step << " must return tokens x vocabulary f32 logits first, got "
           << type.getResult(0);
  for (auto [i, param] : llvm::enumerate(params)) {
    if (type.getInput(2 + i) != param)
      return op->emitOpError("step function ")
             << step << " argument #" << 2 + i << " is " << type.getInput(2 + i)
             << ", but parameter #" << i << " is " << param;
  }
  for (auto [i, cache] : llvm::enumerate(caches)) {
    size_t arg = 2 + numParams + i;
    if (type.getInput(arg) != cache)
      return op->emitOpError("step function ")
             << step << " argument #" << arg << " is " << type.getInput(arg)
             << ", but cache #" << i << " is " << cache;
    if (type.getResult(1 + i) != cache)
      return op->emitOpError("step function ")
             << step << " result #" << 1 + i << " is " << type.getResult(1 + i)
             << ", but cache #" << i << " is " << cache;
  }
  vocab = logits.getDimSize(1);
  return success();
}
