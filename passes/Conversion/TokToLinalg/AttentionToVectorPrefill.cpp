//===- AttentionToVectorPrefill.cpp - the prefill kernel ------------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// The prefill kernel of the vectorized f32 attention (AttentionToVector.cpp
// has the design): K of a KV head packed as K^T panels, then per block of
// 12 query rows a 12 x 32 register tile of Q K^T per key tile, the online
// softmax in registers and O = alpha O + P V, with received scores from the
// block's kept logits.
//
// In bf16 (AttentionLowering::bf16Prefill) both products take pairs:
// Q K^T pairs of channels (K^T panels hold each key's two channels side by
// side, Q rows are stored as bf16 pairs and one pair is broadcast per
// step), P V pairs of keys (V packed once per KV head with keys 2p and
// 2p + 1 interleaved, P stored as bf16 pairs). Each step is one pair dot
// product (vdpbf16ps: 32 multiply-adds) where f32 takes one fma (16), and
// the packed K and V are half the bytes. Logits, the softmax and O stay
// f32.
//
//===----------------------------------------------------------------------===//

#include "AttentionVectorEmitter.h"
#include "LaneDot.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <limits>

using namespace mlir;
using namespace mlir::tok;
using namespace mlir::tok::vector_attention;

Value VectorAttentionEmitter::keyTiles(OpBuilder &ob) {
  return arith::DivUIOp::create(
      ob, loc, arith::AddIOp::create(ob, loc, keys, index(ob, kTileKeys - 1)),
      index(ob, kTileKeys));
}

Value VectorAttentionEmitter::packKeys(OpBuilder &ob, Value kvHead) {
  // Whole tiles of panels, so that the last tile reads no further.
  Value tiles = keyTiles(ob);
  Value panels = arith::MulIOp::create(ob, loc, tiles, index(ob, kTilePanels));
  auto type =
      bf16Prefill
          ? MemRefType::get({ShapedType::kDynamic, depth / 2, 2 * kKeys},
                            ob.getBF16Type())
          : MemRefType::get({ShapedType::kDynamic, depth, kKeys}, f32);
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
          if (bf16Prefill)
            row = arith::TruncFOp::create(
                lb, l, VectorType::get({kLanes}, lb.getBF16Type()), row);
          for (int64_t lane = 0; lane < kLanes; ++lane) {
            Value x = vector::ExtractOp::create(lb, l, row, lane);
            int64_t d = c * kLanes + lane;
            SmallVector<Value> at{panel, index(lb, d), col};
            if (bf16Prefill) {
              // Channel pair d / 2, the key's two elements side by side.
              Value slot = arith::MulIOp::create(lb, l, col, index(lb, 2));
              at = {panel, index(lb, d / 2),
                    arith::AddIOp::create(lb, l, slot, index(lb, d % 2))};
            }
            memref::StoreOp::create(lb, l, x, kt, at);
          }
        }
        scf::YieldOp::create(lb, l);
      });
  return kt;
}

Value VectorAttentionEmitter::packValues(OpBuilder &ob, Value kvHead) {
  // Whole key tiles, as packKeys: the last tile's pairs read no further.
  Value tiles = keyTiles(ob);
  Value pairs = arith::MulIOp::create(ob, loc, tiles, index(ob, kTileKeys / 2));
  auto type =
      MemRefType::get({ShapedType::kDynamic, 2 * valueDepth}, ob.getBF16Type());
  Value vp = memref::AllocOp::create(ob, loc, type, ValueRange{pairs});
  Value last = arith::SubIOp::create(ob, loc, keys, index(ob, 1));
  auto half = VectorType::get({kLanes}, ob.getBF16Type());
  scf::ForOp::create(
      ob, loc, index(ob, 0), pairs, index(ob, 1), ValueRange{},
      [&](OpBuilder &lb, Location l, Value p, ValueRange) {
        Value first = arith::MulIOp::create(lb, l, p, index(lb, 2));
        // Slots past S repeat the last value row (their P is 0).
        Value k0 = minIndex(lb, first, last);
        Value k1 = minIndex(
            lb, arith::AddIOp::create(lb, l, first, index(lb, 1)), last);
        int64_t chunks = valueDepth / kLanes;
        SmallVector<Value> v0 =
            loadRow(lb, /*ofKeys=*/false, kvHead, k0, 0, chunks);
        SmallVector<Value> v1 =
            loadRow(lb, /*ofKeys=*/false, kvHead, k1, 0, chunks);
        for (int64_t c = 0; c < chunks; ++c) {
          Value both = vector::InterleaveOp::create(
              lb, l, arith::TruncFOp::create(lb, l, half, v0[c]),
              arith::TruncFOp::create(lb, l, half, v1[c]));
          vector::StoreOp::create(lb, l, both, vp,
                                  ValueRange{p, index(lb, 2 * kLanes * c)});
        }
        scf::YieldOp::create(lb, l);
      });
  return vp;
}

Value VectorAttentionEmitter::toBf16Words(OpBuilder &ob, Value v) {
  Value h = arith::TruncFOp::create(
      ob, loc, VectorType::get({kLanes}, ob.getBF16Type()), v);
  return vector::BitCastOp::create(ob, loc, VectorType::get({kLanes / 2}, i32),
                                   h);
}

