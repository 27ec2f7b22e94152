//===- AttentionToGPU.cpp - tok.attention as a GPU kernel -----------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// convert-tok-to-gpu: each supported tok.attention becomes a launch of an
// online-softmax kernel built here as a gpu.func (docs/algorithms.md, "The
// direct-build route": the kernel needs warp-level code, dynamic lengths and
// masks, which no upstream tiling route produces). The host side copies the
// operands to device buffers, launches, and copies the output back.
//
// Kernel ABI (what bench/gpu_attention launches directly): the query, key,
// value and output buffers as 1-D memrefs of the element type, then the
// query length T and the key length S as index values. Grid: (ceil(T /
// rows per block), Hq, 1); block: (threads, 1, 1).
//
//===----------------------------------------------------------------------===//

#include "tok/Conversion/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/SymbolTable.h"
#include "tok/Dialect/Tok/IR/TokOps.h"

#include "AttentionKernels.h"
#include "Launcher.h"

#include "llvm/ADT/StringExtras.h"

#include <cmath>

namespace mlir {
namespace tok {
#define GEN_PASS_DEF_CONVERTTOKTOGPUPASS
#include "tok/Conversion/Passes.h.inc"
} // namespace tok
} // namespace mlir

using namespace mlir;
using namespace mlir::tok;

std::string mlir::tok::KernelShape::name() const {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << "attention_" << (mma ? "mma_" : "simt_") << element << "_h"
     << queryHeads << "_kv" << keyHeads << "_d" << headDim
     << (mask.isCausal() ? "_causal" : "_full");
  if (mask.getWindow())
    os << "_w" << mask.getWindow();
  if (mask.getSinks())
    os << "_s" << mask.getSinks();
  if (keySizes)
    os << "_sizes";
  os << "_t" << keyTile << "_r" << rowsPerBlock() << "_n" << threads;
  if (int64_t bytes = dynamicSharedBytes())
    os << "_sm" << bytes;
  os << "_" << llvm::utohexstr(llvm::bit_cast<uint32_t>(scale));
  return s;
}

SmallVector<Type>
mlir::tok::KernelShape::workgroupBuffers(MLIRContext *ctx) const {
  auto workgroup =
      gpu::AddressSpaceAttr::get(ctx, gpu::AddressSpace::Workgroup);
  auto buffer = [&](int64_t n, Type t) -> Type {
    return MemRefType::get({n}, t, MemRefLayoutAttrInterface{}, workgroup);
  };
  if (mma)
    return {};
  Type tile = buffer(keyTile * headDim, Float32Type::get(ctx));
  return {tile, tile};
}

int64_t mlir::tok::KernelShape::dynamicSharedBytes() const {
  if (!mma)
    return 0;
  // 16-bit elements, rows padded to D + 8 (MmaAttentionKernel.cpp): the
  // block's Q rows, and two buffers each of the K and V tiles.
  return 2 * (headDim + 8) * (rowsPerBlock() + 4 * keyTile);
}

bool mlir::tok::mmaKernelApplies(const KernelShape &shape) {
  return !shape.keySizes && (shape.element.isF16() || shape.element.isBF16()) &&
         (shape.headDim == 64 || shape.headDim == 128) &&
         shape.mask.getWindow() == 0 && shape.mask.getSinks() == 0 &&
         shape.threads % 32 == 0;
}

