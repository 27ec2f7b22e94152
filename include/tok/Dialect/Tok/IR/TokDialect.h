//===- TokDialect.h - tok dialect -------------------------------*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_DIALECT_TOK_IR_TOKDIALECT_H
#define TOK_DIALECT_TOK_IR_TOKDIALECT_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Dialect.h"

#include "tok/Dialect/Tok/IR/TokDialect.h.inc"

#endif // TOK_DIALECT_TOK_IR_TOKDIALECT_H
