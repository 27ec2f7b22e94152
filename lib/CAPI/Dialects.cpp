//===- Dialects.cpp - C API of the tok dialects ---------------------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#include "tok-c/Dialects.h"

#include "mlir/CAPI/Registration.h"
#include "tok/Dialect/Tok/IR/TokDialect.h"
#include "tok/InitAllTok.h"

MLIR_DEFINE_CAPI_DIALECT_REGISTRATION(Tok, tok, mlir::tok::TokDialect)

void tokRegisterAllPasses(void) { mlir::tok::registerAllTokPasses(); }
