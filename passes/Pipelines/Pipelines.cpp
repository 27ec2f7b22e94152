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
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Dialect/SCF/Transforms/Passes.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"
#include "tok/Conversion/Passes.h"
#include "tok/Transforms/Passes.h"

using namespace mlir;

void tok::buildTokBufferizePipeline(OpPassManager &pm,
                                    const TokToLLVMOptions &options) {
  tok::ConvertTokToLinalgPassOptions linalgOptions;
  linalgOptions.quantDot = options.quantDot;
  linalgOptions.bf16Dot = options.bf16Dot;
  linalgOptions.attentionDot = options.attentionDot;
  pm.addPass(tok::createConvertTokToLinalgPass(linalgOptions));
  // Step functions into the decoding loops that call them (their calls pass
  // every weight and cache; layers stay calls).
  pm.addPass(tok::createTokInlineStepsPass());
  // Elementwise arith/math on tensors (e.g. in model glue code) as linalg.
  pm.addPass(createConvertElementwiseToLinalgPass());
  pm.addPass(createCanonicalizerPass());
  // CSE before canonicalize so that self-copies are recognized as such after
  // bufferization (docs/algorithms.md, "CSE before canonicalize").
  pm.addPass(createCSEPass());
  pm.addPass(bufferization::createEmptyTensorEliminationPass());

  bufferization::OneShotBufferizePassOptions bufferizeOptions;
  bufferizeOptions.bufferizeFunctionBoundaries = true;
  bufferizeOptions.functionBoundaryTypeConversion =
      bufferization::LayoutMapOption::IdentityLayoutMap;
  // Score-ranked eviction (h2o, a2sf, ...) rebuilds the scores tensor of a
  // cache each step; a generation loop then yields a new buffer for it
  // instead of the one it received. Keys, values and positions stay in
  // place (test/Pipelines/kv-in-place.mlir).
  bufferizeOptions.allowReturnAllocsFromLoops = true;
  pm.addPass(bufferization::createOneShotBufferizePass(bufferizeOptions));
  // Loops that update a cache in place (window eviction) yield their memref
  // iter_args; canonicalization forwards their results to the inputs, so
  // that the next pass sees the argument buffers returned.
  pm.addPass(createCanonicalizerPass());
  // A cache updated in place comes back as the argument buffer; returning it
  // as well would make buffer deallocation clone the whole cache.
  pm.addPass(bufferization::createDropEquivalentBufferResultsPass());
  // Fold the self-copies of in-place cache updates.
  pm.addPass(createCSEPass());
  pm.addPass(createCanonicalizerPass());
  bufferization::buildBufferDeallocationPipeline(pm);
}

