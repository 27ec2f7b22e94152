//===- Launcher.h - the contract between the two TokToGPU passes -*- C++
//-*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// convert-tok-to-gpu declares one private host function per kernel (a
// "launcher": query, key, value and output buffers, no results) and calls
// it; convert-tok-gpu-launchers gives it its body once buffers exist. These
// attributes on the declaration carry what the body needs.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_PASSES_CONVERSION_TOKTOGPU_LAUNCHER_H
#define TOK_PASSES_CONVERSION_TOKTOGPU_LAUNCHER_H

#include "llvm/ADT/StringRef.h"

#include <cstdint>

namespace mlir {
namespace tok {

/// The kernel to launch (`@tok_kernels::@name`).
constexpr llvm::StringLiteral kLauncherKernelAttr = "tok.gpu_kernel";
/// Query rows per block: the grid is ceil(T / this) x Hq x 1.
constexpr llvm::StringLiteral kLauncherRowsAttr = "tok.gpu_rows_per_block";
/// The split-KV decode kernels (partial, combine) run instead when T = 1
/// (absent: never).
constexpr llvm::StringLiteral kLauncherDecodeAttr = "tok.gpu_decode_kernel";
constexpr llvm::StringLiteral kLauncherCombineAttr = "tok.gpu_combine_kernel";
/// Threads per block of the decode partial kernel (4 warps).
constexpr int64_t kDecodePartialThreads = 128;
/// Dynamic shared memory of the launch in bytes (absent: none).
constexpr llvm::StringLiteral kLauncherSharedAttr = "tok.gpu_dynamic_shared";

} // namespace tok
} // namespace mlir

#endif // TOK_PASSES_CONVERSION_TOKTOGPU_LAUNCHER_H
