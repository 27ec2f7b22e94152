//===- AttentionToLinalg.cpp - tok.attention as tiled online softmax ------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// Lowers tok.attention to loops over (query head, query tile, key tile) that
// carry FlashAttention-2's running max, running sum and unnormalized output
// (docs/algorithms.md, "Attention (online softmax)"), with every tile
// computation a linalg op on tensors. Only a query-tile x key-tile block of
// logits exists at any time; the full T x S score matrix is never built. All
// statistics are f32 whatever the element type. The `received` scores take a
// second pass over the key tiles of each query tile with the rows' final
// log-sum-exp (method (A) of docs/algorithms.md, "Received mass (scores)").
//
//===----------------------------------------------------------------------===//

#include "AttentionEmitter.h"
#include "tok/Conversion/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/StructuredOpsUtils.h"
#include "mlir/Transforms/DialectConversion.h"
#include "tok/Dialect/Tok/IR/TokOps.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace mlir::tok;

namespace {

using utils::IteratorType;

/// Emits the loop nest of one attention. Values named like tok.attention's
/// documentation: q [Hq, T, D], k [Hk, S, D], v [Hk, S, Dv].
class AttentionEmitter {
public:
  AttentionEmitter(OpBuilder &b, Location loc, const AttentionInputs &in,
                   int64_t queryTile, int64_t keyTile)
      : b(b), loc(loc), in(in), mask(in.mask), f32(b.getF32Type()),
        queryTile(queryTile), keyTile(keyTile) {
    q = in.query;
    k = in.key;
    v = in.value;
    queryPositions = in.queryPositions;
    keyPositions = in.keyPositions;
    parents = in.treeParents;
    querySegments = in.querySegments;
    keySegments = in.keySegments;
    keySizes = in.keySizes;
    elemType = cast<RankedTensorType>(q.getType()).getElementType();
  }

  /// Returns the output and, when requested, the received scores.
  SmallVector<Value> emit();

private:
  Value index(int64_t value) {
    return arith::ConstantIndexOp::create(b, loc, value);
  }
  Value f32Const(OpBuilder &ob, double value) {
    return arith::ConstantOp::create(ob, loc, ob.getF32FloatAttr(value));
  }
  Value dim(Value tensor, int64_t d) {
    return tensor::DimOp::create(b, loc, tensor, d);
  }
  Value toF32(OpBuilder &ob, Value value) {
    if (value.getType() == f32)
      return value;
    return arith::ExtFOp::create(ob, loc, f32, value);
  }
  /// A tensor of `sizes` filled with `value`.
  Value filled(ArrayRef<Value> sizes, double value) {
    SmallVector<int64_t> shape(sizes.size(), ShapedType::kDynamic);
    Value empty = tensor::EmptyOp::create(
        b, loc, RankedTensorType::get(shape, f32), ValueRange(sizes));
    return linalg::FillOp::create(b, loc, f32Const(b, value), empty)
        .getResult(0);
  }
  /// The 2-D slice [row, col0 : col0 + cols] x [0 : width] of a rank-3
  /// tensor `src` (one head's rows).
  Value headRows(Value src, Value head, Value row0, Value rows, Value width) {
    auto type = RankedTensorType::get(
        {ShapedType::kDynamic, ShapedType::kDynamic}, elemType);
    OpFoldResult one = b.getIndexAttr(1), zero = b.getIndexAttr(0);
    return tensor::ExtractSliceOp::create(
        b, loc, type, src, ArrayRef<OpFoldResult>{head, row0, zero},
        ArrayRef<OpFoldResult>{one, rows, width},
        ArrayRef<OpFoldResult>{one, one, one});
  }
  Value slice1D(Value src, Value offset, Value size) {
    if (!src)
      return {};
    return tensor::ExtractSliceOp::create(
        b, loc, src, ArrayRef<OpFoldResult>{offset},
        ArrayRef<OpFoldResult>{size},
        ArrayRef<OpFoldResult>{b.getIndexAttr(1)});
  }

  /// Key positions of tile [j0, j0 + bk) for KV head `kvHead`: positions are
  /// shared by all heads ([S]) or per head ([Hk, S], a cache after eviction).
  Value keyPositionTile(Value kvHead, Value j0, Value bk) {
    if (!keyPositions)
      return {};
    if (cast<RankedTensorType>(keyPositions.getType()).getRank() == 1)
      return slice1D(keyPositions, j0, bk);
    OpFoldResult one = b.getIndexAttr(1);
    return tensor::ExtractSliceOp::create(
        b, loc, RankedTensorType::get({ShapedType::kDynamic}, b.getI32Type()),
        keyPositions, ArrayRef<OpFoldResult>{kvHead, j0},
        ArrayRef<OpFoldResult>{one, bk}, ArrayRef<OpFoldResult>{one, one});
  }

  std::pair<Value, Value> keyRange(Value i0, Value bq) {
    return attentionKeyRange(b, loc, in, tokens, keys, i0, bq);
  }

