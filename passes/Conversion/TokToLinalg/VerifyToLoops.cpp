//===- VerifyToLoops.cpp - tok.verify as loops over the draft tree --------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// Greedy verification of a draft tree (docs/algorithms.md, "Greedy
// verification" and "Token trees"): with a = arg-max of every logits row
// (tok.sample, ties to the lowest id), a draft node i is accepted iff its
// token equals a[parents[i] + 1] and its parent is accepted (or is the root,
// -1). Nodes are in topological order, so one pass computes every node's
// accepted depth; the deepest accepted node (the first one in node order on
// ties) ends the path, which is read back up the parent pointers. The next
// token is the arg-max after the last accepted node (the root's row when
// nothing is accepted), so the output equals plain greedy decoding token for
// token.
//
// A parent pointer that does not point backwards marks its node rejected
// (a malformed tree cannot loop or read out of bounds).
//
// Stochastic verification (docs/algorithms.md, "Speculative sampling", and
// "Token trees" for deterministic children): starting at the root with w =
// the weights plain sampling would use for its row (Sampling.h: temperature,
// top-k, top-p), the children of the current node are tried in node order:
// child c is accepted with probability w[tok c] / sum w (one-hot draft
// proposals); a rejected child's token is removed from w (the residual
// max(0, p - q) renormalized) before the next child. An accepted child
// becomes the current node with its own row's weights; when no child is
// accepted (or there is none: the bonus after a leaf) the next token is
// drawn from the current w. Every uniform is keyed by (seed, counter, node)
// and the final draw by (seed, counter, N), so the op stays pure. The
// emitted tokens are distributed exactly as plain sampling's. Drafter
// distributions (`draft_probs`) are not lowered yet.
//
//===----------------------------------------------------------------------===//

#include "Sampling.h"
#include "tok/Conversion/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Transforms/DialectConversion.h"
#include "tok/Dialect/Tok/IR/TokOps.h"

using namespace mlir;
using namespace mlir::tok;

namespace {

struct GreedyVerifyLowering : OpConversionPattern<VerifyOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(VerifyOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    if (failed(checkVerifyLowering(op, /*report=*/false)))
      return rewriter.notifyMatchFailure(op, "not lowered");
    Location loc = op.getLoc();
    OpBuilder &b = rewriter;
    auto idx = [&](int64_t v) -> Value {
      return arith::ConstantIndexOp::create(b, loc, v);
    };
    auto i32c = [&](OpBuilder &ob, int64_t v) -> Value {
      return arith::ConstantOp::create(ob, loc, ob.getI32IntegerAttr(v));
    };
    Type i32 = b.getI32Type(), indexType = b.getIndexType();
    Value logits = adaptor.getLogits();
    Value drafts = adaptor.getDraftTokens();
    Value parents = adaptor.getParents();
    Value nodes = tensor::DimOp::create(b, loc, drafts, 0);
    Value rows = tensor::DimOp::create(b, loc, logits, 0);
    Value rowsMatch =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, rows,
                              arith::AddIOp::create(b, loc, nodes, idx(1)));
    cf::AssertOp::create(b, loc, rowsMatch,
                         "tok.verify: logits must have one row more than "
                         "there are drafts");

    auto dynI32 = RankedTensorType::get({ShapedType::kDynamic}, i32);
    if (!op.getSampler().isGreedy()) {
      rewriter.replaceOp(op, emitStochastic(b, loc, op, logits, drafts, parents,
                                            adaptor.getCounter(), nodes));
      return success();
    }
    Value best = SampleOp::create(b, loc, logits, Value(), op.getSamplerAttr());

