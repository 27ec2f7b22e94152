//===- TokAttrs.h - tok dialect enums and attributes ------------*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_DIALECT_TOK_IR_TOKATTRS_H
#define TOK_DIALECT_TOK_IR_TOKATTRS_H

#include "mlir/IR/Attributes.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectImplementation.h"

#include "tok/Dialect/Tok/IR/TokEnums.h.inc"

namespace mlir {
/// Parses a floating-point attribute parameter (`decay = 0.9`) of the
/// declarative attribute formats of tok, in double precision.
template <> struct FieldParser<llvm::APFloat> {
  static FailureOr<llvm::APFloat> parse(AsmParser &parser) {
    double value;
    if (parser.parseFloat(value))
      return failure();
    return llvm::APFloat(value);
  }
};
} // namespace mlir

#define GET_ATTRDEF_CLASSES
#include "tok/Dialect/Tok/IR/TokAttrs.h.inc"

#endif // TOK_DIALECT_TOK_IR_TOKATTRS_H
