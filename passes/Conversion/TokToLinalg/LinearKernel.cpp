//===- LinearKernel.cpp - the register-tiled tok.linear kernel ------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// y[t, n] = sum_k x[t, k] W[n, k] (+ b[n]) for f32 x [T, K] and W [N, K]
// with static N and K, the shape of every projection of a decoder. The
// generic lowering (ModelOpsToLinalg.cpp) becomes scalar loops; this one
// is written for the memory system. Dot products along K, register-tiled:
//
//   scf.forall over 8 chunks of output features (OpenMP threads)
//     [blocked variant: for blocks of 256 tokens, for blocks of 256 of K]
//     for each block of R = 4 rows of W in the chunk
//       for groups of 4 tokens, then the remaining 1-3 tokens as one
//         group (the W block stays in L1 across groups)
//         R x 4 dot products of W rows with x[t], 16 lanes wide, each W
//         vector feeding the group's 4 tokens:
//           acc_rt = fma(W[n + r, k : k+16], x[t, k : k+16], acc_rt)
//         then the R x 4 sums across lanes together by a butterfly of
//         shuffles (LaneSums.h) and each token's R outputs written (or,
//         past the first K block, added) as one vector, plus the bias
//     rows left over (chunk % R) one at a time.
//
// Two variants, chosen at run time by the token count T:
//
// - T <= 8 (decode, speculative verification, small batches): no blocking.
//   Each W row is read from memory once per call: decode is a pure stream
//   over the weights, split across the threads; 5 tokens (a verification
//   of 4 drafted ones) are one group of 4 rows x 5 tokens (20
//   accumulators), and for 6-8 tokens the second group finds the 4 rows in
//   L1 / L2. (Halves of 2 rows x T tokens, tried first, measured slower
//   at 5-8 tokens: 2 weight streams per thread instead of 4.) f16 / bf16
//   weights are widened to f32 as they are read (exact products).
// - T > 8 (prefill): the token and K loops are blocked so that the x panel
//   of a block (256 tokens x 256 of K in f32, x 1024 in bf16) stays in L2
//   while every row block of the chunk passes over it, instead of streaming all
//   of x from L3 per 4 rows of W. bf16 weights (with K a multiple of 32)
//   take x rounded to bf16 once per call and 32-pair dot products
//   (vdpbf16ps: 2 multiply-adds per lane per instruction, and no widening)
//   where the host has AVX512-BF16 (docs/performance.md).
//
// The weights arrive as panels (LinearKernel.h): plain weights are their
// own panel, used as they are stored ([N, K], a checkpoint's layout):
// the dot-product form reads each row contiguously, which is what packed
// panels would give a broadcast-form kernel (docs/performance.md records
// the choice). f16 / bf16 activations and other ranks keep the generic
// lowering.
//

#include "LinearKernel.h"

#include "LaneDot.h"
#include "LaneSums.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;
using namespace mlir::tok;

namespace {

constexpr int64_t kLanes = 16;
constexpr int64_t kRows = kLinearTileRows;
constexpr int64_t kChunks = 8;
/// Tokens per group sharing the W reads: kRows x kTokens accumulators.
constexpr int64_t kTokens = 4;
/// The blocked variant's token block.
constexpr int64_t kBlockTokens = 256;

} // namespace

/// x [T, K] f32 rounded to bf16 (nearest even), 16 lanes at a time.
static Value emitTruncate(OpBuilder &b, Location loc, Value x, Value tokens,
                          int64_t k) {
  auto type = RankedTensorType::get({ShapedType::kDynamic, k}, b.getBF16Type());
  Value out = tensor::EmptyOp::create(b, loc, type, ValueRange{tokens});
  Value c0 = arith::ConstantIndexOp::create(b, loc, 0);
  Value c1 = arith::ConstantIndexOp::create(b, loc, 1);
  Value zeroF = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.0f));
  auto in = VectorType::get({kLanes}, b.getF32Type());
  auto narrow = VectorType::get({kLanes}, b.getBF16Type());
  auto rows = scf::ForOp::create(
      b, loc, c0, tokens, c1, ValueRange{out},
      [&](OpBuilder &rb, Location, Value t, ValueRange rArgs) {
        auto cols = scf::ForOp::create(
            rb, loc, c0, arith::ConstantIndexOp::create(rb, loc, k),
            arith::ConstantIndexOp::create(rb, loc, kLanes), rArgs,
            [&](OpBuilder &cb, Location, Value kk, ValueRange cArgs) {
              Value v = vector::TransferReadOp::create(cb, loc, in, x,
                                                       ValueRange{t, kk}, zeroF,
                                                       ArrayRef<bool>{true});
              Value h = arith::TruncFOp::create(cb, loc, narrow, v);
              scf::YieldOp::create(cb, loc,
                                   vector::TransferWriteOp::create(
                                       cb, loc, h, cArgs[0], ValueRange{t, kk},
                                       ArrayRef<bool>{true})
                                       .getResult());
            });
        scf::YieldOp::create(rb, loc, cols.getResults());
      });
  return rows.getResult(0);
}