    // depth[i]: the accepted depth of node i (0 = rejected).
    Value depthEmpty = tensor::EmptyOp::create(b, loc, dynI32, nodes);
    Value depthInit =
        linalg::FillOp::create(b, loc, i32c(b, 0), depthEmpty).getResult(0);
    auto scan = scf::ForOp::create(
        b, loc, idx(0), nodes, idx(1),
        ValueRange{depthInit, idx(0), i32c(b, 0)},
        [&](OpBuilder &lb, Location l, Value i, ValueRange args) {
          Value depth = args[0];
          Value parent = tensor::ExtractOp::create(lb, l, parents, i);
          Value parentIdx =
              arith::IndexCastOp::create(lb, l, indexType, parent);
          Value isRoot = arith::CmpIOp::create(lb, l, arith::CmpIPredicate::eq,
                                               parent, i32c(lb, -1));
          Value backwards = arith::AndIOp::create(
              lb, l,
              arith::CmpIOp::create(lb, l, arith::CmpIPredicate::sge, parentIdx,
                                    idx(0)),
              arith::CmpIOp::create(lb, l, arith::CmpIPredicate::slt, parentIdx,
                                    i));
          Value valid = arith::OrIOp::create(lb, l, isRoot, backwards);
          // Reads at clamped indices; `valid` decides.
          Value safeParent =
              arith::SelectOp::create(lb, l, backwards, parentIdx, idx(0));
          Value parentDepth =
              tensor::ExtractOp::create(lb, l, depth, safeParent);
          Value parentAccepted = arith::CmpIOp::create(
              lb, l, arith::CmpIPredicate::sgt, parentDepth, i32c(lb, 0));
          Value candidate = arith::SelectOp::create(
              lb, l, isRoot, i32c(lb, 1),
              arith::AddIOp::create(lb, l, parentDepth, i32c(lb, 1)));
          Value row = arith::SelectOp::create(
              lb, l, valid, arith::AddIOp::create(lb, l, parentIdx, idx(1)),
              idx(0));
          Value expected = tensor::ExtractOp::create(lb, l, best, row);
          Value token = tensor::ExtractOp::create(lb, l, drafts, i);
          Value correct = arith::CmpIOp::create(lb, l, arith::CmpIPredicate::eq,
                                                token, expected);
          Value accepted = arith::AndIOp::create(
              lb, l, correct,
              arith::AndIOp::create(
                  lb, l, valid,
                  arith::OrIOp::create(lb, l, isRoot, parentAccepted)));
          Value d =
              arith::SelectOp::create(lb, l, accepted, candidate, i32c(lb, 0));
          Value newDepth = tensor::InsertOp::create(lb, l, d, depth, i);
          Value deeper = arith::CmpIOp::create(lb, l, arith::CmpIPredicate::sgt,
                                               d, args[2]);
          Value bestNode = arith::SelectOp::create(lb, l, deeper, i, args[1]);
          Value bestDepth = arith::SelectOp::create(lb, l, deeper, d, args[2]);
          scf::YieldOp::create(lb, l,
                               ValueRange{newDepth, bestNode, bestDepth});
        });
    Value lastNode = scan.getResult(1);
    Value pathLength =
        arith::IndexCastOp::create(b, loc, indexType, scan.getResult(2));

    // The path, read back from the deepest accepted node.
    Value pathInit = tensor::EmptyOp::create(b, loc, dynI32, pathLength);
    auto walk = scf::ForOp::create(
        b, loc, idx(0), pathLength, idx(1), ValueRange{pathInit, lastNode},
        [&](OpBuilder &lb, Location l, Value k, ValueRange args) {
          Value slot = arith::SubIOp::create(
              lb, l, arith::SubIOp::create(lb, l, pathLength, k), idx(1));
          Value node = args[1];
          Value nodeI32 = arith::IndexCastOp::create(lb, l, i32, node);
          Value path = tensor::InsertOp::create(lb, l, nodeI32, args[0], slot);
          Value parent = arith::IndexCastOp::create(
              lb, l, indexType,
              tensor::ExtractOp::create(lb, l, parents, node));
          scf::YieldOp::create(lb, l, ValueRange{path, parent});
        });
    Value path = walk.getResult(0);

