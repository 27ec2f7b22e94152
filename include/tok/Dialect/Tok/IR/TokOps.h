//===- TokOps.h - tok dialect operations ------------------------*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_DIALECT_TOK_IR_TOKOPS_H
#define TOK_DIALECT_TOK_IR_TOKOPS_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "tok/Dialect/Tok/IR/TokAttrs.h"
#include "tok/Dialect/Tok/IR/TokDialect.h"
#include "tok/Dialect/Tok/IR/TokTypes.h"

#define GET_OP_CLASSES
#include "tok/Dialect/Tok/IR/TokOps.h.inc"

#endif // TOK_DIALECT_TOK_IR_TOKOPS_H
