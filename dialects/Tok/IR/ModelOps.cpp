//===- ModelOps.cpp - embed, rms_norm, rope, linear -----------------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#include "VerifyUtils.h"
#include "tok/Dialect/Tok/IR/TokOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/TypeUtilities.h"

#include <cmath>

using namespace mlir;
using namespace mlir::tok;

//===----------------------------------------------------------------------===//
// EmbedOp
//===----------------------------------------------------------------------===//

LogicalResult EmbedOp::inferReturnTypes(
    MLIRContext *context, std::optional<Location> location, ValueRange operands,
    DictionaryAttr attributes, OpaqueProperties properties, RegionRange regions,
    SmallVectorImpl<Type> &inferredReturnTypes) {
  if (operands.size() != 2)
    return failure();
  auto table = dyn_cast<RankedTensorType>(operands[0].getType());
  auto ids = dyn_cast<RankedTensorType>(operands[1].getType());
  if (!table || !ids || table.getRank() != 2 || ids.getRank() != 1)
    return emitOptionalError(location,
                             "expects a rank-2 'table' (vocabulary x model "
                             "dim) and rank-1 'ids', got ",
                             operands[0].getType(), " and ",
                             operands[1].getType());
  inferredReturnTypes.push_back(RankedTensorType::get(
      {ids.getDimSize(0), table.getDimSize(1)}, table.getElementType()));
  return success();
}

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

//===----------------------------------------------------------------------===//
// LayerNormOp
//===----------------------------------------------------------------------===//

LogicalResult LayerNormOp::inferReturnTypes(
    MLIRContext *context, std::optional<Location> location, ValueRange operands,
    DictionaryAttr attributes, OpaqueProperties properties, RegionRange regions,
    SmallVectorImpl<Type> &inferredReturnTypes) {
  if (operands.empty())
    return failure();
  inferredReturnTypes.push_back(operands.front().getType());
  return success();
}

LogicalResult LayerNormOp::verify() {
  RankedTensorType inputType = getInput().getType();
  if (inputType.getRank() < 1)
    return emitOpError("expects 'input' of rank >= 1, got rank 0");
  int64_t features = inputType.getShape().back();
  if (ShapedType::isDynamic(features))
    return emitOpError("expects a static last (feature) dimension of "
                       "'input', got ")
           << inputType;
  for (auto [name, type] :
       {std::pair<StringRef, RankedTensorType>{"weight", getWeight().getType()},
        {"bias", getBias().getType()}}) {
    if (type.getRank() != 1 || type.getDimSize(0) != features)
      return emitOpError("expects '")
             << name << "' of " << features
             << " elements (the last dimension of 'input'), got " << type;
  }
  if (!(getEpsilon().convertToFloat() > 0.0f))
    return emitOpError("expects a positive 'epsilon', got ")
           << getEpsilon().convertToFloat();
  return success();
}

//===----------------------------------------------------------------------===//
// RopeOp
//===----------------------------------------------------------------------===//

LogicalResult
RopeOp::inferReturnTypes(MLIRContext *context, std::optional<Location> location,
                         ValueRange operands, DictionaryAttr attributes,
                         OpaqueProperties properties, RegionRange regions,
                         SmallVectorImpl<Type> &inferredReturnTypes) {
  if (operands.empty())
    return failure();
  inferredReturnTypes.push_back(operands.front().getType());
  return success();
}

LogicalResult RopeOp::verify() {
  RankedTensorType type = getInput().getType();
  int64_t headDim = type.getDimSize(2);
  if (!ShapedType::isDynamic(headDim) && headDim % 2 != 0)
    return emitOpError("expects an even head dimension to rotate in pairs, "
                       "got ")
           << headDim;
  if (failed(verifyLength(*this, "positions", getPositions(),
                          type.getDimSize(1), "one per token of 'input'")))
    return failure();
  if (!(getTheta().convertToFloat() > 0.0f))
    return emitOpError("expects a positive 'theta', got ")
           << getTheta().convertToFloat();
  if (!(getScale().convertToFloat() > 0.0f))
    return emitOpError("expects a positive position 'scale', got ")
           << getScale().convertToFloat();
  if (std::optional<ArrayRef<float>> freqs = getFrequencies()) {
    if (!ShapedType::isDynamic(headDim) &&
        static_cast<int64_t>(freqs->size()) != headDim / 2)
      return emitOpError("expects 'frequencies' to hold one value per pair "
                         "of the head dimension (")
             << headDim / 2 << "), got " << freqs->size();
    for (auto [i, f] : llvm::enumerate(*freqs))
      if (!(f > 0.0f) || !std::isfinite(f))
        return emitOpError("expects positive finite 'frequencies', got ")
               << f << " at " << i;
  }
  return success();
}

//===----------------------------------------------------------------------===//
// LinearOp
//===----------------------------------------------------------------------===//

LogicalResult LinearOp::inferReturnTypes(
    MLIRContext *context, std::optional<Location> location, ValueRange operands,
    DictionaryAttr attributes, OpaqueProperties properties, RegionRange regions,
    SmallVectorImpl<Type> &inferredReturnTypes) {
  if (operands.size() < 2)
    return failure();
  auto input = dyn_cast<RankedTensorType>(operands[0].getType());
  auto weight = dyn_cast<RankedTensorType>(operands[1].getType());
  if (!input || !weight || input.getRank() < 1 || weight.getRank() != 2)
    return emitOptionalError(location,
                             "expects 'input' of rank >= 1 and a rank-2 "
                             "'weight'");
  SmallVector<int64_t> shape(input.getShape());
  shape.back() = weight.getDimSize(0);
  inferredReturnTypes.push_back(
      RankedTensorType::get(shape, input.getElementType()));
  return success();
}

LogicalResult LinearOp::verify() {
  RankedTensorType input = getInput().getType();
  RankedTensorType weight = getWeight().getType();
  if (!dimsCompatible(input.getShape().back(), weight.getDimSize(1)))
    return emitOpError("expects 'weight' of N x ")
           << input.getShape().back()
           << " (the last dimension of 'input'), got " << weight;
  if (getWeightQuant(weight) && !input.getElementType().isF32())
    return emitOpError("expects f32 'input' with a #tok.quant 'weight', got ")
           << input;
  if (Value bias = getBias()) {
    auto biasType = cast<RankedTensorType>(bias.getType());
    if (biasType.getElementType() != input.getElementType())
      return emitOpError("expects 'bias' of element type ")
             << input.getElementType() << ", got " << biasType;
    if (failed(verifyLength(*this, "bias", bias, weight.getDimSize(0),
                            "the output features of 'weight'")))
      return failure();
  }
  return success();
}
