//===- AttentionToVector.cpp - f32 attention as vectorized kernels --------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// The attention of a decoder (f32, head dims a multiple of 16, causal /
// window / sinks or no mask, implicit or explicit positions) as two
// hand-vectorized online-softmax kernels, 16 lanes wide, with ToMe's key
// sizes (log(size) added to the logits) and received scores (#tok.scores)
// when asked. The general lowering (AttentionToLinalg.cpp) keeps
// everything else: trees, segments, f16 / bf16.
//
//   scf.forall over KV heads (OpenMP); each task handles the query heads
//   that share its KV head and owns small scratch buffers
//   T >= kPrefillRows: prefill kernel
//     K of the head packed once as K^T panels [S/32][D][32]
//     per block of 12 query rows (scaled Q rows in a scratch buffer):
//       per key tile of 32 keys (causal tiles past the diagonal skipped):
//         S = Q K^T: 12 x 32 register tile, 24 accumulators, per d one
//           broadcast of Q[r, d] and two panel loads
//         mask by positions (select -inf), online softmax in registers,
//           P to a scratch [12][32]
//         O[12][Dv] (scratch) = alpha O + P V, 12 x 32 register tiles
//       with received scores: the block's masked logits kept in a scratch
//       [12][S]; after its last tile, sum_r w_r exp(s - lse_r) per key
//       into the task's score accumulator (one exp per logit)
//   otherwise (decode, short chunks): per query row, 16 keys at a time,
//     16 lane-wise products with q (held in registers) summed across
//     into one logit vector by a shuffle butterfly, softmax on the 16 logits,
//     O (registers) = alpha O + p V; received scores from the row's
//     logits the same way.
//
// Quantized caches (KVQuantToTensors.cpp): slots before `quantized` are
// codes, dequantized in registers (code * scale + min) where K^T is packed
// and V rows are read; the decode kernel instead folds each key group's
// per-channel scales into the query row once (q * s, q . min), so a
// quantized key costs a code conversion and an fma per 16 channels. Slots
// from `quantized` on read the full-precision tail.
//
// Keys past the end of a tile are clamped to the last key (valid memory)
// and masked, so no loop has a scalar tail. exp stays math.exp; the
// pipeline rewrites it to its polynomial approximation.
//
//===----------------------------------------------------------------------===//

#include "AttentionEmitter.h"
#include "LaneSums.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace mlir::tok;

