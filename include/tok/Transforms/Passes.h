//===- Passes.h - tok optimization and analysis passes ----------*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_TRANSFORMS_PASSES_H
#define TOK_TRANSFORMS_PASSES_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"

namespace mlir {
namespace tok {

/// On a function that runs tok.paged_attention (itself or through calls):
/// the window eviction (#tok.evict<window, ...>) tok-kv-evict applied to
/// the batch step. The host's scheduler follows it, releasing each
/// sequence's pages wholly outside its sinks and window (docs/serving.md).
inline constexpr llvm::StringLiteral kBatchEvictAttrName("tok.kv_window");

#define GEN_PASS_DECL
#include "tok/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "tok/Transforms/Passes.h.inc"

} // namespace tok
} // namespace mlir

#endif // TOK_TRANSFORMS_PASSES_H
