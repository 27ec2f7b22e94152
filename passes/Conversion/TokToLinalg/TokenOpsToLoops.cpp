//===- TokenOpsToLoops.cpp - tok.merge, tok.unmerge, tok.prune as loops ---===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// Token merging and pruning on f32 token rows (docs/algorithms.md, "Token
// merging (ToMe, PiToMe)" and "Token pruning (EViT, SpAtten)").
//
// tok.merge (ToMe bipartite soft matching), with p = protect_first:
//   r'  = min(r, (T - p) / 2)
//   A   = the even indices >= p, B = the odd indices >= p (ToMe's
//         alternation by absolute index: with p = 1 (CLS) this is exactly
//         ToMe's A = 0, 2, 4, ... with the CLS row masked out)
//   sim[a, b] = cos(metric[a], metric[b]); best[a] = max_b, dst[a] = the
//         first b attaining it
//   sources = the r' tokens of A with the largest best (ties: smaller a)
//   every other token is kept, in input order; a source is added into its
//   dst: y = (sum of size * x) / (sum of size), size' = sum of size
//   map[i] = output row of i (of dst[i] for a source)
// method = pitome (PiToMe, docs/algorithms.md, "PiToMe"): energy
//   E_i = (1/N) sum_j ELU(cos(m_i, m_j) - margin) over the N unprotected
//   tokens; ranked by E (descending, ties to the smaller index), the first
//   2r' alternate into sources (even ranks) and destinations (odd ranks);
//   every source merges into its most similar destination.
// The similarity searches cost |A| |B| M (ToMe) or N^2 M (PiToMe)
// multiply-adds, 16 lanes wide for metric widths that are multiples of 16;
// ToMe's runs as an scf.forall over chunks of A (the thread pool), the
// rest serially; the rankings cost |A|^2 or N^2 compares.
//
// tok.unmerge: out[o] = in[map[o]], after a run-time range check of map.
//
// tok.gather / tok.scatter (dim 0 for scatter): a run-time check that
// every index is in range, then a linalg.generic reading through the
// indices / a loop writing rows into a copy of the destination.
//
// tok.prune: kept = max(ceil(keep T), pf + pl), at most T; the first pf and
// last pl rows always, the others by rank of their score (descending, ties
// to the smaller index, O(T^2) compares); kept rows and their indices in
// input order.
//
//===----------------------------------------------------------------------===//

#include "tok/Conversion/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Transforms/DialectConversion.h"
#include "tok/Dialect/Tok/IR/TokOps.h"

using namespace mlir;
using namespace mlir::tok;

namespace {

/// Terse index / i32 / f32 arithmetic at one location.
struct Arith {
  OpBuilder &b;
  Location loc;

  Value idx(int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); }
  Value i32(int64_t v) {
    return arith::ConstantIntOp::create(b, loc, b.getI32Type(), v);
  }
  Value f32(double v) {
    return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(v));
  }
  Value add(Value x, Value y) { return arith::AddIOp::create(b, loc, x, y); }
  Value sub(Value x, Value y) { return arith::SubIOp::create(b, loc, x, y); }
  Value mul(Value x, Value y) { return arith::MulIOp::create(b, loc, x, y); }
  Value cmp(arith::CmpIPredicate p, Value x, Value y) {
    return arith::CmpIOp::create(b, loc, p, x, y);
  }
  Value fcmp(arith::CmpFPredicate p, Value x, Value y) {
    return arith::CmpFOp::create(b, loc, p, x, y);
  }
  Value select(Value c, Value x, Value y) {
    return arith::SelectOp::create(b, loc, c, x, y);
  }
  Value minS(Value x, Value y) { return arith::MinSIOp::create(b, loc, x, y); }
  Value maxS(Value x, Value y) { return arith::MaxSIOp::create(b, loc, x, y); }
  Value andI(Value x, Value y) { return arith::AndIOp::create(b, loc, x, y); }
  Value orI(Value x, Value y) { return arith::OrIOp::create(b, loc, x, y); }
  Value toIndex(Value v) {
    return arith::IndexCastOp::create(b, loc, b.getIndexType(), v);
  }
  Value toI32(Value v) {
    return arith::IndexCastOp::create(b, loc, b.getI32Type(), v);
  }
  Value extract(Value t, ValueRange at) {
    return tensor::ExtractOp::create(b, loc, t, at);
  }
  Value insert(Value v, Value t, ValueRange at) {
    return tensor::InsertOp::create(b, loc, v, t, at);
  }
  Value filled(ArrayRef<OpFoldResult> sizes, Type elem, Value v) {
    Value empty = tensor::EmptyOp::create(b, loc, sizes, elem);
    return linalg::FillOp::create(b, loc, v, empty).getResult(0);
  }
};

