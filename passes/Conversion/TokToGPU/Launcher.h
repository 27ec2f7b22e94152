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

namespace mlir {
namespace tok {

/// The kernel to launch (`@tok_kernels::@name`).
constexpr llvm::StringLiteral kLauncherKernelAttr = "tok.gpu_kernel";
/// Query rows per block: the grid is ceil(T / this) x Hq x 1.
constexpr llvm::StringLiteral kLauncherRowsAttr = "tok.gpu_rows_per_block";
/// Dynamic shared memory of the launch in bytes (absent: none).
constexpr llvm::StringLiteral kLauncherSharedAttr = "tok.gpu_dynamic_shared";

} // namespace tok
} // namespace mlir

#endif // TOK_PASSES_CONVERSION_TOKTOGPU_LAUNCHER_H
