//===- DraftToLoops.cpp - tok.draft (n-gram lookup) as loops --------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// The n-gram / prompt-lookup drafter (ALGORITHMS.md §8.6, vLLM's rule):
// for n = n_max down to n_min, take the last n tokens of the history and
// find their earliest earlier occurrence (the suffix itself excluded); the
// first n that matches drafts the up to k tokens that followed it. No
// match drafts nothing. Drafts form a chain (parents -1, 0, 1, ...) with
// probability 1 (one-hot proposals).
//
//   found = false
//   for n = n_max .. n_min (unrolled: n is static):
//     if !found and n < L:
//       s = 0; while s < L - n and history[s : s+n] != history[L-n : L]: s++
//       found = s < L - n; start = s + n
//   count = found ? min(k, L - start) : 0
//   drafts = history[start : start + count]
//
// The search is O(L * n_max) scalar compares per round, small next to a
// model step. Model drafters (draft model, layer skip) are not lowered yet.
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
    Value found = falseV, start = idx(0);

    for (int64_t n = drafter.getNMax(); n >= drafter.getNMin(); --n) {
      // Only while nothing longer matched and the history is long enough
      // to hold an earlier occurrence.
      Value longEnough = arith::CmpIOp::create(
          b, loc, arith::CmpIPredicate::sgt, length, idx(n));
      Value search = arith::AndIOp::create(
          b, loc, longEnough,
          arith::XOrIOp::create(b, loc, found,
                                arith::ConstantIntOp::create(b, loc, 1, 1)));
      auto ifOp = scf::IfOp::create(
          b, loc, search,
          [&](OpBuilder &tb, Location l) {
            Value limit = arith::SubIOp::create(
                tb, l, length, arith::ConstantIndexOp::create(tb, l, n));
            auto loop = scf::WhileOp::create(
                tb, l, TypeRange{tb.getIndexType()},
                ValueRange{arith::ConstantIndexOp::create(tb, l, 0)},
                [&](OpBuilder &wb, Location wl, ValueRange args) {
                  Value s = args[0];
                  Value inRange = arith::CmpIOp::create(
                      wb, wl, arith::CmpIPredicate::slt, s, limit);
                  // s <= L - n here, so every read below is in bounds.
                  Value equal = arith::ConstantIntOp::create(wb, wl, 1, 1);
                  for (int64_t j = 0; j < n; ++j) {
                    Value jj = arith::ConstantIndexOp::create(wb, wl, j);
                    Value a = tensor::ExtractOp::create(
                        wb, wl, history,
                        ValueRange{arith::AddIOp::create(wb, wl, s, jj)});
                    Value c = tensor::ExtractOp::create(
                        wb, wl, history,
                        ValueRange{arith::AddIOp::create(wb, wl, limit, jj)});
                    equal = arith::AndIOp::create(
                        wb, wl, equal,
                        arith::CmpIOp::create(wb, wl, arith::CmpIPredicate::eq,
                                              a, c));
                  }
                  Value notEqual = arith::XOrIOp::create(
                      wb, wl, equal,
                      arith::ConstantIntOp::create(wb, wl, 1, 1));
                  Value go = arith::AndIOp::create(wb, wl, inRange, notEqual);
                  scf::ConditionOp::create(wb, wl, go, args);
                },
                [&](OpBuilder &wb, Location wl, ValueRange args) {
                  scf::YieldOp::create(
                      wb, wl,
                      ValueRange{arith::AddIOp::create(
                          wb, wl, args[0],
                          arith::ConstantIndexOp::create(wb, wl, 1))});
                });
            Value s = loop.getResult(0);
            Value matched = arith::CmpIOp::create(
                tb, l, arith::CmpIPredicate::slt, s, limit);
            Value next = arith::AddIOp::create(
                tb, l, s, arith::ConstantIndexOp::create(tb, l, n));
            scf::YieldOp::create(tb, l, ValueRange{matched, next});
          },
          [&](OpBuilder &eb, Location l) {
            scf::YieldOp::create(eb, l, ValueRange{found, start});
          });
      found = ifOp.getResult(0);
      start = ifOp.getResult(1);
    }

    Value available = arith::SubIOp::create(b, loc, length, start);
    Value count = arith::SelectOp::create(
        b, loc, found,
        arith::MinSIOp::create(b, loc, idx(drafter.getK()), available), idx(0));

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
