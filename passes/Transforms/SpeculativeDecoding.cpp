//===- SpeculativeDecoding.cpp - tok.generate as draft / verify / accept --===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// Rewrites every tok.generate into a speculative decoding loop
// (ALGORITHMS.md §8.1), on tok ops that convert-tok-to-linalg lowers:
//
//   prefill; t = first token; emit t                   (as plain decoding)
//   while not done:                  t: the pending token, not yet cached
//     d, parents, q = tok.draft context[0 : P + n]      (up to k drafts)
//     d = d[0 : min(|d|, max_new - n - 1)]              (the budget left)
//     logits, caches = step([t] ++ d, positions P+n-1 ..., caches)
//     path, next = tok.verify logits, d, parents
//     caches = tok.kv.truncate caches, |d| - |path|     (drop the rejected)
//     emit d[path[0]], ..., d[path[-1]], next           (stop at eos / max)
//     on_round(|d|, |path|)
//
// Every emitted token goes through on_token and into both the output and
// a context buffer (prompt ++ generated, capacity P + max_new) that the
// drafter reads in place. The caches keep the pending token and the
// accepted drafts: what plain decoding would have appended, so greedy
// output is token-for-token that of plain greedy decoding.
//
//===----------------------------------------------------------------------===//

#include "tok/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "tok/Conversion/GenerateExpansion.h"
#include "tok/Dialect/Tok/IR/TokOps.h"
#include "llvm/Support/FormatVariadic.h"

namespace mlir {
namespace tok {
#define GEN_PASS_DEF_TOKSPECULATIVEDECODINGPASS
#include "tok/Transforms/Passes.h.inc"
} // namespace tok
} // namespace mlir

using namespace mlir;
using namespace mlir::tok;

namespace {

/// Builds the speculative loop of one tok.generate.
struct SpeculativeExpander {
  GenerateOp op;
  func::FuncOp step;
  DrafterAttr drafter;
  bool adaptive;
  OpBuilder &b;
  Location loc;
  RankedTensorType dynI32;
  /// The draft model's step function (layer_skip, model), or null (ngram),
  /// and the parameters it takes (the step's, or a separate model's
  /// draft_params).
  func::FuncOp draftStep;
  ValueRange draftParams;
  /// The model drafter stops after a draft it gives less than this.
  double confidence;
  /// Tree drafting: leaves per level besides the chain's token (branch -
  /// 1; 0 drafts a chain), and the step copy with a tree mask.
  int64_t alts;
  func::FuncOp treeStep;

  Value index(OpBuilder &ob, int64_t v) {
    return arith::ConstantIndexOp::create(ob, loc, v);
  }

  /// [first, first + 1, ..., first + n - 1] as i32 (n = `rows`).
  Value positionsFrom(OpBuilder &ob, Value first, Value rows) {
    Value init = tensor::EmptyOp::create(ob, loc, dynI32, rows);
    MLIRContext *ctx = ob.getContext();
    return linalg::GenericOp::create(
               ob, loc, TypeRange{dynI32}, ValueRange{}, ValueRange{init},
               ArrayRef<AffineMap>{AffineMap::getMultiDimIdentityMap(1, ctx)},
               {utils::IteratorType::parallel},
               [&](OpBuilder &gb, Location l, ValueRange) {
                 Value p = arith::AddIOp::create(
                     gb, l, first, linalg::IndexOp::create(gb, l, 0));
                 linalg::YieldOp::create(
                     gb, l,
                     arith::IndexCastOp::create(gb, l, gb.getI32Type(), p)
                         .getResult());
               })
        .getResult(0);
  }

  /// The arg-max token (i32) of the last row of `logits` ([R, V]) and its
  /// softmax probability (f32): 1 / sum_j exp(l_j - l_max).
  /// The last row of `logits` ([R, V]) as [1, V].
  Value lastRow(OpBuilder &ob, Value logits) {
    auto type = cast<RankedTensorType>(logits.getType());
    int64_t vocab = type.getDimSize(1);
    Value rows = tensor::DimOp::create(ob, loc, logits, 0);
    Value last = arith::SubIOp::create(ob, loc, rows, index(ob, 1));
    return tensor::ExtractSliceOp::create(
        ob, loc, RankedTensorType::get({1, vocab}, type.getElementType()),
        logits, ValueRange{last}, ValueRange{}, ValueRange{},
        ArrayRef<int64_t>{ShapedType::kDynamic, 0}, ArrayRef<int64_t>{1, vocab},
        ArrayRef<int64_t>{1, 1});
  }

  /// The arg-max token (i32) of a [1, V] row.
  Value argmax(OpBuilder &ob, Value row) {
    auto greedy = SamplerAttr::get(ob.getContext(), llvm::APFloat(0.0), 0,
                                   llvm::APFloat(1.0), 0);
    Value tokens = SampleOp::create(ob, loc, row, Value(), greedy);
    return tensor::ExtractOp::create(ob, loc, tokens, ValueRange{index(ob, 0)});
  }

