//===- TokenReduction.cpp - shared by token merging and pruning -----------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#include "TokenReduction.h"

#include "mlir/Analysis/SliceAnalysis.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"

using namespace mlir;
using namespace mlir::tok;

SmallVector<AttentionOp> mlir::tok::getEncoderAttentions(func::FuncOp fn) {
  SmallVector<AttentionOp> result;
  fn.walk([&](AttentionOp op) {
    if (!op.getMask().isCausal())
      result.push_back(op);
  });
  return result;
}

FailureOr<Value> mlir::tok::findReductionPoint(AttentionOp attention) {
  SetVector<Operation *> slice;
  ForwardSliceOptions options;
  options.filter = [&](Operation *op) {
    return op->getBlock() == attention->getBlock();
  };
  getForwardSlice(attention.getOutput(), &slice, options);
  SmallVector<Operation *> ordered(slice.begin(), slice.end());
  llvm::sort(ordered,
             [](Operation *a, Operation *b) { return a->isBeforeInBlock(b); });
  for (Operation *op : ordered) {
    auto add = dyn_cast<arith::AddFOp>(op);
    if (!add)
      continue;
    auto type = dyn_cast<RankedTensorType>(add.getType());
    if (!type || type.getRank() != 2)
      continue;
    auto fromBranch = [&](Value v) {
      Operation *def = v.getDefiningOp();
      return def == attention.getOperation() || (def && slice.contains(def));
    };
    if (fromBranch(add.getLhs()) == fromBranch(add.getRhs()))
      continue;
    Value point = add.getResult();
    if (point.hasOneUse()) {
      Operation *user = *point.getUsers().begin();
      if (isa<LayerNormOp, RMSNormOp>(user))
        point = user->getResult(0);
    }
    return point;
  }
  return attention.emitError()
         << "cannot find the residual add after this attention (an "
            "arith.addf of token rows that adds the attention branch to "
            "the block input)";
}

Value mlir::tok::buildMeanOverHeads(OpBuilder &b, Location loc, Value heads) {
  auto type = cast<RankedTensorType>(heads.getType());
  MLIRContext *ctx = b.getContext();
  Value zero = arith::ConstantOp::create(
      b, loc, b.getFloatAttr(type.getElementType(), 0.0));
  SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(b, loc, heads);
  Value empty = tensor::EmptyOp::create(
      b, loc, ArrayRef<OpFoldResult>{sizes[1], sizes[2]},
      type.getElementType());
  Value acc = linalg::FillOp::create(b, loc, zero, empty).getResult(0);
  Value hCount = tensor::DimOp::create(b, loc, heads, 0);
  Value hFloat = arith::UIToFPOp::create(
      b, loc, type.getElementType(),
      arith::IndexCastOp::create(b, loc, b.getI64Type(), hCount));
  AffineMap in = AffineMap::getMultiDimIdentityMap(3, ctx);
  AffineMap out = AffineMap::get(
      3, 0, {getAffineDimExpr(1, ctx), getAffineDimExpr(2, ctx)}, ctx);
  return linalg::GenericOp::create(
             b, loc, acc.getType(), ValueRange{heads}, ValueRange{acc},
             ArrayRef<AffineMap>{in, out},
             {utils::IteratorType::reduction, utils::IteratorType::parallel,
              utils::IteratorType::parallel},
             [&](OpBuilder &nb, Location l, ValueRange args) {
               Value part = arith::DivFOp::create(nb, l, args[0], hFloat);
               Value sum = arith::AddFOp::create(nb, l, args[1], part);
               linalg::YieldOp::create(nb, l, sum);
             })
      .getResult(0);
}

