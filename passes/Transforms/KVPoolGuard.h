//===- KVPoolGuard.h - passes that do not apply to a batch step -*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// Private to the KV-cache and token passes. A batch step (@batch_step:
// !tok.kv_pool, tok.kv_pool.write, tok.paged_attention) keeps the KV memory
// of many sequences in pages that the host's scheduler hands out; a pass
// that has no rule for that memory refuses such a module with an error
// naming itself and why, at the first paged op, instead of rewriting the
// single-sequence functions beside it and leaving the batch step as it was
// (docs/serving.md, "Passes on the batch step").
//
//===----------------------------------------------------------------------===//

#ifndef TOK_PASSES_TRANSFORMS_KVPOOLGUARD_H
#define TOK_PASSES_TRANSFORMS_KVPOOLGUARD_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "tok/Dialect/Tok/IR/TokOps.h"

namespace mlir {
namespace tok {

/// The first op of `module` over paged KV memory (a pool op or
/// tok.paged_attention), or null.
inline Operation *findPagedKVOp(ModuleOp module) {
  Operation *found = nullptr;
  module.walk([&](Operation *op) {
    if (isa<PagedAttentionOp, KVPoolWriteOp, KVPoolEmptyOp, KVPoolFromTensorsOp,
            KVPoolToTensorsOp>(op)) {
      found = op;
      return WalkResult::interrupt();
    }
    return WalkResult::advance();
  });
  return found;
}

/// Fails with "<pass>: <why>" at the first paged op of `module` if it has
/// one; succeeds otherwise.
inline LogicalResult refusePagedKV(ModuleOp module, StringRef pass,
                                   const Twine &why) {
  Operation *op = findPagedKVOp(module);
  if (!op)
    return success();
  op->emitError() << pass << ": the module has a batch step over paged KV "
                  << "memory (" << op->getName() << "); " << why;
  return failure();
}

} // namespace tok
} // namespace mlir

#endif // TOK_PASSES_TRANSFORMS_KVPOOLGUARD_H
