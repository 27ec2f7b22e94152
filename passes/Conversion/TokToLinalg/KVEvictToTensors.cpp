//===- KVEvictToTensors.cpp - tok.kv.evict on the cache tensors -----------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// Eviction policies on the tensors of a lowered cache (docs/algorithms.md,
// "KV-cache eviction"):
//
//   window  StreamingLLM: over budget, the `recent` newest slots move down
//           behind the `sinks`.
//   h2o     acc <- acc + scores (kept in the cache); over budget, per KV
//           head, evict the lowest-acc slots outside the `recent` newest.
//   a2sf    as h2o with acc <- decay * acc + scores.
//   tova    over budget, evict by this step's scores summed over the KV
//           heads (the same slots for every head), always keeping the newest.
//   snapkv  over budget, keep the last `observe` slots and, per KV head, the
//           best of the others by their scores max-pooled over `pool`
//           neighbours (SnapKV's rule at the end of prefill).
//
// Eviction removes the len - budget lowest-ranked candidates one argmin at a
// time (ties: the larger slot index goes first, so older tokens stay), then
// compacts the kept slots of each head to the front in ascending order,
// moving keys, values, positions and scores together. A decode step that
// overflows by one slot costs one pass over the candidates and one
// compaction.
//
//===----------------------------------------------------------------------===//

#include "KVCacheParts.h"
#include "tok/Conversion/Passes.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Transforms/DialectConversion.h"
#include "tok/Dialect/Tok/IR/TokOps.h"

#include <limits>

using namespace mlir;
using namespace mlir::tok;

namespace {

using utils::IteratorType;

/// acc <- a * acc + x elementwise on [H, C] f32, written into `acc` (the
/// cache's scores) so that bufferization updates them in place.
Value accumulate(OpBuilder &b, Location loc, double a, Value acc, Value x) {
  MLIRContext *ctx = b.getContext();
  AffineMap id = AffineMap::getMultiDimIdentityMap(2, ctx);
  return linalg::GenericOp::create(
             b, loc, acc.getType(), ValueRange{x}, ValueRange{acc},
             ArrayRef<AffineMap>{id, id},
             ArrayRef<IteratorType>{IteratorType::parallel,
                                    IteratorType::parallel},
             [&](OpBuilder &gb, Location l, ValueRange v) {
               Value old = v[1];
               if (a != 1.0)
                 old = arith::MulFOp::create(
                     gb, l, old,
                     arith::ConstantOp::create(
                         gb, l, gb.getF32FloatAttr(static_cast<float>(a))));
               linalg::YieldOp::create(
                   gb, l, arith::AddFOp::create(gb, l, old, v[0]).getResult());
             })
      .getResult(0);
}

/// Every head ranked by the scores summed over heads: [H, C] with equal rows.
Value sharedAcrossHeads(OpBuilder &b, Location loc, Value scores) {
  MLIRContext *ctx = b.getContext();
  auto type = cast<RankedTensorType>(scores.getType());
  auto rowType = RankedTensorType::get({type.getDimSize(1)}, b.getF32Type());
  Value zero = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.0f));
  Value rowEmpty = tensor::EmptyOp::create(b, loc, rowType, ValueRange{});
  Value rowInit = linalg::FillOp::create(b, loc, zero, rowEmpty).getResult(0);
  AffineExpr s, h;
  bindDims(ctx, s, h);
  Value summed =
      linalg::GenericOp::create(
          b, loc, rowType, ValueRange{scores}, ValueRange{rowInit},
          ArrayRef<AffineMap>{AffineMap::get(2, 0, {h, s}, ctx),
                              AffineMap::get(2, 0, {s}, ctx)},
          ArrayRef<IteratorType>{IteratorType::parallel,
                                 IteratorType::reduction},
          [&](OpBuilder &gb, Location l, ValueRange v) {
            linalg::YieldOp::create(
                gb, l, arith::AddFOp::create(gb, l, v[0], v[1]).getResult());
          })
          .getResult(0);
  Value init = tensor::EmptyOp::create(b, loc, type, ValueRange{});
  return linalg::BroadcastOp::create(b, loc, summed, init, ArrayRef<int64_t>{0})
      .getResult()[0];
}

