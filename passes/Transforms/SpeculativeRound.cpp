//===- SpeculativeRound.cpp - the speculative loop
//--------------------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// expand(): the loop that replaces one tok.generate (SpeculativeDecoding.cpp
// states it): prefill as plain decoding, then rounds of draft (n-gram or
// model), one step over the pending token and the drafts, verification,
// cache truncation and emission, until max_new_tokens or eos.
//
//===----------------------------------------------------------------------===//

#include "SpeculativeExpander.h"

#include "tok/Dialect/Tok/Utils/GenerateExpansion.h"

using namespace mlir;
using namespace mlir::tok;
using namespace mlir::tok::speculative;

Value SpeculativeExpander::expand() {
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
          b, loc, arith::MinSIOp::create(b, loc, budget, length), index(b, 0));
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
              pos = tensor::InsertOp::create(
                  lb, l, at, pos,
                  ValueRange{arith::AddIOp::create(lb, l, node, index(lb, 1))});
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
    auto call = func::CallOp::create(b, loc, treeStep ? treeStep : step, args);
    Value logits = call.getResult(0);

    Value counter;
    if (!op.getSampler().isGreedy())
      counter = arith::IndexCastOp::create(b, loc, b.getI64Type(), cur.count);
    auto verify = VerifyOp::create(
        b, loc, TypeRange{dynI32, RankedTensorType::get({}, i32)}, logits,
        drafts, parents, /*draft_probs=*/Value(), counter, op.getSamplerAttr());
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
      Value valid =
          arith::MinSIOp::create(b, loc, modelDraft.length,
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
      Value drafting = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sgt,
                                             kept, index(b, 0));
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
  Value result =
      tensor::ExtractSliceOp::create(b, loc, dynI32, loop.getResult(2),
                                     ArrayRef<OpFoldResult>{b.getIndexAttr(0)},
                                     ArrayRef<OpFoldResult>{loop.getResult(0)},
                                     ArrayRef<OpFoldResult>{b.getIndexAttr(1)});
  if (result.getType() != op.getType())
    result = tensor::CastOp::create(b, loc, op.getType(), result);
  return result;
}
