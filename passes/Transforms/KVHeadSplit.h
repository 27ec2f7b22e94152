//===- KVHeadSplit.h - split a layer's KV cache by head ---------*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// Private to tok-kv-evict: per-head budgets (RazorAttention / DuoAttention:
// retrieval heads keep everything, streaming heads keep sinks + a window).
//
//===----------------------------------------------------------------------===//

#ifndef TOK_PASSES_TRANSFORMS_KVHEADSPLIT_H
#define TOK_PASSES_TRANSFORMS_KVHEADSPLIT_H

#include "mlir/IR/BuiltinOps.h"
#include "tok/Dialect/Tok/IR/TokOps.h"

namespace mlir {
namespace tok {

/// Splits the KV cache `attention` reads into two caches, along its whole
/// thread (the step's signature, its callers, `tok.generate`, `scf.for`):
/// the KV heads with `keep[h]` (the original values, retyped) and the
/// others (new values, inserted right after each original in signatures
/// and operand lists). Appends write each part its heads' keys and values;
/// every attention over the thread becomes one attention per part, their
/// query-head groups gathered and their outputs put back in head order.
/// Returns the attention over the second part (`attention` is erased), or
/// failure with an error at an op the split cannot follow.
FailureOr<CachedAttentionOp> splitCacheHeads(ModuleOp module,
                                             CachedAttentionOp attention,
                                             ArrayRef<bool> keep);

} // namespace tok
} // namespace mlir

#endif // TOK_PASSES_TRANSFORMS_KVHEADSPLIT_H