  /// `t` (rank 1 or 2, rows first) with row r multiplied by `factors[r]`,
  /// written in place into `t`.
  Value scaleRows(Value factors, Value t) {
    MLIRContext *ctx = b.getContext();
    int64_t rank = cast<RankedTensorType>(t.getType()).getRank();
    AffineMap row = AffineMap::get(rank, 0, {getAffineDimExpr(0, ctx)}, ctx);
    AffineMap id = AffineMap::getMultiDimIdentityMap(rank, ctx);
    return linalg::GenericOp::create(
               b, loc, t.getType(), ValueRange{factors}, ValueRange{t},
               ArrayRef<AffineMap>{row, id},
               SmallVector<IteratorType>(rank, IteratorType::parallel),
               [&](OpBuilder &gb, Location l, ValueRange a) {
                 linalg::YieldOp::create(
                     gb, l,
                     arith::MulFOp::create(gb, l, a[1], a[0]).getResult());
               })
        .getResult(0);
  }

  /// Scaled, masked and biased logits of one tile, [bq, bk] f32, -inf where
  /// the key is not visible.
  Value logits(Value qTile, Value kTile, Value kvHead, Value i0, Value bq,
               Value j0, Value bk);
  /// Whether query row `qi` (absolute) may see key `kj` (absolute).
  Value visible(OpBuilder &ob, Value qi, Value kj, Value qPos, Value kPos,
                Value qSeg, Value kSeg);
  /// Whether tree node `j` is node `i` or one of its ancestors.
  Value isAncestor(OpBuilder &ob, Value i, Value j);

  OpBuilder &b;
  Location loc;
  const AttentionInputs &in;
  MaskAttr mask;
  Type f32, elemType;
  int64_t queryTile, keyTile;
  Value q, k, v, queryPositions, keyPositions, parents, querySegments,
      keySegments, keySizes;
  Value tokens, keys, scale;
};

} // namespace

Value AttentionEmitter::isAncestor(OpBuilder &ob, Value i, Value j) {
  // Walk up from i while above j. A parent pointer that does not point
  // strictly backwards ends the walk, so malformed trees cannot loop.
  Type idx = ob.getIndexType();
  auto walk = scf::WhileOp::create(
      ob, loc, TypeRange{idx}, ValueRange{i},
      [&](OpBuilder &wb, Location l, ValueRange args) {
        Value above =
            arith::CmpIOp::create(wb, l, arith::CmpIPredicate::sgt, args[0], j);
        scf::ConditionOp::create(wb, l, above, args);
      },
      [&](OpBuilder &wb, Location l, ValueRange args) {
        Value raw = tensor::ExtractOp::create(wb, l, parents, args[0]);
        Value parent = arith::IndexCastOp::create(wb, l, idx, raw);
        Value backwards = arith::CmpIOp::create(
            wb, l, arith::CmpIPredicate::slt, parent, args[0]);
        Value minusOne = arith::ConstantIndexOp::create(wb, l, -1);
        Value next =
            arith::SelectOp::create(wb, l, backwards, parent, minusOne);
        scf::YieldOp::create(wb, l, next);
      });
  return arith::CmpIOp::create(ob, loc, arith::CmpIPredicate::eq,
                               walk.getResult(0), j);
}

Value AttentionEmitter::visible(OpBuilder &ob, Value qi, Value kj, Value qPos,
                                Value kPos, Value qSeg, Value kSeg) {
  Value yes = arith::ConstantIntOp::create(ob, loc, 1, 1);
  Value vis = yes;
  if (mask.isCausal()) {
    Value causal =
        arith::CmpIOp::create(ob, loc, arith::CmpIPredicate::sle, kPos, qPos);
    if (mask.getWindow() > 0) {
      Value distance = arith::SubIOp::create(ob, loc, qPos, kPos);
      Value window = arith::ConstantIndexOp::create(ob, loc, mask.getWindow());
      Value inWindow = arith::CmpIOp::create(ob, loc, arith::CmpIPredicate::slt,
                                             distance, window);
      if (mask.getSinks() > 0) {
        Value sinks = arith::ConstantIndexOp::create(ob, loc, mask.getSinks());
        Value isSink = arith::CmpIOp::create(ob, loc, arith::CmpIPredicate::slt,
                                             kPos, sinks);
        inWindow = arith::OrIOp::create(ob, loc, inWindow, isSink);
      }
      causal = arith::AndIOp::create(ob, loc, causal, inWindow);
    }
    if (parents) {
      // Keys from S - T on are the tree nodes: ancestry decides there,
      // positions before.
      Value firstNode = arith::SubIOp::create(ob, loc, keys, tokens);
      Value isNode = arith::CmpIOp::create(ob, loc, arith::CmpIPredicate::sge,
                                           kj, firstNode);
      Value node = arith::SubIOp::create(ob, loc, kj, firstNode);
      auto ifOp = scf::IfOp::create(
          ob, loc, isNode,
          [&](OpBuilder &tb, Location l) {
            scf::YieldOp::create(tb, l, isAncestor(tb, qi, node));
          },
          [&](OpBuilder &eb, Location l) {
            scf::YieldOp::create(eb, l, causal);
          });
      causal = ifOp.getResult(0);
    }
    vis = causal;
  }
  if (qSeg) {
    Value same =
        arith::CmpIOp::create(ob, loc, arith::CmpIPredicate::eq, qSeg, kSeg);
    vis = arith::AndIOp::create(ob, loc, vis, same);
  }
  return vis;
}