namespace {

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
                         int64_t prefillRows)
      : b(b), loc(loc), in(in), mask(in.mask), prefillRows(prefillRows) {
    f32 = b.getF32Type();
    i32 = b.getI32Type();
    vec = VectorType::get({kLanes}, f32);
    ivec = VectorType::get({kLanes}, i32);
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
  /// K of `kvHead` as K^T panels [ceil(S / 32)][D][32].
  Value packKeys(OpBuilder &ob, Value kvHead);

  OpBuilder &b;
  Location loc;
  const AttentionInputs &in;
  MaskAttr mask;
  int64_t prefillRows;
  Type f32, i32;
  VectorType vec, ivec;
  int64_t depth, valueDepth;
  Value tokens, keys, keysI32, offset, scale, negInf, zeroF, laneIota;
  arith::FastMathFlagsAttr reassoc, noNaN;
  // Prefill only: K^T panels of the task's KV head and per-task scratch
  // (scaled Q rows, P tile, output accumulator).
  Value packed, qBuf, pBuf, oBuf;
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

  /// `logits` (16 keys from j0) plus the keys' log sizes, if any.
  Value addLogSizes(OpBuilder &ob, Value logits, Value j0) {
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

} // namespace

SmallVector<Value> VectorAttentionEmitter::loadRow(OpBuilder &ob, bool ofKeys,
                                                   Value kvHead, Value slot,
                                                   int64_t c0, int64_t n) {
  Value src = ofKeys ? in.key : in.value;
  auto read = [&](OpBuilder &rb, Value row) {
    SmallVector<Value> chunks;
    for (int64_t c = c0; c < c0 + n; ++c)
      chunks.push_back(readRow(rb, src, kvHead, row, index(rb, c * kLanes)));
    return chunks;
  };
  if (!in.quant)
    return read(ob, slot);
  Value inCodes = arith::CmpIOp::create(ob, loc, arith::CmpIPredicate::ult,
                                        slot, in.quant.quantized);
  auto ifOp = scf::IfOp::create(
      ob, loc, inCodes,
      [&](OpBuilder &tb, Location l) {
        SmallVector<Value> chunks;
        for (int64_t c = c0; c < c0 + n; ++c)
          chunks.push_back(dequantChunk(tb, ofKeys, kvHead, slot, c * kLanes));
        scf::YieldOp::create(tb, l, chunks);
      },
      [&](OpBuilder &eb, Location l) {
        scf::YieldOp::create(
            eb, l,
            read(eb, arith::SubIOp::create(eb, l, slot, in.quant.quantized)));
      });
  return SmallVector<Value>(ifOp.getResults());
}

Value VectorAttentionEmitter::codeChunk(OpBuilder &ob, bool ofKeys,
                                        Value kvHead, Value slot, int64_t d0) {
  const QuantParts &q = in.quant;
  int64_t bits = in.quantBits;
  Type i8 = ob.getI8Type();
  Value codes = ofKeys ? q.keyCodes : q.valueCodes;
  Value zeroByte = arith::ConstantOp::create(ob, loc, ob.getI8IntegerAttr(0));
  Value code;
  if (bits == 8) {
    Value raw = vector::TransferReadOp::create(
        ob, loc, VectorType::get({kLanes}, i8), codes,
        ValueRange{kvHead, slot, index(ob, d0)}, zeroByte,
        ArrayRef<bool>{true});
    code = arith::ExtUIOp::create(ob, loc, ivec, raw);
  } else {
    // Two channels per byte, the even one in the low nibble: split the 8
    // bytes into low and high nibbles and interleave them.
    auto bytes = VectorType::get({kLanes / 2}, i8);
    Value raw = vector::TransferReadOp::create(
        ob, loc, bytes, codes, ValueRange{kvHead, slot, index(ob, d0 / 2)},
        zeroByte, ArrayRef<bool>{true});
    Value four = vector::BroadcastOp::create(
        ob, loc, bytes,
        arith::ConstantOp::create(ob, loc, ob.getI8IntegerAttr(4)));
    Value low = arith::AndIOp::create(
        ob, loc, raw,
        vector::BroadcastOp::create(
            ob, loc, bytes,
            arith::ConstantOp::create(ob, loc, ob.getI8IntegerAttr(15))));
    Value high = arith::ShRUIOp::create(ob, loc, raw, four);
    SmallVector<int64_t> interleave;
    for (int64_t lane = 0; lane < kLanes / 2; ++lane) {
      interleave.push_back(lane);
      interleave.push_back(lane + kLanes / 2);
    }
    Value both = vector::ShuffleOp::create(ob, loc, low, high, interleave);
    code = arith::ExtUIOp::create(ob, loc, ivec, both);
  }
  return arith::UIToFPOp::create(ob, loc, vec, code);
}

Value VectorAttentionEmitter::dequantChunk(OpBuilder &ob, bool ofKeys,
                                           Value kvHead, Value slot,
                                           int64_t d0) {
  const QuantParts &q = in.quant;
  int64_t g = in.quantGroup;
  Type f16 = ob.getF16Type();
  Value x = codeChunk(ob, ofKeys, kvHead, slot, d0);
  Value scale, mn;
  if (ofKeys) {
    // Per channel: one f16 per lane, for the slot's token group.
    Value group = arith::DivUIOp::create(ob, loc, slot, index(ob, g));
    Value zeroHalf =
        arith::ConstantOp::create(ob, loc, ob.getFloatAttr(f16, 0.0));
    auto halves = VectorType::get({kLanes}, f16);
    auto readHalves = [&](Value t) -> Value {
      Value h = vector::TransferReadOp::create(
          ob, loc, halves, t, ValueRange{kvHead, group, index(ob, d0)},
          zeroHalf, ArrayRef<bool>{true});
      return arith::ExtFOp::create(ob, loc, vec, h);
    };
    scale = readHalves(q.keyScales);
    mn = readHalves(q.keyMins);
  } else {
    // Per token over groups of g channels: the lanes' groups are known
    // here; one scalar each, broadcast when the chunk lies in one group.
    auto laneValues = [&](Value t) -> Value {
      SmallVector<Value> lanes;
      Value last;
      int64_t lastGroup = -1;
      for (int64_t lane = 0; lane < kLanes; ++lane) {
        int64_t group = (d0 + lane) / g;
        if (group != lastGroup) {
          Value half = tensor::ExtractOp::create(
              ob, loc, t, ValueRange{kvHead, slot, index(ob, group)});
          last = arith::ExtFOp::create(ob, loc, f32, half);
          lastGroup = group;
        }
        lanes.push_back(last);
      }
      if (llvm::all_equal(lanes))
        return splat(ob, lanes.front());
      return vector::FromElementsOp::create(ob, loc, vec, lanes);
    };
    scale = laneValues(q.valueScales);
    mn = laneValues(q.valueMins);
  }
  return fma(ob, x, scale, mn);
}

Value VectorAttentionEmitter::keyPartials(OpBuilder &ob, Value kvHead,
                                          Value slot, ArrayRef<Value> q) {
  Value acc;
  for (int64_t c = 0; c < depth / kLanes; ++c) {
    Value k = readRow(ob, in.key, kvHead, slot, index(ob, c * kLanes));
    acc = acc ? fma(ob, q[c], k, acc) : arith::MulFOp::create(ob, loc, q[c], k);
  }
  return acc;
}

Value VectorAttentionEmitter::keyDot(OpBuilder &ob, Value kvHead, Value slot,
                                     ArrayRef<Value> q) {
  auto plainDot = [&](OpBuilder &rb, Value row) -> Value {
    Value acc;
    for (int64_t c = 0; c < depth / kLanes; ++c) {
      Value k = readRow(rb, in.key, kvHead, row, index(rb, c * kLanes));
      acc =
          acc ? fma(rb, q[c], k, acc) : arith::MulFOp::create(rb, loc, q[c], k);
    }
    return reduce(rb, vector::CombiningKind::ADD, acc);
  };
  if (!in.quant)
    return plainDot(ob, slot);
  Value inCodes = arith::CmpIOp::create(ob, loc, arith::CmpIPredicate::ult,
                                        slot, in.quant.quantized);
  auto ifOp = scf::IfOp::create(
      ob, loc, inCodes,
      [&](OpBuilder &tb, Location l) {
        Value group =
            arith::DivUIOp::create(tb, l, slot, index(tb, in.quantGroup));
        Value acc;
        for (int64_t c = 0; c < depth / kLanes; ++c) {
          Value qs = vector::LoadOp::create(
              tb, l, vec, qsBuf, ValueRange{group, index(tb, c * kLanes)});
          Value code = codeChunk(tb, /*ofKeys=*/true, kvHead, slot, c * kLanes);
          acc = acc ? fma(tb, qs, code, acc)
                    : arith::MulFOp::create(tb, l, qs, code);
        }
        Value dot = reduce(tb, vector::CombiningKind::ADD, acc);
        Value qm = memref::LoadOp::create(tb, l, qmBuf, ValueRange{group});
        scf::YieldOp::create(tb, l,
                             ValueRange{arith::AddFOp::create(tb, l, dot, qm)});
      },
      [&](OpBuilder &eb, Location l) {
        Value row = arith::SubIOp::create(eb, l, slot, in.quant.quantized);
        scf::YieldOp::create(eb, l, ValueRange{plainDot(eb, row)});
      });
  return ifOp.getResult(0);
}

void VectorAttentionEmitter::foldKeyScales(OpBuilder &ob, Value kvHead,
                                           ArrayRef<Value> q) {
  Value groups = arith::DivUIOp::create(ob, loc, in.quant.quantized,
                                        index(ob, in.quantGroup));
  Type f16 = ob.getF16Type();
  Value zeroHalf =
      arith::ConstantOp::create(ob, loc, ob.getFloatAttr(f16, 0.0));
  auto halves = VectorType::get({kLanes}, f16);
  scf::ForOp::create(
      ob, loc, index(ob, 0), groups, index(ob, 1), ValueRange{},
      [&](OpBuilder &lb, Location l, Value group, ValueRange) {
        Value qm;
        for (int64_t c = 0; c < depth / kLanes; ++c) {
          auto read = [&](Value t) -> Value {
            Value h = vector::TransferReadOp::create(
                lb, l, halves, t,
                ValueRange{kvHead, group, index(lb, c * kLanes)}, zeroHalf,
                ArrayRef<bool>{true});
            return arith::ExtFOp::create(lb, l, vec, h);
          };
          Value qs =
              arith::MulFOp::create(lb, l, q[c], read(in.quant.keyScales));
          vector::StoreOp::create(lb, l, qs, qsBuf,
                                  ValueRange{group, index(lb, c * kLanes)});
          Value mn = read(in.quant.keyMins);
          qm = qm ? fma(lb, q[c], mn, qm)
                  : arith::MulFOp::create(lb, l, q[c], mn);
        }
        memref::StoreOp::create(lb, l,
                                reduce(lb, vector::CombiningKind::ADD, qm),
                                qmBuf, ValueRange{group});
        scf::YieldOp::create(lb, l);
      });
}

void VectorAttentionEmitter::markSelectedPages(OpBuilder &ob, Value kvHead,
                                               ArrayRef<Value> q, Value pages,
                                               int64_t budgetPages) {
  Value c0 = index(ob, 0), c1 = index(ob, 1), c16 = index(ob, kLanes);
  Value no = arith::ConstantOp::create(ob, loc, ob.getI8IntegerAttr(0));
  Value yes = arith::ConstantOp::create(ob, loc, ob.getI8IntegerAttr(1));
  Value zero32 = i32Const(ob, 0);
  // Each page's bound (the scaled query ranks like the unscaled one) as an
  // unsigned key of the same order: sign bit set -> all bits flipped,
  // otherwise the sign bit set.
  scf::ForOp::create(
      ob, loc, c0, pages, c1, ValueRange{},
      [&](OpBuilder &lb, Location l, Value page, ValueRange) {
        Value acc;
        for (int64_t c = 0; c < depth / kLanes; ++c) {
          Value hiB = arith::MulFOp::create(
              lb, l, q[c],
              readRow(lb, in.pageMax, kvHead, page, index(lb, c * kLanes)));
          Value loB = arith::MulFOp::create(
              lb, l, q[c],
              readRow(lb, in.pageMin, kvHead, page, index(lb, c * kLanes)));
          Value m = arith::MaximumFOp::create(lb, l, hiB, loB);
          acc = acc ? arith::AddFOp::create(lb, l, acc, m) : m;
        }
        // + 0.0 makes -0.0 +0.0: equal bounds, equal keys.
        Value u = arith::AddFOp::create(
            lb, l, reduce(lb, vector::CombiningKind::ADD, acc), zeroF);
        Value bits = arith::BitcastOp::create(lb, l, i32, u);
        Value negative = arith::CmpIOp::create(lb, l, arith::CmpIPredicate::slt,
                                               bits, zero32);
        Value flipped = arith::XOrIOp::create(lb, l, bits, i32Const(lb, -1));
        Value signed_ = arith::OrIOp::create(
            lb, l, bits, i32Const(lb, static_cast<int32_t>(0x80000000u)));
        Value key = arith::SelectOp::create(lb, l, negative, flipped, signed_);
        memref::StoreOp::create(lb, l, key, boundBuf, ValueRange{page});
        memref::StoreOp::create(lb, l, no, selBuf, ValueRange{page});
        scf::YieldOp::create(lb, l);
      });
  // Pad to whole vectors with the smallest key; the last (partial) page is
  // always read, so it leaves the ranking the same way.
  Value padded = arith::MulIOp::create(
      ob, loc,
      arith::DivUIOp::create(
          ob, loc, arith::AddIOp::create(ob, loc, pages, index(ob, kLanes - 1)),
          c16),
      c16);
  scf::ForOp::create(ob, loc, pages, padded, c1, ValueRange{},
                     [&](OpBuilder &lb, Location l, Value page, ValueRange) {
                       memref::StoreOp::create(lb, l, zero32, boundBuf,
                                               ValueRange{page});
                       scf::YieldOp::create(lb, l);
                     });
  // The pages holding this step's own T tokens (the last page at decode)
  // are always read, so they leave the ranking the same way.
  Value own = arith::DivUIOp::create(
      ob, loc, arith::SubIOp::create(ob, loc, keys, tokens),
      index(ob, in.pageSize));
  scf::ForOp::create(
      ob, loc, own, pages, c1, ValueRange{},
      [&](OpBuilder &lb, Location l, Value page, ValueRange) {
        memref::StoreOp::create(lb, l, zero32, boundBuf, ValueRange{page});
        memref::StoreOp::create(lb, l, yes, selBuf, ValueRange{page});
        scf::YieldOp::create(lb, l);
      });

  // How many keys satisfy `pred` against `t`, 16 at a time.
  auto count = [&](OpBuilder &cb, arith::CmpIPredicate pred, Value t) {
    Value tv = splat(cb, t);
    Value ones = splat(cb, i32Const(cb, 1)), zeros = splat(cb, zero32);
    auto loop = scf::ForOp::create(
        cb, loc, c0, padded, c16, ValueRange{zeros},
        [&](OpBuilder &lb, Location l, Value p0, ValueRange acc) {
          Value keys = vector::LoadOp::create(lb, l, ivec, boundBuf, p0);
          Value hit = arith::CmpIOp::create(lb, l, pred, keys, tv);
          scf::YieldOp::create(
              lb, l,
              ValueRange{arith::AddIOp::create(
                  lb, l, acc[0],
                  arith::SelectOp::create(lb, l, hit, ones, zeros))});
        });
    auto red = vector::ReductionOp::create(cb, loc, vector::CombiningKind::ADD,
                                           loop.getResult(0));
    return red.getResult();
  };
  // The (budgetPages - 1)-th largest key, by bisection over the 2^32 keys
  // (32 counting passes instead of budgetPages scans).
  Value forced = arith::IndexCastOp::create(
      ob, loc, i32, arith::SubIOp::create(ob, loc, pages, own));
  Value want = arith::MaxSIOp::create(
      ob, loc,
      arith::SubIOp::create(ob, loc, i32Const(ob, budgetPages), forced),
      zero32);
  Value lo0 = arith::ConstantOp::create(ob, loc, ob.getI64IntegerAttr(0));
  Value hi0 =
      arith::ConstantOp::create(ob, loc, ob.getI64IntegerAttr(0xFFFFFFFFll));
  Value one64 = arith::ConstantOp::create(ob, loc, ob.getI64IntegerAttr(1));
  auto search = scf::ForOp::create(
      ob, loc, c0, index(ob, 32), c1, ValueRange{lo0, hi0},
      [&](OpBuilder &sb, Location l, Value, ValueRange range) {
        Value mid = arith::ShRUIOp::create(
            sb, l,
            arith::AddIOp::create(
                sb, l, arith::AddIOp::create(sb, l, range[0], range[1]), one64),
            one64);
        Value t = arith::TruncIOp::create(sb, l, i32, mid);
        Value enough = arith::CmpIOp::create(
            sb, l, arith::CmpIPredicate::sge,
            count(sb, arith::CmpIPredicate::uge, t), want);
        scf::YieldOp::create(
            sb, l,
            ValueRange{arith::SelectOp::create(sb, l, enough, mid, range[0]),
                       arith::SelectOp::create(
                           sb, l, enough, range[1],
                           arith::SubIOp::create(sb, l, mid, one64))});
      });
  Value threshold = arith::TruncIOp::create(ob, loc, i32, search.getResult(0));
  // Every key above it, then keys equal to it from the lowest page on.
  Value ties = arith::SubIOp::create(
      ob, loc, want, count(ob, arith::CmpIPredicate::ugt, threshold));
  scf::ForOp::create(
      ob, loc, c0, own, c1, ValueRange{ties},
      [&](OpBuilder &lb, Location l, Value page, ValueRange left) {
        Value key = memref::LoadOp::create(lb, l, boundBuf, page);
        Value above = arith::CmpIOp::create(lb, l, arith::CmpIPredicate::ugt,
                                            key, threshold);
        Value equal = arith::CmpIOp::create(lb, l, arith::CmpIPredicate::eq,
                                            key, threshold);
        Value tie = arith::AndIOp::create(
            lb, l, equal,
            arith::CmpIOp::create(lb, l, arith::CmpIPredicate::sgt, left[0],
                                  zero32));
        Value take = arith::OrIOp::create(lb, l, above, tie);
        memref::StoreOp::create(lb, l,
                                arith::SelectOp::create(lb, l, take, yes, no),
                                selBuf, ValueRange{page});
        Value used = arith::ExtUIOp::create(lb, l, i32, tie);
        scf::YieldOp::create(
            lb, l, ValueRange{arith::SubIOp::create(lb, l, left[0], used)});
      });
}

Value VectorAttentionEmitter::keyPositions(OpBuilder &ob, Value kvHead,
                                           Value j0) {
  if (!in.keyPositions)
    return arith::AddIOp::create(ob, loc, splat(ob, toI32(ob, j0)), laneIota);
  auto posType = cast<RankedTensorType>(in.keyPositions.getType());
  bool perHead = posType.getRank() == 2;
  // Whole vector in bounds: one read; the last partial block: lane by lane
  // at clamped indices.
  Value end = arith::AddIOp::create(ob, loc, j0, index(ob, kLanes));
  Value inBounds =
      arith::CmpIOp::create(ob, loc, arith::CmpIPredicate::sle, end, keys);
  auto ifOp = scf::IfOp::create(
      ob, loc, inBounds,
      [&](OpBuilder &tb, Location l) {
        SmallVector<Value> idx;
        if (perHead)
          idx.push_back(kvHead);
        idx.push_back(j0);
        Value pad = arith::ConstantOp::create(tb, l, tb.getI32IntegerAttr(0));
        Value v = vector::TransferReadOp::create(
            tb, l, ivec, in.keyPositions, idx, pad, ArrayRef<bool>{true});
        scf::YieldOp::create(tb, l, v);
      },
      [&](OpBuilder &eb, Location l) {
        Value last = arith::SubIOp::create(eb, l, keys, index(eb, 1));
        SmallVector<Value> lanes;
        for (int64_t lane = 0; lane < kLanes; ++lane) {
          Value j = minIndex(
              eb, arith::AddIOp::create(eb, l, j0, index(eb, lane)), last);
          SmallVector<Value> idx;
          if (perHead)
            idx.push_back(kvHead);
          idx.push_back(j);
          lanes.push_back(
              tensor::ExtractOp::create(eb, l, in.keyPositions, idx));
        }
        scf::YieldOp::create(
            eb, l,
            vector::FromElementsOp::create(eb, l, ivec, lanes).getResult());
      });
  return ifOp.getResult(0);
}

Value VectorAttentionEmitter::visible(OpBuilder &ob, Value j0, Value kPos,
                                      Value qPos) {
  Value slot =
      arith::AddIOp::create(ob, loc, splat(ob, toI32(ob, j0)), laneIota);
  Value vis = arith::CmpIOp::create(ob, loc, arith::CmpIPredicate::slt, slot,
                                    splat(ob, keysI32));
  if (!mask.isCausal())
    return vis;
  Value q = splat(ob, qPos);
  Value causal =
      arith::CmpIOp::create(ob, loc, arith::CmpIPredicate::sle, kPos, q);
  vis = arith::AndIOp::create(ob, loc, vis, causal);
  if (mask.getWindow() > 0) {
    // q - k < W  <=>  k > q - W.
    Value first = arith::SubIOp::create(
        ob, loc, q, splat(ob, i32Const(ob, mask.getWindow())));
    Value inWindow =
        arith::CmpIOp::create(ob, loc, arith::CmpIPredicate::sgt, kPos, first);
    if (mask.getSinks() > 0) {
      Value sink =
          arith::CmpIOp::create(ob, loc, arith::CmpIPredicate::slt, kPos,
                                splat(ob, i32Const(ob, mask.getSinks())));
      inWindow = arith::OrIOp::create(ob, loc, inWindow, sink);
    }
    vis = arith::AndIOp::create(ob, loc, vis, inWindow);
  }
  return vis;
}

VectorAttentionEmitter::SoftmaxStep
VectorAttentionEmitter::softmaxStep(OpBuilder &ob, ArrayRef<Value> logits,
                                    Value max, Value sum) {
  Value blockMax = logits[0];
  for (Value s : logits.drop_front())
    blockMax = this->max(ob, blockMax, s);
  Value newMax =
      this->max(ob, max, reduce(ob, vector::CombiningKind::MAXNUMF, blockMax));
  // While the row has seen no visible key the max is -inf: subtract 0
  // instead, so that exp(-inf - 0) = 0 rather than NaN.
  Value empty =
      arith::CmpFOp::create(ob, loc, arith::CmpFPredicate::OEQ, newMax, negInf);
  Value shift = arith::SelectOp::create(ob, loc, empty, zeroF, newMax);
  SoftmaxStep step;
  step.max = newMax;
  step.alpha =
      math::ExpOp::create(ob, loc, arith::SubFOp::create(ob, loc, max, shift));
  Value shiftVec = splat(ob, shift);
  Value total;
  for (Value s : logits) {
    Value p = math::ExpOp::create(ob, loc,
                                  arith::SubFOp::create(ob, loc, s, shiftVec));
    step.p.push_back(p);
    total = total ? arith::AddFOp::create(ob, loc, total, p) : p;
  }
  step.sum = arith::AddFOp::create(
      ob, loc, arith::MulFOp::create(ob, loc, sum, step.alpha),
      reduce(ob, vector::CombiningKind::ADD, total));
  return step;
}

Value VectorAttentionEmitter::writeOutputRow(OpBuilder &ob, Value out, Value hh,
                                             Value row, ArrayRef<Value> acc,
                                             Value sum) {
  Value empty =
      arith::CmpFOp::create(ob, loc, arith::CmpFPredicate::OEQ, sum, zeroF);
  Value inv = arith::DivFOp::create(ob, loc, f32Const(ob, 1.0), sum);
  inv = arith::SelectOp::create(ob, loc, empty, zeroF, inv);
  Value invVec = splat(ob, inv);
  for (int64_t c = 0; c < valueDepth / kLanes; ++c) {
    Value o = arith::MulFOp::create(ob, loc, acc[c], invVec);
    out = vector::TransferWriteOp::create(
              ob, loc, o, out, ValueRange{hh, row, index(ob, c * kLanes)},
              ArrayRef<bool>{true})
              .getResult();
  }
  return out;
}

Value VectorAttentionEmitter::packKeys(OpBuilder &ob, Value kvHead) {
  // Whole tiles of panels, so that the last tile reads no further.
  Value tiles = arith::DivUIOp::create(
      ob, loc, arith::AddIOp::create(ob, loc, keys, index(ob, kTileKeys - 1)),
      index(ob, kTileKeys));
  Value panels = arith::MulIOp::create(ob, loc, tiles, index(ob, kTilePanels));
  auto type = MemRefType::get({ShapedType::kDynamic, depth, kKeys}, f32);
  Value kt = memref::AllocOp::create(ob, loc, type, ValueRange{panels});
  Value last = arith::SubIOp::create(ob, loc, keys, index(ob, 1));
  Value slots = arith::MulIOp::create(ob, loc, panels, index(ob, kKeys));
  // One key row at a time, scattered into its column of the panel; slots
  // past S repeat the last key (masked later).
  scf::ForOp::create(
      ob, loc, index(ob, 0), slots, index(ob, 1), ValueRange{},
      [&](OpBuilder &lb, Location l, Value j, ValueRange) {
        Value key = minIndex(lb, j, last);
        Value panel = arith::DivUIOp::create(lb, l, j, index(lb, kKeys));
        Value col = arith::RemUIOp::create(lb, l, j, index(lb, kKeys));
        SmallVector<Value> keyRow =
            loadRow(lb, /*ofKeys=*/true, kvHead, key, 0, depth / kLanes);
        for (int64_t c = 0; c < depth / kLanes; ++c) {
          Value row = keyRow[c];
          for (int64_t lane = 0; lane < kLanes; ++lane) {
            Value x = vector::ExtractOp::create(lb, l, row, lane);
            memref::StoreOp::create(
                lb, l, x, kt,
                ValueRange{panel, index(lb, c * kLanes + lane), col});
          }
        }
        scf::YieldOp::create(lb, l);
      });
  return kt;
}

Value VectorAttentionEmitter::emitPrefill(OpBuilder &ob, Value out,
                                          Value kvHead, Value h, Value hh) {
  Value c0 = index(ob, 0), c1 = index(ob, 1);
  int64_t qChunks = depth / kLanes, vChunks = valueDepth / kLanes;
  Value lastRow = arith::SubIOp::create(ob, loc, tokens, c1);
  Value lastKey = arith::SubIOp::create(ob, loc, keys, c1);
  Value scaleVec = splat(ob, scale);
  Value zeroVec = splat(ob, zeroF);

  auto blocks = scf::ForOp::create(
      ob, loc, c0, tokens, index(ob, kRows), ValueRange{out},
      [&](OpBuilder &tb, Location, Value i0, ValueRange tileArgs) {
        Value rest = arith::SubIOp::create(tb, loc, tokens, i0);
        Value bq = minIndex(tb, index(tb, kRows), rest);
        // Rows past T repeat the last row; their results are dropped.
        SmallVector<Value> qPos;
        for (int64_t r = 0; r < kRows; ++r) {
          Value row = minIndex(
              tb, arith::AddIOp::create(tb, loc, i0, index(tb, r)), lastRow);
          qPos.push_back(queryPosition(tb, row));
          for (int64_t c = 0; c < qChunks; ++c) {
            Value qv = readRow(tb, in.query, h, row, index(tb, c * kLanes));
            vector::StoreOp::create(
                tb, loc, arith::MulFOp::create(tb, loc, qv, scaleVec), qBuf,
                ValueRange{index(tb, r), index(tb, c * kLanes)});
          }
          for (int64_t c = 0; c < vChunks; ++c)
            vector::StoreOp::create(
                tb, loc, zeroVec, oBuf,
                ValueRange{index(tb, r), index(tb, c * kLanes)});
        }
        auto [lo, hi] = attentionKeyRange(tb, loc, in, tokens, keys, i0, bq);
        // Tiles start on tile boundaries.
        Value loAligned = arith::MulIOp::create(
            tb, loc, arith::DivUIOp::create(tb, loc, lo, index(tb, kTileKeys)),
            index(tb, kTileKeys));
        SmallVector<Value> stats;
        for (int64_t r = 0; r < kRows; ++r)
          stats.push_back(negInf);
        for (int64_t r = 0; r < kRows; ++r)
          stats.push_back(zeroF);

        auto keyLoop = scf::ForOp::create(
            tb, loc, loAligned, hi, index(tb, kTileKeys), stats,
            [&](OpBuilder &kb, Location, Value j0, ValueRange st) {
              Value firstPanel =
                  arith::DivUIOp::create(kb, loc, j0, index(kb, kKeys));
              // S = Q K^T, one kRows x 2-vector register tile per panel.
              // logits[r] holds row r's 2 * kTilePanels vectors.
              SmallVector<SmallVector<Value>> logits(kRows);
              for (int64_t pi = 0; pi < kTilePanels; ++pi) {
                Value panel =
                    arith::AddIOp::create(kb, loc, firstPanel, index(kb, pi));
                SmallVector<Value> inits(2 * kRows, zeroVec);
                auto dLoop = scf::ForOp::create(
                    kb, loc, c0, index(kb, depth), c1, inits,
                    [&](OpBuilder &db, Location, Value d, ValueRange acc) {
                      Value k0 = vector::LoadOp::create(
                          db, loc, vec, packed, ValueRange{panel, d, c0});
                      Value k1 = vector::LoadOp::create(
                          db, loc, vec, packed,
                          ValueRange{panel, d, index(db, kLanes)});
                      SmallVector<Value> next;
                      for (int64_t r = 0; r < kRows; ++r) {
                        Value qs = memref::LoadOp::create(
                            db, loc, qBuf, ValueRange{index(db, r), d});
                        Value qb = splat(db, qs);
                        next.push_back(fma(db, qb, k0, acc[2 * r]));
                        next.push_back(fma(db, qb, k1, acc[2 * r + 1]));
                      }
                      scf::YieldOp::create(db, loc, next);
                    });
                for (int64_t r = 0; r < kRows; ++r) {
                  logits[r].push_back(dLoop.getResult(2 * r));
                  logits[r].push_back(dLoop.getResult(2 * r + 1));
                }
              }
              SmallVector<Value> firstKeys, kPos;
              for (int64_t vi = 0; vi < 2 * kTilePanels; ++vi) {
                firstKeys.push_back(
                    arith::AddIOp::create(kb, loc, j0, index(kb, vi * kLanes)));
                kPos.push_back(keyPositions(kb, kvHead, firstKeys.back()));
              }
              Value negInfVec = splat(kb, negInf);
              SmallVector<Value> next(2 * kRows), alphas;
              for (int64_t r = 0; r < kRows; ++r) {
                SmallVector<Value> masked;
                for (int64_t vi = 0; vi < 2 * kTilePanels; ++vi)
                  masked.push_back(arith::SelectOp::create(
                      kb, loc, visible(kb, firstKeys[vi], kPos[vi], qPos[r]),
                      addLogSizes(kb, logits[r][vi], firstKeys[vi]),
                      negInfVec));
                if (blockLogits)
                  for (int64_t vi = 0; vi < 2 * kTilePanels; ++vi)
                    vector::StoreOp::create(
                        kb, loc, masked[vi], blockLogits,
                        ValueRange{index(kb, r), firstKeys[vi]});
                SoftmaxStep step =
                    softmaxStep(kb, masked, st[r], st[kRows + r]);
                next[r] = step.max;
                next[kRows + r] = step.sum;
                alphas.push_back(splat(kb, step.alpha));
                for (int64_t vi = 0; vi < 2 * kTilePanels; ++vi)
                  vector::StoreOp::create(
                      kb, loc, step.p[vi], pBuf,
                      ValueRange{index(kb, r), index(kb, vi * kLanes)});
              }
              // O = alpha O + P V, 32 value columns at a time.
              for (int64_t c = 0; c < vChunks; c += 2) {
                int64_t width = std::min<int64_t>(2, vChunks - c);
                SmallVector<Value> acc;
                for (int64_t r = 0; r < kRows; ++r)
                  for (int64_t w = 0; w < width; ++w) {
                    Value o = vector::LoadOp::create(
                        kb, loc, vec, oBuf,
                        ValueRange{index(kb, r), index(kb, (c + w) * kLanes)});
                    acc.push_back(arith::MulFOp::create(kb, loc, o, alphas[r]));
                  }
                auto jLoop = scf::ForOp::create(
                    kb, loc, c0, index(kb, kTileKeys), c1, acc,
                    [&](OpBuilder &jb, Location, Value jj, ValueRange a) {
                      Value key = minIndex(
                          jb, arith::AddIOp::create(jb, loc, j0, jj), lastKey);
                      SmallVector<Value> vs =
                          loadRow(jb, /*ofKeys=*/false, kvHead, key, c, width);
                      SmallVector<Value> nextAcc;
                      for (int64_t r = 0; r < kRows; ++r) {
                        Value pb = splat(jb, memref::LoadOp::create(
                                                 jb, loc, pBuf,
                                                 ValueRange{index(jb, r), jj}));
                        for (int64_t w = 0; w < width; ++w)
                          nextAcc.push_back(
                              fma(jb, pb, vs[w], a[r * width + w]));
                      }
                      scf::YieldOp::create(jb, loc, nextAcc);
                    });
                for (int64_t r = 0; r < kRows; ++r)
                  for (int64_t w = 0; w < width; ++w)
                    vector::StoreOp::create(
                        kb, loc, jLoop.getResult(r * width + w), oBuf,
                        ValueRange{index(kb, r), index(kb, (c + w) * kLanes)});
              }
              scf::YieldOp::create(kb, loc, next);
            });

        // Received scores: sum over the block's rows (padding rows weigh
        // 0) of each row's weighted probabilities, 16 keys at a time.
        if (blockLogits) {
          SmallVector<Value> lses, weights;
          for (int64_t r = 0; r < kRows; ++r) {
            Value row = arith::AddIOp::create(tb, loc, i0, index(tb, r));
            auto [w, lse] = scoreWeightAndLse(tb, row, keyLoop.getResult(r),
                                              keyLoop.getResult(kRows + r));
            Value exists = arith::CmpIOp::create(
                tb, loc, arith::CmpIPredicate::slt, index(tb, r), bq);
            weights.push_back(
                splat(tb, arith::SelectOp::create(tb, loc, exists, w, zeroF)));
            lses.push_back(splat(tb, lse));
          }
          scf::ForOp::create(
              tb, loc, loAligned, hi, index(tb, kLanes), ValueRange{},
              [&](OpBuilder &lb, Location l, Value j, ValueRange) {
                Value acc =
                    vector::LoadOp::create(lb, l, vec, scoreAcc, ValueRange{j});
                for (int64_t r = 0; r < kRows; ++r) {
                  Value s = vector::LoadOp::create(lb, l, vec, blockLogits,
                                                   ValueRange{index(lb, r), j});
                  Value p = math::ExpOp::create(
                      lb, l, arith::SubFOp::create(lb, l, s, lses[r]));
                  acc = fma(lb, p, weights[r], acc);
                }
                vector::StoreOp::create(lb, l, acc, scoreAcc, ValueRange{j});
                scf::YieldOp::create(lb, l);
              });
        }

        // The block's rows that exist.
        Value result = tileArgs[0];
        for (int64_t r = 0; r < kRows; ++r) {
          Value exists = arith::CmpIOp::create(
              tb, loc, arith::CmpIPredicate::slt, index(tb, r), bq);
          auto ifOp = scf::IfOp::create(
              tb, loc, exists,
              [&](OpBuilder &wb, Location l) {
                SmallVector<Value> acc;
                for (int64_t c = 0; c < vChunks; ++c)
                  acc.push_back(vector::LoadOp::create(
                      wb, l, vec, oBuf,
                      ValueRange{index(wb, r), index(wb, c * kLanes)}));
                Value row = arith::AddIOp::create(wb, l, i0, index(wb, r));
                scf::YieldOp::create(
                    wb, l,
                    writeOutputRow(wb, result, hh, row, acc,
                                   keyLoop.getResult(kRows + r)));
              },
              [&](OpBuilder &eb, Location l) {
                scf::YieldOp::create(eb, l, result);
              });
          result = ifOp.getResult(0);
        }
        scf::YieldOp::create(tb, loc, result);
      });
  return blocks.getResult(0);
}

Value VectorAttentionEmitter::emitDecode(OpBuilder &ob, Value out, Value kvHead,
                                         Value h, Value hh) {
  Value c0 = index(ob, 0), c1 = index(ob, 1);
  int64_t qChunks = depth / kLanes, vChunks = valueDepth / kLanes;
  Value lastKey = arith::SubIOp::create(ob, loc, keys, c1);
  Value scaleVec = splat(ob, scale);
  Value zeroVec = splat(ob, zeroF);

  auto rows = scf::ForOp::create(
      ob, loc, c0, tokens, c1, ValueRange{out},
      [&](OpBuilder &rb, Location, Value i, ValueRange rowArgs) {
        SmallVector<Value> q;
        for (int64_t c = 0; c < qChunks; ++c)
          q.push_back(arith::MulFOp::create(
              rb, loc, readRow(rb, in.query, h, i, index(rb, c * kLanes)),
              scaleVec));
        Value qPos = queryPosition(rb, i);
        if (in.quant)
          foldKeyScales(rb, kvHead, q);
        std::pair<Value, Value> range =
            attentionKeyRange(rb, loc, in, tokens, keys, i, c1);
        Value lo = range.first, hi = range.second;
        SmallVector<Value> inits{negInf, zeroF};
        inits.append(vChunks, zeroVec);
        // One block of 16 keys from j0: logits, online softmax, P V.
        auto keyBlock = [&](OpBuilder &kb, Value j0,
                            ValueRange st) -> SmallVector<Value> {
          SmallVector<Value> keyRows;
          for (int64_t lane = 0; lane < kLanes; ++lane)
            keyRows.push_back(minIndex(
                kb, arith::AddIOp::create(kb, loc, j0, index(kb, lane)),
                lastKey));
          Value s;
          if (!in.quant) {
            // q . k for the 16 keys as one vector: each key's 16 lane
            // partial products, summed across by a butterfly (15 adds,
            // 30 two-source shuffles) instead of 16 horizontal sums and
            // 16 inserts. Key `lane` goes in slot bitreverse(lane), which
            // the butterfly returns in natural order.
            SmallVector<Value> partials(kLanes);
            for (int64_t lane = 0; lane < kLanes; ++lane)
              partials[reverseLaneBits(lane)] =
                  keyPartials(kb, kvHead, keyRows[lane], q);
            LaneSums lanes = sumLanes(kb, loc, partials, reassoc);
            assert(lanes.laneOf[reverseLaneBits(3)] == 3 &&
                   "bit-reversed inputs come out in order");
            s = lanes.sums;
          } else {
            SmallVector<Value> dots;
            for (Value key : keyRows)
              dots.push_back(keyDot(kb, kvHead, key, q));
            s = vector::FromElementsOp::create(kb, loc, vec, dots);
          }
          s = addLogSizes(kb, s, j0);
          Value kPos = keyPositions(kb, kvHead, j0);
          s = arith::SelectOp::create(kb, loc, visible(kb, j0, kPos, qPos), s,
                                      splat(kb, negInf));
          if (logitBuf)
            vector::StoreOp::create(kb, loc, s, logitBuf, ValueRange{j0});
          SoftmaxStep step = softmaxStep(kb, {s}, st[0], st[1]);
          Value alpha = splat(kb, step.alpha);
          SmallVector<Value> acc;
          for (int64_t c = 0; c < vChunks; ++c)
            acc.push_back(arith::MulFOp::create(kb, loc, st[2 + c], alpha));
          for (int64_t lane = 0; lane < kLanes; ++lane) {
            Value pb =
                splat(kb, vector::ExtractOp::create(kb, loc, step.p[0], lane));
            SmallVector<Value> valueRow = loadRow(kb, /*ofKeys=*/false, kvHead,
                                                  keyRows[lane], 0, vChunks);
            for (int64_t c = 0; c < vChunks; ++c)
              acc[c] = fma(kb, pb, valueRow[c], acc[c]);
          }
          SmallVector<Value> next{step.max, step.sum};
          next.append(acc);
          return next;
        };
        auto denseLoop = [&](OpBuilder &ob) {
          return scf::ForOp::create(
              ob, loc, lo, hi, index(ob, kLanes), inits,
              [&](OpBuilder &kb, Location, Value j0, ValueRange st) {
                scf::YieldOp::create(kb, loc, keyBlock(kb, j0, st));
              });
        };
        Operation *keyLoop;
        if (!in.selectBudget) {
          keyLoop = denseLoop(rb);
        } else {
          // Quest: more pages than the budget's -> only the selected ones.
          Value pages = arith::DivUIOp::create(
              rb, loc,
              arith::AddIOp::create(rb, loc, keys, index(rb, in.pageSize - 1)),
              index(rb, in.pageSize));
          int64_t budgetPages =
              std::max<int64_t>(3, in.selectBudget / in.pageSize);
          Value select =
              arith::CmpIOp::create(rb, loc, arith::CmpIPredicate::ugt, pages,
                                    index(rb, budgetPages));
          keyLoop = scf::IfOp::create(
              rb, loc, select,
              [&](OpBuilder &tb, Location) {
                markSelectedPages(tb, kvHead, q, pages, budgetPages);
                auto overPages = scf::ForOp::create(
                    tb, loc, c0, pages, c1, inits,
                    [&](OpBuilder &pb, Location, Value page, ValueRange st) {
                      Value flag =
                          memref::LoadOp::create(pb, loc, selBuf, page);
                      Value chosen = arith::CmpIOp::create(
                          pb, loc, arith::CmpIPredicate::ne, flag,
                          arith::ConstantOp::create(pb, loc,
                                                    pb.getI8IntegerAttr(0)));
                      auto ifOp = scf::IfOp::create(
                          pb, loc, chosen,
                          [&](OpBuilder &ib, Location) {
                            Value first = arith::MulIOp::create(
                                ib, loc, page, index(ib, in.pageSize));
                            Value end = arith::AddIOp::create(
                                ib, loc, first, index(ib, in.pageSize));
                            auto blocks = scf::ForOp::create(
                                ib, loc, first, end, index(ib, kLanes), st,
                                [&](OpBuilder &kb, Location, Value j0,
                                    ValueRange bst) {
                                  scf::YieldOp::create(kb, loc,
                                                       keyBlock(kb, j0, bst));
                                });
                            scf::YieldOp::create(ib, loc, blocks.getResults());
                          },
                          [&](OpBuilder &eb, Location) {
                            scf::YieldOp::create(eb, loc, st);
                          });
                      scf::YieldOp::create(pb, loc, ifOp.getResults());
                    });
                scf::YieldOp::create(tb, loc, overPages.getResults());
              },
              [&](OpBuilder &eb, Location) {
                scf::YieldOp::create(eb, loc, denseLoop(eb).getResults());
              });
        }
        SmallVector<Value> acc(keyLoop->getResults().drop_front(2));
        if (logitBuf)
          accumulateScores(rb, i, lo, hi, keyLoop->getResult(0),
                           keyLoop->getResult(1));
        scf::YieldOp::create(
            rb, loc,
            writeOutputRow(rb, rowArgs[0], hh, i, acc, keyLoop->getResult(1)));
      });
  return rows.getResult(0);
}

std::pair<Value, Value> VectorAttentionEmitter::scoreWeightAndLse(OpBuilder &ob,
                                                                  Value row,
                                                                  Value max,
                                                                  Value sum) {
  Value fromEnd = arith::SubIOp::create(
      ob, loc, arith::SubIOp::create(ob, loc, tokens, row), index(ob, 1));
  Value weight = f32Const(ob, 1.0);
  double decay = in.scores.getDecay().convertToDouble();
  if (decay != 1.0) {
    Value e = arith::SIToFPOp::create(
        ob, loc, f32,
        arith::IndexCastOp::create(ob, loc, ob.getI64Type(), fromEnd));
    weight = math::ExpOp::create(
        ob, loc,
        arith::MulFOp::create(ob, loc, e, f32Const(ob, std::log(decay))));
  }
  if (int64_t rows = in.scores.getRows(); rows > 0) {
    Value counts = arith::CmpIOp::create(ob, loc, arith::CmpIPredicate::slt,
                                         fromEnd, index(ob, rows));
    weight = arith::SelectOp::create(ob, loc, counts, weight, zeroF);
  }
  Value seen =
      arith::CmpFOp::create(ob, loc, arith::CmpFPredicate::OGT, sum, zeroF);
  weight = arith::SelectOp::create(ob, loc, seen, weight, zeroF);
  // p_j = exp(s_j - lse), lse = max + log(sum).
  Value lse =
      arith::AddFOp::create(ob, loc, max, math::LogOp::create(ob, loc, sum));
  lse = arith::SelectOp::create(ob, loc, seen, lse, zeroF);
  return {weight, lse};
}

void VectorAttentionEmitter::accumulateScores(OpBuilder &ob, Value row,
                                              Value lo, Value hi, Value max,
                                              Value sum) {
  auto [weight, lse] = scoreWeightAndLse(ob, row, max, sum);
  Value lseVec = splat(ob, lse), weightVec = splat(ob, weight);
  scf::ForOp::create(
      ob, loc, lo, hi, index(ob, kLanes), ValueRange{},
      [&](OpBuilder &lb, Location l, Value j0, ValueRange) {
        Value s = vector::LoadOp::create(lb, l, vec, logitBuf, ValueRange{j0});
        Value p =
            math::ExpOp::create(lb, l, arith::SubFOp::create(lb, l, s, lseVec));
        Value old =
            vector::LoadOp::create(lb, l, vec, scoreAcc, ValueRange{j0});
        vector::StoreOp::create(lb, l, fma(lb, p, weightVec, old), scoreAcc,
                                ValueRange{j0});
        scf::YieldOp::create(lb, l);
      });
}

Value VectorAttentionEmitter::buildLogSizes(OpBuilder &ob, Value sizes) {
  MLIRContext *ctx = ob.getContext();
  Value n = tensor::DimOp::create(ob, loc, sizes, 0);
  Value padded = arith::AddIOp::create(ob, loc, n, index(ob, 2 * kLanes));
  Value init = tensor::EmptyOp::create(ob, loc, ArrayRef<OpFoldResult>{padded},
                                       ob.getF32Type());
  AffineMap id = AffineMap::getMultiDimIdentityMap(1, ctx);
  return linalg::GenericOp::create(
             ob, loc, init.getType(), ValueRange{}, ValueRange{init},
             ArrayRef<AffineMap>{id}, {utils::IteratorType::parallel},
             [&](OpBuilder &nb, Location l, ValueRange) {
               Value i = linalg::IndexOp::create(nb, l, 0);
               Value inside = arith::CmpIOp::create(
                   nb, l, arith::CmpIPredicate::ult, i, n);
               auto ifOp = scf::IfOp::create(
                   nb, l, inside,
                   [&](OpBuilder &tb, Location tl) {
                     Value sz = tensor::ExtractOp::create(tb, tl, sizes, i);
                     scf::YieldOp::create(
                         tb, tl, ValueRange{math::LogOp::create(tb, tl, sz)});
                   },
                   [&](OpBuilder &eb, Location el) {
                     scf::YieldOp::create(eb, el,
                                          ValueRange{f32Const(eb, 0.0)});
                   });
               linalg::YieldOp::create(nb, l, ifOp.getResult(0));
             })
      .getResult(0);
}

SmallVector<Value> VectorAttentionEmitter::emit() {
  auto qType = cast<RankedTensorType>(in.query.getType());
  Value c0 = index(b, 0), c1 = index(b, 1);
  Value queryHeads = tensor::DimOp::create(b, loc, in.query, 0);
  tokens = tensor::DimOp::create(b, loc, in.query, 1);
  Value kvHeads = tensor::DimOp::create(b, loc, in.key, 0);
  keys = tensor::DimOp::create(b, loc, in.key, 1);
  if (in.quant)
    keys = arith::AddIOp::create(b, loc, in.quant.quantized, keys);
  keysI32 = toI32(b, keys);
  offset = arith::SubIOp::create(b, loc, keys, tokens);
  negInf = f32Const(b, -std::numeric_limits<double>::infinity());
  zeroF = f32Const(b, 0.0);
  SmallVector<int32_t> iota;
  for (int64_t lane = 0; lane < kLanes; ++lane)
    iota.push_back(static_cast<int32_t>(lane));
  laneIota = arith::ConstantOp::create(
      b, loc, DenseElementsAttr::get(ivec, ArrayRef<int32_t>(iota)));
  if (FloatAttr attr = in.scale)
    scale = f32Const(b, attr.getValueAsDouble());
  else
    scale = f32Const(b, 1.0 / std::sqrt(static_cast<double>(depth)));

  if (qType.isDynamicDim(0) ||
      cast<RankedTensorType>(in.key.getType()).isDynamicDim(0))
    emitHeadCountCheck(b, loc, queryHeads, kvHeads);
  Value group = arith::DivUIOp::create(b, loc, queryHeads, kvHeads);

  Value output = createAttentionOutput(b, loc, in.outputType, queryHeads,
                                       tokens, index(b, valueDepth));

  if (in.keySizes)
    logSizes = buildLogSizes(b, in.keySizes);

  Value received = in.receivedInit;
  SmallVector<Value> sharedInits{output};
  if (received)
    sharedInits.push_back(received);
  auto forall = scf::ForallOp::create(b, loc, ArrayRef<OpFoldResult>{kvHeads},
                                      sharedInits, std::nullopt);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPoint(forall.getBody()->getTerminator());
  Value kvHead = forall.getInductionVars()[0];
  Value shared = forall.getRegionIterArgs()[0];
  Value firstHead = arith::MulIOp::create(b, loc, kvHead, group);
  OpFoldResult one = b.getIndexAttr(1), zero = b.getIndexAttr(0);
  SmallVector<OpFoldResult> offsets{firstHead, zero, zero};
  // A static group keeps the slice's type static in its heads, so that the
  // prefill / decode branches below yield the very slice and bufferization
  // writes in place (with ?-typed results, a copy of the slice onto itself
  // survived behind the casts).
  int64_t kvHeadsStatic =
      cast<RankedTensorType>(in.key.getType()).getDimSize(0);
  int64_t groupStatic = ShapedType::kDynamic;
  if (!qType.isDynamicDim(0) && !ShapedType::isDynamic(kvHeadsStatic) &&
      kvHeadsStatic > 0 && qType.getDimSize(0) % kvHeadsStatic == 0)
    groupStatic = qType.getDimSize(0) / kvHeadsStatic;
  OpFoldResult groupSize = ShapedType::isDynamic(groupStatic)
                               ? OpFoldResult(group)
                               : OpFoldResult(b.getIndexAttr(groupStatic));
  SmallVector<OpFoldResult> groupSizes{groupSize, tokens,
                                       b.getIndexAttr(valueDepth)};
  SmallVector<OpFoldResult> strides(3, one);
  Value groupOut = tensor::ExtractSliceOp::create(
      b, loc,
      RankedTensorType::get({groupStatic, ShapedType::kDynamic, valueDepth},
                            f32),
      shared, offsets, groupSizes, strides);

  // Received scores: a task-local accumulator over the keys (+ one vector
  // of slack for the last block), copied into the KV head's row at the end.
  if (received) {
    // Slack: the prefill kernel's last 32-key tile may start 31 keys
    // before S.
    Value slots = arith::AddIOp::create(b, loc, keys, index(b, 2 * kTileKeys));
    scoreAcc = memref::AllocOp::create(
        b, loc, MemRefType::get({ShapedType::kDynamic}, f32), slots);
    logitBuf = memref::AllocOp::create(
        b, loc, MemRefType::get({ShapedType::kDynamic}, f32), slots);
    linalg::FillOp::create(b, loc, zeroF, scoreAcc);
  }

  // Both kernels over the group's query heads.
  auto overHeads = [&](OpBuilder &ob, bool prefill) -> Value {
    if (prefill) {
      // Scratch at the top of the task: allocas in the loops below would
      // grow the stack per iteration.
      qBuf = memref::AllocaOp::create(ob, loc,
                                      MemRefType::get({kRows, depth}, f32));
      pBuf = memref::AllocaOp::create(ob, loc,
                                      MemRefType::get({kRows, kTileKeys}, f32));
      oBuf = memref::AllocaOp::create(
          ob, loc, MemRefType::get({kRows, valueDepth}, f32));
      packed = packKeys(ob, kvHead);
      if (received) {
        Value width =
            arith::AddIOp::create(ob, loc, keys, index(ob, 2 * kTileKeys));
        blockLogits = memref::AllocOp::create(
            ob, loc, MemRefType::get({kRows, ShapedType::kDynamic}, f32),
            ValueRange{width});
      }
    } else {
      blockLogits = Value();
      if (in.quant) {
        int64_t groups =
            cast<RankedTensorType>(in.quant.keyScales.getType()).getDimSize(1);
        qsBuf = memref::AllocOp::create(ob, loc,
                                        MemRefType::get({groups, depth}, f32));
        qmBuf =
            memref::AllocOp::create(ob, loc, MemRefType::get({groups}, f32));
      }
      if (in.selectBudget) {
        int64_t pages =
            cast<RankedTensorType>(in.pageMin.getType()).getDimSize(1);
        // Page keys padded to whole vectors.
        boundBuf = memref::AllocOp::create(
            ob, loc,
            MemRefType::get({(pages + kLanes - 1) / kLanes * kLanes}, i32));
        selBuf = memref::AllocOp::create(
            ob, loc, MemRefType::get({pages}, ob.getI8Type()));
      }
    }
    auto heads = scf::ForOp::create(
        ob, loc, c0, group, c1, ValueRange{groupOut},
        [&](OpBuilder &hb, Location, Value hh, ValueRange args) {
          Value h = arith::AddIOp::create(hb, loc, firstHead, hh);
          Value r = prefill ? emitPrefill(hb, args[0], kvHead, h, hh)
                            : emitDecode(hb, args[0], kvHead, h, hh);
          scf::YieldOp::create(hb, loc, r);
        });
    return heads.getResult(0);
  };
  Value result;
  int64_t staticTokens = qType.getDimSize(1);
  if (!ShapedType::isDynamic(staticTokens)) {
    result = overHeads(b, staticTokens >= prefillRows);
  } else {
    Value many = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge,
                                       tokens, index(b, prefillRows));
    auto ifOp = scf::IfOp::create(
        b, loc, many,
        [&](OpBuilder &tb, Location l) {
          scf::YieldOp::create(tb, l, overHeads(tb, true));
        },
        [&](OpBuilder &eb, Location l) {
          scf::YieldOp::create(eb, l, overHeads(eb, false));
        });
    result = ifOp.getResult(0);
  }
  SmallVector<OpFoldResult> rowOffsets{kvHead, zero}, rowSizes{one, keys},
      rowStrides(2, one);
  Value receivedRow;
  if (received) {
    Value row = tensor::ExtractSliceOp::create(
        b, loc, RankedTensorType::get({1, ShapedType::kDynamic}, f32),
        forall.getRegionIterArgs()[1], rowOffsets, rowSizes, rowStrides);
    auto copy = scf::ForOp::create(
        b, loc, c0, keys, c1, ValueRange{row},
        [&](OpBuilder &lb, Location l, Value j, ValueRange a) {
          Value v = memref::LoadOp::create(lb, l, scoreAcc, ValueRange{j});
          scf::YieldOp::create(
              lb, l,
              tensor::InsertOp::create(lb, l, v, a[0], ValueRange{c0, j})
                  .getResult());
        });
    receivedRow = copy.getResult(0);
  }
  b.setInsertionPointToStart(forall.getTerminator().getBody());
  tensor::ParallelInsertSliceOp::create(b, loc, result, shared, offsets,
                                        groupSizes, strides);
  if (received) {
    tensor::ParallelInsertSliceOp::create(b, loc, receivedRow,
                                          forall.getRegionIterArgs()[1],
                                          rowOffsets, rowSizes, rowStrides);
    return {forall.getResult(0), forall.getResult(1)};
  }
  return {forall.getResult(0)};
}

bool mlir::tok::canEmitVectorAttention(const AttentionInputs &in) {
  auto q = cast<RankedTensorType>(in.query.getType());
  auto k = cast<RankedTensorType>(in.key.getType());
  auto v = cast<RankedTensorType>(in.value.getType());
  if (!q.getElementType().isF32() || !k.getElementType().isF32() ||
      !v.getElementType().isF32() || !in.outputType.getElementType().isF32())
    return false;
  int64_t d = q.getDimSize(2), dv = v.getDimSize(2);
  if (ShapedType::isDynamic(d) || k.getDimSize(2) != d ||
      ShapedType::isDynamic(dv) || d % kLanes != 0 || dv % kLanes != 0 ||
      d == 0 || dv == 0 || dv > kMaxValueDim)
    return false;
  // Received scores: both kernels accumulate them.
  return !in.treeParents && !in.querySegments && !in.keySegments;
}

SmallVector<Value> mlir::tok::emitVectorAttention(OpBuilder &b, Location loc,
                                                  const AttentionInputs &in,
                                                  int64_t prefillRows) {
  return VectorAttentionEmitter(b, loc, in, prefillRows).emit();
}
