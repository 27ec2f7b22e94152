//===- AttentionVectorEmitter.h - vectorized attention kernels -*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// The emitter of the f32 attention kernels (AttentionToVector.cpp has the
// design): one class, its methods in three files, by kernel:
//
//   AttentionToVector.cpp         shared parts (row loads, dequantization,
//                                 masks, online softmax steps, output rows,
//                                 received-score weights, log sizes) and
//                                 emit(): the scf.forall over KV heads
//   AttentionToVectorPrefill.cpp  K^T packing and the 12-row block kernel
//   AttentionToVectorDecode.cpp   the per-row kernel: key dot products,
//                                 quantized-key folding, Quest page
//                                 selection, received-score accumulation
//
// Private to TokToLinalg.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_CONVERSION_TOKTOLINALG_ATTENTIONVECTOREMITTER_H
#define TOK_CONVERSION_TOKTOLINALG_ATTENTIONVECTOREMITTER_H

#include "AttentionEmitter.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

namespace mlir::tok::vector_attention {

constexpr int64_t kLanes = 16;
/// Query rows per prefill block (12 x 2 accumulators + 2 panel vectors + a
/// broadcast fill the 32 zmm registers; measured 10% faster than 8 at
/// S = 2048, D = 128); keys per K^T panel (two vectors, the width of one
/// Q K^T register tile); panels per key tile (2 measured 12% slower than 1:
/// its K^T and V tiles no longer fit the 48 KiB L1 together).
constexpr int64_t kRows = 12;
constexpr int64_t kKeys = 2 * kLanes;
constexpr int64_t kTilePanels = 1;
constexpr int64_t kTileKeys = kTilePanels * kKeys;
/// Largest value head dim (decode keeps Dv / 16 accumulators in registers).
constexpr int64_t kMaxValueDim = 256;

class VectorAttentionEmitter {
public:
  VectorAttentionEmitter(OpBuilder &b, Location loc, const AttentionInputs &in,
                         int64_t prefillRows, bool bf16Prefill)
      : b(b), loc(loc), in(in), mask(in.mask), prefillRows(prefillRows),
        bf16Prefill(bf16Prefill) {
    f32 = b.getF32Type();
    i32 = b.getI32Type();
    vec = VectorType::get({kLanes}, f32);
    ivec = VectorType::get({kLanes}, i32);
    pairVec = VectorType::get({2 * kLanes}, b.getBF16Type());
    depth = cast<RankedTensorType>(in.query.getType()).getDimSize(2);
    valueDepth = cast<RankedTensorType>(in.value.getType()).getDimSize(2);
    MLIRContext *ctx = b.getContext();
    reassoc = arith::FastMathFlagsAttr::get(ctx, arith::FastMathFlags::reassoc);
    noNaN = arith::FastMathFlagsAttr::get(ctx, arith::FastMathFlags::nnan |
                                                   arith::FastMathFlags::nsz);
  }