  /// The `alts` most likely tokens of the last row of `logits` after
  /// `best` (its arg-max), best first: the tree's leaves at that level.
  SmallVector<Value> alternatives(OpBuilder &ob, Value logits, Value best) {
    Value row = lastRow(ob, logits);
    Value negInf = arith::ConstantOp::create(
        ob, loc, ob.getF32FloatAttr(-std::numeric_limits<float>::infinity()));
    SmallVector<Value> out;
    Value prev = best;
    for (int64_t a = 0; a < alts; ++a) {
      row = tensor::InsertOp::create(
          ob, loc, negInf, row,
          ValueRange{index(ob, 0), arith::IndexCastOp::create(
                                       ob, loc, ob.getIndexType(), prev)});
      prev = argmax(ob, row);
      out.push_back(prev);
    }
    return out;
  }

  /// Stores the alternatives of tree level `level` into `siblings`.
  Value storeAlternatives(OpBuilder &ob, Value siblings, Value level,
                          ArrayRef<Value> alt) {
    Value base = arith::MulIOp::create(ob, loc, level, index(ob, alts));
    for (auto [a, t] : llvm::enumerate(alt))
      siblings = tensor::InsertOp::create(
          ob, loc, t, siblings,
          ValueRange{arith::AddIOp::create(
              ob, loc, base, index(ob, static_cast<int64_t>(a)))});
    return siblings;
  }

  std::pair<Value, Value> greedyLast(OpBuilder &ob, Value logits) {
    Type f32 = ob.getF32Type();
    Value row = lastRow(ob, logits);
    Value token = argmax(ob, row);
    Value best = tensor::ExtractOp::create(
        ob, loc, row,
        ValueRange{index(ob, 0), arith::IndexCastOp::create(
                                     ob, loc, ob.getIndexType(), token)});
    MLIRContext *ctx = ob.getContext();
    Value zero = arith::ConstantOp::create(ob, loc, ob.getF32FloatAttr(0.0f));
    Value init = linalg::FillOp::create(
                     ob, loc, zero,
                     tensor::EmptyOp::create(ob, loc, ArrayRef<int64_t>{}, f32)
                         .getResult())
                     .getResult(0);
    Value sum =
        linalg::GenericOp::create(
            ob, loc, TypeRange{init.getType()}, ValueRange{row},
            ValueRange{init},
            ArrayRef<AffineMap>{AffineMap::getMultiDimIdentityMap(2, ctx),
                                AffineMap::get(2, 0, {}, ctx)},
            {utils::IteratorType::reduction, utils::IteratorType::reduction},
            [&](OpBuilder &gb, Location l, ValueRange args) {
              Value e = math::ExpOp::create(
                  gb, l, arith::SubFOp::create(gb, l, args[0], best));
              linalg::YieldOp::create(
                  gb, l, arith::AddFOp::create(gb, l, args[1], e).getResult());
            })
            .getResult(0);
    Value total = tensor::ExtractOp::create(ob, loc, sum, ValueRange{});
    Value one = arith::ConstantOp::create(ob, loc, ob.getF32FloatAttr(1.0f));
    return {token, arith::DivFOp::create(ob, loc, one, total)};
  }

  /// What a round of the model drafter leaves: up to `num` greedy drafts
  /// of the draft step (first `count` of `buffer`), the draft caches and
  /// the tokens they hold.
  struct ModelDraft {
    Value buffer, count, length;
    /// Tree leaves: level i's alternatives at [i * alts, (i + 1) * alts).
    Value siblings;
    SmallVector<Value> caches;
  };

  /// The tree step's parents: the pending token is the root (-1), draft
  /// node j is step row j + 1 with parent row parents[j] + 1.
  Value stepParents(Value parents, Value rows) {
    Value out = tensor::EmptyOp::create(b, loc, dynI32, rows);
    Value minusOne = arith::ConstantIntOp::create(b, loc, -1, 32);
    out = tensor::InsertOp::create(b, loc, minusOne, out,
                                   ValueRange{index(b, 0)});
    Value shifted = tensor::EmptyOp::create(
        b, loc, dynI32, ValueRange{tensor::DimOp::create(b, loc, parents, 0)});
    MLIRContext *ctx = b.getContext();
    AffineMap id = AffineMap::getMultiDimIdentityMap(1, ctx);
    shifted =
        linalg::GenericOp::create(
            b, loc, TypeRange{dynI32}, ValueRange{parents}, ValueRange{shifted},
            ArrayRef<AffineMap>{id, id}, {utils::IteratorType::parallel},
            [&](OpBuilder &gb, Location l, ValueRange a) {
              Value one = arith::ConstantIntOp::create(gb, l, 1, 32);
              linalg::YieldOp::create(
                  gb, l, arith::AddIOp::create(gb, l, a[0], one).getResult());
            })
            .getResult(0);
    OpFoldResult one = b.getIndexAttr(1);
    return tensor::InsertSliceOp::create(
        b, loc, shifted, out, ArrayRef<OpFoldResult>{one},
        ArrayRef<OpFoldResult>{
            tensor::DimOp::create(b, loc, parents, 0).getResult()},
        ArrayRef<OpFoldResult>{one});
  }

