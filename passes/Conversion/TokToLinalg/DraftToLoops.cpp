//===- DraftToLoops.cpp - tok.draft (n-gram lookup) as loops --------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// The n-gram / prompt-lookup drafter (docs/algorithms.md, "N-gram drafting
// (prompt lookup)"): for n = n_max down to n_min, take the last n tokens of
// the history and look for an earlier occurrence (the suffix itself
// excluded); the first n that has one drafts the `need` = min(k, limit)
// tokens that followed it (fewer if the history ends first). Which
// occurrence:
//
//   earliest (vLLM's rule): the first;
//   recent (default): the last one followed by at least max(need, 1)
//     tokens, else the first (docs/speculative.md: the first occurrence
//     of a short suffix is often in the prompt or an early, different
//     context, and a run of one token then keeps drafting what followed
//     it there).
//
// No match drafts nothing. Drafts form a chain (parents -1, 0, 1, ...) with
// probability 1 (one-hot proposals).
//
//   found = false
//   for n = n_max .. n_min (unrolled: n is static):
//     if !found and n < L:
//       recent:   s = L - n - max(need, 1)
//                 while s >= 0 and history[s : s+n] != suffix: s--
//                 if s < 0: s = the earliest scan below from s_last + 1
//       earliest: s = 0; while s < L - n and history[s : s+n] != suffix: s++
//       found = s in range; start = s + n
//   count = found ? min(need, L - start) : 0
//   drafts = history[start : start + count]
//
// The search is O(L * n_max) scalar compares per round, small next to a
// model step. Model drafters (draft model, layer skip) are lowered by
// tok-speculative-decoding itself.
//
//===----------------------------------------------------------------------===//

#include "tok/Conversion/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Transforms/DialectConversion.h"
#include "tok/Dialect/Tok/IR/TokOps.h"

using namespace mlir;
using namespace mlir::tok;