  SmallVector<Value> emit();

private:
  Value index(OpBuilder &ob, int64_t v) {
    return arith::ConstantIndexOp::create(ob, loc, v);
  }
  Value f32Const(OpBuilder &ob, double v) {
    return arith::ConstantOp::create(ob, loc, ob.getF32FloatAttr(v));
  }
  Value i32Const(OpBuilder &ob, int64_t v) {
    return arith::ConstantOp::create(ob, loc, ob.getI32IntegerAttr(v));
  }
  Value splat(OpBuilder &ob, Value scalar) {
    return vector::BroadcastOp::create(
        ob, loc, VectorType::get({kLanes}, scalar.getType()), scalar);
  }
  Value toI32(OpBuilder &ob, Value indexValue) {
    return arith::IndexCastOp::create(ob, loc, i32, indexValue);
  }
  Value minIndex(OpBuilder &ob, Value a, Value c) {
    return arith::MinSIOp::create(ob, loc, a, c);
  }
  /// 16 f32 lanes of a rank-3 tensor row: t[i0, i1, i2 : i2 + 16].
  Value readRow(OpBuilder &ob, Value tensor, Value i0, Value i1, Value i2) {
    return vector::TransferReadOp::create(
        ob, loc, vec, tensor, ValueRange{i0, i1, i2}, f32Const(ob, 0.0),
        ArrayRef<bool>{true});
  }
  /// Chunks [c0, c0 + n) (16 lanes each) of key or value slot `slot`: read
  /// from the key / value tensor, or for a quantized cache dequantized from
  /// its codes (slots before `quantized`) or read from its tail.
  SmallVector<Value> loadRow(OpBuilder &ob, bool ofKeys, Value kvHead,
                             Value slot, int64_t c0, int64_t n);
  /// The values of slot `slot` by where it lives: `codes` builds them for a
  /// slot of a quantized cache's code prefix, `tail` for a full-precision
  /// row (the key / value tensor's, or the quantized cache's tail row, as
  /// its argument); an scf.if between the two for a quantized cache.
  SmallVector<Value>
  bySlotKind(OpBuilder &ob, Value slot,
             function_ref<SmallVector<Value>(OpBuilder &)> codes,
             function_ref<SmallVector<Value>(OpBuilder &, Value)> tail);
  /// 16 lanes, channels [d0, d0 + 16), of quantized slot `slot`.
  Value dequantChunk(OpBuilder &ob, bool ofKeys, Value kvHead, Value slot,
                     int64_t d0);
  /// The codes (as f32) of those lanes.
  Value codeChunk(OpBuilder &ob, bool ofKeys, Value kvHead, Value slot,
                  int64_t d0);
  /// q . k of key slot `slot` for the (scaled) query chunks `q`. For a
  /// quantized slot, from the codes and the query folded with its key
  /// group's scales and mins (foldKeyScales): (q * s) . code + q . mn.
  Value keyDot(OpBuilder &ob, Value kvHead, Value slot, ArrayRef<Value> q);
  /// The lane-wise products q * k of a full-precision key slot, summed over
  /// the head dim's chunks (not across lanes): their lane sum is q . k.
  Value keyPartials(OpBuilder &ob, Value kvHead, Value slot, ArrayRef<Value> q);
  /// Decode with a quantized cache: for every key group of the quantized
  /// prefix, q * scale (per channel) into qsBuf and q . min into qmBuf.
  void foldKeyScales(OpBuilder &ob, Value kvHead, ArrayRef<Value> q);
  /// Quest: marks in selBuf the `budgetPages` pages (of `pages`) a query
  /// row attends to: the pages holding the step's own tokens (the last
  /// page at decode), then the others by the upper bound
  /// sum_d max(q_d max_d, q_d min_d) of their logits, ties to the lower
  /// page.
  void markSelectedPages(OpBuilder &ob, Value kvHead, ArrayRef<Value> q,
                         Value pages, int64_t budgetPages);
  Value fma(OpBuilder &ob, Value a, Value x, Value acc) {
    return vector::FMAOp::create(ob, loc, a, x, acc);
  }
  /// A horizontal reduction; sums reassociate into a tree, max ignores NaN
  /// (logits are finite or -inf).
  Value reduce(OpBuilder &ob, vector::CombiningKind kind, Value v) {
    auto red = vector::ReductionOp::create(ob, loc, kind, v);
    red.setFastmathAttr(kind == vector::CombiningKind::ADD ? reassoc : noNaN);
    return red;
  }
  /// max(a, b) for logits: maxnumf without the NaN handling (a blend per
  /// vector otherwise).
  Value max(OpBuilder &ob, Value a, Value c) {
    return arith::MaxNumFOp::create(ob, loc, a, c, noNaN);
  }

  /// The position (i32) of query row `row` (< T).
  Value queryPosition(OpBuilder &ob, Value row) {
    if (in.queryPositions)
      return tensor::ExtractOp::create(ob, loc, in.queryPositions, row);
    return toI32(ob, arith::AddIOp::create(ob, loc, offset, row));
  }
  /// The positions (i32 x 16) of keys j0 .. j0 + 15; lanes past S hold
  /// garbage that `valid` masks.
  Value keyPositions(OpBuilder &ob, Value kvHead, Value j0);
  /// Whether each of the 16 keys from j0 is visible to a query at `qPos`.
  Value visible(OpBuilder &ob, Value j0, Value kPos, Value qPos);
  /// One step of the online softmax on 16 or 32 masked logits of a row:
  /// returns (new max, alpha, p vectors) and updates `sum`.
  struct SoftmaxStep {
    Value max, alpha, sum;
    SmallVector<Value> p;
  };
  SoftmaxStep softmaxStep(OpBuilder &ob, ArrayRef<Value> logits, Value max,
                          Value sum);

  /// Writes row `row` of the head's output slice: acc / sum (0 if empty).
  Value writeOutputRow(OpBuilder &ob, Value out, Value hh, Value row,
                       ArrayRef<Value> acc, Value sum);

