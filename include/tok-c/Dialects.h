/*===- tok-c/Dialects.h - C API of the tok dialects ---------------*- C -*-===*\
|*                                                                            *|
|* Part of the tok project.                                                   *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#ifndef TOK_C_DIALECTS_H
#define TOK_C_DIALECTS_H

#include "mlir-c/IR.h"
#include "mlir-c/Support.h"

#ifdef __cplusplus
extern "C" {
#endif

/// Handle of the `tok` dialect for mlirDialectHandleRegisterDialect and
/// mlirDialectHandleLoadDialect.
MLIR_DECLARE_CAPI_DIALECT_REGISTRATION(Tok, tok);

/// Registers every tok pass and named pipeline (e.g. "tok-to-llvm") with the
/// global registry, so that mlirParsePassPipeline can name them.
MLIR_CAPI_EXPORTED void tokRegisterAllPasses(void);

#ifdef __cplusplus
}
#endif

#endif /* TOK_C_DIALECTS_H */
