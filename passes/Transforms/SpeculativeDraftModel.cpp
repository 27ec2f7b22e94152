//===- SpeculativeDraftModel.cpp - the model drafter
//------------------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// The drafter of tok-speculative-decoding that runs a model (the layer-skip
// copy of the step, or a separate draft model): it catches its own caches
// up on the tokens they miss, then drafts greedily (and, for token trees,
// keeps each level's runner-up tokens), stopping early below the
// confidence threshold.
//
//===----------------------------------------------------------------------===//

#include "SpeculativeExpander.h"

using namespace mlir;
using namespace mlir::tok;
using namespace mlir::tok::speculative;

SpeculativeExpander::ModelDraft
SpeculativeExpander::draftWithModel(Value context, Value known, Value num,
                                    Value cached, ValueRange caches) {
  int64_t k = drafter.getK();
  Type i32 = b.getI32Type();
  OpFoldResult one = b.getIndexAttr(1);
  auto callDraft = [&](OpBuilder &ob, Value tokens, Value positions,
                       ValueRange dc) {
    SmallVector<Value> args{tokens, positions};
    llvm::append_range(args, draftParams);
    llvm::append_range(args, dc);
    return func::CallOp::create(ob, loc, draftStep, args);
  };
  Value any = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sgt, num,
                                    index(b, 0));
  auto ifOp = scf::IfOp::create(
      b, loc, any,
      [&](OpBuilder &tb, Location l) {
        // Catch up, and the first draft from the last row. With
        // prefill_chunk = N, every call but the last takes N tokens (the
        // prompt in the first round, as the target's prefill), the last
        // 1 .. N.
        Value from = cached;
        SmallVector<Value> dc(caches.begin(), caches.end());
        if (std::optional<uint64_t> chunk = op.getPrefillChunk()) {
          Value n = index(tb, static_cast<int64_t>(*chunk));
          Value lead = arith::DivUIOp::create(
              tb, l,
              arith::SubIOp::create(tb, l,
                                    arith::SubIOp::create(tb, l, known, cached),
                                    index(tb, 1)),
              n);
          auto chunks = scf::ForOp::create(
              tb, l, index(tb, 0), lead, index(tb, 1), dc,
              [&](OpBuilder &cb, Location, Value i, ValueRange cc) {
                Value at = arith::AddIOp::create(
                    cb, l, cached, arith::MulIOp::create(cb, l, i, n));
                Value part = tensor::ExtractSliceOp::create(
                    cb, l, context, ArrayRef<OpFoldResult>{at},
                    ArrayRef<OpFoldResult>{n}, ArrayRef<OpFoldResult>{one});
                auto call = callDraft(cb, part, positionsFrom(cb, at, n), cc);
                scf::YieldOp::create(cb, l, call.getResults().drop_front());
              });
          from = arith::AddIOp::create(tb, l, cached,
                                       arith::MulIOp::create(tb, l, lead, n));
          dc.assign(chunks.getResults().begin(), chunks.getResults().end());
        }
        Value missing = arith::SubIOp::create(tb, l, known, from);
        Value feed = tensor::ExtractSliceOp::create(
            tb, l, context, ArrayRef<OpFoldResult>{from},
            ArrayRef<OpFoldResult>{missing}, ArrayRef<OpFoldResult>{one});
        auto first = callDraft(tb, feed, positionsFrom(tb, from, missing), dc);
        auto [t0, p0] = greedyLast(tb, first.getResult(0));
        Value buffer =
            tensor::EmptyOp::create(tb, l, ArrayRef<int64_t>{k}, i32);
        buffer = tensor::InsertOp::create(tb, l, t0, buffer,
                                          ValueRange{index(tb, 0)});
        Value siblings = storeAlternatives(
            tb, tensor::EmptyOp::create(tb, l, siblingShape(), i32),
            index(tb, 0), alternatives(tb, first.getResult(0), t0));
        // Then one draft step per further draft, while the drafter's
        // probability of its last draft is at least `confidence`
        // (docs/algorithms.md, "Adaptive draft length"; that draft is still
        // proposed).
        Value threshold = arith::ConstantOp::create(
            tb, l, tb.getF32FloatAttr(static_cast<float>(confidence)));
        auto sure = [&](OpBuilder &ob, Value p) -> Value {
          return arith::CmpFOp::create(ob, l, arith::CmpFPredicate::OGE, p,
                                       threshold);
        };
        SmallVector<Value> inits{index(tb, 1), t0, buffer, sure(tb, p0),
                                 siblings};
        llvm::append_range(inits, first.getResults().drop_front());
        SmallVector<Type> loopTypes =
            llvm::map_to_vector(inits, [](Value v) { return v.getType(); });
        SmallVector<Location> locs(inits.size(), l);
        auto loop = scf::WhileOp::create(tb, l, loopTypes, inits);
        {
          OpBuilder::InsertionGuard guard(tb);
          Block *before =
              tb.createBlock(&loop.getBefore(), {}, loopTypes, locs);
          Value more = arith::AndIOp::create(
              tb, l,
              arith::CmpIOp::create(tb, l, arith::CmpIPredicate::slt,
                                    before->getArgument(0), num),
              before->getArgument(3));
          scf::ConditionOp::create(tb, l, more, before->getArguments());
          Block *after = tb.createBlock(&loop.getAfter(), {}, loopTypes, locs);
          Value i = after->getArgument(0);
          Value token = tensor::FromElementsOp::create(
              tb, l, RankedTensorType::get({1}, i32),
              ValueRange{after->getArgument(1)});
          token = tensor::CastOp::create(tb, l, dynI32, token);
          // Draft i - 1 sits at position known + i - 1.
          Value at = arith::SubIOp::create(
              tb, l, arith::AddIOp::create(tb, l, known, i), index(tb, 1));
          auto stepped =
              callDraft(tb, token, positionsFrom(tb, at, index(tb, 1)),
                        after->getArguments().drop_front(5));
          auto [t, p] = greedyLast(tb, stepped.getResult(0));
          Value buf =
              tensor::InsertOp::create(tb, l, t, after->getArgument(2), i);
          Value sibs =
              storeAlternatives(tb, after->getArgument(4), i,
                                alternatives(tb, stepped.getResult(0), t));
          SmallVector<Value> next{arith::AddIOp::create(tb, l, i, index(tb, 1)),
                                  t, buf, sure(tb, p), sibs};
          llvm::append_range(next, stepped.getResults().drop_front());
          scf::YieldOp::create(tb, l, next);
        }
        // n drafts; the caches hold every position before the last
        // draft's.
        Value n = loop.getResult(0);
        Value length = arith::SubIOp::create(
            tb, l, arith::AddIOp::create(tb, l, known, n), index(tb, 1));
        SmallVector<Value> results{loop.getResult(2), n, length,
                                   loop.getResult(4)};
        llvm::append_range(results, loop.getResults().drop_front(5));
        scf::YieldOp::create(tb, l, results);
      },
      [&](OpBuilder &eb, Location l) {
        Value buffer =
            tensor::EmptyOp::create(eb, l, ArrayRef<int64_t>{k}, i32);
        SmallVector<Value> results{
            buffer, index(eb, 0), cached,
            tensor::EmptyOp::create(eb, l, siblingShape(), i32)};
        llvm::append_range(results, caches);
        scf::YieldOp::create(eb, l, results);
      });
  ModelDraft d{ifOp.getResult(0),
               ifOp.getResult(1),
               ifOp.getResult(2),
               ifOp.getResult(3),
               {}};
  llvm::append_range(d.caches, ifOp.getResults().drop_front(4));
  return d;
}