Value AttentionEmitter::logits(Value qTile, Value kTile, Value kvHead, Value i0,
                               Value bq, Value j0, Value bk) {
  MLIRContext *ctx = b.getContext();
  AffineExpr m, n, d;
  bindDims(ctx, m, n, d);
  Value init = filled({bq, bk}, 0.0);
  // A dot product over the head dimension per (row, key).
  auto contract =
      arith::FastMathFlagsAttr::get(ctx, arith::FastMathFlags::contract);
  Value dots =
      linalg::GenericOp::create(
          b, loc, init.getType(), ValueRange{qTile, kTile}, ValueRange{init},
          ArrayRef<AffineMap>{AffineMap::get(3, 0, {m, d}, ctx),
                              AffineMap::get(3, 0, {n, d}, ctx),
                              AffineMap::get(3, 0, {m, n}, ctx)},
          ArrayRef<IteratorType>{IteratorType::parallel, IteratorType::parallel,
                                 IteratorType::reduction},
          [&](OpBuilder &gb, Location l, ValueRange args) {
            Value prod = arith::MulFOp::create(gb, l, toF32(gb, args[0]),
                                               toF32(gb, args[1]), contract);
            linalg::YieldOp::create(
                gb, l,
                arith::AddFOp::create(gb, l, args[2], prod, contract)
                    .getResult());
          })
          .getResult(0);

  // Mask and bias. Optional per-row / per-column inputs come in as slices.
  SmallVector<Value> inputs{dots};
  SmallVector<AffineMap> maps{AffineMap::get(2, 0, {m, n}, ctx)};
  AffineMap row = AffineMap::get(2, 0, {m}, ctx);
  AffineMap col = AffineMap::get(2, 0, {n}, ctx);
  auto addInput = [&](Value value, AffineMap map) -> int {
    if (!value)
      return -1;
    inputs.push_back(value);
    maps.push_back(map);
    return static_cast<int>(inputs.size()) - 1;
  };
  int qPosArg = addInput(slice1D(queryPositions, i0, bq), row);
  int kPosArg = addInput(keyPositionTile(kvHead, j0, bk), col);
  int qSegArg = addInput(slice1D(querySegments, i0, bq), row);
  int kSegArg = addInput(slice1D(keySegments, j0, bk), col);
  int sizeArg = addInput(slice1D(keySizes, j0, bk), col);
  maps.push_back(AffineMap::get(2, 0, {m, n}, ctx));
  Value negInf = f32Const(b, -std::numeric_limits<double>::infinity());

  return linalg::GenericOp::create(
             b, loc, init.getType(), inputs, ValueRange{init}, maps,
             ArrayRef<IteratorType>{IteratorType::parallel,
                                    IteratorType::parallel},
             [&](OpBuilder &gb, Location l, ValueRange args) {
               Type idx = gb.getIndexType();
               Value qi = arith::AddIOp::create(
                   gb, l, i0, linalg::IndexOp::create(gb, l, 0));
               Value kj = arith::AddIOp::create(
                   gb, l, j0, linalg::IndexOp::create(gb, l, 1));
               // Default positions: the queries are the last T of S keys.
               Value qPos =
                   qPosArg >= 0
                       ? arith::IndexCastOp::create(gb, l, idx, args[qPosArg])
                             .getResult()
                       : arith::AddIOp::create(
                             gb, l, arith::SubIOp::create(gb, l, keys, tokens),
                             qi)
                             .getResult();
               Value kPos =
                   kPosArg >= 0
                       ? arith::IndexCastOp::create(gb, l, idx, args[kPosArg])
                             .getResult()
                       : kj;
               Value qSeg = qSegArg >= 0 ? args[qSegArg] : Value();
               Value kSeg = kSegArg >= 0 ? args[kSegArg] : Value();
               Value vis = visible(gb, qi, kj, qPos, kPos, qSeg, kSeg);
               Value logit = arith::MulFOp::create(gb, l, args[0], scale);
               if (FloatAttr cap = in.softcap) {
                 Value c = f32Const(gb, cap.getValueAsDouble());
                 logit = arith::MulFOp::create(
                     gb, l,
                     math::TanhOp::create(
                         gb, l, arith::DivFOp::create(gb, l, logit, c)),
                     c);
               }
               if (sizeArg >= 0)
                 logit = arith::AddFOp::create(
                     gb, l, logit, math::LogOp::create(gb, l, args[sizeArg]));
               linalg::YieldOp::create(
                   gb, l,
                   arith::SelectOp::create(gb, l, vis, logit, negInf)
                       .getResult());
             })
      .getResult(0);
}

