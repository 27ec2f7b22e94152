//===- TokOps.cpp - tok dialect operations --------------------------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#include "tok/Dialect/Tok/IR/TokOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/TypeUtilities.h"

using namespace mlir;
using namespace mlir::tok;

//===----------------------------------------------------------------------===//
// RMSNormOp
//===----------------------------------------------------------------------===//

LogicalResult RMSNormOp::inferReturnTypes(
    MLIRContext *context, std::optional<Location> location, ValueRange operands,
    DictionaryAttr attributes, OpaqueProperties properties, RegionRange regions,
    SmallVectorImpl<Type> &inferredReturnTypes) {
  if (operands.empty())
    return failure();
  inferredReturnTypes.push_back(operands.front().getType());
  return success();
}

LogicalResult RMSNormOp::verify() {
  RankedTensorType inputType = getInput().getType();
  RankedTensorType weightType = getWeight().getType();
  if (inputType.getRank() < 1)
    return emitOpError("expects 'input' of rank >= 1, got rank 0");
  int64_t features = inputType.getShape().back();
  if (ShapedType::isDynamic(features))
    return emitOpError("expects a static last (feature) dimension of "
                       "'input', got ")
           << inputType;
  if (weightType.getRank() != 1)
    return emitOpError("expects 'weight' of rank 1, got rank ")
           << weightType.getRank();
  if (weightType.getDimSize(0) != features)
    return emitOpError("expects 'weight' of ")
           << features << " elements (the last dimension of 'input'), got "
           << weightType;
  if (!(getEpsilon().convertToFloat() > 0.0f))
    return emitOpError("expects a positive 'epsilon', got ")
           << getEpsilon().convertToFloat();
  return success();
}

#define GET_OP_CLASSES
#include "tok/Dialect/Tok/IR/TokOps.cpp.inc"
