//===- TokenReduction.h - shared by token merging and pruning ---*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// tok-token-merge and tok-token-prune shrink the token dimension in the
// middle of each encoder block. Both find the same place (after the
// attention's residual add, and its LayerNorm in post-LN blocks, before the
// MLP), replace the residual stream there, restore one row per input token
// where the function returns token rows, and check that nothing in the
// shrunken region still takes its sizes from the original token count.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_PASSES_TRANSFORMS_TOKENREDUCTION_H
#define TOK_PASSES_TRANSFORMS_TOKENREDUCTION_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "tok/Dialect/Tok/IR/TokOps.h"

#include "llvm/ADT/SetVector.h"

namespace mlir {
namespace tok {

/// The encoder blocks of `fn`: its non-causal tok.attention ops in program
/// order (one block each).
SmallVector<AttentionOp> getEncoderAttentions(func::FuncOp fn);

/// The residual stream value after `attention`'s block half: the rank-2
/// `arith.addf` that adds the attention branch to a value computed without
/// it, or the norm that is that add's only user (post-LN). Errors at the
/// attention when there is none.
FailureOr<Value> findReductionPoint(AttentionOp attention);

/// [T, D]: `heads` ([H, T, D]) averaged over H (ToMe's metric).
Value buildMeanOverHeads(OpBuilder &b, Location loc, Value heads);

/// [T]: `scores` ([H, T]) summed over H.
Value buildSumOverHeads(OpBuilder &b, Location loc, Value scores);

/// Rewrites every use of `stream` that `keep` does not own into `reduced`.
void replaceStream(Value stream, Value reduced, Operation *keep);

/// Checks that every op computed from `roots` takes its index operands
/// (sizes) from values computed from them too, or from constants: an op
/// that sized itself by the original token count would read out of bounds.
LogicalResult verifyReducedRegion(func::FuncOp fn, ArrayRef<Value> roots,
                                  StringRef passName);

/// At every return of `fn`, replaces a rank-2 operand computed from
/// `roots` by `restore(builder, operand)`; errors on any other returned
/// value computed from them.
LogicalResult
restoreReturnedRows(func::FuncOp fn, ArrayRef<Value> roots, StringRef passName,
                    function_ref<Value(OpBuilder &, Value)> restore);

} // namespace tok
} // namespace mlir

#endif // TOK_PASSES_TRANSFORMS_TOKENREDUCTION_H
