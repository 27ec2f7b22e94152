//===- TokTypes.h - tok dialect types ---------------------------*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_DIALECT_TOK_IR_TOKTYPES_H
#define TOK_DIALECT_TOK_IR_TOKTYPES_H

#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Types.h"
#include "tok/Dialect/Tok/IR/TokAttrs.h"

#define GET_TYPEDEF_CLASSES
#include "tok/Dialect/Tok/IR/TokTypes.h.inc"

#endif // TOK_DIALECT_TOK_IR_TOKTYPES_H