namespace {

/// Static shared memory a block may use (more needs the dynamic kind).
constexpr int64_t kSharedBytes = 48 * 1024;

/// Why `op` has no GPU lowering, or the empty string.
std::string unsupportedReason(AttentionOp op, int64_t keyTile,
                              int64_t threads) {
  if (op.getQueryPositions())
    return "explicit positions";
  if (op.getTreeParents())
    return "a tree mask";
  if (op.getQuerySegments() || op.getMask().getBlockDiagonal())
    return "segments (block-diagonal mask)";
  if (op.getScores())
    return "received scores";
  if (op.getSoftcap())
    return "logit soft-capping";
  auto q = cast<RankedTensorType>(op.getQuery().getType());
  auto k = cast<RankedTensorType>(op.getKey().getType());
  Type element = q.getElementType();
  if (!element.isF32() && !element.isF16() && !element.isBF16()) {
    std::string name;
    llvm::raw_string_ostream os(name);
    os << "element type " << element << " (f32, f16 or bf16 only)";
    return name;
  }
  if (q.isDynamicDim(0) || k.isDynamicDim(0))
    return "a dynamic number of heads";
  if (q.getDimSize(0) == 0)
    return "zero query heads";
  auto v = cast<RankedTensorType>(op.getValue().getType());
  if (q.isDynamicDim(2) || k.isDynamicDim(2) || v.isDynamicDim(2))
    return "a dynamic head dimension";
  int64_t d = q.getDimSize(2);
  if (v.getDimSize(2) != d || k.getDimSize(2) != d)
    return "a value head dimension (" + std::to_string(v.getDimSize(2)) +
           ") other than the query's (" + std::to_string(d) + ")";
  if (d == 0 || d % 8 != 0 || (d > 64 && d != 128 && d != 256))
    return "head dimension " + std::to_string(d) +
           " (a multiple of 8 up to 64, 128 or 256)";
  int64_t perRow = d > 64 ? d / 64 : 1;
  if (threads % perRow != 0)
    return "threads not divisible by the " + std::to_string(perRow) +
           " threads per row";
  return "";
}

MemRefType launcherBufferType(Value tensor);

/// The kernel for `shape` in `kernels`, built on first use.
gpu::GPUFuncOp getOrBuildKernel(gpu::GPUModuleOp kernels,
                                const KernelShape &shape) {
  std::string name = shape.name();
  if (auto existing = kernels.lookupSymbol<gpu::GPUFuncOp>(name))
    return existing;
  MLIRContext *ctx = kernels.getContext();
  OpBuilder b(ctx);
  b.setInsertionPointToEnd(kernels.getBody());
  auto buffer = MemRefType::get({ShapedType::kDynamic}, shape.element);
  Type indexType = b.getIndexType();
  SmallVector<Type> inputs = {buffer, buffer,    buffer,
                              buffer, indexType, indexType};
  if (shape.keySizes)
    inputs.push_back(MemRefType::get({ShapedType::kDynamic}, b.getF32Type()));
  auto type = b.getFunctionType(inputs, {});
  auto func = gpu::GPUFuncOp::create(b, kernels.getLoc(), name, type,
                                     shape.workgroupBuffers(ctx));
  func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
  func.setKnownBlockSizeAttr(
      b.getDenseI32ArrayAttr({static_cast<int32_t>(shape.threads), 1, 1}));
  if (shape.mma)
    buildMmaAttentionKernel(func, shape);
  else
    buildSimtAttentionKernel(func, shape);
  return func;
}

/// The split-KV decode kernels of `shape` (partial, combine), built on
/// first use; the launcher runs them instead of `shape`'s kernel when T = 1.
std::pair<gpu::GPUFuncOp, gpu::GPUFuncOp>
getOrBuildDecodeKernels(gpu::GPUModuleOp kernels, const KernelShape &shape) {
  std::string name;
  {
    llvm::raw_string_ostream os(name);
    os << "attention_decode_" << shape.element << "_h" << shape.queryHeads
       << "_kv" << shape.keyHeads << "_d" << shape.headDim
       << (shape.mask.isCausal() ? "_causal" : "_full");
    if (shape.mask.getWindow())
      os << "_w" << shape.mask.getWindow();
    if (shape.mask.getSinks())
      os << "_s" << shape.mask.getSinks();
    os << "_" << llvm::utohexstr(llvm::bit_cast<uint32_t>(shape.scale));
  }
  std::string partialName = name + "_partial", combineName = name + "_combine";
  if (auto existing = kernels.lookupSymbol<gpu::GPUFuncOp>(partialName))
    return {existing, kernels.lookupSymbol<gpu::GPUFuncOp>(combineName)};
  MLIRContext *ctx = kernels.getContext();
  OpBuilder b(ctx);
  b.setInsertionPointToEnd(kernels.getBody());
  auto buffer = MemRefType::get({ShapedType::kDynamic}, shape.element);
  auto workspace = MemRefType::get({ShapedType::kDynamic}, b.getF32Type());
  Type indexType = b.getIndexType();
  auto workgroup =
      gpu::AddressSpaceAttr::get(ctx, gpu::AddressSpace::Workgroup);
  int64_t states = 4 * (shape.queryHeads / shape.keyHeads);
  auto shared = [&](int64_t n) -> Type {
    return MemRefType::get({n}, b.getF32Type(), MemRefLayoutAttrInterface{},
                           workgroup);
  };
  auto partial = gpu::GPUFuncOp::create(
      b, kernels.getLoc(), partialName,
      b.getFunctionType(
          {buffer, buffer, buffer, workspace, indexType, indexType}, {}),
      TypeRange{shared(states), shared(states),
                shared(states * shape.headDim)});
  partial->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
  partial.setKnownBlockSizeAttr(b.getDenseI32ArrayAttr(
      {static_cast<int32_t>(kDecodePartialThreads), 1, 1}));
  buildDecodePartialKernel(partial, shape);
  auto combine = gpu::GPUFuncOp::create(
      b, kernels.getLoc(), combineName,
      b.getFunctionType({workspace, buffer, indexType}, {}));
  combine->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
  combine.setKnownBlockSizeAttr(
      b.getDenseI32ArrayAttr({static_cast<int32_t>(shape.headDim), 1, 1}));
  buildDecodeCombineKernel(combine, shape);
  return {partial, combine};
}

/// The host function that launches `kernel`: declared here (private, no
/// body) and defined by convert-tok-gpu-calls after bufferization and buffer
/// deallocation, whose analyses do not know the gpu runtime ops.
func::FuncOp getOrDeclareLauncher(ModuleOp module, gpu::GPUFuncOp kernel,
                                  const KernelShape &shape, AttentionOp op,
                                  gpu::GPUFuncOp decodePartial,
                                  gpu::GPUFuncOp decodeCombine) {
  std::string name =
      "tok_gpu_" + kernel.getName().str() + (decodePartial ? "_or_decode" : "");
  if (auto existing = module.lookupSymbol<func::FuncOp>(name))
    return existing;
  MLIRContext *ctx = module.getContext();
  OpBuilder b(ctx);
  b.setInsertionPointToEnd(module.getBody());
  auto memrefOf = [](Value tensor) { return launcherBufferType(tensor); };
  SmallVector<Type> inputs = {memrefOf(op.getQuery()), memrefOf(op.getKey()),
                              memrefOf(op.getValue())};
  if (shape.keySizes)
    inputs.push_back(MemRefType::get({ShapedType::kDynamic}, b.getF32Type()));
  inputs.push_back(memrefOf(op.getOutput()));
  auto type = b.getFunctionType(inputs, {});
  auto func = func::FuncOp::create(b, op.getLoc(), name, type);
  func.setPrivate();
  auto kernels = cast<gpu::GPUModuleOp>(kernel->getParentOp());
  func->setAttr(kLauncherKernelAttr,
                SymbolRefAttr::get(kernels.getNameAttr(),
                                   {FlatSymbolRefAttr::get(kernel)}));
  func->setAttr(kLauncherRowsAttr, b.getI64IntegerAttr(shape.rowsPerBlock()));
  if (int64_t bytes = shape.dynamicSharedBytes())
    func->setAttr(kLauncherSharedAttr, b.getI64IntegerAttr(bytes));
  auto ref = [&](gpu::GPUFuncOp f) {
    return SymbolRefAttr::get(kernels.getNameAttr(),
                              {FlatSymbolRefAttr::get(f)});
  };
  if (decodePartial) {
    func->setAttr(kLauncherDecodeAttr, ref(decodePartial));
    func->setAttr(kLauncherCombineAttr, ref(decodeCombine));
  }
  return func;
}

/// The launcher's type for the buffer of `tensor`: its shape with the
/// token dimension dynamic, so that ops of every length share a launcher.
MemRefType launcherBufferType(Value tensor) {
  auto type = cast<RankedTensorType>(tensor.getType());
  SmallVector<int64_t> shape(type.getShape());
  shape[1] = ShapedType::kDynamic;
  return MemRefType::get(shape, type.getElementType());
}

/// Replaces `op` by a call of its launcher on the operands' buffers and a
/// fresh output buffer.
void rewriteAttention(AttentionOp op, func::FuncOp launcher) {
  OpBuilder b(op);
  Location loc = op.getLoc();
  // A causal mask on default positions needs T <= S (the queries are the
  // last T keys); the verifier checks static lengths, this the others
  // (the kernels' position arithmetic is unsigned).
  auto q = cast<RankedTensorType>(op.getQuery().getType());
  auto k = cast<RankedTensorType>(op.getKey().getType());
  if (op.getMask().isCausal() && (q.isDynamicDim(1) || k.isDynamicDim(1))) {
    Value queryLen = tensor::DimOp::create(b, loc, op.getQuery(), 1);
    Value keyLen = tensor::DimOp::create(b, loc, op.getKey(), 1);
    cf::AssertOp::create(
        b, loc,
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ule, queryLen,
                              keyLen),
        "tok.attention: without positions the queries are the last of the "
        "keys, but there are more queries than keys");
  }
  auto buffer = [&](Value tensor) -> Value {
    auto type = cast<RankedTensorType>(tensor.getType());
    return bufferization::ToBufferOp::create(
        b, loc, MemRefType::get(type.getShape(), type.getElementType()), tensor,
        /*read_only=*/true);
  };
  auto outType = cast<RankedTensorType>(op.getOutput().getType());
  SmallVector<Value> sizes;
  for (int64_t i = 0; i < outType.getRank(); ++i)
    if (outType.isDynamicDim(i))
      sizes.push_back(tensor::DimOp::create(b, loc, op.getQuery(), i));
  Value out = memref::AllocOp::create(
      b, loc, MemRefType::get(outType.getShape(), outType.getElementType()),
      sizes);
  auto cast = [&](Value memref, Value like) -> Value {
    MemRefType type = launcherBufferType(like);
    if (memref.getType() == type)
      return memref;
    return memref::CastOp::create(b, loc, type, memref);
  };
  SmallVector<Value> operands = {cast(buffer(op.getQuery()), op.getQuery()),
                                 cast(buffer(op.getKey()), op.getKey()),
                                 cast(buffer(op.getValue()), op.getValue())};
  if (Value sizes = op.getKeySizes()) {
    // ToMe's log(size) bias, as log2 for the kernel's log2-domain logits
    // (computed on the host: elementwise math becomes a linalg loop).
    // Into a fresh tensor: an elementwise op on the argument itself would
    // be bufferized in place, overwriting the caller's sizes.
    auto sizesType = llvm::cast<RankedTensorType>(sizes.getType());
    SmallVector<Value> dims;
    if (sizesType.isDynamicDim(0))
      dims.push_back(tensor::DimOp::create(b, loc, sizes, 0));
    Value empty = tensor::EmptyOp::create(b, loc, sizesType.getShape(),
                                          b.getF32Type(), dims);
    AffineMap id = b.getMultiDimIdentityMap(1);
    Value bias =
        linalg::GenericOp::create(
            b, loc, TypeRange{sizesType}, ValueRange{sizes}, ValueRange{empty},
            ArrayRef<AffineMap>{id, id},
            ArrayRef<utils::IteratorType>{utils::IteratorType::parallel},
            [](OpBuilder &nb, Location nl, ValueRange args) {
              linalg::YieldOp::create(
                  nb, nl, ValueRange{math::Log2Op::create(nb, nl, args[0])});
            })
            .getResult(0);
    auto dynamic = MemRefType::get({ShapedType::kDynamic}, b.getF32Type());
    Value biasBuffer = bufferization::ToBufferOp::create(
        b, loc,
        MemRefType::get(
            llvm::cast<RankedTensorType>(sizes.getType()).getShape(),
            b.getF32Type()),
        bias, /*read_only=*/true);
    if (biasBuffer.getType() != dynamic)
      biasBuffer = memref::CastOp::create(b, loc, dynamic, biasBuffer);
    operands.push_back(biasBuffer);
  }
  operands.push_back(cast(out, op.getOutput()));
  func::CallOp::create(b, loc, launcher, operands);
  Value result = bufferization::ToTensorOp::create(
      b, loc, outType, out, /*restrict=*/true, /*writable=*/true);
  op.getOutput().replaceAllUsesWith(result);
  op.erase();
}