Value mlir::tok::buildSumOverHeads(OpBuilder &b, Location loc, Value scores) {
  auto type = cast<RankedTensorType>(scores.getType());
  MLIRContext *ctx = b.getContext();
  Value zero = arith::ConstantOp::create(
      b, loc, b.getFloatAttr(type.getElementType(), 0.0));
  Value empty = tensor::EmptyOp::create(
      b, loc, ArrayRef<OpFoldResult>{tensor::getMixedSize(b, loc, scores, 1)},
      type.getElementType());
  Value acc = linalg::FillOp::create(b, loc, zero, empty).getResult(0);
  AffineMap in = AffineMap::getMultiDimIdentityMap(2, ctx);
  AffineMap out = AffineMap::get(2, 0, {getAffineDimExpr(1, ctx)}, ctx);
  return linalg::GenericOp::create(
             b, loc, acc.getType(), ValueRange{scores}, ValueRange{acc},
             ArrayRef<AffineMap>{in, out},
             {utils::IteratorType::reduction, utils::IteratorType::parallel},
             [&](OpBuilder &nb, Location l, ValueRange args) {
               Value sum = arith::AddFOp::create(nb, l, args[1], args[0]);
               linalg::YieldOp::create(nb, l, sum);
             })
      .getResult(0);
}

void mlir::tok::replaceStream(Value stream, Value reduced, Operation *keep) {
  stream.replaceUsesWithIf(reduced, [&](OpOperand &use) {
    Operation *owner = use.getOwner();
    return owner != keep && !keep->isAncestor(owner);
  });
}

/// Every op computed from `roots` inside `fn` (nested regions included).
static SetVector<Operation *> reducedSlice(ArrayRef<Value> roots) {
  SetVector<Operation *> slice;
  for (Value root : roots)
    getForwardSlice(root, &slice);
  return slice;
}

LogicalResult mlir::tok::verifyReducedRegion(func::FuncOp fn,
                                             ArrayRef<Value> roots,
                                             StringRef passName) {
  SetVector<Operation *> slice = reducedSlice(roots);
  // Whether `op` is in the slice or inside the region of an op that is.
  auto within = [&](Operation *op) {
    for (; op && op != fn.getOperation(); op = op->getParentOp())
      if (slice.contains(op))
        return true;
    return false;
  };
  auto derived = [&](Value v) {
    if (llvm::is_contained(roots, v) || matchPattern(v, m_Constant()))
      return true;
    if (auto arg = dyn_cast<BlockArgument>(v))
      return within(arg.getOwner()->getParentOp());
    return within(v.getDefiningOp());
  };
  for (Operation *op : slice) {
    for (Value operand : op->getOperands()) {
      if (!operand.getType().isIndex() || derived(operand))
        continue;
      // A value local to a region around `op` (a loop counter, an index
      // read inside a linalg body) is computed there, not sized by T.
      Operation *scope = operand.getParentRegion()->getParentOp();
      if (scope != fn.getOperation() && scope->isAncestor(op))
        continue;
      op->emitError() << passName
                      << ": this op takes a size that is not computed from "
                         "the reduced tokens (it would still see the "
                         "original token count); derive it from the "
                         "token rows it works on (tensor.dim)";
      return failure();
    }
  }
  return success();
}

LogicalResult mlir::tok::restoreReturnedRows(
    func::FuncOp fn, ArrayRef<Value> roots, StringRef passName,
    function_ref<Value(OpBuilder &, Value)> restore) {
  SetVector<Operation *> slice = reducedSlice(roots);
  WalkResult result = fn.walk([&](func::ReturnOp ret) {
    OpBuilder b(ret);
    for (OpOperand &operand : ret->getOpOperands()) {
      Value v = operand.get();
      Operation *def = v.getDefiningOp();
      if (!llvm::is_contained(roots, v) && !(def && slice.contains(def)))
        continue;
      auto type = dyn_cast<RankedTensorType>(v.getType());
      if (!type || type.getRank() != 2) {
        ret.emitError() << passName << ": result #"
                        << operand.getOperandNumber()
                        << " is computed from the reduced tokens but is not "
                           "one row per token";
        return WalkResult::interrupt();
      }
      operand.set(restore(b, v));
    }
    return WalkResult::advance();
  });
  return failure(result.wasInterrupted());
}
