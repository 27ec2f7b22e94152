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

#include "LaneDot.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
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

struct DotToVdpbf16ps : OpRewritePattern<vector::ContractionOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(vector::ContractionOp op,
                                PatternRewriter &rewriter) const override {
    if (!isLaneDot(op, 16, rewriter.getF32Type()))
      return failure();
    auto isBf16 = [](Type t) { return t.isBF16(); };
    Value a = laneDotSource<arith::ExtFOp>(op.getLhs(), 32, isBf16);
    Value b = laneDotSource<arith::ExtFOp>(op.getRhs(), 32, isBf16);
    if (!a || !b)
      return failure();
    rewriter.replaceOpWithNewOp<LLVM::CallIntrinsicOp>(
        op, op.getAcc().getType(),
        rewriter.getStringAttr("llvm.x86.avx512bf16.dpbf16ps.512"),
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
