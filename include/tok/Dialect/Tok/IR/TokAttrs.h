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
#include "mlir/IR/TensorEncoding.h"

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

namespace mlir {
namespace tok {
/// The block quantization of a weight tensor type (its #tok.quant
/// encoding), or null.
inline WeightQuantAttr getWeightQuant(Type type) {
  auto tensor = llvm::dyn_cast<RankedTensorType>(type);
  return tensor ? llvm::dyn_cast_or_null<WeightQuantAttr>(tensor.getEncoding())
                : WeightQuantAttr();
}
} // namespace tok
} // namespace mlir

#endif // TOK_DIALECT_TOK_IR_TOKATTRS_H