/// scf.for from `lb` to `ub` carrying `inits`; `body(b, i, args)` returns
/// the values to yield.
SmallVector<Value>
forLoop(OpBuilder &b, Location loc, Value lb, Value ub, ValueRange inits,
        function_ref<SmallVector<Value>(OpBuilder &, Value, ValueRange)> body) {
  Value one = arith::ConstantIndexOp::create(b, loc, 1);
  auto loop = scf::ForOp::create(
      b, loc, lb, ub, one, inits,
      [&](OpBuilder &lb2, Location l, Value i, ValueRange args) {
        SmallVector<Value> results = body(lb2, i, args);
        scf::YieldOp::create(lb2, l, results);
      });
  return SmallVector<Value>(loop.getResults());
}

LogicalResult checkF32Rows(Operation *op, Value rows,
                           ConversionPatternRewriter &rewriter) {
  if (!cast<RankedTensorType>(rows.getType()).getElementType().isF32())
    return rewriter.notifyMatchFailure(op, "only f32 token rows lower");
  return success();
}

/// out[k] = rows[indices[k]] for the rows of a rank-2 tensor (indices i32,
/// already checked).
Value gatherRows(OpBuilder &b, Location loc, Value rows, Value indices) {
  MLIRContext *ctx = b.getContext();
  auto type = cast<RankedTensorType>(rows.getType());
  SmallVector<OpFoldResult> sizes = {tensor::getMixedSize(b, loc, indices, 0),
                                     tensor::getMixedSize(b, loc, rows, 1)};
  Value init = tensor::EmptyOp::create(b, loc, sizes, type.getElementType());
  AffineMap full = AffineMap::getMultiDimIdentityMap(2, ctx);
  AffineMap row = AffineMap::get(2, 0, getAffineDimExpr(0, ctx), ctx);
  return linalg::GenericOp::create(
             b, loc, init.getType(), ValueRange{indices}, ValueRange{init},
             ArrayRef<AffineMap>{row, full},
             SmallVector<utils::IteratorType>(2, utils::IteratorType::parallel),
             [&](OpBuilder &nb, Location l, ValueRange args) {
               Value r = arith::IndexCastOp::create(nb, l, nb.getIndexType(),
                                                    args[0]);
               Value c = linalg::IndexOp::create(nb, l, 1);
               Value v = tensor::ExtractOp::create(nb, l, rows, {r, c});
               linalg::YieldOp::create(nb, l, v);
             })
      .getResult(0);
}

/// rows / divisor[row], elementwise.
Value divideRows(OpBuilder &b, Location loc, Value rows, Value divisor) {
  auto type = cast<RankedTensorType>(rows.getType());
  MLIRContext *ctx = b.getContext();
  AffineMap full = AffineMap::getMultiDimIdentityMap(2, ctx);
  AffineMap row = AffineMap::get(2, 0, getAffineDimExpr(0, ctx), ctx);
  Value init = tensor::EmptyOp::create(
      b, loc, tensor::getMixedSizes(b, loc, rows), type.getElementType());
  return linalg::GenericOp::create(
             b, loc, init.getType(), ValueRange{rows, divisor},
             ValueRange{init}, ArrayRef<AffineMap>{full, row, full},
             SmallVector<utils::IteratorType>(2, utils::IteratorType::parallel),
             [&](OpBuilder &nb, Location l, ValueRange args) {
               Value q = arith::DivFOp::create(nb, l, args[0], args[1]);
               linalg::YieldOp::create(nb, l, q);
             })
      .getResult(0);
}

/// <metric[i], metric[j]>: 16 lanes at a time when the metric width is a
/// static multiple of 16, else a scalar loop.
Value metricDot(OpBuilder &b, Location loc, Value metric, Value i, Value j) {
  Arith a{b, loc};
  int64_t m = cast<RankedTensorType>(metric.getType()).getDimSize(1);
  if (!ShapedType::isDynamic(m) && m % 16 == 0) {
    auto vec = VectorType::get({16}, b.getF32Type());
    Value acc;
    for (int64_t c = 0; c < m; c += 16) {
      Value u = vector::TransferReadOp::create(
          b, loc, vec, metric, ValueRange{i, a.idx(c)}, a.f32(0.0),
          ArrayRef<bool>{true});
      Value v = vector::TransferReadOp::create(
          b, loc, vec, metric, ValueRange{j, a.idx(c)}, a.f32(0.0),
          ArrayRef<bool>{true});
      acc = acc ? vector::FMAOp::create(b, loc, u, v, acc).getResult()
                : arith::MulFOp::create(b, loc, u, v).getResult();
    }
    return vector::ReductionOp::create(b, loc, vector::CombiningKind::ADD, acc);
  }
  Value width = tensor::DimOp::create(b, loc, metric, 1);
  return forLoop(b, loc, a.idx(0), width, ValueRange{a.f32(0.0)},
                 [&](OpBuilder &db, Value d, ValueRange s) {
                   Arith dd{db, loc};
                   Value uv = arith::MulFOp::create(db, loc,
                                                    dd.extract(metric, {i, d}),
                                                    dd.extract(metric, {j, d}));
                   return SmallVector<Value>{
                       arith::AddFOp::create(db, loc, s[0], uv)};
                 })
      .front();
}

