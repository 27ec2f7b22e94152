//===- QuantBlocks.h - GGML weight blocks read in IR ------------*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// Reads the block-quantized weights of a #tok.quant tensor once it is
// lowered to its bytes (`tensor<N x rowBytes x i8>`), at the tensor level
// (before bufferization). Two views of one layout (docs/quantization.md):
//
// - one weight at a time (emitDequantElement): the embedding's rows and
//   any scalar path;
// - 16 weights at a time (forEachLaneGroup): a block is cut into groups of
//   16 consecutive-in-K weights that share a multiplier, each given as
//   integer codes widened to f32 lanes, the multiplier (and, for q4_k, the
//   subtracted minimum), and the offset in K of its first weight. A dot
//   product with an activation row is then
//     sum over groups of  mult * (codes . x[k0 : k0 + 16]) - min * sum(x[..])
//   which the linear kernel accumulates in f32 lanes.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_CONVERSION_TOKTOLINALG_QUANTBLOCKS_H
#define TOK_CONVERSION_TOKTOLINALG_QUANTBLOCKS_H

#include "tok/Dialect/Tok/IR/TokAttrs.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/STLFunctionalExtras.h"

namespace mlir::tok {

/// The bytes type a #tok.quant weight lowers to: N x rowBytes x i8.
RankedTensorType getQuantStorageType(RankedTensorType weightType);

/// Weight (row, k) of the bytes tensor `w` as f32. `row` and `k` are index
/// values.
Value emitDequantElement(OpBuilder &b, Location loc, WeightQuantAttr quant,
                         Value w, Value row, Value k);

/// One group of 16 weights of a block.
struct LaneGroup {
  /// vector<16xf32>: the integer codes (minus their zero point).
  Value codes;
  /// f32 scalars: the weight is mult * code - min (min null: none).
  Value mult, min;
  /// Offset in K of the group's first weight, from the block's first.
  int64_t k0;
};

/// Calls `body` for every group of the block whose bytes start at `base`
/// (an index) in row `row` of `w`.
void forEachLaneGroup(OpBuilder &b, Location loc, WeightQuantAttr quant,
                      Value w, Value row, Value base,
                      llvm::function_ref<void(const LaneGroup &)> body);

} // namespace mlir::tok

#endif // TOK_CONVERSION_TOKTOLINALG_QUANTBLOCKS_H