  /// The sibling buffer's shape: k levels of `alts` leaves (one unused
  /// slot when drafting a chain).
  SmallVector<int64_t> siblingShape() {
    return {drafter.getK() * std::max<int64_t>(alts, 1)};
  }

  /// Runs the draft step: first on the tokens the draft caches miss
  /// (context[cached : known], at least the pending token), then on each
  /// new draft, `num` drafts in all (none when `num` is 0).
  ModelDraft draftWithModel(Value context, Value known, Value num, Value cached,
                            ValueRange caches) {
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
                arith::SubIOp::create(
                    tb, l, arith::SubIOp::create(tb, l, known, cached),
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
          auto first =
              callDraft(tb, feed, positionsFrom(tb, from, missing), dc);
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
          // (ALGORITHMS.md §8.8; that draft is still proposed).
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
            Block *after =
                tb.createBlock(&loop.getAfter(), {}, loopTypes, locs);
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
            SmallVector<Value> next{
                arith::AddIOp::create(tb, l, i, index(tb, 1)), t, buf,
                sure(tb, p), sibs};
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

  /// State carried by the emit loop and the round loop.
  struct State {
    Value count;   // tokens emitted so far (index)
    Value last;    // the last emitted token (i32)
    Value out;     // tensor<max_new x i32>
    Value context; // tensor<?xi32>: prompt ++ emitted
    Value done;    // i1
  };

  /// Emits token `t` unless already done: stores it, reports it, and
  /// decides whether generation ends with it.
  State emit(OpBuilder &ob, State s, Value promptLen, Value t) {
    int64_t maxNew = op.getMaxNewTokens();
    auto ifOp = scf::IfOp::create(
        ob, loc, s.done,
        [&](OpBuilder &tb, Location l) {
          scf::YieldOp::create(
              tb, l, ValueRange{s.count, s.last, s.out, s.context, s.done});
        },
        [&](OpBuilder &eb, Location l) {
          Value out = tensor::InsertOp::create(eb, l, t, s.out, s.count);
          Value at = arith::AddIOp::create(eb, l, promptLen, s.count);
          Value context = tensor::InsertOp::create(eb, l, t, s.context, at);
          if (FlatSymbolRefAttr onToken = op.getOnTokenAttr()) {
            Value i64 =
                arith::IndexCastOp::create(eb, l, eb.getI64Type(), s.count);
            func::CallOp::create(eb, l, onToken, TypeRange{},
                                 ValueRange{t, i64});
          }
          Value count = arith::AddIOp::create(eb, l, s.count, index(eb, 1));
          Value done = arith::CmpIOp::create(eb, l, arith::CmpIPredicate::sge,
                                             count, index(eb, maxNew));
          if (std::optional<uint64_t> eos = op.getEos()) {
            Value eosValue = arith::ConstantOp::create(
                eb, l, eb.getI32IntegerAttr(static_cast<int32_t>(*eos)));
            done = arith::OrIOp::create(
                eb, l, done,
                arith::CmpIOp::create(eb, l, arith::CmpIPredicate::eq, t,
                                      eosValue));
          }
          scf::YieldOp::create(eb, l, ValueRange{count, t, out, context, done});
        });
    return {ifOp.getResult(0), ifOp.getResult(1), ifOp.getResult(2),
            ifOp.getResult(3), ifOp.getResult(4)};
  }

  Value expand() {
    int64_t maxNew = op.getMaxNewTokens();
    GeneratePrefill pre = emitGeneratePrefill(b, op, step);
    Value promptLen = pre.promptLength;
    Type i32 = b.getI32Type();

    // The context buffer: the prompt, then room for every new token.
    Value capacity = arith::AddIOp::create(b, loc, promptLen, index(b, maxNew));
    Value context = tensor::EmptyOp::create(b, loc, dynI32, capacity);
    context = tensor::InsertSliceOp::create(
        b, loc, pre.prompt, context, ArrayRef<OpFoldResult>{b.getIndexAttr(0)},
        ArrayRef<OpFoldResult>{promptLen},
        ArrayRef<OpFoldResult>{b.getIndexAttr(1)});
    Value out = tensor::EmptyOp::create(b, loc, ArrayRef<int64_t>{maxNew}, i32);
    State s{index(b, 0), pre.first, out, context,
            arith::ConstantIntOp::create(b, loc, 0, 1)};
    s = emit(b, s, promptLen, pre.first);

    // The draft length of the next round: k, or with `adaptive` a length
    // that grows by 2 after a round that accepted every draft and shrinks
    // by 1 (to at least 1) after one that did not.
    SmallVector<Value> inits{s.count,   s.last, s.out,
                             s.context, s.done, index(b, drafter.getK())};
    llvm::append_range(inits, pre.caches);
    // The model drafter's caches (empty: the first round catches up on the
    // prompt) and the tokens they hold.
    size_t numCaches = pre.caches.size();
    if (draftStep) {
      inits.push_back(index(b, 0));
      FunctionType type = draftStep.getFunctionType();
      for (Type t : type.getInputs().drop_front(2 + draftParams.size()))
        inits.push_back(
            KVEmptyOp::create(b, loc, cast<KVCacheType>(t)).getResult());
    }
    SmallVector<Type> types =
        llvm::map_to_vector(inits, [](Value v) { return v.getType(); });
    SmallVector<Location> locs(inits.size(), loc);
    auto loop = scf::WhileOp::create(b, loc, types, inits);
    {
      Block *before = b.createBlock(&loop.getBefore(), {}, types, locs);
      Value more =
          arith::XOrIOp::create(b, loc, before->getArgument(4),
                                arith::ConstantIntOp::create(b, loc, 1, 1));
      scf::ConditionOp::create(b, loc, more, before->getArguments());
    }
    {
      Block *after = b.createBlock(&loop.getAfter(), {}, types, locs);
      State cur{after->getArgument(0), after->getArgument(1),
                after->getArgument(2), after->getArgument(3),
                after->getArgument(4)};
      Value length = after->getArgument(5);
      ValueRange caches = after->getArguments().slice(6, numCaches);
      ValueRange draftState = after->getArguments().drop_front(6 + numCaches);
      OpFoldResult zero = b.getIndexAttr(0), one = b.getIndexAttr(1);
      auto slice1D = [&](Value v, OpFoldResult offset, OpFoldResult size) {
        return tensor::ExtractSliceOp::create(
            b, loc, v, ArrayRef<OpFoldResult>{offset},
            ArrayRef<OpFoldResult>{size}, ArrayRef<OpFoldResult>{one});
      };

      // Draft from the context so far, within the budget left: a round
      // emits at most drafts + 1 tokens.
      Value known = arith::AddIOp::create(b, loc, promptLen, cur.count);
      Value budget = arith::SubIOp::create(
          b, loc, index(b, maxNew),
          arith::AddIOp::create(b, loc, cur.count, index(b, 1)));
      Value kept, drafts, parents;
      ModelDraft modelDraft;
      if (draftStep) {
        // Greedy drafts of the draft model, as many as the round takes. A
        // tree's nodes (kept x branch) all take cache slots until the
        // commit: at most `budget` of them, so the caches never hold more
        // than prompt + max_new_tokens.
        Value room =
            alts ? arith::DivSIOp::create(b, loc, budget, index(b, 1 + alts))
                       .getResult()
                 : budget;
        Value num = arith::MaxSIOp::create(
            b, loc, arith::MinSIOp::create(b, loc, room, length), index(b, 0));
        modelDraft = draftWithModel(cur.context, known, num, draftState[0],
                                    draftState.drop_front());
        kept = modelDraft.count;
        drafts = slice1D(modelDraft.buffer, zero, kept);
        // A chain: draft i follows draft i - 1, the first the pending token.
        parents = positionsFrom(b, index(b, -1), kept);
      } else {
        Value history = slice1D(cur.context, zero, known);
        // The drafter learns how many drafts the round takes (the
        // adaptive length, the budget): a recent match needs that many.
        Value limit = arith::MaxSIOp::create(
            b, loc, arith::MinSIOp::create(b, loc, budget, length),
            index(b, 0));
        auto draft = DraftOp::create(
            b, loc,
            TypeRange{
                dynI32, dynI32,
                RankedTensorType::get({ShapedType::kDynamic}, b.getF32Type())},
            history, limit, ValueRange{}, drafter);
        Value drafted = tensor::DimOp::create(b, loc, draft.getTokens(), 0);
        kept = arith::MinSIOp::create(b, loc, drafted, limit);
        drafts = slice1D(draft.getTokens(), zero, kept);
        parents = slice1D(draft.getParents(), zero, kept);
      }

      // A tree: the chain's `kept` nodes, then `alts` leaves per level
      // (level i's are children of chain node i - 1, the pending token's
      // for level 0), each at position known + level.
      Value nodes = kept, positions;
      Value firstPos = arith::SubIOp::create(b, loc, known, index(b, 1));
      Value rows = arith::AddIOp::create(b, loc, kept, index(b, 1));
      if (treeStep) {
        nodes = arith::MulIOp::create(b, loc, kept, index(b, 1 + alts));
        rows = arith::AddIOp::create(b, loc, nodes, index(b, 1));
        Value treeDrafts = tensor::EmptyOp::create(b, loc, dynI32, nodes);
        Value treeParents = tensor::EmptyOp::create(b, loc, dynI32, nodes);
        positions = tensor::EmptyOp::create(b, loc, dynI32, rows);
        auto insert1D = [&](OpBuilder &ob, Value part, Value into,
                            Value at) -> Value {
          return tensor::InsertSliceOp::create(
              ob, loc, part, into, ArrayRef<OpFoldResult>{at},
              ArrayRef<OpFoldResult>{kept}, ArrayRef<OpFoldResult>{one});
        };
        treeDrafts = insert1D(b, drafts, treeDrafts, index(b, 0));
        treeParents = insert1D(b, parents, treeParents, index(b, 0));
        positions =
            insert1D(b, positionsFrom(b, known, kept), positions, index(b, 1));
        Value rootPos =
            arith::IndexCastOp::create(b, loc, i32, firstPos).getResult();
        positions = tensor::InsertOp::create(b, loc, rootPos, positions,
                                             ValueRange{index(b, 0)});
        auto leaves = scf::ForOp::create(
            b, loc, index(b, 0), kept, index(b, 1),
            ValueRange{treeDrafts, treeParents, positions},
            [&](OpBuilder &lb, Location l, Value lvl, ValueRange acc) {
              Value d = acc[0], par = acc[1], pos = acc[2];
              Value parent = arith::IndexCastOp::create(
                  lb, l, i32, arith::SubIOp::create(lb, l, lvl, index(lb, 1)));
              Value at = arith::IndexCastOp::create(
                  lb, l, i32, arith::AddIOp::create(lb, l, known, lvl));
              for (int64_t a = 0; a < alts; ++a) {
                Value slot = arith::AddIOp::create(
                    lb, l, arith::MulIOp::create(lb, l, lvl, index(lb, alts)),
                    index(lb, a));
                Value token = tensor::ExtractOp::create(
                    lb, l, modelDraft.siblings, ValueRange{slot});
                Value node = arith::AddIOp::create(lb, l, kept, slot);
                d = tensor::InsertOp::create(lb, l, token, d, node);
                par = tensor::InsertOp::create(lb, l, parent, par, node);
                pos = tensor::InsertOp::create(lb, l, at, pos,
                                               ValueRange{arith::AddIOp::create(
                                                   lb, l, node, index(lb, 1))});
              }
              scf::YieldOp::create(lb, l, ValueRange{d, par, pos});
            });
        drafts = leaves.getResult(0);
        parents = leaves.getResult(1);
        positions = leaves.getResult(2);
      } else {
        positions = positionsFrom(b, firstPos, rows);
      }

      // One target pass over the pending token and the drafts.
      Value tokens = tensor::EmptyOp::create(b, loc, dynI32, rows);
      tokens = tensor::InsertOp::create(b, loc, cur.last, tokens,
                                        ValueRange{index(b, 0)});
      tokens = tensor::InsertSliceOp::create(
          b, loc, drafts, tokens, ArrayRef<OpFoldResult>{one},
          ArrayRef<OpFoldResult>{nodes}, ArrayRef<OpFoldResult>{one});
      SmallVector<Value> args{tokens, positions};
      if (treeStep)
        args.push_back(stepParents(parents, rows));
      llvm::append_range(args, op.getParams());
      llvm::append_range(args, caches);
      auto call =
          func::CallOp::create(b, loc, treeStep ? treeStep : step, args);
      Value logits = call.getResult(0);

      Value counter;
      if (!op.getSampler().isGreedy())
        counter = arith::IndexCastOp::create(b, loc, b.getI64Type(), cur.count);
      auto verify = VerifyOp::create(
          b, loc, TypeRange{dynI32, RankedTensorType::get({}, i32)}, logits,
          drafts, parents, /*draft_probs=*/Value(), counter,
          op.getSamplerAttr());
      Value path = verify.getPath();
      Value accepted = tensor::DimOp::create(b, loc, path, 0);

      // Keep the pending token and the accepted drafts in the caches: drop
      // the rejected tail of a chain, or keep a tree's accepted path (node
      // j in slot known + j).
      SmallVector<Value> newCaches;
      Value rejected = arith::SubIOp::create(b, loc, kept, accepted);
      for (Value c : call.getResults().drop_front())
        newCaches.push_back(
            treeStep ? KVCommitOp::create(b, loc, c, known, path).getResult()
                     : KVTruncateOp::create(b, loc, c, rejected).getResult());
      // The draft caches keep what agrees with the emitted tokens: the
      // pending token and the accepted drafts (at most what they hold).
      // In a tree only the chain's nodes were fed to the draft: a path
      // ending in a leaf agrees with the chain up to the leaf's parent.
      SmallVector<Value> newDraftState;
      if (draftStep) {
        Value onChain = accepted;
        if (treeStep) {
          Value some = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sgt,
                                             accepted, index(b, 0));
          Value lastAt = arith::MaxSIOp::create(
              b, loc, arith::SubIOp::create(b, loc, accepted, index(b, 1)),
              index(b, 0));
          auto lastNode = scf::IfOp::create(
              b, loc, some,
              [&](OpBuilder &tb, Location l) {
                Value node = arith::IndexCastOp::create(
                    tb, l, tb.getIndexType(),
                    tensor::ExtractOp::create(tb, l, path, lastAt));
                scf::YieldOp::create(tb, l, node);
              },
              [&](OpBuilder &eb, Location l) {
                scf::YieldOp::create(eb, l, index(eb, 0));
              });
          Value leaf = arith::AndIOp::create(
              b, loc, some,
              arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge,
                                    lastNode.getResult(0), kept));
          onChain = arith::SubIOp::create(
              b, loc, accepted,
              arith::IndexCastOp::create(
                  b, loc, b.getIndexType(),
                  arith::ExtUIOp::create(b, loc, b.getI64Type(), leaf)));
        }
        Value valid = arith::MinSIOp::create(
            b, loc, modelDraft.length,
            arith::AddIOp::create(b, loc, known, onChain));
        Value drop = arith::SubIOp::create(b, loc, modelDraft.length, valid);
        newDraftState.push_back(valid);
        for (Value c : modelDraft.caches)
          newDraftState.push_back(KVTruncateOp::create(b, loc, c, drop));
      }

      // Emit the accepted drafts, then the next token.
      Value next =
          tensor::ExtractOp::create(b, loc, verify.getNext(), ValueRange{});
      auto emitLoop = scf::ForOp::create(
          b, loc, index(b, 0),
          arith::AddIOp::create(b, loc, accepted, index(b, 1)), index(b, 1),
          ValueRange{cur.count, cur.last, cur.out, cur.context, cur.done},
          [&](OpBuilder &eb, Location l, Value j, ValueRange a) {
            Value isDraft = arith::CmpIOp::create(
                eb, l, arith::CmpIPredicate::slt, j, accepted);
            Value safeJ = arith::MinSIOp::create(
                eb, l, j,
                arith::MaxSIOp::create(
                    eb, l, arith::SubIOp::create(eb, l, accepted, index(eb, 1)),
                    index(eb, 0)));
            auto pick = scf::IfOp::create(
                eb, l, isDraft,
                [&](OpBuilder &tb, Location tl) {
                  Value node = arith::IndexCastOp::create(
                      tb, tl, tb.getIndexType(),
                      tensor::ExtractOp::create(tb, tl, path, safeJ));
                  scf::YieldOp::create(
                      tb, tl,
                      tensor::ExtractOp::create(tb, tl, drafts, node)
                          .getResult());
                },
                [&](OpBuilder &fb, Location fl) {
                  scf::YieldOp::create(fb, fl, next);
                });
            State st = emit(eb, {a[0], a[1], a[2], a[3], a[4]}, promptLen,
                            pick.getResult(0));
            scf::YieldOp::create(
                eb, l,
                ValueRange{st.count, st.last, st.out, st.context, st.done});
          });
      if (FlatSymbolRefAttr onRound = op.getOnRoundAttr()) {
        Type i64 = b.getI64Type();
        func::CallOp::create(
            b, loc, onRound, TypeRange{},
            ValueRange{arith::IndexCastOp::create(b, loc, i64, nodes),
                       arith::IndexCastOp::create(b, loc, i64, accepted)});
      }
      Value nextLength = length;
      if (adaptive) {
        Value all = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq,
                                          accepted, kept);
        Value longer = arith::MinSIOp::create(
            b, loc, arith::AddIOp::create(b, loc, length, index(b, 2)),
            index(b, drafter.getK()));
        Value shorter = arith::MaxSIOp::create(
            b, loc, arith::SubIOp::create(b, loc, length, index(b, 1)),
            index(b, 1));
        Value drafting = arith::CmpIOp::create(
            b, loc, arith::CmpIPredicate::sgt, kept, index(b, 0));
        nextLength = arith::SelectOp::create(
            b, loc, drafting,
            arith::SelectOp::create(b, loc, all, longer, shorter), length);
      }
      SmallVector<Value> carried(emitLoop.getResults());
      carried.push_back(nextLength);
      llvm::append_range(carried, newCaches);
      llvm::append_range(carried, newDraftState);
      scf::YieldOp::create(b, loc, carried);
    }
    b.setInsertionPointAfter(loop);
    Value result = tensor::ExtractSliceOp::create(
        b, loc, dynI32, loop.getResult(2),
        ArrayRef<OpFoldResult>{b.getIndexAttr(0)},
        ArrayRef<OpFoldResult>{loop.getResult(0)},
        ArrayRef<OpFoldResult>{b.getIndexAttr(1)});
    if (result.getType() != op.getType())
      result = tensor::CastOp::create(b, loc, op.getType(), result);
    return result;
  }
};