/// The shared parts of both matchings.
struct MergeBuilder {
  OpBuilder &b;
  Location loc;
  Value metric, norms, t;

  /// The norm of every metric row.
  static Value rowNorms(OpBuilder &b, Location loc, Value metric, Value t) {
    Arith a{b, loc};
    MLIRContext *ctx = b.getContext();
    Value init = a.filled({t}, b.getF32Type(), a.f32(0.0));
    AffineMap full = AffineMap::getMultiDimIdentityMap(2, ctx);
    AffineMap row = AffineMap::get(2, 0, getAffineDimExpr(0, ctx), ctx);
    Value squares =
        linalg::GenericOp::create(
            b, loc, init.getType(), ValueRange{metric}, ValueRange{init},
            ArrayRef<AffineMap>{full, row},
            {utils::IteratorType::parallel, utils::IteratorType::reduction},
            [&](OpBuilder &nb, Location l, ValueRange args) {
              Value sq = arith::MulFOp::create(nb, l, args[0], args[0]);
              Value sum = arith::AddFOp::create(nb, l, args[1], sq);
              linalg::YieldOp::create(nb, l, sum);
            })
            .getResult(0);
    AffineMap id = AffineMap::getMultiDimIdentityMap(1, ctx);
    return linalg::GenericOp::create(
               b, loc, init.getType(), ValueRange{squares}, ValueRange{init},
               ArrayRef<AffineMap>{id, id}, {utils::IteratorType::parallel},
               [&](OpBuilder &nb, Location l, ValueRange args) {
                 Value n = math::SqrtOp::create(nb, l, args[0]);
                 linalg::YieldOp::create(nb, l, n);
               })
        .getResult(0);
  }

  /// cos(metric[i], metric[j]), a zero row counting as orthogonal.
  Value cosine(OpBuilder &ob, Value i, Value j) {
    Arith o{ob, loc};
    Value dot = metricDot(ob, loc, metric, i, j);
    Value ni = o.extract(norms, {i});
    Value nj = o.extract(norms, {j});
    Value denom = arith::MaximumFOp::create(
        ob, loc, arith::MulFOp::create(ob, loc, ni, nj), o.f32(1e-30));
    return arith::DivFOp::create(ob, loc, dot, denom);
  }

  /// The most similar j in [lo, hi) (step `step`) among those `eligible`
  /// says yes to: (best cosine, j); the first j wins a tie.
  std::pair<Value, Value>
  bestMatch(OpBuilder &ob, Value i, Value lo, Value hi, Value step,
            function_ref<Value(OpBuilder &, Value)> eligible) {
    Arith o{ob, loc};
    Value negInf = o.f32(-std::numeric_limits<float>::infinity());
    auto loop = scf::ForOp::create(
        ob, loc, lo, hi, step, ValueRange{negInf, o.idx(0)},
        [&](OpBuilder &ib, Location, Value j, ValueRange cur) {
          Arith in{ib, loc};
          Value c = cosine(ib, i, j);
          Value better = in.fcmp(arith::CmpFPredicate::OGT, c, cur[0]);
          if (eligible)
            better = in.andI(better, eligible(ib, j));
          scf::YieldOp::create(ib, loc,
                               ValueRange{in.select(better, c, cur[0]),
                                          in.select(better, j, cur[1])});
        });
    return {loop.getResult(0), loop.getResult(1)};
  }
};

/// rank[k] of values[k] among values[0..n): how many are larger, ties to
/// the smaller index.
Value rankDescending(OpBuilder &b, Location loc, Value values, Value n,
                     Value k) {
  Arith a{b, loc};
  Value vk = a.extract(values, {k});
  return forLoop(b, loc, a.idx(0), n, ValueRange{a.idx(0)},
                 [&](OpBuilder &ib, Value k2, ValueRange c) {
                   Arith in{ib, loc};
                   Value v2 = in.extract(values, {k2});
                   Value above = in.orI(
                       in.fcmp(arith::CmpFPredicate::OGT, v2, vk),
                       in.andI(in.fcmp(arith::CmpFPredicate::OEQ, v2, vk),
                               in.cmp(arith::CmpIPredicate::slt, k2, k)));
                   return SmallVector<Value>{
                       in.add(c[0], in.select(above, in.idx(1), in.idx(0)))};
                 })
      .front();
}

