//===- AttentionToVectorDecode.cpp - the decode kernel --------------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// The decode kernel of the vectorized f32 attention (AttentionToVector.cpp
// has the design): per query row, 16 keys at a time, their dot products
// with the row (held in registers) summed by a shuffle butterfly; quantized
// keys through the row folded with each key group's scales; Quest's page
// selection; received scores from the row's stored logits.
//
//===----------------------------------------------------------------------===//

#include "AttentionVectorEmitter.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include "LaneSums.h"
#include <limits>

using namespace mlir;
using namespace mlir::tok;
using namespace mlir::tok::vector_attention;

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
  return bySlotKind(
             ob, slot,
             [&](OpBuilder &tb) -> SmallVector<Value> {
               Value group = arith::DivUIOp::create(tb, loc, slot,
                                                    index(tb, in.quantGroup));
               Value acc;
               for (int64_t c = 0; c < depth / kLanes; ++c) {
                 Value qs = vector::LoadOp::create(
                     tb, loc, vec, qsBuf,
                     ValueRange{group, index(tb, c * kLanes)});
                 Value code =
                     codeChunk(tb, /*ofKeys=*/true, kvHead, slot, c * kLanes);
                 acc = acc ? fma(tb, qs, code, acc)
                           : arith::MulFOp::create(tb, loc, qs, code);
               }
               Value dot = reduce(tb, vector::CombiningKind::ADD, acc);
               Value qm =
                   memref::LoadOp::create(tb, loc, qmBuf, ValueRange{group});
               return {arith::AddFOp::create(tb, loc, dot, qm)};
             },
             [&](OpBuilder &eb, Value row) -> SmallVector<Value> {
               return {plainDot(eb, row)};
             })
      .front();
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
          s = finishLogits(kb, s, j0);
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