struct ConvertTokToGPUPass
    : public tok::impl::ConvertTokToGPUPassBase<ConvertTokToGPUPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (mmaRowTiles != 1 && mmaRowTiles != 2) {
      emitError(module.getLoc(), "convert-tok-to-gpu: mma-row-tiles must be "
                                 "1 or 2 (got ")
          << static_cast<int64_t>(mmaRowTiles) << ")";
      return signalPassFailure();
    }
    if (keyTile <= 0 || threads <= 0 || threads % 32 != 0 || threads > 1024) {
      emitError(module.getLoc(),
                "convert-tok-to-gpu: key-tile must be > 0 and threads a "
                "multiple of 32 up to 1024 (got key-tile=")
          << static_cast<int64_t>(keyTile)
          << ", threads=" << static_cast<int64_t>(threads) << ")";
      return signalPassFailure();
    }
    SmallVector<AttentionOp> ops;
    module.walk([&](AttentionOp op) { ops.push_back(op); });
    if (ops.empty())
      return;

    bool failed = false;
    for (AttentionOp op : ops) {
      std::string reason = unsupportedReason(op, keyTile, threads);
      if (!reason.empty()) {
        op.emitError("tok.attention has no GPU lowering for ") << reason;
        failed = true;
      }
    }
    if (failed)
      return signalPassFailure();

    module->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                    UnitAttr::get(module.getContext()));
    auto kernels = module.lookupSymbol<gpu::GPUModuleOp>("tok_kernels");
    if (!kernels) {
      OpBuilder b(module.getBodyRegion());
      b.setInsertionPointToEnd(module.getBody());
      kernels = gpu::GPUModuleOp::create(b, module.getLoc(), "tok_kernels");
    }
    for (AttentionOp op : ops) {
      auto q = cast<RankedTensorType>(op.getQuery().getType());
      auto k = cast<RankedTensorType>(op.getKey().getType());
      KernelShape shape;
      shape.element = q.getElementType();
      shape.queryHeads = q.getDimSize(0);
      shape.keyHeads = k.getDimSize(0);
      shape.headDim = q.getDimSize(2);
      shape.mask = op.getMask();
      shape.scale = op.getScale()
                        ? op.getScale()->convertToFloat()
                        : 1.0f / std::sqrt(static_cast<float>(shape.headDim));
      shape.threads = threads;
      shape.keySizes = static_cast<bool>(op.getKeySizes());
      shape.mma = tensorCores;
      shape.rowTiles = mmaRowTiles;
      shape.keyTile = kMmaKeyTile;
      // Two row tiles need more shared memory than some GPUs give a
      // block: one tile, or CUDA cores, where it does not fit.
      if (shape.mma && shape.dynamicSharedBytes() > maxSharedMemory)
        shape.rowTiles = 1;
      if (shape.mma && shape.dynamicSharedBytes() > maxSharedMemory)
        shape.mma = false;
      if (!shape.mma || !mmaKernelApplies(shape)) {
        shape.mma = false;
        // The K and V tiles (f32) share the 48 KiB of static shared
        // memory: wide heads get shorter tiles.
        shape.keyTile =
            std::min<int64_t>(keyTile, kSharedBytes / (8 * shape.headDim));
      }
      gpu::GPUFuncOp kernel = getOrBuildKernel(kernels, shape);
      // Single-query calls (decode) take the split-KV kernels where they
      // apply; the launcher picks by T at run time.
      gpu::GPUFuncOp partial, combine;
      int64_t queryLen =
          cast<RankedTensorType>(op.getQuery().getType()).getDimSize(1);
      if (splitDecode && !shape.keySizes && decodeKernelApplies(shape) &&
          (queryLen == 1 || ShapedType::isDynamic(queryLen)))
        std::tie(partial, combine) = getOrBuildDecodeKernels(kernels, shape);
      rewriteAttention(op, getOrDeclareLauncher(module, kernel, shape, op,
                                                partial, combine));
    }
  }
};

} // namespace