struct MergeOpLowering : OpConversionPattern<MergeOp> {
  using OpConversionPattern::OpConversionPattern;

  /// ToMe: role[a] = dst of each of the r' best-matched even-parity tokens.
  static Value toMeRoles(MergeBuilder &mb, Value role, int64_t p, Value rEff) {
    OpBuilder &b = mb.b;
    Location loc = mb.loc;
    Arith a{b, loc};
    Value zero = a.idx(0), one = a.idx(1), two = a.idx(2);
    int64_t aStart = p + (p & 1), bStart = p + 1 - (p & 1);
    auto count = [&](int64_t start) {
      // Indices start, start + 2, ... below T.
      Value n = arith::DivSIOp::create(
          b, loc, a.add(a.sub(mb.t, a.idx(start)), one), two);
      return a.maxS(n, zero);
    };
    Value nA = count(aStart);
    Value negInf = a.f32(-std::numeric_limits<float>::infinity());
    Value best0 = a.filled({nA}, b.getF32Type(), negInf);
    Value dst0 = a.filled({nA}, b.getIndexType(), zero);
    // The best match of every A token: |A| x |B| cosines, the bulk of the
    // op's work, in chunks of kChunk A tokens on the thread pool (scf.forall
    // becomes an OpenMP loop); each chunk writes its own slice.
    constexpr int64_t kChunk = 16;
    Value chunks = arith::CeilDivSIOp::create(b, loc, nA, a.idx(kChunk));
    auto forall = scf::ForallOp::create(b, loc, ArrayRef<OpFoldResult>{chunks},
                                        ValueRange{best0, dst0}, std::nullopt);
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPoint(forall.getBody()->getTerminator());
      Arith o{b, loc};
      Value k0 = o.mul(forall.getInductionVars()[0], o.idx(kChunk));
      Value size = o.minS(o.idx(kChunk), o.sub(nA, k0));
      SmallVector<OpFoldResult> offsets{k0}, sizes{size},
          strides{b.getIndexAttr(1)};
      SmallVector<Value> slices;
      for (Value shared : forall.getRegionIterArgs())
        slices.push_back(tensor::ExtractSliceOp::create(b, loc, shared, offsets,
                                                        sizes, strides));
      SmallVector<Value> chunk = forLoop(
          b, loc, o.idx(0), size, slices,
          [&](OpBuilder &ob, Value kk, ValueRange acc) -> SmallVector<Value> {
            Arith in{ob, loc};
            Value ai =
                in.add(in.idx(aStart), in.mul(in.add(k0, kk), in.idx(2)));
            auto [best, dst] =
                mb.bestMatch(ob, ai, in.idx(bStart), mb.t, in.idx(2), nullptr);
            return {in.insert(best, acc[0], {kk}),
                    in.insert(dst, acc[1], {kk})};
          });
      b.setInsertionPointToStart(forall.getTerminator().getBody());
      for (auto [part, shared] :
           llvm::zip_equal(chunk, forall.getRegionIterArgs()))
        tensor::ParallelInsertSliceOp::create(b, loc, part, shared, offsets,
                                              sizes, strides);
    }
    SmallVector<Value> found(forall.getResults());
    return forLoop(b, loc, zero, nA, ValueRange{role},
                   [&](OpBuilder &ob, Value k,
                       ValueRange acc) -> SmallVector<Value> {
                     Arith o{ob, loc};
                     Value rank = rankDescending(ob, loc, found[0], nA, k);
                     Value source =
                         o.cmp(arith::CmpIPredicate::slt, rank, rEff);
                     Value ai = o.add(o.idx(aStart), o.mul(k, o.idx(2)));
                     Value r =
                         o.select(source, o.extract(found[1], {k}), o.idx(-1));
                     return {o.insert(r, acc[0], {ai})};
                   })
        .front();
  }

  /// PiToMe: energy ranks pick 2r' tokens; ranks 0, 2, ... merge into
  /// their most similar of ranks 1, 3, ...
  static Value piToMeRoles(MergeBuilder &mb, Value role, int64_t p, Value rEff,
                           double margin) {
    OpBuilder &b = mb.b;
    Location loc = mb.loc;
    Arith a{b, loc};
    using P = arith::CmpIPredicate;
    Value zero = a.idx(0), pV = a.idx(p);
    Value n = a.maxS(a.sub(mb.t, pV), zero);
    Value nF = arith::UIToFPOp::create(
        b, loc, b.getF32Type(),
        arith::IndexCastOp::create(b, loc, b.getI64Type(), n));
    // energy[k] of token p + k; each pair (i <= j) is visited once and
    // counts for both.
    auto elu = [&](OpBuilder &ib, Value i, Value j) {
      Arith in{ib, loc};
      Value x =
          arith::SubFOp::create(ib, loc, mb.cosine(ib, i, j), in.f32(margin));
      Value neg = arith::SubFOp::create(
          ib, loc, math::ExpOp::create(ib, loc, x), in.f32(1.0));
      return in.select(in.fcmp(arith::CmpFPredicate::OGT, x, in.f32(0.0)), x,
                       neg);
    };
    Value energy0 = a.filled({n}, b.getF32Type(), a.f32(0.0));
    Value sums =
        forLoop(
            b, loc, zero, n, ValueRange{energy0},
            [&](OpBuilder &ob, Value k, ValueRange acc) -> SmallVector<Value> {
              Arith o{ob, loc};
              Value i = o.add(k, o.idx(p));
              Value self = elu(ob, i, i);
              SmallVector<Value> row = forLoop(
                  ob, loc, o.add(k, o.idx(1)), n, ValueRange{acc[0], self},
                  [&](OpBuilder &ib, Value k2, ValueRange st) {
                    Arith in{ib, loc};
                    Value f = elu(ib, i, in.add(k2, in.idx(p)));
                    Value other = arith::AddFOp::create(
                        ib, loc, in.extract(st[0], {k2}), f);
                    return SmallVector<Value>{
                        in.insert(other, st[0], {k2}),
                        arith::AddFOp::create(ib, loc, st[1], f)};
                  });
              Value total = arith::AddFOp::create(
                  ob, loc, o.extract(row[0], {k}), row[1]);
              return {o.insert(total, row[0], {k})};
            })
            .front();
    Value energy =
        forLoop(b, loc, zero, n, ValueRange{sums},
                [&](OpBuilder &ob, Value k, ValueRange acc) {
                  Arith o{ob, loc};
                  Value e = arith::DivFOp::create(ob, loc,
                                                  o.extract(acc[0], {k}), nF);
                  return SmallVector<Value>{o.insert(e, acc[0], {k})};
                })
            .front();
    Value rank0 = a.filled({n}, b.getIndexType(), zero);
    Value rank = forLoop(b, loc, zero, n, ValueRange{rank0},
                         [&](OpBuilder &ob, Value k, ValueRange acc) {
                           Arith o{ob, loc};
                           Value r = rankDescending(ob, loc, energy, n, k);
                           return SmallVector<Value>{o.insert(r, acc[0], {k})};
                         })
                     .front();
    Value twoR = a.mul(rEff, a.idx(2));
    auto is = [&](OpBuilder &ob, Value k, bool source) {
      Arith o{ob, loc};
      Value r = o.extract(rank, {k});
      Value parity = arith::RemUIOp::create(ob, loc, r, o.idx(2));
      return o.andI(o.cmp(P::slt, r, twoR),
                    o.cmp(P::eq, parity, o.idx(source ? 0 : 1)));
    };
    return forLoop(b, loc, zero, n, ValueRange{role},
                   [&](OpBuilder &ob, Value k,
                       ValueRange acc) -> SmallVector<Value> {
                     auto ifOp = scf::IfOp::create(
                         ob, loc, is(ob, k, true),
                         [&](OpBuilder &tb, Location l) {
                           Arith in{tb, l};
                           Value i = in.add(k, in.idx(p));
                           Value dst =
                               mb.bestMatch(tb, i, in.idx(p), mb.t, in.idx(1),
                                            [&](OpBuilder &eb, Value j) {
                                              Arith e{eb, loc};
                                              return is(eb, e.sub(j, e.idx(p)),
                                                        false);
                                            })
                                   .second;
                           scf::YieldOp::create(
                               tb, l, ValueRange{in.insert(dst, acc[0], {i})});
                         },
                         [&](OpBuilder &eb, Location l) {
                           scf::YieldOp::create(eb, l, ValueRange{acc[0]});
                         });
                     return {ifOp.getResult(0)};
                   })
        .front();
  }

  LogicalResult
  matchAndRewrite(MergeOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Value x = adaptor.getInput(), metric = adaptor.getMetric();
    if (failed(checkF32Rows(op, x, rewriter)) ||
        failed(checkF32Rows(op, metric, rewriter)))
      return failure();
    Location loc = op.getLoc();
    OpBuilder &b = rewriter;
    Arith a{b, loc};
    using P = arith::CmpIPredicate;
    Value zero = a.idx(0), two = a.idx(2);
    Value t = tensor::DimOp::create(b, loc, x, 0);
    Value e = tensor::DimOp::create(b, loc, x, 1);
    int64_t p = op.getProtectFirst();
    // r' = min(r, max(0, (T - p) / 2)).
    Value half =
        arith::DivSIOp::create(b, loc, a.maxS(a.sub(t, a.idx(p)), zero), two);
    Value rEff = a.minS(a.idx(op.getR()), half);
    MergeBuilder mb{b, loc, metric, MergeBuilder::rowNorms(b, loc, metric, t),
                    t};

    // role[i] = -1 if token i stays, else the token it merges into.
    Value role = a.filled({t}, b.getIndexType(), a.idx(-1));
    role =
        op.getMethod() == MergeMethod::tome
            ? toMeRoles(mb, role, p, rEff)
            : piToMeRoles(mb, role, p, rEff, op.getMargin().convertToDouble());

    // Output row of every kept token (prefix count), then the map.
    Value slot0 = a.filled({t}, b.getIndexType(), zero);
    SmallVector<Value> scan = forLoop(
        b, loc, zero, t, ValueRange{slot0, zero},
        [&](OpBuilder &ob, Value i, ValueRange acc) -> SmallVector<Value> {
          Arith o{ob, loc};
          Value kept = o.cmp(P::slt, o.extract(role, {i}), o.idx(0));
          Value next = o.add(acc[1], o.select(kept, o.idx(1), o.idx(0)));
          return {o.insert(acc[1], acc[0], {i}), next};
        });
    Value slot = scan[0], outT = scan[1];
    Value map0 = tensor::EmptyOp::create(b, loc, ArrayRef<OpFoldResult>{t},
                                         b.getI32Type());
    Value map = forLoop(b, loc, zero, t, ValueRange{map0},
                        [&](OpBuilder &ob, Value i, ValueRange acc) {
                          Arith o{ob, loc};
                          Value r = o.extract(role, {i});
                          Value src =
                              o.select(o.cmp(P::slt, r, o.idx(0)), i, r);
                          Value out = o.toI32(o.extract(slot, {src}));
                          return SmallVector<Value>{o.insert(out, acc[0], {i})};
                        })
                    .front();

    // Size-weighted sums, then the division by the summed sizes.
    Value sizes = adaptor.getSizes();
    Value f32Zero = a.f32(0.0);
    Value sum0 = a.filled({outT, e}, b.getF32Type(), f32Zero);
    Value size0 = a.filled({outT}, b.getF32Type(), f32Zero);
    SmallVector<Value> sums = forLoop(
        b, loc, zero, t, ValueRange{sum0, size0},
        [&](OpBuilder &ob, Value i, ValueRange acc) -> SmallVector<Value> {
          Arith o{ob, loc};
          Value out = o.toIndex(o.extract(map, {i}));
          Value s = sizes ? o.extract(sizes, {i}) : o.f32(1.0);
          Value sz =
              arith::AddFOp::create(ob, loc, o.extract(acc[1], {out}), s);
          Value row =
              forLoop(ob, loc, o.idx(0), e, ValueRange{acc[0]},
                      [&](OpBuilder &ib, Value c, ValueRange r) {
                        Arith in{ib, loc};
                        Value xv = arith::MulFOp::create(ib, loc, s,
                                                         in.extract(x, {i, c}));
                        Value v = arith::AddFOp::create(
                            ib, loc, in.extract(r[0], {out, c}), xv);
                        return SmallVector<Value>{in.insert(v, r[0], {out, c})};
                      })
                  .front();
          return {row, o.insert(sz, acc[1], {out})};
        });
    Value merged = divideRows(b, loc, sums[0], sums[1]);

    auto cast = [&](Value v, Type type) -> Value {
      return v.getType() == type ? v : tensor::CastOp::create(b, loc, type, v);
    };
    rewriter.replaceOp(op, {cast(merged, op.getOutput().getType()),
                            cast(sums[1], op.getOutputSizes().getType()),
                            cast(map, op.getMap().getType())});
    return success();
  }
};