  Value emitPrefill(OpBuilder &ob, Value out, Value kvHead, Value h, Value hh);
  /// Adds row `row`'s attention probabilities over keys [lo, hi) (from the
  /// logits the decode kernel stored) into the task's score accumulator.
  void accumulateScores(OpBuilder &ob, Value row, Value lo, Value hi, Value max,
                        Value sum);
  Value emitDecode(OpBuilder &ob, Value out, Value kvHead, Value h, Value hh);
  /// ceil(S / 32): the key tiles the packed K and V are sized in.
  Value keyTiles(OpBuilder &ob);
  /// K of `kvHead` as K^T panels [ceil(S / 32)][D][32] (f32), or with
  /// bf16Prefill [ceil(S / 32)][D / 2][32 x 2] (bf16): for each pair of
  /// channels, the 32 keys' two channels next to each other, so that one
  /// 32-element load feeds a pair dot product per key.
  Value packKeys(OpBuilder &ob, Value kvHead);
  /// bf16Prefill only: V of `kvHead` as key pairs [ceil(S / 32) x 16][Dv x
  /// 2] (bf16): row p holds keys 2p and 2p + 1 interleaved per channel.
  Value packValues(OpBuilder &ob, Value kvHead);
  /// bf16Prefill only: 16 f32 lanes rounded to bf16, as 8 i32 words (each
  /// a pair of bf16: the form the pair-broadcast reads).
  Value toBf16Words(OpBuilder &ob, Value v);
  /// bf16Prefill only: a word (a pair of bf16) of an i32 scratch broadcast
  /// to all 16 lanes, as vector<32xbf16>.
  Value splatPair(OpBuilder &ob, Value buf, Value row, Value word);

  OpBuilder &b;
  Location loc;
  const AttentionInputs &in;
  MaskAttr mask;
  int64_t prefillRows;
  bool bf16Prefill;
  Type f32, i32;
  VectorType vec, ivec, pairVec;
  int64_t depth, valueDepth;
  Value tokens, keys, keysI32, offset, scale, negInf, zeroF, laneIota;
  arith::FastMathFlagsAttr reassoc, noNaN;
  // Prefill only: K^T panels of the task's KV head (and with bf16Prefill
  // its V as key pairs) and per-task scratch (scaled Q rows, P tile, output
  // accumulator; Q and P as i32 words of bf16 pairs with bf16Prefill).
  Value packed, packedValues, qBuf, pBuf, oBuf, sumBuf;
  // Decode over a quantized cache: the query row folded with each key
  // group's scales [C / g][D] and mins [C / g].
  Value qsBuf, qmBuf;
  // Decode with query-aware selection: each page's bound (as an ordered
  // integer key), and which pages the current row reads.
  Value boundBuf, selBuf;
  // With received scores: the task's accumulator over the keys and the
  // current row's masked logits (decode), or the row block's masked logits
  // [kRows][S + slack] (prefill).
  Value scoreAcc, logitBuf, blockLogits;
  // With key sizes (ToMe proportional attention): log(size) of every key,
  // padded with zeros past S so that 16- and 32-key reads stay in bounds.
  Value logSizes;

  /// `logits` (16 keys from j0, scaled) soft-capped (c * tanh(s / c)) if
  /// the op says so, plus the keys' log sizes, if any.
  Value finishLogits(OpBuilder &ob, Value logits, Value j0) {
    if (FloatAttr cap = in.softcap) {
      Value c = splat(ob, f32Const(ob, cap.getValueAsDouble()));
      logits = arith::MulFOp::create(
          ob, loc,
          math::TanhOp::create(ob, loc,
                               arith::DivFOp::create(ob, loc, logits, c)),
          c);
    }
    if (!logSizes)
      return logits;
    Value bias =
        vector::TransferReadOp::create(ob, loc, vec, logSizes, ValueRange{j0},
                                       f32Const(ob, 0.0), ArrayRef<bool>{true});
    return arith::AddFOp::create(ob, loc, logits, bias);
  }
  /// The padded log(size) tensor of `sizes` ([S]).
  Value buildLogSizes(OpBuilder &ob, Value sizes);
  /// A query row's weight in the received scores (#tok.scores: the last
  /// `rows` rows, decay^(T - 1 - row); 0 if the row saw no key) and its
  /// log-sum-exp, from the row's final softmax statistics.
  std::pair<Value, Value> scoreWeightAndLse(OpBuilder &ob, Value row, Value max,
                                            Value sum);
};

} // namespace mlir::tok::vector_attention

#endif // TOK_CONVERSION_TOKTOLINALG_ATTENTIONVECTOREMITTER_H
