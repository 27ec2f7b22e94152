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

#define GEN_PASS_DECL
#include "tok/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "tok/Transforms/Passes.h.inc"

} // namespace tok
} // namespace mlir

#endif // TOK_TRANSFORMS_PASSES_H
