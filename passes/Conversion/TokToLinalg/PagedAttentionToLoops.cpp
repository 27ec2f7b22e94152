//===- PagedAttentionToLoops.cpp - a batch's paged KV memory --------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// !tok.kv_pool becomes two tensors, keys and values [Hk, pages * page_size,
// D]; tok.kv_pool.write scatters each new token's rows into its slot, and
// tok.paged_attention runs one task per (KV head, query row) over the row's
// own sequence: the positions its mask shows, each read through the page
// table, with an online softmax in f32 for the group of query heads that
// share the KV head (each key and value row is loaded once for all of
// them). Run-time checks come first, outside the parallel loop: every slot
// written and every table entry read is in the pool, every row's sequence
// in the table and its position within the table's pages.
//
//===----------------------------------------------------------------------===//

#include "tok/Conversion/Passes.h"

#include "KVCacheParts.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Transforms/DialectConversion.h"
#include "tok/Dialect/Tok/IR/TokOps.h"

#include <limits>

using namespace mlir;
using namespace mlir::tok;

namespace {

Value f32Const(OpBuilder &b, Location loc, double v) {
  return arith::ConstantOp::create(b, loc,
                                   b.getF32FloatAttr(static_cast<float>(v)));
}

/// Element `i` of a 1-D i32 tensor as an index.
Value readIndex(OpBuilder &b, Location loc, Value tensor, ValueRange at) {
  Value v = tensor::ExtractOp::create(b, loc, tensor, at);
  return arith::IndexCastOp::create(b, loc, b.getIndexType(), v);
}

/// `lo <= v < hi` for index values (signed).
Value inRange(OpBuilder &b, Location loc, Value v, Value lo, Value hi) {
  Value a = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge, v, lo);
  Value c = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, v, hi);
  return arith::AndIOp::create(b, loc, a, c);
}

/// `v` read as f32 lanes.
Value widen(OpBuilder &b, Location loc, Value v) {
  auto type = cast<VectorType>(v.getType());
  if (type.getElementType().isF32())
    return v;
  return arith::ExtFOp::create(b, loc, type.clone(b.getF32Type()), v);
}

struct KVPoolEmptyLowering : OpConversionPattern<KVPoolEmptyOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(KVPoolEmptyOp op, OneToNOpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    KVPoolType type = op.getType();
    auto tensorType = type.getSliceType(type.getSlots());
    Value zero = arith::ConstantOp::create(
        rewriter, loc, rewriter.getFloatAttr(type.getElementType(), 0.0));
    SmallVector<Value> parts;
    for (int i = 0; i < 2; ++i) {
      Value empty = tensor::EmptyOp::create(
          rewriter, loc, tensorType.getShape(), type.getElementType());
      parts.push_back(
          linalg::FillOp::create(rewriter, loc, zero, empty).getResult(0));
    }
    rewriter.replaceOpWithMultiple(op, {parts});
    return success();
  }
};

struct KVPoolFromTensorsLowering : OpConversionPattern<KVPoolFromTensorsOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(KVPoolFromTensorsOp op, OneToNOpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    rewriter.replaceOpWithMultiple(
        op, {{adaptor.getKeys().front(), adaptor.getValues().front()}});
    return success();
  }
};

struct KVPoolToTensorsLowering : OpConversionPattern<KVPoolToTensorsOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(KVPoolToTensorsOp op, OneToNOpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    ValueRange pool = adaptor.getPool();
    rewriter.replaceOp(op, ValueRange{pool[0], pool[1]});
    return success();
  }
};

struct KVPoolWriteLowering : OpConversionPattern<KVPoolWriteOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(KVPoolWriteOp op, OneToNOpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    KVPoolType type = op.getPool().getType();
    ValueRange pool = adaptor.getPool();
    Value keys = adaptor.getKeys().front();
    Value values = adaptor.getValues().front();
    Value slots = adaptor.getSlots().front();
    Value tokens = tensor::DimOp::create(rewriter, loc, keys, 1);
    Value c0 = constIndex(rewriter, loc, 0), c1 = constIndex(rewriter, loc, 1);
    Value numSlots = constIndex(rewriter, loc, type.getSlots());
    int64_t h = type.getKvHeads(), d = type.getHeadDim();
    auto rowType = RankedTensorType::get({h, 1, d}, type.getElementType());
    auto loop = scf::ForOp::create(
        rewriter, loc, c0, tokens, c1, ValueRange{pool[0], pool[1]},
        [&](OpBuilder &b, Location l, Value t, ValueRange acc) {
          Value slot = readIndex(b, l, slots, t);
          cf::AssertOp::create(b, l, inRange(b, l, slot, c0, numSlots),
                               "tok.kv_pool.write: a slot is outside the "
                               "pool of " +
                                   std::to_string(type.getSlots()) + " slots");
          SmallVector<OpFoldResult> strides(3, b.getIndexAttr(1));
          SmallVector<OpFoldResult> sizes{b.getIndexAttr(h), b.getIndexAttr(1),
                                          b.getIndexAttr(d)};
          SmallVector<Value> next, sources{keys, values};
          for (auto [src, dst] : llvm::zip(sources, acc)) {
            Value row = tensor::ExtractSliceOp::create(
                b, l, rowType, src,
                ArrayRef<OpFoldResult>{b.getIndexAttr(0), t, b.getIndexAttr(0)},
                sizes, strides);
            next.push_back(tensor::InsertSliceOp::create(
                b, l, row, dst,
                ArrayRef<OpFoldResult>{b.getIndexAttr(0), slot,
                                       b.getIndexAttr(0)},
                sizes, strides));
          }
          scf::YieldOp::create(b, l, next);
        });
    rewriter.replaceOpWithMultiple(op, {loop.getResults()});
    return success();
  }
};

