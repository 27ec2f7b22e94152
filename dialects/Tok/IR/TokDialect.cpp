//===- TokDialect.cpp - tok dialect ---------------------------------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#include "tok/Dialect/Tok/IR/TokDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "tok/Dialect/Tok/IR/TokAttrs.h"
#include "tok/Dialect/Tok/IR/TokOps.h"
#include "tok/Dialect/Tok/IR/TokTypes.h"

using namespace mlir;
using namespace mlir::tok;

#include "tok/Dialect/Tok/IR/TokDialect.cpp.inc"

void TokDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "tok/Dialect/Tok/IR/TokOps.cpp.inc"
      >();
  registerTypes();
  registerAttributes();
}

Operation *TokDialect::materializeConstant(OpBuilder &builder, Attribute value,
                                           Type type, Location loc) {
  return arith::ConstantOp::materialize(builder, value, type, loc);
}