SmallVector<Value> AttentionEmitter::emit() {
  MLIRContext *ctx = b.getContext();
  auto qType = cast<RankedTensorType>(q.getType());
  Value queryHeads = dim(q, 0);
  tokens = dim(q, 1);
  Value depth = dim(q, 2);
  Value kvHeads = dim(k, 0);
  keys = dim(k, 1);
  Value valueDepth = dim(v, 2);
  // The verifier checks Hq % Hk statically; dynamic head counts are
  // checked here, before the division decides which heads share a KV head.
  if (qType.isDynamicDim(0) ||
      cast<RankedTensorType>(k.getType()).isDynamicDim(0))
    emitHeadCountCheck(b, loc, queryHeads, kvHeads);
  Value group = arith::DivUIOp::create(b, loc, queryHeads, kvHeads);

  if (FloatAttr attr = in.scale) {
    scale = f32Const(b, attr.getValueAsDouble());
  } else if (!qType.isDynamicDim(2)) {
    scale =
        f32Const(b, 1.0 / std::sqrt(static_cast<double>(qType.getDimSize(2))));
  } else {
    Value d = arith::IndexCastOp::create(b, loc, b.getI64Type(), depth);
    Value df = arith::SIToFPOp::create(b, loc, f32, d);
    scale = math::RsqrtOp::create(b, loc, df);
  }

  Value c0 = index(0), c1 = index(1);
  Value bqStep = index(queryTile), bkStep = index(keyTile);
  Value negInf = f32Const(b, -std::numeric_limits<double>::infinity());
  Value zeroF = f32Const(b, 0.0);

  Value output = createAttentionOutput(b, loc, in.outputType, queryHeads,
                                       tokens, valueDepth);
  Value received = in.receivedInit;

  SmallVector<Value> headInits{output};
  if (received)
    headInits.push_back(received);

  AffineExpr m, n, d;
  bindDims(ctx, m, n, d);
  AffineMap id2 = AffineMap::get(2, 0, {m, n}, ctx);
  AffineMap row2 = AffineMap::get(2, 0, {m}, ctx);
  AffineMap id1 = AffineMap::get(1, 0, {m}, ctx);
  SmallVector<IteratorType, 2> par2{IteratorType::parallel,
                                    IteratorType::parallel};
  SmallVector<IteratorType, 2> rowReduce{IteratorType::parallel,
                                         IteratorType::reduction};

  // Parallel over KV heads: one task handles the `group` query heads that
  // share a KV head, so tasks write disjoint output slices and score rows
  // (and K/V of a head stay in that core's cache).
  auto forall = scf::ForallOp::create(b, loc, ArrayRef<OpFoldResult>{kvHeads},
                                      headInits, std::nullopt);
  OpBuilder::InsertionGuard g0(b);
  b.setInsertionPoint(forall.getBody()->getTerminator());
  Value kvHead = forall.getInductionVars()[0];
  ValueRange shared = forall.getRegionIterArgs();
  Value firstHead = arith::MulIOp::create(b, loc, kvHead, group);
  OpFoldResult one0 = b.getIndexAttr(1), zero0 = b.getIndexAttr(0);
  SmallVector<OpFoldResult> groupOffsets{firstHead, zero0, zero0};
  SmallVector<OpFoldResult> groupSizes{group, tokens, valueDepth};
  SmallVector<OpFoldResult> ones3(3, one0);
  SmallVector<Value> groupInits{tensor::ExtractSliceOp::create(
      b, loc, shared[0], groupOffsets, groupSizes, ones3)};
  SmallVector<OpFoldResult> recvOffsets{kvHead, zero0};
  SmallVector<OpFoldResult> recvSizes{one0, keys};
  SmallVector<OpFoldResult> ones2(2, one0);
  if (received)
    groupInits.push_back(tensor::ExtractSliceOp::create(
        b, loc, shared[1], recvOffsets, recvSizes, ones2));

  auto headLoop = scf::ForOp::create(
      b, loc, c0, group, c1, groupInits,
      [&](OpBuilder &hb, Location, Value hh, ValueRange headArgs) {
        OpBuilder::InsertionGuard g1(b);
        b.setInsertionPointToEnd(hb.getBlock());
        Value h = arith::AddIOp::create(b, loc, firstHead, hh);
        auto tileLoop = scf::ForOp::create(
            b, loc, c0, tokens, bqStep, headArgs,
            [&](OpBuilder &tb, Location, Value i0, ValueRange tileArgs) {
              OpBuilder::InsertionGuard g2(b);
              b.setInsertionPointToEnd(tb.getBlock());
              Value rest = arith::SubIOp::create(b, loc, tokens, i0);
              Value bq = arith::MinSIOp::create(b, loc, bqStep, rest);
              Value qTile = headRows(q, h, i0, bq, depth);

              Value m0 = filled({bq}, -std::numeric_limits<double>::infinity());
              Value l0 = filled({bq}, 0.0);
              Value acc0 = filled({bq, valueDepth}, 0.0);

              auto [keyLo, keyHi] = keyRange(i0, bq);
              auto keyLoop = scf::ForOp::create(
                  b, loc, keyLo, keyHi, bkStep, ValueRange{m0, l0, acc0},
                  [&](OpBuilder &kb, Location, Value j0, ValueRange st) {
                    OpBuilder::InsertionGuard g3(b);
                    b.setInsertionPointToEnd(kb.getBlock());
                    Value krest = arith::SubIOp::create(b, loc, keys, j0);
                    Value bk = arith::MinSIOp::create(b, loc, bkStep, krest);
                    Value kTile = headRows(k, kvHead, j0, bk, depth);
                    Value vTile = headRows(v, kvHead, j0, bk, valueDepth);
                    Value s = logits(qTile, kTile, kvHead, i0, bq, j0, bk);

                    // m' = max(m, rowmax s); alpha = exp(m - m') (0 if m =
                    // -inf).
                    Value rowMaxInit =
                        filled({bq}, -std::numeric_limits<double>::infinity());
                    Value rowMax =
                        linalg::GenericOp::create(
                            b, loc, rowMaxInit.getType(), ValueRange{s},
                            ValueRange{rowMaxInit},
                            ArrayRef<AffineMap>{id2, row2}, rowReduce,
                            [&](OpBuilder &gb, Location l, ValueRange a) {
                              linalg::YieldOp::create(
                                  gb, l,
                                  arith::MaxNumFOp::create(gb, l, a[0], a[1])
                                      .getResult());
                            })
                            .getResult(0);
                    // Updated in place in the running max (the loop's
                    // iter_arg), so that bufferization reuses its buffer.
                    Value alphaInit = filled({bq}, 0.0);
                    auto stats = linalg::GenericOp::create(
                        b, loc, TypeRange{st[0].getType(), alphaInit.getType()},
                        ValueRange{rowMax}, ValueRange{st[0], alphaInit},
                        ArrayRef<AffineMap>{id1, id1, id1},
                        ArrayRef<IteratorType>{IteratorType::parallel},
                        [&](OpBuilder &gb, Location l, ValueRange a) {
                          Value mOld = a[1];
                          Value mNew =
                              arith::MaxNumFOp::create(gb, l, mOld, a[0]);
                          Value wasEmpty = arith::CmpFOp::create(
                              gb, l, arith::CmpFPredicate::OEQ, mOld, negInf);
                          Value alpha = math::ExpOp::create(
                              gb, l, arith::SubFOp::create(gb, l, mOld, mNew));
                          alpha = arith::SelectOp::create(gb, l, wasEmpty,
                                                          zeroF, alpha);
                          linalg::YieldOp::create(gb, l,
                                                  ValueRange{mNew, alpha});
                        });
                    Value mNew = stats.getResult(0);
                    Value alpha = stats.getResult(1);

                    // p = exp(s - m') (0 while the row has seen no key).
                    Value pInit = filled({bq, bk}, 0.0);
                    Value p =
                        linalg::GenericOp::create(
                            b, loc, pInit.getType(), ValueRange{s, mNew},
                            ValueRange{pInit},
                            ArrayRef<AffineMap>{id2, row2, id2}, par2,
                            [&](OpBuilder &gb, Location l, ValueRange a) {
                              Value empty = arith::CmpFOp::create(
                                  gb, l, arith::CmpFPredicate::OEQ, a[1],
                                  negInf);
                              Value e = math::ExpOp::create(
                                  gb, l,
                                  arith::SubFOp::create(gb, l, a[0], a[1]));
                              linalg::YieldOp::create(
                                  gb, l,
                                  arith::SelectOp::create(gb, l, empty, zeroF,
                                                          e)
                                      .getResult());
                            })
                            .getResult(0);

                    // l' = alpha * l + rowsum p.
                    Value lScaled = scaleRows(alpha, st[1]);
                    Value lNew =
                        linalg::GenericOp::create(
                            b, loc, st[1].getType(), ValueRange{p},
                            ValueRange{lScaled}, ArrayRef<AffineMap>{id2, row2},
                            rowReduce,
                            [&](OpBuilder &gb, Location l, ValueRange a) {
                              linalg::YieldOp::create(
                                  gb, l,
                                  arith::AddFOp::create(gb, l, a[1], a[0])
                                      .getResult());
                            })
                            .getResult(0);

                    // acc' = alpha * acc + p v.
                    Value rescaled = scaleRows(alpha, st[2]);
                    // Loop order (row, key, value dim): the innermost loop
                    // is an axpy over the contiguous value row.
                    auto contract = arith::FastMathFlagsAttr::get(
                        ctx, arith::FastMathFlags::contract);
                    Value accNew =
                        linalg::GenericOp::create(
                            b, loc, st[2].getType(), ValueRange{p, vTile},
                            ValueRange{rescaled},
                            ArrayRef<AffineMap>{
                                AffineMap::get(3, 0, {m, n}, ctx),
                                AffineMap::get(3, 0, {n, d}, ctx),
                                AffineMap::get(3, 0, {m, d}, ctx)},
                            ArrayRef<IteratorType>{IteratorType::parallel,
                                                   IteratorType::reduction,
                                                   IteratorType::parallel},
                            [&](OpBuilder &gb, Location l, ValueRange a) {
                              Value prod = arith::MulFOp::create(
                                  gb, l, a[0], toF32(gb, a[1]), contract);
                              linalg::YieldOp::create(
                                  gb, l,
                                  arith::AddFOp::create(gb, l, a[2], prod,
                                                        contract)
                                      .getResult());
                            })
                            .getResult(0);
                    scf::YieldOp::create(b, loc,
                                         ValueRange{mNew, lNew, accNew});
                  });
              Value mFinal = keyLoop.getResult(0);
              Value lFinal = keyLoop.getResult(1);
              Value accFinal = keyLoop.getResult(2);

              // O = acc / l, 0 for a row that saw no key.
              auto outTileType = RankedTensorType::get(
                  {ShapedType::kDynamic, ShapedType::kDynamic}, elemType);
              Value outTileInit = tensor::EmptyOp::create(
                  b, loc, outTileType, ValueRange{bq, valueDepth});
              Value outTile =
                  linalg::GenericOp::create(
                      b, loc, outTileType, ValueRange{accFinal, lFinal},
                      ValueRange{outTileInit},
                      ArrayRef<AffineMap>{id2, row2, id2}, par2,
                      [&](OpBuilder &gb, Location l, ValueRange a) {
                        Value empty = arith::CmpFOp::create(
                            gb, l, arith::CmpFPredicate::OEQ, a[1], zeroF);
                        Value o = arith::DivFOp::create(gb, l, a[0], a[1]);
                        o = arith::SelectOp::create(gb, l, empty, zeroF, o);
                        if (elemType != f32)
                          o = arith::TruncFOp::create(gb, l, elemType, o);
                        linalg::YieldOp::create(gb, l, o);
                      })
                      .getResult(0);
              OpFoldResult one = b.getIndexAttr(1), zero = b.getIndexAttr(0);
              Value newOutput = tensor::InsertSliceOp::create(
                  b, loc, outTile, tileArgs[0],
                  ArrayRef<OpFoldResult>{hh, i0, zero},
                  ArrayRef<OpFoldResult>{one, bq, valueDepth},
                  ArrayRef<OpFoldResult>{one, one, one});
              SmallVector<Value> results{newOutput};

              if (received) {
                ScoresAttr rows = in.scores;
                // lse = m + log l (-inf for an empty row) and the row weight.
                Value lseInit = filled({bq}, 0.0);
                Value lse =
                    linalg::GenericOp::create(
                        b, loc, lseInit.getType(), ValueRange{mFinal, lFinal},
                        ValueRange{lseInit}, ArrayRef<AffineMap>{id1, id1, id1},
                        ArrayRef<IteratorType>{IteratorType::parallel},
                        [&](OpBuilder &gb, Location l, ValueRange a) {
                          Value empty = arith::CmpFOp::create(
                              gb, l, arith::CmpFPredicate::OEQ, a[1], zeroF);
                          Value lse = arith::AddFOp::create(
                              gb, l, a[0], math::LogOp::create(gb, l, a[1]));
                          linalg::YieldOp::create(
                              gb, l,
                              arith::SelectOp::create(gb, l, empty, negInf, lse)
                                  .getResult());
                        })
                        .getResult(0);
                Value weightInit = filled({bq}, 0.0);
                int64_t rowCount = rows.getRows();
                double decay = rows.getDecay().convertToDouble();
                Value weights =
                    linalg::GenericOp::create(
                        b, loc, weightInit.getType(), ValueRange{},
                        ValueRange{weightInit}, ArrayRef<AffineMap>{id1},
                        ArrayRef<IteratorType>{IteratorType::parallel},
                        [&](OpBuilder &gb, Location l, ValueRange) {
                          Value qi = arith::AddIOp::create(
                              gb, l, i0, linalg::IndexOp::create(gb, l, 0));
                          Value fromEnd = arith::SubIOp::create(
                              gb, l, arith::SubIOp::create(gb, l, tokens, qi),
                              arith::ConstantIndexOp::create(gb, l, 1));
                          Value w = arith::ConstantOp::create(
                              gb, l, gb.getF32FloatAttr(1.0f));
                          if (decay != 1.0) {
                            Value e = arith::SIToFPOp::create(
                                gb, l, f32,
                                arith::IndexCastOp::create(
                                    gb, l, gb.getI64Type(), fromEnd));
                            Value logDecay = arith::ConstantOp::create(
                                gb, l, gb.getF32FloatAttr(std::log(decay)));
                            w = math::ExpOp::create(
                                gb, l,
                                arith::MulFOp::create(gb, l, e, logDecay));
                          }
                          if (rowCount > 0) {
                            Value counts = arith::CmpIOp::create(
                                gb, l, arith::CmpIPredicate::slt, fromEnd,
                                arith::ConstantIndexOp::create(gb, l,
                                                               rowCount));
                            w = arith::SelectOp::create(gb, l, counts, w,
                                                        zeroF);
                          }
                          linalg::YieldOp::create(gb, l, w);
                        })
                        .getResult(0);

                auto scoreLoop = scf::ForOp::create(
                    b, loc, keyLo, keyHi, bkStep, ValueRange{tileArgs[1]},
                    [&](OpBuilder &sb, Location, Value j0, ValueRange sArgs) {
                      OpBuilder::InsertionGuard g4(b);
                      b.setInsertionPointToEnd(sb.getBlock());
                      Value krest = arith::SubIOp::create(b, loc, keys, j0);
                      Value bk = arith::MinSIOp::create(b, loc, bkStep, krest);
                      Value kTile = headRows(k, kvHead, j0, bk, depth);
                      Value s = logits(qTile, kTile, kvHead, i0, bq, j0, bk);
                      OpFoldResult one1 = b.getIndexAttr(1);
                      auto colType =
                          RankedTensorType::get({ShapedType::kDynamic}, f32);
                      Value cur = tensor::ExtractSliceOp::create(
                          b, loc, colType, sArgs[0],
                          ArrayRef<OpFoldResult>{c0, j0},
                          ArrayRef<OpFoldResult>{one1, bk},
                          ArrayRef<OpFoldResult>{one1, one1});
                      // cur[n] += sum_m w[m] * exp(s[m, n] - lse[m]).
                      Value updated =
                          linalg::GenericOp::create(
                              b, loc, colType, ValueRange{s, lse, weights},
                              ValueRange{cur},
                              ArrayRef<AffineMap>{
                                  AffineMap::get(2, 0, {n, m}, ctx),
                                  AffineMap::get(2, 0, {n}, ctx),
                                  AffineMap::get(2, 0, {n}, ctx),
                                  AffineMap::get(2, 0, {m}, ctx)},
                              ArrayRef<IteratorType>{IteratorType::parallel,
                                                     IteratorType::reduction},
                              [&](OpBuilder &gb, Location l, ValueRange a) {
                                Value empty = arith::CmpFOp::create(
                                    gb, l, arith::CmpFPredicate::OEQ, a[1],
                                    negInf);
                                Value pr = math::ExpOp::create(
                                    gb, l,
                                    arith::SubFOp::create(gb, l, a[0], a[1]));
                                pr = arith::SelectOp::create(gb, l, empty,
                                                             zeroF, pr);
                                Value wp =
                                    arith::MulFOp::create(gb, l, pr, a[2]);
                                linalg::YieldOp::create(
                                    gb, l,
                                    arith::AddFOp::create(gb, l, a[3], wp)
                                        .getResult());
                              })
                              .getResult(0);
                      Value next = tensor::InsertSliceOp::create(
                          b, loc, updated, sArgs[0],
                          ArrayRef<OpFoldResult>{c0, j0},
                          ArrayRef<OpFoldResult>{one1, bk},
                          ArrayRef<OpFoldResult>{one1, one1});
                      scf::YieldOp::create(b, loc, next);
                    });
                results.push_back(scoreLoop.getResult(0));
              }
              scf::YieldOp::create(b, loc, results);
            });
        scf::YieldOp::create(b, loc, tileLoop.getResults());
      });

  b.setInsertionPointToStart(forall.getTerminator().getBody());
  tensor::ParallelInsertSliceOp::create(b, loc, headLoop.getResult(0),
                                        shared[0], groupOffsets, groupSizes,
                                        ones3);
  if (received)
    tensor::ParallelInsertSliceOp::create(b, loc, headLoop.getResult(1),
                                          shared[1], recvOffsets, recvSizes,
                                          ones2);
  return SmallVector<Value>(forall.getResults());
}

