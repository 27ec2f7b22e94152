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

//===----------------------------------------------------------------------===//
// The integer path: int8 activations, u8 x s8 dot products (VNNI)
//===----------------------------------------------------------------------===//

/// A token row of activations quantized per block of 32: codes
/// round(x / dx) in [-L, L] with dx = max|x| / L (0 for a zero block; L =
/// 127 for 8-bit codes, 32767 for 16-bit ones), and the exact f32 sums of x
/// per block (for the zero points and minimums of the weights).
struct QuantizedActivations {
  Value codes;  // tensor<T x K x i8 or i16>
  Value scales; // tensor<T x K/32 x f32>: dx
  Value sums32; // tensor<T x K/32 x f32>
};

/// Quantizes the rows of `x` (tensor<T x K x f32>, K a multiple of 32) to
/// `bits` (8 or 16) bit codes: dx = max|x| / (2^(bits-1) - 1).
QuantizedActivations emitQuantizeActivations(OpBuilder &b, Location loc,
                                             Value x, int64_t k, unsigned bits);

/// 32 consecutive weights of a block, for dot products with 32 int8
/// activations: sum_j w_j x_j = scale * sum_j codes_j * xq_j * dx
///                              - coef32 * sum(x).
struct Int8Piece {
  /// vector<32xi8>, unsigned codes (the first operand of vpdpbusd).
  Value codes;
  /// q8_0, i8_channel and q6_k: the signed codes (the 8-bit weights, q6_k's
  /// q - 32). For q6_k the activations take their signs and `codes` are
  /// their magnitudes; the 8-bit weights multiply them with 16-bit
  /// activations. Null otherwise.
  Value signOf;
  /// f32, or vector<8xf32> (q6_k: lanes 0-3 and 4-7 are the two groups of
  /// 16, as vpdpbusd sums 4 bytes a lane).
  Value scale;
  /// Offset in K of the first weight, from the block's first (a multiple
  /// of 32).
  int64_t k0;
  /// The coefficient of the sum of x over the piece (null: none).
  Value coef32;
};

/// Calls `body` for every 32-weight piece of the block at `base` of row
/// `row` of `w`. For q4_k, whose 8 pieces each subtract a minimum,
/// `blockMinimums` receives them as one vector<8xf32> (dmin m per piece,
/// to multiply with the 8 sums of x over the pieces) instead of each
/// piece's coef32.
void forEachInt8Piece(OpBuilder &b, Location loc, WeightQuantAttr quant,
                      Value w, Value row, Value base,
                      llvm::function_ref<void(const Int8Piece &)> body,
                      Value *blockMinimums = nullptr);

/// `acc` (vector<8xi32>) plus, per lane, the sum of 4 products of unsigned
/// `a` and signed `b` bytes (vector<32xi8>): vpdpbusd's semantics, as a
/// generic vector.contract (tok-x86-int8-dot selects the instruction).
Value emitDotU8S8(OpBuilder &b, Location loc, Value acc, Value a, Value b8);
/// `acc` (vector<16xi32>) plus, per lane, the sum of 2 products of signed
/// 16-bit integers of `a` and `b` (vector<32xi16>): vpdpwssd's semantics as
/// a generic vector.contract.
Value emitDotS16(OpBuilder &b, Location loc, Value acc, Value a, Value b16);
/// vpsignb's semantics: `a` negated where `sign` is negative, zero where it
/// is zero.
Value emitSignBytes(OpBuilder &b, Location loc, Value a, Value sign);

} // namespace mlir::tok

#endif // TOK_CONVERSION_TOKTOLINALG_QUANTBLOCKS_H