/// A draft step must look like a step: the step's tokens and positions,
/// then `params` (layer_skip: the step's parameters; model: the generate
/// op's draft_params), then caches; logits over the same vocabulary, then
/// the same caches.
LogicalResult checkDraftStep(GenerateOp op, func::FuncOp step,
                             func::FuncOp draft, ValueRange params,
                             StringRef paramsName) {
  FunctionType type = draft.getFunctionType();
  FunctionType target = step.getFunctionType();
  size_t fixed = 2 + params.size();
  auto bad = [&](const Twine &why) {
    return op.emitOpError("draft step @")
           << draft.getSymName() << " " << why << "; it has type " << type;
  };
  if (type.getNumInputs() < fixed ||
      type.getInputs().take_front(2) != target.getInputs().take_front(2) ||
      TypeRange(type.getInputs().slice(2, params.size())) !=
          TypeRange(params.getTypes()))
    return bad("must take the tokens and positions of @" + step.getSymName() +
               ", then " + paramsName);
  TypeRange caches = type.getInputs().drop_front(fixed);
  if (!llvm::all_of(caches, [](Type t) { return isa<KVCacheType>(t); }))
    return bad("must take only KV caches after the parameters");
  if (type.getNumResults() != 1 + caches.size() ||
      type.getResult(0) != target.getResult(0) ||
      TypeRange(type.getResults().drop_front()) != caches)
    return bad("must return logits like @" + step.getSymName() +
               " (the same vocabulary) and its caches");
  return success();
}

