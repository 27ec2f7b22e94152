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

/// Builds `tok-bufferize`: tok on tensors -> linalg -> one-shot
/// bufferization (function boundaries, identity layouts, caches in place) ->
/// buffer deallocation. Runs on a builtin.module.
void buildTokBufferizePipeline(OpPassManager &pm);

/// Builds `tok-to-llvm`: `tok-bufferize`, then loops -> LLVM dialect, ready for
/// the ExecutionEngine or `tok-translate --mlir-to-llvmir`. Runs on a
/// builtin.module.
void buildTokToLLVMPipeline(OpPassManager &pm);

/// Registers every named tok pipeline with the global pass registry so that
/// `tok-opt --<name>` and `--pass-pipeline=...` know them.
void registerTokPipelines();

} // namespace tok
} // namespace mlir

#endif // TOK_PIPELINES_PIPELINES_H
