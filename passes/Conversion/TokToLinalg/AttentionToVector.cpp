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
//     bf16Prefill: both products as bf16 pair dot products (Q K^T over
//       channel pairs, P V over key pairs with V packed per KV head;
//       AttentionToVectorPrefill.cpp)
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
// Files: this one has the parts both kernels use and emit() (the loop over
// KV heads); AttentionToVectorPrefill.cpp and AttentionToVectorDecode.cpp
// the two kernels; AttentionVectorEmitter.h the emitter class.
//
//===----------------------------------------------------------------------===//

#include "AttentionVectorEmitter.h"

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
using namespace mlir::tok::vector_attention;

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
  return bySlotKind(
      ob, slot,
      [&](OpBuilder &tb) {
        SmallVector<Value> chunks;
        for (int64_t c = c0; c < c0 + n; ++c)
          chunks.push_back(dequantChunk(tb, ofKeys, kvHead, slot, c * kLanes));
        return chunks;
      },
      read);
}

SmallVector<Value> VectorAttentionEmitter::bySlotKind(
    OpBuilder &ob, Value slot,
    function_ref<SmallVector<Value>(OpBuilder &)> codes,
    function_ref<SmallVector<Value>(OpBuilder &, Value)> tail) {
  if (!in.quant)
    return tail(ob, slot);
  Value inCodes = arith::CmpIOp::create(ob, loc, arith::CmpIPredicate::ult,
                                        slot, in.quant.quantized);
  auto ifOp = scf::IfOp::create(
      ob, loc, inCodes,
      [&](OpBuilder &tb, Location l) {
        scf::YieldOp::create(tb, l, codes(tb));
      },
      [&](OpBuilder &eb, Location l) {
        scf::YieldOp::create(
            eb, l,
            tail(eb, arith::SubIOp::create(eb, l, slot, in.quant.quantized)));
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
      // bf16: Q and P rows as i32 words, each a pair of bf16.
      qBuf = memref::AllocaOp::create(
          ob, loc,
          bf16Prefill ? MemRefType::get({kRows, depth / 2}, i32)
                      : MemRefType::get({kRows, depth}, f32));
      pBuf = memref::AllocaOp::create(
          ob, loc,
          bf16Prefill ? MemRefType::get({kRows, kTileKeys / 2}, i32)
                      : MemRefType::get({kRows, kTileKeys}, f32));
      oBuf = memref::AllocaOp::create(
          ob, loc, MemRefType::get({kRows, valueDepth}, f32));
      sumBuf = memref::AllocaOp::create(ob, loc, MemRefType::get({kRows}, f32));
      packed = packKeys(ob, kvHead);
      if (bf16Prefill)
        packedValues = packValues(ob, kvHead);
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
                                                  int64_t prefillRows,
                                                  bool bf16Prefill) {
  return VectorAttentionEmitter(b, loc, in, prefillRows, bf16Prefill).emit();
}
