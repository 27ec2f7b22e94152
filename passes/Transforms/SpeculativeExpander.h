//===- SpeculativeExpander.h - a tok.generate made speculative -*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// The builder of tok-speculative-decoding's loop for one tok.generate
// (SpeculativeDecoding.cpp has the design and the pass), its methods in
// three files:
//
//   SpeculativeDecoding.cpp   the pass: options, checks, one expander per
//                             tok.generate
//   SpeculativeRound.cpp      expand(): prefill, the round loop (draft,
//                             verify, truncate, emit), the result
//   SpeculativeDraftModel.cpp draftWithModel(): the layer-skip / separate
//                             model drafter's catch-up and greedy drafts
//
// Private to TokTransforms.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_TRANSFORMS_SPECULATIVEEXPANDER_H
#define TOK_TRANSFORMS_SPECULATIVEEXPANDER_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "tok/Dialect/Tok/IR/TokOps.h"
#include "tok/Dialect/Tok/Utils/GenerateExpansion.h"

namespace mlir::tok::speculative {

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
                            ValueRange caches);

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
          if (op.getEos())
            done = arith::OrIOp::create(eb, l, done, emitIsEos(eb, l, op, t));
          scf::YieldOp::create(eb, l, ValueRange{count, t, out, context, done});
        });
    return {ifOp.getResult(0), ifOp.getResult(1), ifOp.getResult(2),
            ifOp.getResult(3), ifOp.getResult(4)};
  }

  /// The speculative loop replacing `op`: prefill, then rounds of draft /
  /// verify / accept until max_new_tokens or eos; returns the tokens.
  Value expand();
};

} // namespace mlir::tok::speculative

#endif // TOK_TRANSFORMS_SPECULATIVEEXPANDER_H