/// A copy of `step` that verifies a token tree: a `parents` argument after
/// the positions (row i's parent row, -1 for the root) becomes the tree
/// mask of every tok.cached_attention (the last T slots are the nodes).
LogicalResult buildTreeStep(GenerateOp op, func::FuncOp step,
                            func::FuncOp &treeStep) {
  if (step.isExternal())
    return op.emitOpError("token trees need the body of @")
           << step.getSymName() << " (its attention takes the tree mask)";
  bool any = false, bad = false;
  step.walk([&](CachedAttentionOp attention) {
    any = true;
    bad |= static_cast<bool>(attention.getTreeParents());
  });
  if (!any || bad)
    return op.emitOpError("token trees need every attention of @")
           << step.getSymName()
           << " to be a tok.cached_attention without a tree mask of its own";
  Operation *table = SymbolTable::getNearestSymbolTable(step);
  std::string name = (step.getSymName() + "_tree").str();
  for (int i = 0; SymbolTable::lookupSymbolIn(table, name); ++i)
    name = (step.getSymName() + "_tree" + Twine(i)).str();
  OpBuilder b(step);
  b.setInsertionPointAfter(step);
  treeStep = cast<func::FuncOp>(b.clone(*step));
  treeStep.setSymName(name);
  treeStep.setPrivate();
  auto dynI32 = RankedTensorType::get({ShapedType::kDynamic}, b.getI32Type());
  if (failed(treeStep.insertArgument(2, dynI32, {}, step.getLoc())))
    return failure();
  Value parents = treeStep.getArgument(2);
  treeStep.walk([&](CachedAttentionOp attention) {
    attention.getTreeParentsMutable().assign(parents);
  });
  return success();
}

