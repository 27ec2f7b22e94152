//===- LinearKernel.h - the register-tiled tok.linear kernel ----*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// The threaded, register-tiled kernel behind tok.linear with f32
// activations (LinearToVector.cpp describes it). The weights reach it as
// panels: for each block of rows of W and range of K the kernel asks for a
// tensor holding those rows, which is W itself for plain weights and a
// small bf16 / f32 tile dequantized once per token block for #tok.quant
// weights (QuantLinearToVector.cpp), so quantized prefill runs on the same
// tiles as bf16 prefill.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_CONVERSION_TOKTOLINALG_LINEARKERNEL_H
#define TOK_CONVERSION_TOKTOLINALG_LINEARKERNEL_H

#include "mlir/IR/Builders.h"
#include "llvm/ADT/STLFunctionalExtras.h"

namespace mlir::tok {

/// Rows [row0, row0 + rows) of W over K [kBegin, kEnd) as a 2-D tensor
/// `rows` in which W[row0 + r, kk] is at (rowBase + r, kk - kBase).
struct WeightPanel {
  Value rows, rowBase, kBase;
};

/// Produces the panel of rows [row0, row0 + count) over K [kBegin, kEnd)
/// (count is 4 or 1; kEnd - kBegin at most the kernel's K block).
using WeightPanelFn = llvm::function_ref<WeightPanel(
    OpBuilder &, Value row0, int64_t count, Value kBegin, Value kEnd)>;

struct LinearKernel {
  /// tensor<T x K x f32> and T.
  Value x, tokens;
  int64_t n = 0, k = 0;
  /// tensor<N x f32> or null.
  Value bias;
  /// Element type of the panels (f32, f16 or bf16).
  Type panelElem;
  /// Token and K blocks (prefill) rather than one pass over W (decode).
  bool blocked = false;
  /// bf16 dot products (panels of bf16, x rounded to bf16 once per call):
  /// K a multiple of 32, blocked only.
  bool dot = false;
  WeightPanelFn panel;
};

/// Rows of W the kernel takes per register tile, and its K block with
/// bf16 dot products and without (a panel spans at most that much of K).
inline constexpr int64_t kLinearTileRows = 4;
inline constexpr int64_t kLinearBlockK = 256;
inline constexpr int64_t kLinearBlockKBf16 = 1024;
/// Up to this many tokens the unblocked kernel (one pass over W) runs.
inline constexpr int64_t kLinearSmallTokens = 8;

/// y = x W^T (+ bias): tensor<? x N x f32>.
Value emitLinearKernel(OpBuilder &b, Location loc, const LinearKernel &spec);

} // namespace mlir::tok

#endif // TOK_CONVERSION_TOKTOLINALG_LINEARKERNEL_H
