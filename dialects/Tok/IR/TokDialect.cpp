//===- TokDialect.cpp - tok dialect ---------------------------------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#include "tok/Dialect/Tok/IR/TokDialect.h"
#include "tok/Dialect/Tok/IR/TokOps.h"

using namespace mlir;
using namespace mlir::tok;

#include "tok/Dialect/Tok/IR/TokDialect.cpp.inc"

void TokDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "tok/Dialect/Tok/IR/TokOps.cpp.inc"
      >();
}