namespace {
struct AttentionOpLowering : OpConversionPattern<AttentionOp> {
  AttentionOpLowering(MLIRContext *ctx, const AttentionLowering &how)
      : OpConversionPattern(ctx), how(how) {}

  LogicalResult
  matchAndRewrite(AttentionOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    AttentionInputs in;
    in.query = adaptor.getQuery();
    in.key = adaptor.getKey();
    in.value = adaptor.getValue();
    in.queryPositions = adaptor.getQueryPositions();
    in.keyPositions = adaptor.getKeyPositions();
    in.treeParents = adaptor.getTreeParents();
    in.querySegments = adaptor.getQuerySegments();
    in.keySegments = adaptor.getKeySegments();
    in.keySizes = adaptor.getKeySizes();
    in.mask = op.getMask();
    in.scale = op.getScaleAttr();
    in.softcap = op.getSoftcapAttr();
    in.scores = op.getScoresAttr();
    in.outputType = op.getOutput().getType();
    if (Value received = op.getReceived()) {
      auto type = cast<RankedTensorType>(received.getType());
      SmallVector<Value> dynSizes;
      for (int64_t d = 0; d < 2; ++d)
        if (type.isDynamicDim(d))
          dynSizes.push_back(tensor::DimOp::create(rewriter, loc, in.key, d));
      in.receivedInit = createZeroScores(rewriter, loc, type, dynSizes);
    }
    rewriter.replaceOp(op, emitAttention(rewriter, loc, in, how));
    return success();
  }