namespace {

struct NgramDraftLowering : OpConversionPattern<DraftOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(DraftOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    if (failed(checkDraftLowering(op, /*report=*/false)))
      return rewriter.notifyMatchFailure(op, "not an ngram chain drafter");
    DrafterAttr drafter = op.getDrafter();

    Location loc = op.getLoc();
    OpBuilder &b = rewriter;
    auto idx = [&](int64_t v) -> Value {
      return arith::ConstantIndexOp::create(b, loc, v);
    };
    Value history = adaptor.getHistory();
    Value length = tensor::DimOp::create(b, loc, history, 0);
    Value falseV = arith::ConstantIntOp::create(b, loc, 0, 1);
    Value trueV = arith::ConstantIntOp::create(b, loc, 1, 1);
    Value found = falseV, start = idx(0);
    // Drafts the round takes: k, or fewer with a limit.
    Value need = idx(drafter.getK());
    if (Value limit = adaptor.getLimit())
      need = arith::MaxSIOp::create(
          b, loc, arith::MinSIOp::create(b, loc, need, limit), idx(0));
    bool recent = drafter.getMatch() == NgramMatch::recent;

    for (int64_t n = drafter.getNMax(); n >= drafter.getNMin(); --n) {
      // Only while nothing longer matched and the history is long enough
      // to hold an earlier occurrence.
      Value longEnough = arith::CmpIOp::create(
          b, loc, arith::CmpIPredicate::sgt, length, idx(n));
      Value search = arith::AndIOp::create(
          b, loc, longEnough, arith::XOrIOp::create(b, loc, found, trueV));
      auto ifOp = scf::IfOp::create(
          b, loc, search,
          [&](OpBuilder &tb, Location l) {
            auto cst = [&](OpBuilder &ob, int64_t v) -> Value {
              return arith::ConstantIndexOp::create(ob, l, v);
            };
            // The suffix starts at L - n; candidates start before it.
            Value suffix = arith::SubIOp::create(tb, l, length, cst(tb, n));
            // history[s : s + n] == history[L - n : L] (n unrolled), for
            // 0 <= s <= L - n.
            auto matchesAt = [&](OpBuilder &ob, Value s) -> Value {
              Value equal = trueV;
              for (int64_t j = 0; j < n; ++j) {
                Value a = tensor::ExtractOp::create(
                    ob, l, history,
                    ValueRange{arith::AddIOp::create(ob, l, s, cst(ob, j))});
                Value c =
                    tensor::ExtractOp::create(ob, l, history,
                                              ValueRange{arith::AddIOp::create(
                                                  ob, l, suffix, cst(ob, j))});
                equal = arith::AndIOp::create(
                    ob, l, equal,
                    arith::CmpIOp::create(ob, l, arith::CmpIPredicate::eq, a,
                                          c));
              }
              return equal;
            };
            // The first s in [from, L - n) (upwards, step 1) or in
            // [0, from] (downwards, step -1) where the suffix occurs; ends
            // out of range (L - n, or -1) when there is none.
            auto scan = [&](OpBuilder &ob, Value from, int64_t step) {
              auto loop = scf::WhileOp::create(
                  ob, l, TypeRange{ob.getIndexType()}, ValueRange{from},
                  [&](OpBuilder &wb, Location wl, ValueRange args) {
                    Value s = args[0];
                    Value inRange =
                        step > 0
                            ? arith::CmpIOp::create(
                                  wb, wl, arith::CmpIPredicate::slt, s, suffix)
                            : arith::CmpIOp::create(wb, wl,
                                                    arith::CmpIPredicate::sge,
                                                    s, cst(wb, 0));
                    // Upwards s <= L - n keeps the reads in bounds;
                    // downwards s = -1 reads at 0 (the result is unused).
                    Value at =
                        step > 0 ? s
                                 : arith::MaxSIOp::create(wb, wl, s, cst(wb, 0))
                                       .getResult();
                    Value differs =
                        arith::XOrIOp::create(wb, wl, matchesAt(wb, at), trueV);
                    Value go = arith::AndIOp::create(wb, wl, inRange, differs);
                    scf::ConditionOp::create(wb, wl, go, args);
                  },
                  [&](OpBuilder &wb, Location wl, ValueRange args) {
                    scf::YieldOp::create(wb, wl,
                                         ValueRange{arith::AddIOp::create(
                                             wb, wl, args[0], cst(wb, step))});
                  });
              return loop.getResult(0);
            };
            auto earliest = [&](OpBuilder &ob, Value from) {
              Value s = scan(ob, from, 1);
              Value matched = arith::CmpIOp::create(
                  ob, l, arith::CmpIPredicate::slt, s, suffix);
              scf::YieldOp::create(
                  ob, l,
                  ValueRange{matched,
                             arith::AddIOp::create(ob, l, s, cst(ob, n))});
            };
            if (!recent)
              return earliest(tb, cst(tb, 0));
            // Recent: the latest s with `need` (at least 1) tokens after
            // the occurrence, s + n + need <= L; else the earliest of the
            // later ones (none before them matched).
            Value last = arith::SubIOp::create(
                tb, l, suffix, arith::MaxSIOp::create(tb, l, need, cst(tb, 1)));
            Value s = scan(tb, last, -1);
            Value matched = arith::CmpIOp::create(
                tb, l, arith::CmpIPredicate::sge, s, cst(tb, 0));
            auto pick = scf::IfOp::create(
                tb, l, matched,
                [&](OpBuilder &mb, Location ml) {
                  scf::YieldOp::create(
                      mb, ml,
                      ValueRange{trueV,
                                 arith::AddIOp::create(mb, ml, s, cst(mb, n))});
                },
                [&](OpBuilder &eb, Location) {
                  earliest(eb,
                           arith::MaxSIOp::create(
                               eb, l,
                               arith::AddIOp::create(eb, l, last, cst(eb, 1)),
                               cst(eb, 0)));
                });
            scf::YieldOp::create(tb, l, pick.getResults());
          },
          [&](OpBuilder &eb, Location l) {
            scf::YieldOp::create(eb, l, ValueRange{found, start});
          });
      found = ifOp.getResult(0);
      start = ifOp.getResult(1);
    }

    Value available = arith::SubIOp::create(b, loc, length, start);
    Value count = arith::SelectOp::create(
        b, loc, found, arith::MinSIOp::create(b, loc, need, available), idx(0));

    auto dyn = [&](Type elem) {
      return RankedTensorType::get({ShapedType::kDynamic}, elem);
    };
    Type i32 = b.getI32Type();
    MLIRContext *ctx = b.getContext();
    AffineMap id = AffineMap::getMultiDimIdentityMap(1, ctx);
    // tokens[j] = history[start + j]; parents[j] = j - 1; probs[j] = 1.
    Value tokensInit = tensor::EmptyOp::create(b, loc, dyn(i32), count);
    Value tokens =
        linalg::GenericOp::create(
            b, loc, TypeRange{dyn(i32)}, ValueRange{}, ValueRange{tokensInit},
            ArrayRef<AffineMap>{id}, {utils::IteratorType::parallel},
            [&](OpBuilder &gb, Location l, ValueRange) {
              Value j = linalg::IndexOp::create(gb, l, 0);
              Value at = arith::AddIOp::create(gb, l, start, j);
              linalg::YieldOp::create(
                  gb, l,
                  tensor::ExtractOp::create(gb, l, history, ValueRange{at})
                      .getResult());
            })
            .getResult(0);
    Value parentsInit = tensor::EmptyOp::create(b, loc, dyn(i32), count);
    Value parents =
        linalg::GenericOp::create(
            b, loc, TypeRange{dyn(i32)}, ValueRange{}, ValueRange{parentsInit},
            ArrayRef<AffineMap>{id}, {utils::IteratorType::parallel},
            [&](OpBuilder &gb, Location l, ValueRange) {
              Value j = linalg::IndexOp::create(gb, l, 0);
              Value p = arith::SubIOp::create(
                  gb, l, j, arith::ConstantIndexOp::create(gb, l, 1));
              linalg::YieldOp::create(
                  gb, l,
                  arith::IndexCastOp::create(gb, l, gb.getI32Type(), p)
                      .getResult());
            })
            .getResult(0);
    Value probsInit =
        tensor::EmptyOp::create(b, loc, dyn(b.getF32Type()), count);
    Value one = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(1.0f));
    Value probs = linalg::FillOp::create(b, loc, one, probsInit).getResult(0);
    rewriter.replaceOp(op, ValueRange{tokens, parents, probs});
    return success();
  }
};

} // namespace

LogicalResult mlir::tok::checkDraftLowering(DraftOp op, bool report) {
  auto fail = [&](auto &&...message) -> LogicalResult {
    if (report)
      (op.emitOpError() << ... << message);
    return failure();
  };
  DrafterAttr drafter = op.getDrafter();
  if (drafter.getKind() != DrafterKind::ngram)
    return fail("a ", stringifyDrafterKind(drafter.getKind()),
                " drafter has no CPU lowering yet; use an ngram drafter");
  if (drafter.getBranch() != 1)
    return fail("an ngram drafter proposes a chain; branch must be 1, got ",
                drafter.getBranch());
  for (Type t : op->getResultTypes())
    if (!cast<RankedTensorType>(t).isDynamicDim(0))
      return fail("the lowering drafts a run-time number of tokens; results "
                  "must be tensor<?x...>");
  return success();
}

void mlir::tok::populateDraftToLoopsPatterns(RewritePatternSet &patterns) {
  patterns.add<NgramDraftLowering>(patterns.getContext());
}