/// Asserts at run time that every entry of `indices` (i32) is in
/// [0, bound); `what` names the op in the message.
void checkIndices(OpBuilder &b, Location loc, Value indices, Value bound,
                  StringRef what) {
  Arith a{b, loc};
  Value n = tensor::DimOp::create(b, loc, indices, 0);
  Value boundI32 = a.toI32(bound);
  Value ok = forLoop(b, loc, a.idx(0), n,
                     ValueRange{arith::ConstantIntOp::create(b, loc, 1, 1)},
                     [&](OpBuilder &ob, Value k, ValueRange acc) {
                       Arith o{ob, loc};
                       Value i = o.extract(indices, {k});
                       Value inside = o.andI(
                           o.cmp(arith::CmpIPredicate::sge, i, o.i32(0)),
                           o.cmp(arith::CmpIPredicate::slt, i, boundI32));
                       return SmallVector<Value>{o.andI(acc[0], inside)};
                     })
                 .front();
  cf::AssertOp::create(b, loc, ok, (what + ": an index is out of range").str());
}

struct UnmergeOpLowering : OpConversionPattern<UnmergeOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(UnmergeOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value input = adaptor.getInput(), map = adaptor.getMap();
    auto type = cast<RankedTensorType>(op.getResult().getType());
    checkIndices(rewriter, loc, map,
                 tensor::DimOp::create(rewriter, loc, input, 0), "tok.unmerge");
    Value out = gatherRows(rewriter, loc, input, map);
    if (out.getType() != type)
      out = tensor::CastOp::create(rewriter, loc, type, out);
    rewriter.replaceOp(op, out);
    return success();
  }
};

