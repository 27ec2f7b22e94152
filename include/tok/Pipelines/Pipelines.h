//===- Pipelines.h - named tok pass pipelines -------------------*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_PIPELINES_PIPELINES_H
#define TOK_PIPELINES_PIPELINES_H

#include "mlir/Pass/PassOptions.h"

#include <string>

namespace mlir {
class OpPassManager;

namespace tok {

/// Options of `tok-to-nvvm`.
/// Options of `tok-to-llvm` (and `tok-bufferize`).
struct TokToLLVMOptions : public PassPipelineOptions<TokToLLVMOptions> {
  PassOptions::Option<std::string> quantDot{
      *this, "quant-dot",
      llvm::cl::desc("How tok.linear multiplies #tok.quant weights for up "
                     "to 8 tokens (decode, verification): f32 "
                     "(weights widened), vnni (activations quantized: 16-bit "
                     "for q8_0, 8-bit for the others; integer dot products), "
                     "auto (vnni where the host has AVX512-VNNI, else f32)"),
      llvm::cl::init("auto")};
  PassOptions::Option<std::string> int8Dot{
      *this, "int8-dot",
      llvm::cl::desc("How the int8 dot products become instructions: vnni "
                     "(vpdpbusd), generic (any host), auto (vnni where the "
                     "host has it)"),
      llvm::cl::init("auto")};
  PassOptions::Option<std::string> bf16Dot{
      *this, "bf16-dot",
      llvm::cl::desc("How tok.linear multiplies bf16 weights, and tiles of "
                     "#tok.quant weights dequantized for it, for more than "
                     "8 tokens: widen (f32 weights), dot (activations "
                     "rounded to bf16, pair dot products), auto (dot where "
                     "the host has AVX512-BF16)"),
      llvm::cl::init("auto")};
  PassOptions::Option<std::string> attentionDot{
      *this, "attention-dot",
      llvm::cl::desc("Precision of attention prefill's products (16 query "
                     "rows or more): f32, bf16 (Q, K, P, V rounded to bf16, "
                     "pair dot products, f32 softmax), auto (bf16 where the "
                     "model's linear weights are bf16 and bf16-dot resolves "
                     "to dot)"),
      llvm::cl::init("auto")};
  PassOptions::Option<std::string> bf16Instruction{
      *this, "bf16-instruction",
      llvm::cl::desc("How the bf16 dot products become instructions: "
                     "avx512bf16 (vdpbf16ps), generic (any host), auto "
                     "(avx512bf16 where the host has it)"),
      llvm::cl::init("auto")};
};

struct TokToNVVMOptions : public PassPipelineOptions<TokToNVVMOptions> {
  PassOptions::Option<std::string> chip{
      *this, "chip", llvm::cl::desc("Target GPU (sm_80, sm_90, sm_90a, ...)"),
      llvm::cl::init("sm_80")};
  PassOptions::Option<std::string> features{
      *this, "features",
      llvm::cl::desc("PTX features (+ptx80: LLVM's default PTX version for "
                     "sm_80 is too old for what later stages use)"),
      llvm::cl::init("+ptx80")};
  PassOptions::Option<int> optLevel{
      *this, "opt-level", llvm::cl::desc("LLVM (and JIT) optimization level"),
      llvm::cl::init(3)};
  PassOptions::Option<std::string> format{
      *this, "format",
      llvm::cl::desc("What gpu-module-to-binary embeds: isa (PTX, JIT-"
                     "compiled by the driver; needs no CUDA toolkit), bin "
                     "(cubin, needs ptxas), fatbin, llvm"),
      llvm::cl::init("isa")};
  PassOptions::Option<int64_t> keyTile{
      *this, "key-tile",
      llvm::cl::desc("Keys per shared-memory tile of the attention kernel"),
      llvm::cl::init(32)};
  PassOptions::Option<bool> tensorCores{
      *this, "tensor-cores",
      llvm::cl::desc("Use the tensor-core attention kernel where it applies"),
      llvm::cl::init(true)};
  PassOptions::Option<bool> splitDecode{
      *this, "split-decode",
      llvm::cl::desc("Run single-query calls with the split-KV kernels"),
      llvm::cl::init(true)};
  PassOptions::Option<int64_t> mmaRowTiles{
      *this, "mma-row-tiles",
      llvm::cl::desc("16-row tiles per warp of the tensor-core kernel (1, 2)"),
      llvm::cl::init(2)};
  PassOptions::Option<int64_t> threads{
      *this, "threads",
      llvm::cl::desc("Threads per block of the attention kernel"),
      llvm::cl::init(128)};
};

/// Builds `tok-bufferize`: tok on tensors -> linalg -> one-shot
/// bufferization (function boundaries, identity layouts, caches in place) ->
/// buffer deallocation. Runs on a builtin.module.
void buildTokBufferizePipeline(OpPassManager &pm,
                               const TokToLLVMOptions &options = {});

/// Builds `tok-to-llvm`: `tok-bufferize`, then loops -> LLVM dialect, ready for
/// the ExecutionEngine or `tok-translate --mlir-to-llvmir`. Runs on a
/// builtin.module.
void buildTokToLLVMPipeline(OpPassManager &pm,
                            const TokToLLVMOptions &options = {});

/// Builds `tok-to-nvvm`: tok.attention -> GPU kernels (convert-tok-to-gpu),
/// the rest of the function as in `tok-to-llvm` on the host, the kernels to
/// NVVM and then PTX / cubin embedded in a gpu.binary, launches and copies
/// to calls of the mgpu* runtime ABI (lib/Runtime/CudaRuntime.cpp).
void buildTokToNVVMPipeline(OpPassManager &pm, const TokToNVVMOptions &options);

/// Registers every named tok pipeline with the global pass registry so that
/// `tok-opt --<name>` and `--pass-pipeline=...` know them.
void registerTokPipelines();

} // namespace tok
} // namespace mlir

#endif // TOK_PIPELINES_PIPELINES_H