Value mlir::tok::emitLinearKernel(OpBuilder &ob, Location loc,
                                  const LinearKernel &spec) {
  Value x = spec.x, tokens = spec.tokens, bias = spec.bias;
  int64_t n = spec.n, k = spec.k;
  bool blocked = spec.blocked, dot = spec.dot;
  Type wElem = spec.panelElem;
  auto idx = [&](OpBuilder &bb, int64_t v) -> Value {
    return arith::ConstantIndexOp::create(bb, loc, v);
  };
  Type f32 = ob.getF32Type(), bf16Type = ob.getBF16Type();
  auto vecType = VectorType::get({kLanes}, f32);
  Value zeroF = arith::ConstantOp::create(ob, loc, ob.getF32FloatAttr(0.0f));
  Value zeroVec = arith::ConstantOp::create(
      ob, loc, DenseElementsAttr::get(vecType, ob.getF32FloatAttr(0.0f)));
  arith::FastMathFlagsAttr reassoc = arith::FastMathFlagsAttr::get(
      ob.getContext(), arith::FastMathFlags::reassoc);
  auto outType = RankedTensorType::get({ShapedType::kDynamic, n}, f32);
  int64_t chunks = std::min<int64_t>(kChunks, (n + kRows - 1) / kRows);
  // Rows per chunk, a multiple of kRows so that blocks never straddle.
  int64_t chunkRows = ((n + chunks - 1) / chunks + kRows - 1) / kRows * kRows;
  chunks = (n + chunkRows - 1) / chunkRows;
  int64_t kFull = k / kLanes * kLanes;

  Value c0 = idx(ob, 0), c1 = idx(ob, 1);
  Value init = tensor::EmptyOp::create(ob, loc, outType, ValueRange{tokens});
  int64_t step = dot ? 2 * kLanes : kLanes;
  int64_t blockK = dot ? kLinearBlockKBf16 : kLinearBlockK;
  Value xs = x;
  if (dot)
    xs = emitTruncate(ob, loc, x, tokens, k);
  Type xElem = dot ? bf16Type : f32;
  Type wRead = dot ? bf16Type : wElem;
  auto xVecType = VectorType::get({step}, xElem);
  auto wVecType = VectorType::get({step}, wRead);
  Value xPad = arith::ConstantOp::create(ob, loc, ob.getFloatAttr(xElem, 0));
  Value wPad = arith::ConstantOp::create(ob, loc, ob.getFloatAttr(wElem, 0));
  auto widen = [&](OpBuilder &bb, Value v, Type to) -> Value {
    return v.getType() == to ? v : arith::ExtFOp::create(bb, loc, to, v);
  };

  // The rows x |ts| dot products of W rows [row0, row0 + rows) (read
  // from the panel `p`) with the token rows x[t] for t in `ts` over K in
  // [kBegin, kEnd), written into `slice` (the chunk's columns) at column
  // `col0`; with `first` (blocked), added to what is there unless `first`
  // holds.
  auto emitDots = [&](OpBuilder &bb, Value slice, ArrayRef<Value> ts,
                      const WeightPanel &p, Value row0, Value col0,
                      int64_t rows, Value kBegin, Value kEnd,
                      Value first) -> Value {
    int64_t nt = static_cast<int64_t>(ts.size());
    SmallVector<Value> inits(rows * nt, zeroVec);
    auto kLoop = scf::ForOp::create(
        bb, loc, kBegin, kEnd, idx(bb, step), inits,
        [&](OpBuilder &kb, Location, Value kk, ValueRange accs) {
          SmallVector<Value> xv;
          for (Value t : ts)
            xv.push_back(vector::TransferReadOp::create(kb, loc, xVecType, xs,
                                                        ValueRange{t, kk}, xPad,
                                                        ArrayRef<bool>{true}));
          SmallVector<Value> next;
          Value pk = arith::SubIOp::create(kb, loc, kk, p.kBase);
          for (int64_t r = 0; r < rows; ++r) {
            Value row = arith::AddIOp::create(kb, loc, p.rowBase, idx(kb, r));
            Value wv = vector::TransferReadOp::create(kb, loc, wVecType, p.rows,
                                                      ValueRange{row, pk}, wPad,
                                                      ArrayRef<bool>{true});
            if (!dot)
              wv = widen(kb, wv, vecType);
            for (int64_t i = 0; i < nt; ++i)
              next.push_back(
                  dot ? emitBf16PairDot(kb, loc, accs[r * nt + i], wv, xv[i])
                      : vector::FMAOp::create(kb, loc, wv, xv[i],
                                              accs[r * nt + i])
                            .getResult());
          }
          scf::YieldOp::create(kb, loc, next);
        });
    if (kFull == k) {
      // All rows x tokens sums at once (a butterfly of shuffles), then
      // each token's outputs (contiguous in y) as one vector write.
      // Up to 16 sums per butterfly; 4 x 5 tokens take two, and a
      // two-source shuffle picks from both.
      SmallVector<Value> accs(kLoop.getResults());
      int64_t total = static_cast<int64_t>(accs.size());
      LaneSums lanes =
          sumLanes(bb, loc, ArrayRef<Value>(accs).take_front(kLanes), reassoc);
      LaneSums upper = lanes;
      if (total > kLanes) {
        upper = sumLanes(bb, loc, ArrayRef<Value>(accs).drop_front(kLanes),
                         reassoc);
        for (int64_t lane : upper.laneOf)
          lanes.laneOf.push_back(kLanes + lane);
      }
      auto outVecType = VectorType::get({rows}, f32);
      Value base;
      if (bias)
        base = vector::TransferReadOp::create(bb, loc, outVecType, bias,
                                              ValueRange{row0}, zeroF,
                                              ArrayRef<bool>{true});
      Value zeroOut = arith::ConstantOp::create(
          bb, loc,
          DenseElementsAttr::get(outVecType, bb.getF32FloatAttr(0.0f)));
      for (int64_t i = 0; i < nt; ++i) {
        SmallVector<int64_t> pick;
        for (int64_t r = 0; r < rows; ++r)
          pick.push_back(lanes.laneOf[r * nt + i]);
        Value y =
            vector::ShuffleOp::create(bb, loc, lanes.sums, upper.sums, pick);
        Value add = base;
        if (first) {
          // Past the first K block, the partial sums so far.
          Value old = vector::TransferReadOp::create(
              bb, loc, outVecType, slice, ValueRange{ts[i], col0}, zeroF,
              ArrayRef<bool>{true});
          add = arith::SelectOp::create(bb, loc, first, base ? base : zeroOut,
                                        old);
        }
        if (add)
          y = arith::AddFOp::create(bb, loc, y, add);
        slice = vector::TransferWriteOp::create(bb, loc, y, slice,
                                                ValueRange{ts[i], col0},
                                                ArrayRef<bool>{true})
                    .getResult();
      }
      return slice;
    }
    // K % 16 != 0 (unblocked only): a horizontal sum per dot product,
    // a scalar tail, scalar writes.
    SmallVector<Value> sums;
    for (int64_t a = 0; a < rows * nt; ++a) {
      auto red = vector::ReductionOp::create(
          bb, loc, vector::CombiningKind::ADD, kLoop.getResult(a));
      red.setFastmathAttr(reassoc);
      sums.push_back(red);
    }
    auto tail = scf::ForOp::create(
        bb, loc, idx(bb, kFull), idx(bb, k), c1, sums,
        [&](OpBuilder &tb, Location, Value kk, ValueRange acc) {
          SmallVector<Value> xv;
          for (Value t : ts)
            xv.push_back(
                tensor::ExtractOp::create(tb, loc, x, ValueRange{t, kk}));
          SmallVector<Value> next;
          Value pk = arith::SubIOp::create(tb, loc, kk, p.kBase);
          for (int64_t r = 0; r < rows; ++r) {
            Value row = arith::AddIOp::create(tb, loc, p.rowBase, idx(tb, r));
            Value ws = widen(
                tb,
                tensor::ExtractOp::create(tb, loc, p.rows, ValueRange{row, pk}),
                f32);
            for (int64_t i = 0; i < nt; ++i)
              next.push_back(
                  math::FmaOp::create(tb, loc, ws, xv[i], acc[r * nt + i]));
          }
          scf::YieldOp::create(tb, loc, next);
        });
    for (int64_t r = 0; r < rows; ++r) {
      Value row = arith::AddIOp::create(bb, loc, row0, idx(bb, r));
      Value col = arith::AddIOp::create(bb, loc, col0, idx(bb, r));
      Value b0;
      if (bias)
        b0 = tensor::ExtractOp::create(bb, loc, bias, row);
      for (int64_t i = 0; i < nt; ++i) {
        Value s = tail.getResult(r * nt + i);
        if (b0)
          s = arith::AddFOp::create(bb, loc, s, b0);
        slice =
            tensor::InsertOp::create(bb, loc, s, slice, ValueRange{ts[i], col});
      }
    }
    return slice;
  };

  // A switch over `count` in [lo, hi] whose case c yields
  // body(builder, c), the default `slice` or otherwise(builder).
  auto emitSwitch =
      [&](OpBuilder &bb, Value slice, Value count, int64_t lo, int64_t hi,
          llvm::function_ref<Value(OpBuilder &, int64_t)> body,
          llvm::function_ref<Value(OpBuilder &)> otherwise = nullptr) -> Value {
    SmallVector<int64_t> sizes;
    for (int64_t c = lo; c <= hi; ++c)
      sizes.push_back(c);
    auto sw = scf::IndexSwitchOp::create(bb, loc, TypeRange{slice.getType()},
                                         count, sizes, sizes.size());
    for (auto [region, c] : llvm::zip_equal(sw.getCaseRegions(), sizes)) {
      OpBuilder::InsertionGuard guard(bb);
      bb.setInsertionPointToStart(&region.emplaceBlock());
      scf::YieldOp::create(bb, loc, body(bb, c));
    }
    OpBuilder::InsertionGuard guard(bb);
    bb.setInsertionPointToStart(&sw.getDefaultRegion().emplaceBlock());
    scf::YieldOp::create(bb, loc, otherwise ? otherwise(bb) : slice);
    return sw.getResult(0);
  };
  // The tokens `count` from `t0` (a constant count).
  auto tokenList = [&](OpBuilder &bb, Value t0, int64_t count) {
    SmallVector<Value> ts{t0};
    for (int64_t i = 1; i < count; ++i)
      ts.push_back(arith::AddIOp::create(bb, loc, t0, idx(bb, i)));
    return ts;
  };

  // Rows [first, first + count) of the chunk in blocks of `rows`
  // (count a multiple), against tokens [tBegin, tEnd) and K in
  // [kBegin, kEnd).
  auto emitBlocks = [&](OpBuilder &ob2, Value slice, Value n0, Value firstRow,
                        Value count, int64_t rows, Value tBegin, Value tEnd,
                        Value kBegin, Value kEnd, Value first) -> Value {
    auto blocks = scf::ForOp::create(
        ob2, loc, idx(ob2, 0), count, idx(ob2, rows), ValueRange{slice},
        [&](OpBuilder &bb, Location, Value j, ValueRange blockArgs) {
          Value col0 = arith::AddIOp::create(bb, loc, firstRow, j);
          Value row0 = arith::AddIOp::create(bb, loc, n0, col0);
          Value span = arith::SubIOp::create(bb, loc, tEnd, tBegin);
          WeightPanel p = spec.panel(bb, row0, rows, kBegin, kEnd);
          // Groups of kTokens tokens share every W read (prefill),
          // then the rest as one group.
          auto groupsOf = [&](OpBuilder &gb, Value in) -> Value {
            Value fullT = arith::AddIOp::create(
                gb, loc, tBegin,
                arith::MulIOp::create(
                    gb, loc,
                    arith::DivUIOp::create(gb, loc, span, idx(gb, kTokens)),
                    idx(gb, kTokens)));
            auto groups = scf::ForOp::create(
                gb, loc, tBegin, fullT, idx(gb, kTokens), ValueRange{in},
                [&](OpBuilder &tb, Location, Value t, ValueRange tArgs) {
                  scf::YieldOp::create(
                      tb, loc,
                      emitDots(tb, tArgs[0], tokenList(tb, t, kTokens), p, row0,
                               col0, rows, kBegin, kEnd, first));
                });
            Value rest = arith::SubIOp::create(gb, loc, tEnd, fullT);
            return emitSwitch(gb, groups.getResult(0), rest, 1, kTokens - 1,
                              [&](OpBuilder &cb, int64_t nt) {
                                return emitDots(cb, groups.getResult(0),
                                                tokenList(cb, fullT, nt), p,
                                                row0, col0, rows, kBegin, kEnd,
                                                first);
                              });
          };
          Value out;
          if (rows == 1) {
            // Rows left over (N % 4 != 0): one token at a time.
            auto each = scf::ForOp::create(
                bb, loc, tBegin, tEnd, idx(bb, 1), blockArgs,
                [&](OpBuilder &tb, Location, Value t, ValueRange tArgs) {
                  scf::YieldOp::create(tb, loc,
                                       emitDots(tb, tArgs[0], {t}, p, row0,
                                                col0, 1, kBegin, kEnd, first));
                });
            out = each.getResult(0);
          } else if (!blocked && rows == kRows) {
            // 5 tokens (a verification of 4 drafted ones): one group of
            // 4 rows x 5 tokens (20 accumulators), each W vector read
            // once; other counts are groups of 4, whose second pass
            // over the block finds it in L1 / L2.
            out = emitSwitch(
                bb, blockArgs[0], span, kTokens + 1, kTokens + 1,
                [&](OpBuilder &cb, int64_t nt) {
                  return emitDots(cb, blockArgs[0], tokenList(cb, tBegin, nt),
                                  p, row0, col0, rows, kBegin, kEnd, first);
                },
                [&](OpBuilder &cb) { return groupsOf(cb, blockArgs[0]); });
          } else {
            out = groupsOf(bb, blockArgs[0]);
          }
          scf::YieldOp::create(bb, loc, out);
        });
    return blocks.getResult(0);
  };

  auto forall = scf::ForallOp::create(
      ob, loc, ArrayRef<OpFoldResult>{ob.getIndexAttr(chunks)},
      ValueRange{init}, std::nullopt);
  OpBuilder::InsertionGuard guard(ob);
  ob.setInsertionPoint(forall.getBody()->getTerminator());
  Value chunk = forall.getInductionVars()[0];
  Value n0 = arith::MulIOp::create(ob, loc, chunk, idx(ob, chunkRows));
  Value size =
      arith::MinSIOp::create(ob, loc, idx(ob, chunkRows),
                             arith::SubIOp::create(ob, loc, idx(ob, n), n0));
  SmallVector<OpFoldResult> offsets{ob.getIndexAttr(0), n0};
  SmallVector<OpFoldResult> sizes{tokens, size};
  SmallVector<OpFoldResult> strides(2, ob.getIndexAttr(1));
  Value slice = tensor::ExtractSliceOp::create(
      ob, loc, forall.getRegionIterArgs()[0], offsets, sizes, strides);
  Value full = arith::MulIOp::create(
      ob, loc, arith::DivUIOp::create(ob, loc, size, idx(ob, kRows)),
      idx(ob, kRows));
  Value left = arith::SubIOp::create(ob, loc, size, full);
  if (!blocked) {
    Value kEnd = idx(ob, kFull);
    slice = emitBlocks(ob, slice, n0, c0, full, kRows, c0, tokens, c0, kEnd,
                       Value());
    slice =
        emitBlocks(ob, slice, n0, full, left, 1, c0, tokens, c0, kEnd, Value());
  } else {
    auto tLoop = scf::ForOp::create(
        ob, loc, c0, tokens, idx(ob, kBlockTokens), ValueRange{slice},
        [&](OpBuilder &tb, Location, Value t0, ValueRange tArgs) {
          Value tEnd = arith::MinSIOp::create(
              tb, loc, tokens,
              arith::AddIOp::create(tb, loc, t0, idx(tb, kBlockTokens)));
          auto kLoop = scf::ForOp::create(
              tb, loc, c0, idx(tb, k), idx(tb, blockK), tArgs,
              [&](OpBuilder &kb, Location, Value k0, ValueRange kArgs) {
                Value kEnd = arith::MinSIOp::create(
                    kb, loc, idx(kb, k),
                    arith::AddIOp::create(kb, loc, k0, idx(kb, blockK)));
                Value first = arith::CmpIOp::create(
                    kb, loc, arith::CmpIPredicate::eq, k0, idx(kb, 0));
                Value s = emitBlocks(kb, kArgs[0], n0, idx(kb, 0), full, kRows,
                                     t0, tEnd, k0, kEnd, first);
                s = emitBlocks(kb, s, n0, full, left, 1, t0, tEnd, k0, kEnd,
                               first);
                scf::YieldOp::create(kb, loc, s);
              });
          scf::YieldOp::create(tb, loc, kLoop.getResults());
        });
    slice = tLoop.getResult(0);
  }
  ob.setInsertionPointToStart(forall.getTerminator().getBody());
  tensor::ParallelInsertSliceOp::create(
      ob, loc, slice, forall.getRegionIterArgs()[0], offsets, sizes, strides);
  return forall.getResult(0);
}