struct PruneOpLowering : OpConversionPattern<PruneOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(PruneOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Value x = adaptor.getInput(), scores = adaptor.getScores();
    if (failed(checkF32Rows(op, x, rewriter)))
      return failure();
    Location loc = op.getLoc();
    OpBuilder &b = rewriter;
    Arith a{b, loc};
    using P = arith::CmpIPredicate;
    Value zero = a.idx(0);
    Value t = tensor::DimOp::create(b, loc, x, 0);
    int64_t pf = op.getProtectFirst(), pl = op.getProtectLast();

    // kept = min(max(ceil(keep T - slack), pf + pl), T), as getKeptCount.
    Value tf = arith::UIToFPOp::create(
        b, loc, b.getF64Type(),
        arith::IndexCastOp::create(b, loc, b.getI64Type(), t));
    Value exact = arith::MulFOp::create(
        b, loc, tf,
        arith::ConstantOp::create(
            b, loc, b.getF64FloatAttr(op.getKeep().convertToDouble())));
    Value slack = arith::MaximumFOp::create(
        b, loc, arith::ConstantOp::create(b, loc, b.getF64FloatAttr(1e-9)),
        arith::MulFOp::create(
            b, loc, exact,
            arith::ConstantOp::create(b, loc, b.getF64FloatAttr(1e-6))));
    Value byRatio = math::CeilOp::create(
        b, loc, arith::SubFOp::create(b, loc, exact, slack));
    Value byRatioI = arith::IndexCastOp::create(
        b, loc, b.getIndexType(),
        arith::FPToSIOp::create(b, loc, b.getI64Type(), byRatio));
    Value kept = a.minS(a.maxS(byRatioI, a.idx(pf + pl)), t);
    Value lastStart = a.sub(t, a.idx(pl));
    Value free = a.maxS(a.sub(kept, a.idx(pf + pl)), zero);

    // selected[i], then the compaction of the selected indices.
    Value idx0 = tensor::EmptyOp::create(b, loc, ArrayRef<OpFoldResult>{kept},
                                         b.getI32Type());
    Value indices =
        forLoop(
            b, loc, zero, t, ValueRange{idx0, zero},
            [&](OpBuilder &ob, Value i, ValueRange acc) -> SmallVector<Value> {
              Arith o{ob, loc};
              Value protectedRow = o.orI(o.cmp(P::slt, i, o.idx(pf)),
                                         o.cmp(P::sge, i, lastStart));
              auto ifOp = scf::IfOp::create(
                  ob, loc, protectedRow,
                  [&](OpBuilder &tb, Location l) {
                    scf::YieldOp::create(
                        tb, l,
                        ValueRange{arith::ConstantIntOp::create(tb, l, 1, 1)});
                  },
                  [&](OpBuilder &eb, Location l) {
                    Arith in{eb, l};
                    Value si = in.extract(scores, {i});
                    Value rank =
                        forLoop(
                            eb, l, in.idx(pf), lastStart, ValueRange{in.idx(0)},
                            [&](OpBuilder &jb, Value j, ValueRange c) {
                              Arith jj{jb, l};
                              Value sj = jj.extract(scores, {j});
                              Value above = jj.orI(
                                  jj.fcmp(arith::CmpFPredicate::OGT, sj, si),
                                  jj.andI(jj.fcmp(arith::CmpFPredicate::OEQ, sj,
                                                  si),
                                          jj.cmp(P::slt, j, i)));
                              return SmallVector<Value>{
                                  jj.add(c[0], jj.select(above, jj.idx(1),
                                                         jj.idx(0)))};
                            })
                            .front();
                    scf::YieldOp::create(
                        eb, l, ValueRange{in.cmp(P::slt, rank, free)});
                  });
              Value selected = ifOp.getResult(0);
              auto store = scf::IfOp::create(
                  ob, loc, selected,
                  [&](OpBuilder &tb, Location l) {
                    Arith in{tb, l};
                    Value w = in.insert(in.toI32(i), acc[0], {acc[1]});
                    scf::YieldOp::create(
                        tb, l, ValueRange{w, in.add(acc[1], in.idx(1))});
                  },
                  [&](OpBuilder &eb, Location l) {
                    scf::YieldOp::create(eb, l, ValueRange{acc[0], acc[1]});
                  });
              return {store.getResult(0), store.getResult(1)};
            })
            .front();

    // The kept rows.
    Value out = gatherRows(b, loc, x, indices);
    auto cast = [&](Value v, Type type) -> Value {
      return v.getType() == type ? v : tensor::CastOp::create(b, loc, type, v);
    };
    rewriter.replaceOp(op, {cast(out, op.getOutput().getType()),
                            cast(indices, op.getIndices().getType())});
    return success();
  }
};