  AttentionLowering how;
};
} // namespace

Value mlir::tok::createZeroScores(OpBuilder &b, Location loc,
                                  RankedTensorType type,
                                  ValueRange dynamicSizes) {
  Value empty = tensor::EmptyOp::create(b, loc, type, dynamicSizes);
  Value zero = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.0f));
  return linalg::FillOp::create(b, loc, zero, empty).getResult(0);
}

std::pair<Value, Value> mlir::tok::attentionKeyRange(OpBuilder &b, Location loc,
                                                     const AttentionInputs &in,
                                                     Value tokens, Value keys,
                                                     Value i0, Value rows) {
  Value lo = arith::ConstantIndexOp::create(b, loc, 0), hi = keys;
  MaskAttr mask = in.mask;
  if (!mask.isCausal() || in.queryPositions || in.keyPositions)
    return {lo, hi};
  Value offset = arith::SubIOp::create(b, loc, keys, tokens);
  Value firstRow = arith::AddIOp::create(b, loc, offset, i0);
  hi = arith::MinSIOp::create(b, loc, keys,
                              arith::AddIOp::create(b, loc, firstRow, rows));
  // A tree row judges committed keys from the root's position, not its
  // own slot, so the window cannot trim the loop start there.
  if (mask.getWindow() > 0 && mask.getSinks() == 0 && !in.treeParents) {
    Value first = arith::SubIOp::create(
        b, loc, firstRow,
        arith::ConstantIndexOp::create(b, loc, mask.getWindow() - 1));
    lo = arith::MaxSIOp::create(b, loc, lo, first);
  }
  return {lo, hi};
}