Value VectorAttentionEmitter::splatPair(OpBuilder &ob, Value buf, Value row,
                                        Value word) {
  Value w = memref::LoadOp::create(ob, loc, buf, ValueRange{row, word});
  return vector::BitCastOp::create(ob, loc, pairVec, splat(ob, w));
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
            Value scaled = arith::MulFOp::create(tb, loc, qv, scaleVec);
            if (bf16Prefill)
              vector::StoreOp::create(
                  tb, loc, toBf16Words(tb, scaled), qBuf,
                  ValueRange{index(tb, r), index(tb, c * kLanes / 2)});
            else
              vector::StoreOp::create(
                  tb, loc, scaled, qBuf,
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
                // bf16: per pair of channels, 16 keys' pairs per load.
                int64_t steps = bf16Prefill ? depth / 2 : depth;
                auto dLoop = scf::ForOp::create(
                    kb, loc, c0, index(kb, steps), c1, inits,
                    [&](OpBuilder &db, Location, Value d, ValueRange acc) {
                      SmallVector<Value> next;
                      if (bf16Prefill) {
                        Value k0 = vector::LoadOp::create(
                            db, loc, pairVec, packed, ValueRange{panel, d, c0});
                        Value k1 = vector::LoadOp::create(
                            db, loc, pairVec, packed,
                            ValueRange{panel, d, index(db, 2 * kLanes)});
                        for (int64_t r = 0; r < kRows; ++r) {
                          Value qb = splatPair(db, qBuf, index(db, r), d);
                          next.push_back(
                              emitBf16PairDot(db, loc, acc[2 * r], qb, k0));
                          next.push_back(
                              emitBf16PairDot(db, loc, acc[2 * r + 1], qb, k1));
                        }
                        scf::YieldOp::create(db, loc, next);
                        return;
                      }
                      Value k0 = vector::LoadOp::create(
                          db, loc, vec, packed, ValueRange{panel, d, c0});
                      Value k1 = vector::LoadOp::create(
                          db, loc, vec, packed,
                          ValueRange{panel, d, index(db, kLanes)});
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
                      finishLogits(kb, logits[r][vi], firstKeys[vi]),
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
                for (int64_t vi = 0; vi < 2 * kTilePanels; ++vi) {
                  if (bf16Prefill)
                    vector::StoreOp::create(
                        kb, loc, toBf16Words(kb, step.p[vi]), pBuf,
                        ValueRange{index(kb, r), index(kb, vi * kLanes / 2)});
                  else
                    vector::StoreOp::create(
                        kb, loc, step.p[vi], pBuf,
                        ValueRange{index(kb, r), index(kb, vi * kLanes)});
                }
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
                // bf16: per pair of keys (rows of the packed V).
                int64_t jSteps = bf16Prefill ? kTileKeys / 2 : kTileKeys;
                Value firstPair =
                    arith::DivUIOp::create(kb, loc, j0, index(kb, 2));
                auto jLoop = scf::ForOp::create(
                    kb, loc, c0, index(kb, jSteps), c1, acc,
                    [&](OpBuilder &jb, Location, Value jj, ValueRange a) {
                      SmallVector<Value> nextAcc;
                      if (bf16Prefill) {
                        Value pair =
                            arith::AddIOp::create(jb, loc, firstPair, jj);
                        SmallVector<Value> vs;
                        for (int64_t w = 0; w < width; ++w)
                          vs.push_back(vector::LoadOp::create(
                              jb, loc, pairVec, packedValues,
                              ValueRange{pair,
                                         index(jb, 2 * kLanes * (c + w))}));
                        for (int64_t r = 0; r < kRows; ++r) {
                          Value pb = splatPair(jb, pBuf, index(jb, r), jj);
                          for (int64_t w = 0; w < width; ++w)
                            nextAcc.push_back(emitBf16PairDot(
                                jb, loc, a[r * width + w], pb, vs[w]));
                        }
                        scf::YieldOp::create(jb, loc, nextAcc);
                        return;
                      }
                      Value key = minIndex(
                          jb, arith::AddIOp::create(jb, loc, j0, jj), lastKey);
                      SmallVector<Value> vs =
                          loadRow(jb, /*ofKeys=*/false, kvHead, key, c, width);
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

        // The block's rows that exist, in a loop over a row index (a chain
        // of one scf.if per row, each yielding the output tensor, made
        // one-shot bufferization's analysis grow much faster than the
        // code: 3.3 s for one attention of head dimension 128).
        for (int64_t r = 0; r < kRows; ++r)
          memref::StoreOp::create(tb, loc, keyLoop.getResult(kRows + r), sumBuf,
                                  ValueRange{index(tb, r)});
        auto rowLoop = scf::ForOp::create(
            tb, loc, c0, bq, c1, ValueRange{tileArgs[0]},
            [&](OpBuilder &wb, Location l, Value r, ValueRange rowArgs) {
              SmallVector<Value> acc;
              for (int64_t c = 0; c < vChunks; ++c)
                acc.push_back(vector::LoadOp::create(
                    wb, l, vec, oBuf, ValueRange{r, index(wb, c * kLanes)}));
              Value sum = memref::LoadOp::create(wb, l, sumBuf, ValueRange{r});
              Value row = arith::AddIOp::create(wb, l, i0, r);
              scf::YieldOp::create(
                  wb, l, writeOutputRow(wb, rowArgs[0], hh, row, acc, sum));
            });
        scf::YieldOp::create(tb, loc, rowLoop.getResult(0));
      });
  return blocks.getResult(0);
}