struct PagedAttentionLowering : OpConversionPattern<PagedAttentionOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(PagedAttentionOp op, OneToNOpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    KVPoolType type = op.getPool().getType();
    auto qType = cast<RankedTensorType>(op.getQuery().getType());
    if (qType.isDynamicDim(0))
      return rewriter.notifyMatchFailure(op, "dynamic query heads");
    int64_t hk = type.getKvHeads(), d = type.getHeadDim();
    int64_t group = qType.getDimSize(0) / hk;
    int64_t pageSize = type.getPageSize();
    Value query = adaptor.getQuery().front();
    Value keys = adaptor.getPool()[0], values = adaptor.getPool()[1];
    Value tables = adaptor.getPageTables().front();
    Value rowSeqs = adaptor.getRowSeqs().front();
    Value positions = adaptor.getPositions().front();
    OpBuilder &b = rewriter;
    Value c0 = constIndex(b, loc, 0), c1 = constIndex(b, loc, 1);
    Value cPage = constIndex(b, loc, pageSize);
    Value rows = tensor::DimOp::create(b, loc, query, 1);
    Value seqs = tensor::DimOp::create(b, loc, tables, 0);
    Value tablePages = tensor::DimOp::create(b, loc, tables, 1);
    Value poolPages = constIndex(b, loc, type.getPages());

    MaskAttr mask = op.getMask();
    int64_t window = mask.getWindow(), sinks = mask.getSinks();

    // Checks: each row's sequence and position, and every table entry the
    // row reads (pages 0 .. position / page_size).
    scf::ForOp::create(
        b, loc, c0, rows, c1, ValueRange{},
        [&](OpBuilder &lb, Location l, Value t, ValueRange) {
          Value s = readIndex(lb, l, rowSeqs, t);
          cf::AssertOp::create(lb, l, inRange(lb, l, s, c0, seqs),
                               "tok.paged_attention: a row's sequence is not "
                               "in the page tables");
          Value p = readIndex(lb, l, positions, t);
          Value lastPage = arith::DivUIOp::create(lb, l, p, cPage);
          cf::AssertOp::create(
              lb, l,
              arith::AndIOp::create(
                  lb, l,
                  arith::CmpIOp::create(lb, l, arith::CmpIPredicate::sge, p,
                                        c0),
                  arith::CmpIOp::create(lb, l, arith::CmpIPredicate::slt,
                                        lastPage, tablePages)),
              "tok.paged_attention: a row's position is negative or past its "
              "page table");
          Value end = arith::AddIOp::create(lb, l, lastPage, c1);
          // With a window, the pages the row never reads (wholly between
          // its sinks and its window) are not checked: the scheduler
          // releases them and leaves no valid page in their entries.
          Value lo, sinkEnd;
          if (window > 0) {
            Value rowEnd = arith::AddIOp::create(lb, l, p, c1);
            lo = arith::MaxSIOp::create(
                lb, l, c0,
                arith::SubIOp::create(lb, l, rowEnd,
                                      constIndex(lb, l, window)));
            sinkEnd =
                arith::MinSIOp::create(lb, l, lo, constIndex(lb, l, sinks));
          }
          scf::ForOp::create(
              lb, l, c0, end, c1, ValueRange{},
              [&](OpBuilder &ib, Location il, Value k, ValueRange) {
                auto check = [&](OpBuilder &cb, Location cl) {
                  Value page = readIndex(cb, cl, tables, ValueRange{s, k});
                  cf::AssertOp::create(
                      cb, cl, inRange(cb, cl, page, c0, poolPages),
                      "tok.paged_attention: a page table "
                      "entry is outside the pool of " +
                          std::to_string(type.getPages()) + " pages");
                };
                if (window > 0) {
                  // Page k holds positions [k P, k P + P): read if it
                  // reaches the window or starts before the sinks end.
                  Value first = arith::MulIOp::create(ib, il, k, cPage);
                  Value pastFirst = arith::AddIOp::create(ib, il, first, cPage);
                  Value visible = arith::OrIOp::create(
                      ib, il,
                      arith::CmpIOp::create(ib, il, arith::CmpIPredicate::sgt,
                                            pastFirst, lo),
                      arith::CmpIOp::create(ib, il, arith::CmpIPredicate::slt,
                                            first, sinkEnd));
                  scf::IfOp::create(ib, il, visible,
                                    [&](OpBuilder &cb, Location cl) {
                                      check(cb, cl);
                                      scf::YieldOp::create(cb, cl);
                                    });
                } else {
                  check(ib, il);
                }
                scf::YieldOp::create(ib, il);
              });
          scf::YieldOp::create(lb, l);
        });

    // One task per (KV head, row).
    Type f32 = b.getF32Type();
    Type elem = type.getElementType();
    auto rowVec = VectorType::get({d}, elem);
    auto qVec = VectorType::get({d}, qType.getElementType());
    auto accVec = VectorType::get({d}, f32);
    double scaleValue = op.getScale() ? op.getScale()->convertToDouble()
                                      : 1.0 / std::sqrt(static_cast<double>(d));
    std::optional<double> softcap;
    if (op.getSoftcap())
      softcap = op.getSoftcap()->convertToDouble();

    auto outType = cast<RankedTensorType>(op.getOutput().getType());
    SmallVector<Value> outDyn;
    if (outType.isDynamicDim(1))
      outDyn.push_back(rows);
    Value out = tensor::EmptyOp::create(b, loc, outType, outDyn);
    auto forall = scf::ForallOp::create(
        b, loc,
        ArrayRef<OpFoldResult>{b.getIndexAttr(hk), getAsOpFoldResult(rows)},
        ValueRange{out}, std::nullopt);
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPoint(forall.getBody()->getTerminator());
      Value kvHead = forall.getInductionVars()[0];
      Value t = forall.getInductionVars()[1];
      Value s = readIndex(b, loc, rowSeqs, t);
      Value p = readIndex(b, loc, positions, t);
      Value firstHead =
          arith::MulIOp::create(b, loc, kvHead, constIndex(b, loc, group));
      Value padQ = arith::ConstantOp::create(
          b, loc, b.getZeroAttr(qType.getElementType()));
      Value padKV = arith::ConstantOp::create(b, loc, b.getZeroAttr(elem));
      Value scale = f32Const(b, loc, scaleValue);
      Value scaleVec = vector::BroadcastOp::create(b, loc, accVec, scale);
      SmallVector<Value> q;
      for (int64_t g = 0; g < group; ++g) {
        Value head =
            arith::AddIOp::create(b, loc, firstHead, constIndex(b, loc, g));
        Value row = vector::TransferReadOp::create(b, loc, qVec, query,
                                                   ValueRange{head, t, c0},
                                                   padQ, ArrayRef<bool>{true});
        q.push_back(
            arith::MulFOp::create(b, loc, widen(b, loc, row), scaleVec));
      }
      // State per query head: running max, sum, and the weighted values.
      Value negInf = f32Const(b, loc, -std::numeric_limits<double>::infinity());
      Value zero = f32Const(b, loc, 0.0);
      Value zeroVec = vector::BroadcastOp::create(b, loc, accVec, zero);
      SmallVector<Value> state;
      for (int64_t g = 0; g < group; ++g)
        state.append({negInf, zero, zeroVec});

      // Keys [from, to) of the row's sequence into the state.
      auto scan = [&](Value from, Value to, ValueRange init) {
        auto loop = scf::ForOp::create(
            b, loc, from, to, c1, init,
            [&](OpBuilder &kb, Location l, Value j, ValueRange st) {
              Value pageIdx = arith::DivUIOp::create(kb, l, j, cPage);
              Value offset = arith::RemUIOp::create(kb, l, j, cPage);
              Value page = readIndex(kb, l, tables, ValueRange{s, pageIdx});
              Value slot = arith::AddIOp::create(
                  kb, l, arith::MulIOp::create(kb, l, page, cPage), offset);
              Value k =
                  widen(kb, l,
                        vector::TransferReadOp::create(
                            kb, l, rowVec, keys, ValueRange{kvHead, slot, c0},
                            padKV, ArrayRef<bool>{true}));
              Value v =
                  widen(kb, l,
                        vector::TransferReadOp::create(
                            kb, l, rowVec, values, ValueRange{kvHead, slot, c0},
                            padKV, ArrayRef<bool>{true}));
              SmallVector<Value> next;
              for (int64_t g = 0; g < group; ++g) {
                Value m = st[3 * g], sum = st[3 * g + 1], acc = st[3 * g + 2];
                Value z = vector::ReductionOp::create(
                    kb, l, vector::CombiningKind::ADD,
                    arith::MulFOp::create(kb, l, q[g], k));
                if (softcap) {
                  Value cap = f32Const(kb, l, *softcap);
                  z = arith::MulFOp::create(
                      kb, l,
                      math::TanhOp::create(
                          kb, l, arith::DivFOp::create(kb, l, z, cap)),
                      cap);
                }
                Value m2 = arith::MaximumFOp::create(kb, l, m, z);
                Value alpha = math::ExpOp::create(
                    kb, l, arith::SubFOp::create(kb, l, m, m2));
                Value e = math::ExpOp::create(
                    kb, l, arith::SubFOp::create(kb, l, z, m2));
                Value sum2 = arith::AddFOp::create(
                    kb, l, arith::MulFOp::create(kb, l, sum, alpha), e);
                Value acc2 = arith::AddFOp::create(
                    kb, l,
                    arith::MulFOp::create(
                        kb, l, acc,
                        vector::BroadcastOp::create(kb, l, accVec, alpha)),
                    arith::MulFOp::create(
                        kb, l, v,
                        vector::BroadcastOp::create(kb, l, accVec, e)));
                next.append({m2, sum2, acc2});
              }
              scf::YieldOp::create(kb, l, next);
            });
        return SmallVector<Value>(loop.getResults());
      };
      Value end = arith::AddIOp::create(b, loc, p, c1);
      if (window > 0) {
        // The window: positions p - W + 1 .. p; before it the sinks.
        Value lo = arith::MaxSIOp::create(
            b, loc, c0,
            arith::SubIOp::create(b, loc, end, constIndex(b, loc, window)));
        if (sinks > 0)
          state = scan(
              c0, arith::MinSIOp::create(b, loc, lo, constIndex(b, loc, sinks)),
              state);
        state = scan(lo, end, state);
      } else {
        state = scan(c0, end, state);
      }

      // Each head's output row: acc / sum (the row's own position is always
      // visible, so sum > 0).
      auto sliceType =
          RankedTensorType::get({group, 1, d}, outType.getElementType());
      Value slice = tensor::EmptyOp::create(b, loc, sliceType.getShape(),
                                            outType.getElementType());
      for (int64_t g = 0; g < group; ++g) {
        Value inv = arith::DivFOp::create(b, loc, f32Const(b, loc, 1.0),
                                          state[3 * g + 1]);
        Value o = arith::MulFOp::create(
            b, loc, state[3 * g + 2],
            vector::BroadcastOp::create(b, loc, accVec, inv));
        if (!outType.getElementType().isF32())
          o = arith::TruncFOp::create(
              b, loc, VectorType::get({d}, outType.getElementType()), o);
        slice = vector::TransferWriteOp::create(
                    b, loc, o, slice, ValueRange{constIndex(b, loc, g), c0, c0},
                    ArrayRef<bool>{true})
                    .getResult();
      }
      b.setInsertionPointToStart(&forall.getTerminator().getRegion().front());
      SmallVector<OpFoldResult> one(3, b.getIndexAttr(1));
      tensor::ParallelInsertSliceOp::create(
          b, loc, slice, forall.getRegionIterArgs()[0],
          ArrayRef<OpFoldResult>{firstHead, t, b.getIndexAttr(0)},
          ArrayRef<OpFoldResult>{b.getIndexAttr(group), b.getIndexAttr(1),
                                 b.getIndexAttr(d)},
          one);
    }
    rewriter.replaceOp(op, forall.getResult(0));
    return success();
  }
};

} // namespace

void mlir::tok::populateKVPoolTypeConversion(TypeConverter &converter) {
  converter.addConversion(
      [](KVPoolType type,
         SmallVectorImpl<Type> &results) -> std::optional<LogicalResult> {
        auto kv = type.getSliceType(type.getSlots());
        results.push_back(kv);
        results.push_back(kv);
        return success();
      });
}

void mlir::tok::populateKVPoolToTensorsPatterns(const TypeConverter &converter,
                                                RewritePatternSet &patterns) {
  patterns.add<KVPoolEmptyLowering, KVPoolFromTensorsLowering,
               KVPoolToTensorsLowering, KVPoolWriteLowering,
               PagedAttentionLowering>(converter, patterns.getContext());
}