/// SnapKV's ranking: the scores max-pooled over `pool` neighbouring slots,
/// only among the candidates [0, length - observe) (others pad with -inf).
Value maxPooled(OpBuilder &b, Location loc, Value scores, Value length,
                int64_t observe, int64_t pool) {
  MLIRContext *ctx = b.getContext();
  auto type = cast<RankedTensorType>(scores.getType());
  Value end =
      arith::SubIOp::create(b, loc, length, constIndex(b, loc, observe));
  Value init = tensor::EmptyOp::create(b, loc, type, ValueRange{});
  AffineMap id = AffineMap::getMultiDimIdentityMap(2, ctx);
  return linalg::GenericOp::create(
             b, loc, type, ValueRange{}, ValueRange{init},
             ArrayRef<AffineMap>{id},
             ArrayRef<IteratorType>{IteratorType::parallel,
                                    IteratorType::parallel},
             [&](OpBuilder &gb, Location l, ValueRange) {
               Value h = linalg::IndexOp::create(gb, l, 0);
               Value i = linalg::IndexOp::create(gb, l, 1);
               Value best = arith::ConstantOp::create(
                   gb, l,
                   gb.getF32FloatAttr(-std::numeric_limits<float>::infinity()));
               for (int64_t d = -(pool / 2); d <= pool / 2; ++d) {
                 Value j = arith::AddIOp::create(
                     gb, l, i, arith::ConstantIndexOp::create(gb, l, d));
                 Value inRange = arith::AndIOp::create(
                     gb, l,
                     arith::CmpIOp::create(
                         gb, l, arith::CmpIPredicate::sge, j,
                         arith::ConstantIndexOp::create(gb, l, 0)),
                     arith::CmpIOp::create(gb, l, arith::CmpIPredicate::slt, j,
                                           end));
                 // Read a valid slot (clamped) and discard it when out of
                 // range, so that no read is out of bounds.
                 Value safe = arith::SelectOp::create(
                     gb, l, inRange, j,
                     arith::ConstantIndexOp::create(gb, l, 0));
                 Value v = tensor::ExtractOp::create(gb, l, scores,
                                                     ValueRange{h, safe});
                 Value bigger = arith::MaxNumFOp::create(gb, l, best, v);
                 best = arith::SelectOp::create(gb, l, inRange, bigger, best);
               }
               linalg::YieldOp::create(gb, l, best);
             })
      .getResult(0);
}

/// Moves `count` slots of every cache tensor from `from` down to `to`
/// (`to` <= `from`), slot by slot in increasing order, which is a safe
/// memmove for overlapping ranges. Keys and values move as D-wide vectors
/// read into registers before they are written, so bufferization keeps the
/// cache in place (an extract_slice / insert_slice of overlapping slots of
/// the same tensor would copy them through a temporary instead).
static CacheParts shiftSlotsDown(OpBuilder &b, Location loc, CacheParts c,
                                 Value from, Value to, Value count) {
  Value c0 = constIndex(b, loc, 0), c1 = constIndex(b, loc, 1);
  SmallVector<Value> parts = c.pack();
  SmallVector<Value> carried{parts[0], parts[1], parts[2]};
  if (c.scores)
    carried.push_back(c.scores);
  auto heads = cast<RankedTensorType>(c.keys.getType()).getDimSize(0);
  auto loop = scf::ForOp::create(
      b, loc, c0, count, c1, carried,
      [&](OpBuilder &lb, Location l, Value j, ValueRange args) {
        Value src = arith::AddIOp::create(lb, l, from, j);
        Value dst = arith::AddIOp::create(lb, l, to, j);
        auto inner = scf::ForOp::create(
            lb, l, c0, constIndex(lb, l, heads), c1, args,
            [&](OpBuilder &hb, Location hl, Value h, ValueRange t) {
              SmallVector<Value> next;
              for (auto [k, tensor] : llvm::enumerate(t)) {
                auto type = cast<RankedTensorType>(tensor.getType());
                if (type.getRank() == 3) {
                  auto vecType = VectorType::get({type.getDimSize(2)},
                                                 type.getElementType());
                  Value pad = arith::ConstantOp::create(
                      hb, hl, hb.getZeroAttr(type.getElementType()));
                  Value v = vector::TransferReadOp::create(
                      hb, hl, vecType, tensor, ValueRange{h, src, c0}, pad,
                      ArrayRef<bool>{true});
                  next.push_back(vector::TransferWriteOp::create(
                                     hb, hl, v, tensor, ValueRange{h, dst, c0},
                                     ArrayRef<bool>{true})
                                     .getResult());
                } else {
                  Value v = tensor::ExtractOp::create(hb, hl, tensor,
                                                      ValueRange{h, src});
                  next.push_back(tensor::InsertOp::create(hb, hl, v, tensor,
                                                          ValueRange{h, dst}));
                }
              }
              scf::YieldOp::create(hb, hl, next);
            });
        scf::YieldOp::create(lb, l, inner.getResults());
      });
  CacheParts out = c;
  out.keys = loop.getResult(0);
  out.values = loop.getResult(1);
  out.positions = loop.getResult(2);
  if (c.scores)
    out.scores = loop.getResult(3);
  return out;
}

