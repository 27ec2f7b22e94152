//===- X86Bf16Dot.cpp - vdpbf16ps for bf16 pair dot contractions ----------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// tok-x86-bf16-dot: the generic form of the linear kernel's bf16 dot
// product (LinearToVector.cpp: 32 bf16 values of x and of W, paired into 16
// f32 lanes) becomes AVX512-BF16's vdpbf16ps. Only that exact shape is
// matched; anything else is left alone.
//
//===----------------------------------------------------------------------===//

#include "tok/Conversion/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/AffineMap.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir {
namespace tok {
#define GEN_PASS_DEF_TOKX86BF16DOTPASS
#include "tok/Conversion/Passes.h.inc"
} // namespace tok
} // namespace mlir

using namespace mlir;
using namespace mlir::tok;

namespace {

/// The vector<32xbf16> that `v` extends to f32 after a shape cast to
/// vector<16x2xbf16>, or null.
Value pairsBehind(Value v) {
  auto ext = v.getDefiningOp<arith::ExtFOp>();
  if (!ext)
    return nullptr;
  auto cast = ext.getIn().getDefiningOp<vector::ShapeCastOp>();
  if (!cast)
    return nullptr;
  auto type = dyn_cast<VectorType>(cast.getSource().getType());
  if (!type || type.getShape() != ArrayRef<int64_t>{32} ||
      !type.getElementType().isBF16())
    return nullptr;
  return cast.getSource();
}

struct DotToVdpbf16ps : OpRewritePattern<vector::ContractionOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(vector::ContractionOp op,
                                PatternRewriter &rewriter) const override {
    auto accType = dyn_cast<VectorType>(op.getAcc().getType());
    if (!accType || accType.getShape() != ArrayRef<int64_t>{16} ||
        !accType.getElementType().isF32() ||
        op.getKind() != vector::CombiningKind::ADD)
      return failure();
    MLIRContext *ctx = op.getContext();
    AffineExpr i, j;
    bindDims(ctx, i, j);
    SmallVector<AffineMap> want{AffineMap::get(2, 0, {i, j}, ctx),
                                AffineMap::get(2, 0, {i, j}, ctx),
                                AffineMap::get(2, 0, {i}, ctx)};
    if (op.getIndexingMapsArray() != want)
      return failure();
    Value a = pairsBehind(op.getLhs()), b = pairsBehind(op.getRhs());
    if (!a || !b)
      return failure();
    rewriter.replaceOpWithNewOp<LLVM::CallIntrinsicOp>(
        op, accType, rewriter.getStringAttr("llvm.x86.avx512bf16.dpbf16ps.512"),
        ValueRange{op.getAcc(), a, b});
    return success();
  }
};

struct TokX86Bf16DotPass : tok::impl::TokX86Bf16DotPassBase<TokX86Bf16DotPass> {
  using Base::Base;

  void runOnOperation() override {
    if (mode != "auto" && mode != "avx512bf16" && mode != "generic") {
      getOperation()->emitError()
          << "tok-x86-bf16-dot: mode must be 'auto', 'avx512bf16' or "
             "'generic', got '"
          << mode << "'";
      return signalPassFailure();
    }
    if (mode == "generic" || (mode == "auto" && !hostHasBf16DotProducts()))
      return;
    RewritePatternSet patterns(&getContext());
    patterns.add<DotToVdpbf16ps>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};

} // namespace