    Value anyAccepted = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sgt,
                                              pathLength, idx(0));
    Value nextRow = arith::SelectOp::create(
        b, loc, anyAccepted, arith::AddIOp::create(b, loc, lastNode, idx(1)),
        idx(0));
    Value nextToken = tensor::ExtractOp::create(b, loc, best, nextRow);
    Value next = tensor::FromElementsOp::create(
        b, loc, RankedTensorType::get({}, i32), ValueRange{nextToken});
    rewriter.replaceOp(op, ValueRange{path, next});
    return success();
  }

  /// The stochastic walk down the draft tree; returns {path, next}.
  static SmallVector<Value> emitStochastic(OpBuilder &b, Location loc,
                                           VerifyOp op, Value logits,
                                           Value drafts, Value parents,
                                           Value counter, Value nodes) {
    SamplerAttr sampler = op.getSampler();
    int64_t seed = sampler.getSeed();
    Type i32 = b.getI32Type(), indexType = b.getIndexType();
    auto idx = [&](OpBuilder &ob, int64_t v) -> Value {
      return arith::ConstantIndexOp::create(ob, loc, v);
    };
    auto dynI32 = RankedTensorType::get({ShapedType::kDynamic}, i32);
    Value vocab = tensor::DimOp::create(b, loc, logits, 1);
    Value lastToken = arith::SubIOp::create(b, loc, vocab, idx(b, 1));
    auto sum = [&](OpBuilder &ob, Value w) -> Value {
      auto loop = scf::ForOp::create(
          ob, loc, idx(ob, 0), vocab, idx(ob, 1),
          ValueRange{
              arith::ConstantOp::create(ob, loc, ob.getF32FloatAttr(0.0f))},
          [&](OpBuilder &lb, Location l, Value v, ValueRange acc) {
            Value x = tensor::ExtractOp::create(lb, l, w, ValueRange{v});
            scf::YieldOp::create(
                lb, l, ValueRange{arith::AddFOp::create(lb, l, acc[0], x)});
          });
      return loop.getResult(0);
    };

    Value pathInit = tensor::EmptyOp::create(b, loc, dynI32, nodes);
    Value w0 = emitSamplerWeights(b, loc, logits, idx(b, 0), sampler);
    Value zeroI32 = arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(0));
    Value falseV = arith::ConstantIntOp::create(b, loc, 0, 1);
    SmallVector<Value> inits{idx(b, 0), w0,      pathInit,
                             idx(b, 0), zeroI32, falseV};
    SmallVector<Type> types =
        llvm::map_to_vector(inits, [](Value v) { return v.getType(); });
    SmallVector<Location> locs(inits.size(), loc);
    auto walk = scf::WhileOp::create(b, loc, types, inits);
    {
      OpBuilder::InsertionGuard guard(b);
      Block *before = b.createBlock(&walk.getBefore(), {}, types, locs);
      Value more =
          arith::XOrIOp::create(b, loc, before->getArgument(5),
                                arith::ConstantIntOp::create(b, loc, 1, 1));
      scf::ConditionOp::create(b, loc, more, before->getArguments());

      Block *after = b.createBlock(&walk.getAfter(), {}, types, locs);
      Value row = after->getArgument(0), path = after->getArgument(2);
      Value length = after->getArgument(3);
      Value nodeI32 = arith::IndexCastOp::create(
          b, loc, i32, arith::SubIOp::create(b, loc, row, idx(b, 1)));
      // Try the current node's children in node order.
      auto tries = scf::ForOp::create(
          b, loc, idx(b, 0), nodes, idx(b, 1),
          ValueRange{after->getArgument(1), idx(b, -1)},
          [&](OpBuilder &lb, Location l, Value c, ValueRange a) {
            Value parent = tensor::ExtractOp::create(lb, l, parents, c);
            Value isChild = arith::AndIOp::create(
                lb, l,
                arith::CmpIOp::create(lb, l, arith::CmpIPredicate::eq, parent,
                                      nodeI32),
                arith::CmpIOp::create(
                    lb, l, arith::CmpIPredicate::slt,
                    arith::IndexCastOp::create(lb, l, indexType, parent), c));
            Value open = arith::CmpIOp::create(lb, l, arith::CmpIPredicate::slt,
                                               a[1], idx(lb, 0));
            auto tryIt = scf::IfOp::create(
                lb, l, arith::AndIOp::create(lb, l, isChild, open),
                [&](OpBuilder &tb, Location tl) {
                  Value token = arith::IndexCastOp::create(
                      tb, tl, indexType,
                      tensor::ExtractOp::create(tb, tl, drafts, c));
                  // A token outside the vocabulary has probability 0.
                  Value inVocab = arith::AndIOp::create(
                      tb, tl,
                      arith::CmpIOp::create(tb, tl, arith::CmpIPredicate::sge,
                                            token, idx(tb, 0)),
                      arith::CmpIOp::create(tb, tl, arith::CmpIPredicate::slt,
                                            token, vocab));
                  Value safe = arith::MinSIOp::create(
                      tb, tl, arith::MaxSIOp::create(tb, tl, token, idx(tb, 0)),
                      lastToken);
                  Value weight =
                      tensor::ExtractOp::create(tb, tl, a[0], ValueRange{safe});
                  weight = arith::SelectOp::create(
                      tb, tl, inVocab, weight,
                      arith::ConstantOp::create(tb, tl,
                                                tb.getF32FloatAttr(0.0f)));
                  Value u = emitUniform(tb, tl, seed, counter, c);
                  Value accept = arith::CmpFOp::create(
                      tb, tl, arith::CmpFPredicate::OLT,
                      arith::MulFOp::create(tb, tl, u, sum(tb, a[0])), weight);
                  // Rejected: the token leaves the distribution.
                  Value zeroed = tensor::InsertOp::create(
                      tb, tl,
                      arith::ConstantOp::create(tb, tl,
                                                tb.getF32FloatAttr(0.0f)),
                      a[0], ValueRange{safe});
                  Value w =
                      arith::SelectOp::create(tb, tl, accept, a[0], zeroed);
                  Value chosen =
                      arith::SelectOp::create(tb, tl, accept, c, a[1]);
                  scf::YieldOp::create(tb, tl, ValueRange{w, chosen});
                },
                [&](OpBuilder &eb, Location el) {
                  scf::YieldOp::create(eb, el, a);
                });
            scf::YieldOp::create(lb, l, tryIt.getResults());
          });
      Value residual = tries.getResult(0), chosen = tries.getResult(1);
      Value accepted = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge,
                                             chosen, idx(b, 0));
      auto step = scf::IfOp::create(
          b, loc, accepted,
          [&](OpBuilder &tb, Location tl) {
            Value childRow = arith::AddIOp::create(tb, tl, chosen, idx(tb, 1));
            Value w = emitSamplerWeights(tb, tl, logits, childRow, sampler);
            Value p = tensor::InsertOp::create(
                tb, tl, arith::IndexCastOp::create(tb, tl, i32, chosen), path,
                ValueRange{length});
            Value len = arith::AddIOp::create(tb, tl, length, idx(tb, 1));
            scf::YieldOp::create(
                tb, tl,
                ValueRange{childRow, w, p, len, after->getArgument(4),
                           arith::ConstantIntOp::create(tb, tl, 0, 1)});
          },
          [&](OpBuilder &eb, Location el) {
            Value u = emitUniform(eb, el, seed, counter, nodes);
            Value next = emitDraw(eb, el, residual, u);
            scf::YieldOp::create(
                eb, el,
                ValueRange{row, residual, path, length, next,
                           arith::ConstantIntOp::create(eb, el, 1, 1)});
          });
      scf::YieldOp::create(b, loc, step.getResults());
    }
    Value path = tensor::ExtractSliceOp::create(
        b, loc, dynI32, walk.getResult(2),
        ArrayRef<OpFoldResult>{b.getIndexAttr(0)},
        ArrayRef<OpFoldResult>{walk.getResult(3)},
        ArrayRef<OpFoldResult>{b.getIndexAttr(1)});
    Value next = tensor::FromElementsOp::create(
        b, loc, RankedTensorType::get({}, i32), ValueRange{walk.getResult(4)});
    return {path, next};
  }
};

} // namespace

LogicalResult mlir::tok::checkVerifyLowering(VerifyOp op, bool report) {
  if (op.getDraftProbs()) {
    if (report)
      op.emitOpError("verification against drafter distributions "
                     "('draft_probs') has no CPU lowering yet; only one-hot "
                     "drafts (n-gram) are lowered");
    return failure();
  }
  if (!op.getPath().getType().isDynamicDim(0)) {
    if (report)
      op.emitOpError("the accepted path has a run-time length; it must be "
                     "tensor<?xi32>");
    return failure();
  }
  return success();
}

void mlir::tok::populateVerifyToLoopsPatterns(RewritePatternSet &patterns) {
  patterns.add<GreedyVerifyLowering>(patterns.getContext());
}
