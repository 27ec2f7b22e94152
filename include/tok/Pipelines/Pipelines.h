//===- Pipelines.h - named tok pass pipelines -------------------*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_PIPELINES_PIPELINES_H
#define TOK_PIPELINES_PIPELINES_H

namespace mlir {
class OpPassManager;

namespace tok {

/// Builds `tok-to-llvm`: tok on tensors -> linalg -> one-shot bufferization
/// -> loops -> LLVM dialect, ready for the ExecutionEngine or
/// `tok-translate --mlir-to-llvmir`. Runs on a builtin.module.
void buildTokToLLVMPipeline(OpPassManager &pm);

/// Registers every named tok pipeline with the global pass registry so that
/// `tok-opt --<name>` and `--pass-pipeline=...` know them.
void registerTokPipelines();

} // namespace tok
} // namespace mlir

#endif // TOK_PIPELINES_PIPELINES_H
