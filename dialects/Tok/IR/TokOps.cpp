//===- TokOps.cpp - tok dialect operations --------------------------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// The generated op definitions. Verifiers, folders and patterns live with
// their op family: ModelOps.cpp, AttentionOps.cpp, KVCacheOps.cpp,
// TokenOps.cpp, DecodingOps.cpp.
//
//===----------------------------------------------------------------------===//

#include "tok/Dialect/Tok/IR/TokOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/TypeUtilities.h"

using namespace mlir;
using namespace mlir::tok;

#define GET_OP_CLASSES
#include "tok/Dialect/Tok/IR/TokOps.cpp.inc"