struct GatherOpLowering : OpConversionPattern<GatherOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(GatherOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value input = adaptor.getInput(), indices = adaptor.getIndices();
    auto type = cast<RankedTensorType>(op.getResult().getType());
    int64_t dim = op.getDim(), rank = type.getRank();
    checkIndices(rewriter, loc, indices,
                 tensor::DimOp::create(rewriter, loc, input, dim),
                 "tok.gather");
    SmallVector<OpFoldResult> sizes =
        tensor::getMixedSizes(rewriter, loc, input);
    sizes[dim] = tensor::getMixedSize(rewriter, loc, indices, 0);
    Value init =
        tensor::EmptyOp::create(rewriter, loc, sizes, type.getElementType());
    MLIRContext *ctx = rewriter.getContext();
    AffineMap full = AffineMap::getMultiDimIdentityMap(rank, ctx);
    AffineMap at = AffineMap::get(rank, 0, getAffineDimExpr(dim, ctx), ctx);
    Value out =
        linalg::GenericOp::create(
            rewriter, loc, init.getType(), ValueRange{indices},
            ValueRange{init}, ArrayRef<AffineMap>{at, full},
            SmallVector<utils::IteratorType>(rank,
                                             utils::IteratorType::parallel),
            [&](OpBuilder &b, Location l, ValueRange args) {
              SmallVector<Value> where;
              for (int64_t d = 0; d < rank; ++d)
                where.push_back(
                    d == dim ? arith::IndexCastOp::create(
                                   b, l, b.getIndexType(), args[0])
                                   .getResult()
                             : linalg::IndexOp::create(b, l, d).getResult());
              Value v = tensor::ExtractOp::create(b, l, input, where);
              linalg::YieldOp::create(b, l, v);
            })
            .getResult(0);
    if (out.getType() != type)
      out = tensor::CastOp::create(rewriter, loc, type, out);
    rewriter.replaceOp(op, out);
    return success();
  }
};

