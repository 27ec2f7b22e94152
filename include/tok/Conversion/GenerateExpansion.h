//===- GenerateExpansion.h - pieces of tok.generate's expansion -*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// Shared by the plain decoding loop (convert-tok-to-linalg) and the
// speculative one (tok-speculative-decoding).
//
//===----------------------------------------------------------------------===//

#ifndef TOK_CONVERSION_GENERATEEXPANSION_H
#define TOK_CONVERSION_GENERATEEXPANSION_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "tok/Dialect/Tok/IR/TokOps.h"

namespace mlir {
namespace tok {

/// What the prefill of a tok.generate leaves behind.
struct GeneratePrefill {
  /// The prompt as tensor<?xi32>, and its length (index).
  Value prompt, promptLength;
  /// The first generated token (i32), sampled with counter 0.
  Value first;
  /// The caches after the prompt.
  SmallVector<Value> caches;
};

/// Emits at `b`'s insertion point the prefill of `op` through `step` (its
/// step function): a check that the prompt is not empty, one step call on
/// positions 0 .. P-1 (or chunks of `prefill_chunk`), and the first token.
GeneratePrefill emitGeneratePrefill(OpBuilder &b, GenerateOp op,
                                    func::FuncOp step);

} // namespace tok
} // namespace mlir

#endif // TOK_CONVERSION_GENERATEEXPANSION_H
