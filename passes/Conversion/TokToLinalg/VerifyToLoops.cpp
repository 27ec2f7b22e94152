//===- VerifyToLoops.cpp - tok.verify as loops over the draft tree --------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// Greedy verification of a draft tree (ALGORITHMS.md §8.2, §8.7): with
// a = arg-max of every logits row (tok.sample, ties to the lowest id), a
// draft node i is accepted iff its token equals a[parents[i] + 1] and its
// parent is accepted (or is the root, -1). Nodes are in topological order,
// so one pass computes every node's accepted depth; the deepest accepted
// node (the first one in node order on ties) ends the path, which is read
// back up the parent pointers. The next token is the arg-max after the
// last accepted node (the root's row when nothing is accepted), so the
// output equals plain greedy decoding token for token.
//
// A parent pointer that does not point backwards marks its node rejected
// (a malformed tree cannot loop or read out of bounds).
//
// Stochastic verification (speculative sampling) has no lowering yet.
//
//===----------------------------------------------------------------------===//

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
      return rewriter.notifyMatchFailure(op, "not a greedy verification");
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
};

} // namespace

LogicalResult mlir::tok::checkVerifyLowering(VerifyOp op, bool report) {
  if (!op.getSampler().isGreedy()) {
    if (report)
      op.emitOpError("stochastic verification (speculative sampling) has no "
                     "CPU lowering yet; use a greedy sampler");
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
