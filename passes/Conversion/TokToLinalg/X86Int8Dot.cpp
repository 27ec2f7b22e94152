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

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/AffineMap.h"
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

/// The vector<32xiN> that `v` extends (with extension op `Ext`) after a
/// shape cast, or null.
template <typename Ext> Value bytesBehind(Value v, unsigned width = 8) {
  auto ext = v.getDefiningOp<Ext>();
  if (!ext)
    return nullptr;
  auto cast = ext.getIn().template getDefiningOp<vector::ShapeCastOp>();
  if (!cast)
    return nullptr;
  auto type = dyn_cast<VectorType>(cast.getSource().getType());
  if (!type || type.getShape() != ArrayRef<int64_t>{32} ||
      !type.getElementType().isInteger(width))
    return nullptr;
  return cast.getSource();
}

struct DotToVpdpbusd : OpRewritePattern<vector::ContractionOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(vector::ContractionOp op,
                                PatternRewriter &rewriter) const override {
    auto accType = dyn_cast<VectorType>(op.getAcc().getType());
    if (!accType || accType.getRank() != 1 ||
        !accType.getElementType().isInteger(32) ||
        op.getKind() != vector::CombiningKind::ADD)
      return failure();
    int64_t lanes = accType.getDimSize(0);
    if (lanes != 8 && lanes != 16)
      return failure();
    MLIRContext *ctx = op.getContext();
    AffineExpr i, j;
    bindDims(ctx, i, j);
    SmallVector<AffineMap> want{AffineMap::get(2, 0, {i, j}, ctx),
                                AffineMap::get(2, 0, {i, j}, ctx),
                                AffineMap::get(2, 0, {i}, ctx)};
    if (op.getIndexingMapsArray() != want)
      return failure();
    // 8 lanes of 4 u8 x s8 products: vpdpbusd; 16 lanes of 2 s16 x s16
    // products: vpdpwssd.
    Value a = lanes == 8 ? bytesBehind<arith::ExtUIOp>(op.getLhs())
                         : bytesBehind<arith::ExtSIOp>(op.getLhs(), 16);
    Value b = lanes == 8 ? bytesBehind<arith::ExtSIOp>(op.getRhs())
                         : bytesBehind<arith::ExtSIOp>(op.getRhs(), 16);
    if (!a || !b)
      return failure();
    rewriter.replaceOpWithNewOp<LLVM::CallIntrinsicOp>(
        op, accType,
        rewriter.getStringAttr(lanes == 8 ? "llvm.x86.avx512.vpdpbusd.256"
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
