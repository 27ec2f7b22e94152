//===- GenerateExpansion.h - tok.generate as a decoding loop ----*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// A tok-to-tok rewrite shared by the lowering (convert-tok-to-linalg
// expands every tok.generate into a decoding loop) and a transform
// (tok-speculative-decoding builds its rounds on the same prefill), so it
// lives with the dialect: transforms do not depend on conversions.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_DIALECT_TOK_UTILS_GENERATEEXPANSION_H
#define TOK_DIALECT_TOK_UTILS_GENERATEEXPANSION_H

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

/// An i1: whether `token` (i32) is one of `op`'s eos tokens (false
/// without any).
Value emitIsEos(OpBuilder &b, Location loc, GenerateOp op, Value token);

/// Replaces every tok.generate under `root` by a prefill call of its step
/// function and an scf.while decode loop (still on tok caches and
/// tok.sample, for the conversion to lower).
LogicalResult expandGenerateOps(Operation *root);

} // namespace tok
} // namespace mlir

#endif // TOK_DIALECT_TOK_UTILS_GENERATEEXPANSION_H
