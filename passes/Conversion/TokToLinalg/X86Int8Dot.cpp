//===- X86Int8Dot.cpp - vpdpbusd for u8 x s8 dot contractions -------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// tok-x86-int8-dot: the generic forms of the quantized kernels' integer dot
// products (QuantBlocks.h) become AVX512-VNNI instructions: 32 unsigned x
// signed bytes into 8 lanes (emitDotU8S8) vpdpbusd on 256 bits, 32 signed
// 16-bit pairs into 16 lanes (emitDotS16) vpdpwssd on 512 bits. Only those
// exact shapes are matched; anything else is left alone.
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
#define GEN_PASS_DEF_TOKX86INT8DOTPASS
#include "tok/Conversion/Passes.h.inc"
} // namespace tok
} // namespace mlir

using namespace mlir;
using namespace mlir::tok;

namespace {

struct DotToVpdpbusd : OpRewritePattern<vector::ContractionOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(vector::ContractionOp op,
                                PatternRewriter &rewriter) const override {
    Type i32 = rewriter.getI32Type();
    // 8 lanes of 4 u8 x s8 products: vpdpbusd; 16 lanes of 2 s16 x s16
    // products: vpdpwssd.
    bool bytes = isLaneDot(op, 8, i32);
    if (!bytes && !isLaneDot(op, 16, i32))
      return failure();
    auto width = [&](unsigned w) {
      return [w](Type t) { return t.isInteger(w); };
    };
    Value a = bytes ? laneDotSource<arith::ExtUIOp>(op.getLhs(), 32, width(8))
                    : laneDotSource<arith::ExtSIOp>(op.getLhs(), 32, width(16));
    Value b = bytes ? laneDotSource<arith::ExtSIOp>(op.getRhs(), 32, width(8))
                    : laneDotSource<arith::ExtSIOp>(op.getRhs(), 32, width(16));
    if (!a || !b)
      return failure();
    rewriter.replaceOpWithNewOp<LLVM::CallIntrinsicOp>(
        op, op.getAcc().getType(),
        rewriter.getStringAttr(bytes ? "llvm.x86.avx512.vpdpbusd.256"
                                     : "llvm.x86.avx512.vpdpwssd.512"),
        ValueRange{op.getAcc(), a, b});
    return success();
  }
};

struct TokX86Int8DotPass : tok::impl::TokX86Int8DotPassBase<TokX86Int8DotPass> {
  using Base::Base;

  void runOnOperation() override {
    if (mode != "auto" && mode != "vnni" && mode != "generic") {
      getOperation()->emitError()
          << "tok-x86-int8-dot: mode must be 'auto', 'vnni' or 'generic', "
             "got '"
          << mode << "'";
      return signalPassFailure();
    }
    if (mode == "generic" || (mode == "auto" && !hostHasInt8DotProducts()))
      return;
    RewritePatternSet patterns(&getContext());
    patterns.add<DotToVpdpbusd>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};

} // namespace
