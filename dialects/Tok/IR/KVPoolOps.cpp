//===- KVPoolOps.cpp - paged KV memory of a batch -------------------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#include "VerifyUtils.h"
#include "tok/Dialect/Tok/IR/TokOps.h"

#include "mlir/IR/TypeUtilities.h"

using namespace mlir;
using namespace mlir::tok;

LogicalResult KVPoolWriteOp::verify() {
  KVPoolType pool = getPool().getType();
  for (auto [name, value] : {std::pair<StringRef, Value>{"keys", getKeys()},
                             {"values", getValues()}}) {
    auto type = cast<RankedTensorType>(value.getType());
    auto expected = pool.getSliceType(type.getDimSize(1));
    if (type.getElementType() != expected.getElementType() ||
        failed(verifyCompatibleShape(type, expected)))
      return emitOpError("expects '")
             << name << "' of type " << expected
             << " (the pool's KV heads x tokens x head dim), got " << type;
  }
  int64_t tokens = getKeys().getType().getDimSize(1);
  if (!dimsCompatible(tokens, getValues().getType().getDimSize(1)))
    return emitOpError("expects as many 'values' as 'keys', got ")
           << getKeys().getType() << " and " << getValues().getType();
  if (!ShapedType::isDynamic(tokens) && tokens > pool.getSlots())
    return emitOpError("writes ")
           << tokens << " tokens to a pool of " << pool.getSlots() << " slots";
  return verifyLength(*this, "slots", getSlots(), tokens,
                      "one per written token");
}

/// Checks that `keys` and `values` are the tensors of `pool`.
static LogicalResult verifyPoolTensors(Operation *op, KVPoolType pool,
                                       Type keys, Type values) {
  auto expected = pool.getSliceType(pool.getSlots());
  for (Type t : {keys, values})
    if (t != expected)
      return op->emitOpError("expects keys and values of type ")
             << expected << " (the pool's KV heads x slots x head dim), got "
             << t;
  return success();
}

LogicalResult KVPoolFromTensorsOp::verify() {
  return verifyPoolTensors(*this, getType(), getKeys().getType(),
                           getValues().getType());
}

LogicalResult KVPoolToTensorsOp::verify() {
  return verifyPoolTensors(*this, getPool().getType(), getKeys().getType(),
                           getValues().getType());
}
