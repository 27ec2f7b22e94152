//===- LinearToVector.cpp - tok.linear as a vectorized, threaded kernel ---===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// y[t, n] = sum_k x[t, k] W[n, k] (+ b[n]) for f32 x [T, K] and W [N, K]
// (f32, f16 or bf16) with static N and K, the shape of every projection of
// a decoder. The generic lowering (ModelOpsToLinalg.cpp) becomes scalar
// loops; this one emits the register-tiled kernel of LinearKernel.cpp,
// whose panels are the weights themselves, in one of two variants chosen
// at run time by the token count T: unblocked for T <= 8 (decode,
// verification: one pass over W), blocked over tokens and K for T > 8
// (prefill). bf16 weights with K a multiple of 32 take bf16 dot products
// in the blocked variant where the host has AVX512-BF16 (bf16-dot).
// f16 / bf16 activations and other ranks keep the generic lowering.
//
//===----------------------------------------------------------------------===//

#include "tok/Conversion/Passes.h"

#include "LinearKernel.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/TypeUtilities.h"
#include "mlir/Transforms/DialectConversion.h"
#include "tok/Dialect/Tok/IR/TokOps.h"
#include "llvm/TargetParser/Host.h"

using namespace mlir;
using namespace mlir::tok;

namespace {

struct LinearToVectorLowering : OpConversionPattern<LinearOp> {
  LinearToVectorLowering(MLIRContext *ctx, Bf16Dot bf16)
      : OpConversionPattern(ctx, /*benefit=*/2), bf16(bf16) {}
  Bf16Dot bf16;

  LogicalResult
  matchAndRewrite(LinearOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Value x = adaptor.getInput(), w = adaptor.getWeight(),
          bias = adaptor.getBias();
    auto xType = cast<RankedTensorType>(x.getType());
    auto wType = cast<RankedTensorType>(w.getType());
    RankedTensorType resultType = op.getResult().getType();
    auto isF32 = [](Type t) { return getElementTypeOrSelf(t).isF32(); };
    Type wElem = wType.getElementType();
    if (xType.getRank() != 2 || !wType.hasStaticShape() || !isF32(xType) ||
        !(wElem.isF32() || wElem.isF16() || wElem.isBF16()) ||
        !isF32(resultType) || (bias && !isF32(bias.getType())))
      return rewriter.notifyMatchFailure(op, "not an f32 [T, K] x [N, K]");
    int64_t n = wType.getDimSize(0), k = wType.getDimSize(1);
    // The vector reads are unchecked: K must be the weight's, statically.
    if (xType.getDimSize(1) != k || n == 0)
      return rewriter.notifyMatchFailure(op, "dynamic K or no outputs");

    Location loc = op.getLoc();
    OpBuilder &b = rewriter;
    auto idx = [&](OpBuilder &ob, int64_t v) -> Value {
      return arith::ConstantIndexOp::create(ob, loc, v);
    };
    Value tokens = tensor::DimOp::create(b, loc, x, 0);
    auto outType =
        RankedTensorType::get({ShapedType::kDynamic, n}, b.getF32Type());
    bool canBlock = k % 16 == 0;
    // The blocked variant needs whole vectors along K; bf16 weights take
    // pairs of them (32 values) per dot product.
    bool useBf16Dot = canBlock && wElem.isBF16() && k % 32 == 0 &&
                      (bf16 == Bf16Dot::Dot ||
                       (bf16 == Bf16Dot::Auto && hostHasBf16DotProducts()));

    auto emitKernel = [&](OpBuilder &ob, bool blocked, bool dot) -> Value {
      // The weights are their own panel.
      Value c0 = idx(ob, 0);
      auto itself = [&](OpBuilder &, Value row0, int64_t, Value,
                        Value) -> WeightPanel { return {w, row0, c0}; };
      return emitLinearKernel(
          ob, loc, {x, tokens, n, k, bias, wElem, blocked, dot, itself});
    };

    Value result;
    if (!canBlock) {
      result = emitKernel(b, /*blocked=*/false, /*dot=*/false);
    } else {
      Value many = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ugt,
                                         tokens, idx(b, kLinearSmallTokens));
      auto ifMany = scf::IfOp::create(b, loc, TypeRange{outType}, many,
                                      /*withElseRegion=*/true);
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(ifMany.thenBlock());
      scf::YieldOp::create(b, loc, emitKernel(b, true, useBf16Dot));
      b.setInsertionPointToStart(ifMany.elseBlock());
      scf::YieldOp::create(b, loc, emitKernel(b, false, false));
      result = ifMany.getResult(0);
    }
    b.setInsertionPointAfterValue(result);
    if (result.getType() != resultType)
      result = tensor::CastOp::create(b, loc, resultType, result);
    rewriter.replaceOp(op, result);
    return success();
  }
};

} // namespace

bool mlir::tok::hostHasBf16DotProducts() {
  // Asked per linear op; the host does not change.
  static const bool has = [] {
    llvm::StringMap<bool> features = llvm::sys::getHostCPUFeatures();
    return features.lookup("avx512bf16") && features.lookup("avx512f");
  }();
  return has;
}

void mlir::tok::populateLinearToVectorPatterns(RewritePatternSet &patterns,
                                               Bf16Dot bf16) {
  patterns.add<LinearToVectorLowering>(patterns.getContext(), bf16);
}