Value mlir::tok::createAttentionOutput(OpBuilder &b, Location loc,
                                       RankedTensorType type, Value heads,
                                       Value tokens, Value valueDepth) {
  // Dynamic result dims come from the operands.
  SmallVector<Value> dynamicSizes;
  Value sizes[3] = {heads, tokens, valueDepth};
  for (int64_t i = 0; i < 3; ++i)
    if (type.isDynamicDim(i))
      dynamicSizes.push_back(sizes[i]);
  // An allocation of its own: tensor.empty ops of one type would be CSE'd
  // into one, and two attentions of one shape (e.g. over the same cache)
  // whose outputs are both live then share an scf.forall destination that
  // One-Shot Bufferize cannot separate ("cannot avoid RaW conflict").
  return bufferization::AllocTensorOp::create(b, loc, type, dynamicSizes);
}

void mlir::tok::emitHeadCountCheck(OpBuilder &b, Location loc, Value queryHeads,
                                   Value kvHeads) {
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Value rest = arith::RemUIOp::create(b, loc, queryHeads, kvHeads);
  Value divides =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, rest, zero);
  Value positive =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ugt, kvHeads, zero);
  cf::AssertOp::create(
      b, loc, arith::AndIOp::create(b, loc, divides, positive),
      "tok.attention: the query heads must be a multiple of the KV heads");
}

