//===- AttentionKernelUtils.cpp - pieces the GPU attention kernels share --===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#include "AttentionKernels.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace mlir::tok;

Value mlir::tok::buildExp2(OpBuilder &b, Location loc, Value x) {
  return LLVM::CallIntrinsicOp::create(
             b, loc, b.getF32Type(),
             b.getStringAttr("llvm.nvvm.ex2.approx.ftz.f32"), ValueRange{x})
      .getResult(0);
}

Value mlir::tok::buildVisible(OpBuilder &b, Location loc, MaskAttr mask,
                              Value qpos, Value key) {
  if (!mask.isCausal())
    return arith::ConstantOp::create(b, loc, b.getBoolAttr(true));
  auto index = [&](int64_t v) -> Value {
    return arith::ConstantIndexOp::create(b, loc, v);
  };
  Value vis =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sle, key, qpos);
  if (mask.getWindow() > 0) {
    Value distance = arith::SubIOp::create(b, loc, qpos, key);
    Value in = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt,
                                     distance, index(mask.getWindow()));
    if (mask.getSinks() > 0)
      in = arith::OrIOp::create(
          b, loc, in,
          arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, key,
                                index(mask.getSinks())));
    vis = arith::AndIOp::create(b, loc, vis, in);
  }
  return vis;
}

Value mlir::tok::buildXorReduce(OpBuilder &b, Location loc, Value v,
                                int32_t lanes, bool max) {
  for (int32_t off = 1; off < lanes; off *= 2) {
    Value other =
        gpu::ShuffleOp::create(b, loc, v, off, 32, gpu::ShuffleMode::XOR)
            .getShuffleResult();
    v = max ? arith::MaximumFOp::create(b, loc, v, other).getResult()
            : arith::AddFOp::create(b, loc, v, other).getResult();
  }
  return v;
}

Value KernelEmitter::index(int64_t v) {
  return arith::ConstantIndexOp::create(b, loc, v);
}

Value KernelEmitter::f32c(float v) {
  return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(v));
}

Value KernelEmitter::add(Value x, Value y) {
  return arith::AddIOp::create(b, loc, x, y);
}

Value KernelEmitter::mul(Value x, Value y) {
  return arith::MulIOp::create(b, loc, x, y);
}

Value KernelEmitter::visible(Value qpos, Value key) {
  return buildVisible(b, loc, s.mask, qpos, key);
}

void KernelEmitter::guardNonEmptyQueries(Value queryLen) {
  auto nonEmpty =
      scf::IfOp::create(b, loc,
                        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ugt,
                                              queryLen, index(0)),
                        /*withElseRegion=*/false);
  gpu::ReturnOp::create(b, loc);
  b.setInsertionPointToStart(nonEmpty.thenBlock());
}