/// The host half of tok-to-llvm, after bufferization: loops, OpenMP,
/// vectors and memrefs to LLVM. With `gpu`, the launches and device buffers
/// become mgpu* runtime calls first.
static void buildHostToLLVMPipeline(OpPassManager &pm, bool gpu,
                                    StringRef int8Dot = "auto",
                                    StringRef bf16Instruction = "auto") {
  // vpdpbusd for the quantized kernels' byte dot products (after
  // deallocation, which refuses the intrinsic's unknown memory effects).
  tok::TokX86Int8DotPassOptions dotOptions;
  dotOptions.mode = int8Dot.str();
  pm.addPass(tok::createTokX86Int8DotPass(dotOptions));
  // vdpbf16ps for the bf16 linear kernel's pair dot products.
  tok::TokX86Bf16DotPassOptions bf16Options;
  bf16Options.mode = bf16Instruction.str();
  pm.addPass(tok::createTokX86Bf16DotPass(bf16Options));
  // One function per distinct kernel loop, instead of one copy per layer:
  // LLVM's time grows with the code it is given.
  if (!gpu)
    pm.addPass(tok::createTokOutlineKernelsPass());
  // bufferization.clone (ownership transfer of returned buffers) -> alloc +
  // copy.
  pm.addPass(createConvertBufferizationToMemRefPass());
  // scf.forall (attention over KV heads) -> scf.parallel -> OpenMP. A
  // forall left for scf-to-cf would silently run serially.
  pm.addPass(createForallToParallelLoopPass());
  pm.addPass(createConvertSCFToOpenMPPass());

  pm.addNestedPass<func::FuncOp>(createConvertLinalgToLoopsPass());
  // exp (the attention kernels' softmax) as 16-lane arithmetic.
  pm.addPass(tok::createTokApproximateMathPass());
  // 1-D in-bounds transfers (the vectorized kernels) -> vector.load, and
  // vector ops -> LLVM, with horizontal sums reassociated into trees.
  ConvertVectorToLLVMPassOptions vectorOptions;
  vectorOptions.reassociateFPReductions = true;
  pm.addPass(createConvertVectorToLLVMPass(vectorOptions));
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  // memref before scf: the OpenMP loop bodies sit in memref.alloca_scope,
  // which must be lowered while its region is still a single block.
  if (gpu)
    pm.addPass(createGpuToLLVMConversionPass());
  // Heap buffers through MLIR's generic allocation functions, which tok's
  // runtime implements over a cache of freed blocks
  // (lib/Runtime/BufferCache.cpp: re-faulting the pages of every freed
  // activation cost a fifth of an encoder forward).
  FinalizeMemRefToLLVMConversionPassOptions memrefOptions;
  memrefOptions.useGenericFunctions = true;
  pm.addPass(createFinalizeMemRefToLLVMConversionPass(memrefOptions));
  pm.addPass(createSCFToControlFlowPass());
  pm.addPass(createConvertToLLVMPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
}

void tok::buildTokToLLVMPipeline(OpPassManager &pm,
                                 const TokToLLVMOptions &options) {
  buildTokBufferizePipeline(pm, options);
  buildHostToLLVMPipeline(pm, /*gpu=*/false, options.int8Dot,
                          options.bf16Instruction);
}

void tok::buildTokToNVVMPipeline(OpPassManager &pm,
                                 const TokToNVVMOptions &options) {
  ConvertTokToGPUPassOptions gpuOptions;
  gpuOptions.keyTile = options.keyTile;
  gpuOptions.threads = options.threads;
  gpuOptions.tensorCores = options.tensorCores;
  gpuOptions.mmaRowTiles = options.mmaRowTiles;
  gpuOptions.splitDecode = options.splitDecode;
  // The opt-in shared memory per block of the target (CUDA programming
  // guide, compute capabilities table).
  StringRef chip = options.chip.getValue();
  if (chip.starts_with("sm_90") || chip.starts_with("sm_100"))
    gpuOptions.maxSharedMemory = 232448;
  else if (chip == "sm_80" || chip == "sm_87")
    gpuOptions.maxSharedMemory = 166912;
  else
    gpuOptions.maxSharedMemory = 101376;
  pm.addPass(createConvertTokToGPUPass(gpuOptions));
  buildTokBufferizePipeline(pm);
  pm.addPass(createConvertTokGPULaunchersPass());

  // The kernels first, so that the host conversions below never see a
  // memref or scf op of a kernel.
  GpuNVVMAttachTargetOptions target;
  target.chip = options.chip;
  target.features = options.features;
  target.optLevel = options.optLevel;
  pm.addPass(createGpuNVVMAttachTarget(target));
  OpPassManager &kernels = pm.nest<gpu::GPUModuleOp>();
  // nvgpu (ldmatrix, cp.async) first: convert-gpu-to-nvvm does not know it.
  kernels.addPass(createConvertNVGPUToNVVMPass());
  kernels.addPass(createLowerAffinePass());
  kernels.addPass(createSCFToControlFlowPass());
  kernels.addPass(createConvertGpuOpsToNVVMOps());
  kernels.addPass(createCanonicalizerPass());
  kernels.addPass(createCSEPass());
  kernels.addPass(createReconcileUnrealizedCastsPass());

  buildHostToLLVMPipeline(pm, /*gpu=*/true);

  GpuModuleToBinaryPassOptions binary;
  binary.compilationTarget = options.format;
  pm.addPass(createGpuModuleToBinaryPass(binary));
}

void tok::registerTokPipelines() {
  PassPipelineRegistration<TokToNVVMOptions>(
      "tok-to-nvvm",
      "Lower tok on tensors for NVIDIA GPUs: tok.attention -> GPU kernels "
      "(NVVM, then PTX or cubin in a gpu.binary), the rest of each function "
      "on the host as in tok-to-llvm, launches and copies as mgpu* runtime "
      "calls",
      [](OpPassManager &pm, const TokToNVVMOptions &options) {
        buildTokToNVVMPipeline(pm, options);
      });
  PassPipelineRegistration<TokToLLVMOptions>(
      "tok-bufferize",
      "Lower tok on tensors to bufferized linalg/scf on memrefs: tok -> "
      "linalg, one-shot bufferization with caches updated in place, buffer "
      "deallocation (the first half of tok-to-llvm)",
      [](OpPassManager &pm, const TokToLLVMOptions &options) {
        buildTokBufferizePipeline(pm, options);
      });
  PassPipelineRegistration<TokToLLVMOptions>(
      "tok-to-llvm",
      "Lower tok on tensors to the LLVM dialect: tok -> linalg, one-shot "
      "bufferization (function boundaries, identity layouts), loops, LLVM",
      [](OpPassManager &pm, const TokToLLVMOptions &options) {
        buildTokToLLVMPipeline(pm, options);
      });
}