struct KVEvictLowering : OpConversionPattern<KVEvictOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(KVEvictOp op, OneToNOpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    EvictAttr policy = op.getPolicy();
    Location loc = op.getLoc();
    CacheParts c = CacheParts::unpack(adaptor.getCache());
    Value budget = constIndex(rewriter, loc, policy.getBudget());
    Value over = arith::CmpIOp::create(rewriter, loc, arith::CmpIPredicate::ugt,
                                       c.length, budget);

    if (policy.getPolicy() == EvictPolicy::window) {
      // Slots are touched only when the cache is over budget, and then only
      // the `recent` kept ones move: a loop of `recent` or 0 iterations (a
      // loop, not an scf.if, so that bufferization sees the cache parts
      // equivalent to the incoming ones and the step updates them in place).
      Value count = arith::SelectOp::create(
          rewriter, loc, over, constIndex(rewriter, loc, policy.getRecent()),
          constIndex(rewriter, loc, 0));
      Value from =
          arith::SubIOp::create(rewriter, loc, c.length,
                                constIndex(rewriter, loc, policy.getRecent()));
      CacheParts moved =
          shiftSlotsDown(rewriter, loc, c, from,
                         constIndex(rewriter, loc, policy.getSinks()), count);
      moved.length =
          arith::SelectOp::create(rewriter, loc, over, budget, c.length);
      rewriter.replaceOpWithMultiple(op, {moved.pack()});
      return success();
    }
    Value scores = adaptor.getScores().front();
    Value ranking;
    int64_t recent = policy.getRecent();
    switch (policy.getPolicy()) {
    case EvictPolicy::h2o:
      c.scores = accumulate(rewriter, loc, 1.0, c.scores, scores);
      ranking = c.scores;
      break;
    case EvictPolicy::a2sf:
      c.scores = accumulate(rewriter, loc, policy.getDecay().convertToDouble(),
                            c.scores, scores);
      ranking = c.scores;
      break;
    case EvictPolicy::tova:
      ranking = sharedAcrossHeads(rewriter, loc, scores);
      recent = 1; // the newest slot always stays
      break;
    case EvictPolicy::snapkv:
      // The observation window (the last `observe` slots) always stays.
      ranking = maxPooled(rewriter, loc, scores, c.length, policy.getObserve(),
                          policy.getPool());
      recent = policy.getObserve();
      break;
    default:
      llvm_unreachable("handled above");
    }

    SmallVector<Value> init = c.pack();
    auto ifOp = scf::IfOp::create(
        rewriter, loc, over,
        [&](OpBuilder &b, Location l) {
          CacheParts out = evictPerHead(b, l, c, ranking, budget, recent);
          scf::YieldOp::create(b, l, out.pack());
        },
        [&](OpBuilder &b, Location l) { scf::YieldOp::create(b, l, init); });
    rewriter.replaceOpWithMultiple(op, {SmallVector<Value>(ifOp.getResults())});
    return success();
  }

  /// For every KV head: mark the len - budget lowest-ranked slots of
  /// [0, len - recent), then compact the rest to the front.
  static CacheParts evictPerHead(OpBuilder &b, Location loc, CacheParts c,
                                 Value ranking, Value budget, int64_t recent) {
    auto keysType = cast<RankedTensorType>(c.keys.getType());
    int64_t heads = keysType.getDimSize(0);
    int64_t capacity = keysType.getDimSize(1);
    Value zero = constIndex(b, loc, 0), one = constIndex(b, loc, 1);
    Value candidates =
        arith::SubIOp::create(b, loc, c.length, constIndex(b, loc, recent));
    Value evictions = arith::SubIOp::create(b, loc, c.length, budget);
    auto maskType = RankedTensorType::get({capacity}, b.getI1Type());
    Value no = arith::ConstantOp::create(b, loc, b.getBoolAttr(false));
    Value yes = arith::ConstantOp::create(b, loc, b.getBoolAttr(true));
    Value inf = arith::ConstantOp::create(
        b, loc, b.getF32FloatAttr(std::numeric_limits<float>::infinity()));
    Value length = c.length;

    SmallVector<Value> init = c.pack();
    init.erase(init.begin() + 3); // the length does not change per head
    auto headLoop = scf::ForOp::create(
        b, loc, zero, constIndex(b, loc, heads), one, init,
        [&](OpBuilder &hb, Location l, Value h, ValueRange args) {
          Value maskEmpty =
              tensor::EmptyOp::create(hb, l, maskType, ValueRange{});
          Value mask =
              linalg::FillOp::create(hb, l, no, maskEmpty).getResult(0);
          // One argmin per evicted slot; `<=` lets the later index win ties.
          auto marking = scf::ForOp::create(
              hb, l, zero, evictions, one, ValueRange{mask},
              [&](OpBuilder &eb, Location el, Value, ValueRange m) {
                auto scan = scf::ForOp::create(
                    eb, el, zero, candidates, one, ValueRange{inf, zero},
                    [&](OpBuilder &sb, Location sl, Value i, ValueRange best) {
                      Value gone = tensor::ExtractOp::create(sb, sl, m[0],
                                                             ValueRange{i});
                      Value key = tensor::ExtractOp::create(sb, sl, ranking,
                                                            ValueRange{h, i});
                      Value lower = arith::CmpFOp::create(
                          sb, sl, arith::CmpFPredicate::OLE, key, best[0]);
                      Value take = arith::AndIOp::create(
                          sb, sl, lower,
                          arith::XOrIOp::create(
                              sb, sl, gone,
                              Value(arith::ConstantOp::create(
                                  sb, sl, sb.getBoolAttr(true)))));
                      scf::YieldOp::create(
                          sb, sl,
                          ValueRange{arith::SelectOp::create(sb, sl, take, key,
                                                             best[0]),
                                     arith::SelectOp::create(sb, sl, take, i,
                                                             best[1])});
                    });
                Value marked = tensor::InsertOp::create(
                    eb, el, yes, m[0], ValueRange{scan.getResult(1)});
                scf::YieldOp::create(eb, el, marked);
              });
          Value evicted = marking.getResult(0);

          // Compact this head's kept slots to the front, in slot order.
          SmallVector<Value> carried{zero};
          carried.append(args.begin(), args.end());
          auto compact = scf::ForOp::create(
              hb, l, zero, length, one, carried,
              [&](OpBuilder &cb, Location cl, Value i, ValueRange st) {
                Value gone =
                    tensor::ExtractOp::create(cb, cl, evicted, ValueRange{i});
                auto keep = scf::IfOp::create(
                    cb, cl, gone,
                    [&](OpBuilder &tb, Location tl) {
                      scf::YieldOp::create(tb, tl, st);
                    },
                    [&](OpBuilder &fb, Location fl) {
                      Value w = st[0];
                      SmallVector<Value> moved{
                          arith::AddIOp::create(fb, fl, w, one)};
                      for (Value t : st.drop_front())
                        moved.push_back(moveSlotOfHead(fb, fl, t, h, i, w));
                      scf::YieldOp::create(fb, fl, moved);
                    });
                scf::YieldOp::create(cb, cl, keep.getResults());
              });
          scf::YieldOp::create(hb, l, compact.getResults().drop_front());
        });
    CacheParts out;
    out.keys = headLoop.getResult(0);
    out.values = headLoop.getResult(1);
    out.positions = headLoop.getResult(2);
    if (c.scores)
      out.scores = headLoop.getResult(3);
    out.length = budget;
    return out;
  }

  /// Copies slot `from` of head `h` to slot `to` in `t` ([H, C, D] or
  /// [H, C]).
  static Value moveSlotOfHead(OpBuilder &b, Location loc, Value t, Value h,
                              Value from, Value to) {
    auto type = cast<RankedTensorType>(t.getType());
    OpFoldResult one = b.getIndexAttr(1);
    SmallVector<OpFoldResult> sizes{one, one};
    SmallVector<OpFoldResult> src{h, from}, dst{h, to};
    if (type.getRank() == 3) {
      sizes.push_back(b.getIndexAttr(type.getDimSize(2)));
      src.push_back(b.getIndexAttr(0));
      dst.push_back(b.getIndexAttr(0));
    }
    SmallVector<OpFoldResult> strides(type.getRank(), one);
    Value slot = tensor::ExtractSliceOp::create(b, loc, t, src, sizes, strides);
    return tensor::InsertSliceOp::create(b, loc, slot, t, dst, sizes, strides);
  }
};

} // namespace

void mlir::tok::populateKVEvictToTensorsPatterns(const TypeConverter &converter,
                                                 RewritePatternSet &patterns) {
  patterns.add<KVEvictLowering>(converter, patterns.getContext());
}