/// Query rows from which the vectorized prefill kernel (packed K^T, 12-row
/// blocks) beats the row-at-a-time one.
static constexpr int64_t kVectorPrefillRows = 16;

SmallVector<Value> mlir::tok::emitAttention(OpBuilder &b, Location loc,
                                            const AttentionInputs &in,
                                            const AttentionLowering &how) {
  auto general = [&](OpBuilder &ob) {
    return AttentionEmitter(ob, loc, in, how.queryTile, how.keyTile).emit();
  };
  if (in.quant && (!how.vectorize || !canEmitVectorAttention(in))) {
    // Quantized caches outside the vectorized kernels: dequantize the keys
    // and values once, then the general lowering.
    AttentionInputs plain = in;
    plain.key = dequantizeSlots(b, loc, in.quant, in.quantBits, in.quantGroup,
                                in.key, /*ofKeys=*/true);
    plain.value = dequantizeSlots(b, loc, in.quant, in.quantBits, in.quantGroup,
                                  in.value, /*ofKeys=*/false);
    plain.quant = QuantParts();
    return AttentionEmitter(b, loc, plain, how.queryTile, how.keyTile).emit();
  }
  if (!how.vectorize || !canEmitVectorAttention(in))
    return general(b);
  return emitVectorAttention(b, loc, in, kVectorPrefillRows, how.bf16Prefill);
}

void mlir::tok::populateAttentionToLinalgPatterns(
    RewritePatternSet &patterns, const AttentionLowering &how) {
  patterns.add<AttentionOpLowering>(patterns.getContext(), how);
}