struct ScatterOpLowering : OpConversionPattern<ScatterOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(ScatterOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    if (op.getDim() != 0)
      return rewriter.notifyMatchFailure(op, "only dim 0 lowers");
    Location loc = op.getLoc();
    Value source = adaptor.getSource(), dest = adaptor.getDest(),
          indices = adaptor.getIndices();
    checkIndices(rewriter, loc, indices,
                 tensor::DimOp::create(rewriter, loc, dest, 0), "tok.scatter");
    auto type = cast<RankedTensorType>(dest.getType());
    int64_t rank = type.getRank();
    // Rows are written into a copy: `dest` may have other uses.
    Value init = tensor::EmptyOp::create(
        rewriter, loc, tensor::getMixedSizes(rewriter, loc, dest),
        type.getElementType());
    Value copy = linalg::CopyOp::create(rewriter, loc, dest, init).getResult(0);
    Value n = tensor::DimOp::create(rewriter, loc, indices, 0);
    Arith a{rewriter, loc};
    Value out =
        forLoop(rewriter, loc, a.idx(0), n, ValueRange{copy},
                [&](OpBuilder &ob, Value k, ValueRange acc) {
                  Arith o{ob, loc};
                  Value row = o.toIndex(o.extract(indices, {k}));
                  SmallVector<OpFoldResult> offsets(rank, ob.getIndexAttr(0));
                  SmallVector<OpFoldResult> sizes =
                      tensor::getMixedSizes(ob, loc, source);
                  SmallVector<OpFoldResult> strides(rank, ob.getIndexAttr(1));
                  sizes[0] = ob.getIndexAttr(1);
                  offsets[0] = k;
                  Value slice = tensor::ExtractSliceOp::create(
                      ob, loc, source, offsets, sizes, strides);
                  offsets[0] = row;
                  Value w = tensor::InsertSliceOp::create(
                      ob, loc, slice, acc[0], offsets, sizes, strides);
                  return SmallVector<Value>{w};
                })
            .front();
    if (out.getType() != op.getResult().getType())
      out =
          tensor::CastOp::create(rewriter, loc, op.getResult().getType(), out);
    rewriter.replaceOp(op, out);
    return success();
  }
};

} // namespace

void mlir::tok::populateTokenOpsToLoopsPatterns(RewritePatternSet &patterns) {
  patterns.add<GatherOpLowering, MergeOpLowering, PruneOpLowering,
               ScatterOpLowering, UnmergeOpLowering>(patterns.getContext());
}