struct TokSpeculativeDecodingPass
    : tok::impl::TokSpeculativeDecodingPassBase<TokSpeculativeDecodingPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *ctx = &getContext();
    auto fail = [&](const Twine &message) {
      module.emitError("tok-speculative-decoding: ") << message;
      signalPassFailure();
    };
    std::optional<DrafterKind> kind = symbolizeDrafterKind(drafterName);
    if (!kind)
      return fail("unknown drafter '" + drafterName +
                  "'; expected ngram, layer_skip or model");
    if (k <= 0)
      return fail("k must be positive, got " + Twine(k));
    if (!(confidence >= 0.0 && confidence <= 1.0))
      return fail("confidence must be in [0, 1], got " +
                  llvm::formatv("{0}", static_cast<double>(confidence)).str());
    if (branch < 1)
      return fail("branch must be positive, got " + Twine(branch));
    if (branch > 1 && *kind == DrafterKind::ngram)
      return fail("the ngram drafter proposes a chain; token trees "
                  "(branch > 1) need a model drafter (layer_skip or model)");
    if (nMin <= 0 || nMax < nMin)
      return fail("expects 0 < n-min <= n-max, got n-min = " + Twine(nMin) +
                  ", n-max = " + Twine(nMax));
    std::optional<NgramMatch> matchRule = symbolizeNgramMatch(match);
    if (!matchRule)
      return fail("unknown match '" + match + "'; expected recent or earliest");
    Builder builder(ctx);
    // n-max, n-min and match only shape the ngram drafter; model drafters
    // keep the attribute's defaults.
    bool ngram = *kind == DrafterKind::ngram;
    auto drafter = DrafterAttr::get(
        ctx, *kind, k, /*branch=*/1, ngram ? nMax : 3, ngram ? nMin : 1,
        ngram ? *matchRule : NgramMatch::recent, /*step=*/nullptr,
        /*skip=*/nullptr, llvm::APFloat(0.0));

    SmallVector<GenerateOp> ops;
    module.walk([&](GenerateOp op) { ops.push_back(op); });
    SymbolTableCollection symbols;
    for (GenerateOp op : ops) {
      auto step =
          symbols.lookupNearestSymbolFrom<func::FuncOp>(op, op.getStepAttr());
      if (!step) {
        op.emitOpError("step function ")
            << op.getStepAttr() << " does not name a func.func";
        return signalPassFailure();
      }
      // Rolling back rejected drafts truncates the newest slots; after an
      // eviction inside the step those are no longer the drafts' slots
      // (ALGORITHMS.md §8.5: no eviction between draft and commit).
      WalkResult evicts =
          step.walk([](KVEvictOp) { return WalkResult::interrupt(); });
      if (evicts.wasInterrupted()) {
        op.emitOpError("speculative decoding cannot roll back a cache that "
                       "the step function evicts from (")
            << op.getStepAttr()
            << " contains tok.kv.evict); run tok-speculative-decoding "
               "without tok-kv-evict";
        return signalPassFailure();
      }
      func::FuncOp draftStep;
      ValueRange draftParams;
      if (*kind == DrafterKind::layer_skip && !op.getDraftParams().empty()) {
        op.emitOpError("has draft_params (a separate draft model's); the "
                       "layer_skip drafter drafts with the target's own "
                       "parameters: use drafter=model");
        return signalPassFailure();
      }
      if (*kind == DrafterKind::model && op.getDraftParams().empty()) {
        op.emitOpError("the model drafter needs the draft model's weights as "
                       "draft_params (tok-import --draft-model=..., or "
                       "tok-run generate --draft-model=...)");
        return signalPassFailure();
      }
      if (*kind != DrafterKind::ngram) {
        bool layerSkip = *kind == DrafterKind::layer_skip;
        draftStep = symbols.lookupNearestSymbolFrom<func::FuncOp>(
            op, StringAttr::get(ctx, draftStepName));
        if (!draftStep) {
          op.emitOpError("the ")
              << drafterName << " drafter needs its step function @"
              << draftStepName
              << (layerSkip ? " (tok-import --draft-skip=..., or the "
                              "draft-step option)"
                            : " (tok-import --draft-model=..., or the "
                              "draft-step option)");
          return signalPassFailure();
        }
        draftParams = layerSkip ? op.getParams() : op.getDraftParams();
        if (failed(checkDraftStep(op, step, draftStep, draftParams,
                                  layerSkip ? "the parameters of @" +
                                                  op.getStep().str()
                                            : "the draft_params of the "
                                              "tok.generate")))
          return signalPassFailure();
        if (draftStep.walk([](KVEvictOp) { return WalkResult::interrupt(); })
                .wasInterrupted()) {
          op.emitOpError("the draft step @")
              << draftStepName
              << " evicts from its caches, which rollback cannot undo; run "
                 "tok-speculative-decoding without tok-kv-evict";
          return signalPassFailure();
        }
      }
      func::FuncOp treeStep;
      if (branch > 1) {
        auto logitsType =
            dyn_cast<RankedTensorType>(step.getFunctionType().getResult(0));
        if (logitsType && !logitsType.isDynamicDim(1) &&
            branch > logitsType.getDimSize(1)) {
          op.emitOpError("branch ")
              << static_cast<int64_t>(branch) << " exceeds the vocabulary of "
              << logitsType.getDimSize(1);
          return signalPassFailure();
        }
        if (failed(buildTreeStep(op, step, treeStep)))
          return signalPassFailure();
      }
      OpBuilder b(op);
      SpeculativeExpander expander{
          op,
          step,
          drafter,
          static_cast<bool>(adaptive),
          b,
          op.getLoc(),
          RankedTensorType::get({ShapedType::kDynamic}, b.getI32Type()),
          draftStep,
          draftParams,
          static_cast<double>(confidence),
          branch - 1,
          treeStep};
      Value tokens = expander.expand();
      op.getResult().replaceAllUsesWith(tokens);
      op.erase();
    }
  }
};

} // namespace
