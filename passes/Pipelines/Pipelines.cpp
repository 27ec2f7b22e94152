//===- Pipelines.cpp - named tok pass pipelines ---------------------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#include "tok/Pipelines/Pipelines.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"
#include "tok/Conversion/Passes.h"

using namespace mlir;

void tok::buildTokToLLVMPipeline(OpPassManager &pm) {
  pm.addPass(tok::createConvertTokToLinalgPass());
  pm.addPass(createCanonicalizerPass());
  // CSE before canonicalize so that self-copies are recognized as such after
  // bufferization (CPU_CODEGEN.md, pitfall 8).
  pm.addPass(createCSEPass());
  pm.addPass(bufferization::createEmptyTensorEliminationPass());

  bufferization::OneShotBufferizePassOptions bufferizeOptions;
  bufferizeOptions.bufferizeFunctionBoundaries = true;
  bufferizeOptions.functionBoundaryTypeConversion =
      bufferization::LayoutMapOption::IdentityLayoutMap;
  pm.addPass(bufferization::createOneShotBufferizePass(bufferizeOptions));
  bufferization::buildBufferDeallocationPipeline(pm);

  pm.addNestedPass<func::FuncOp>(createConvertLinalgToLoopsPass());
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  pm.addPass(createSCFToControlFlowPass());
  pm.addPass(createFinalizeMemRefToLLVMConversionPass());
  pm.addPass(createConvertToLLVMPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
}

void tok::registerTokPipelines() {
  PassPipelineRegistration<>(
      "tok-to-llvm",
      "Lower tok on tensors to the LLVM dialect: tok -> linalg, one-shot "
      "bufferization (function boundaries, identity layouts), loops, LLVM",
      [](OpPassManager &pm) { buildTokToLLVMPipeline(pm); });
}
