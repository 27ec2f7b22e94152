//===- GPULaunchers.cpp - host bodies of the GPU kernel launchers ---------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// convert-tok-gpu-launchers: defines each launcher that convert-tok-to-gpu
// declared. The body copies the operands to device buffers, launches the
// kernel, copies the output back and frees the device buffers, all chained
// on one async token (gpu-to-llvm accepts one dependency per op) and joined
// before returning.
//
//===----------------------------------------------------------------------===//

#include "tok/Conversion/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/SymbolTable.h"

#include "Launcher.h"

namespace mlir {
namespace tok {
#define GEN_PASS_DEF_CONVERTTOKGPULAUNCHERSPASS
#include "tok/Conversion/Passes.h.inc"
} // namespace tok
} // namespace mlir

using namespace mlir;
using namespace mlir::tok;

namespace {

LogicalResult defineLauncher(func::FuncOp func) {
  auto kernelRef = func->getAttrOfType<SymbolRefAttr>(kLauncherKernelAttr);
  auto rowsAttr = func->getAttrOfType<IntegerAttr>(kLauncherRowsAttr);
  if (!kernelRef || !rowsAttr)
    return func.emitError("GPU launcher without its '")
           << kLauncherKernelAttr << "' and '" << kLauncherRowsAttr
           << "' attributes";
  auto kernel =
      SymbolTable::lookupNearestSymbolFrom<gpu::GPUFuncOp>(func, kernelRef);
  if (!kernel)
    return func.emitError("GPU launcher of a missing kernel ") << kernelRef;
  FunctionType type = func.getFunctionType();
  if ((type.getNumInputs() != 4 && type.getNumInputs() != 5) ||
      type.getNumResults() != 0 || !llvm::all_of(type.getInputs(), [](Type t) {
        return isa<MemRefType>(t);
      }))
    return func.emitError("GPU launcher must take four buffers (query, key, "
                          "value, output; a key bias before the output with "
                          "key sizes) and return nothing; got ")
           << type;
  std::optional<DenseI32ArrayAttr> block = kernel.getKnownBlockSizeAttr();
  if (!block || block->size() != 3)
    return kernel.emitError("GPU kernel without a known block size");

  Block *body = func.addEntryBlock();
  OpBuilder b = OpBuilder::atBlockBegin(body);
  Location loc = func.getLoc();
  Type tokenType = gpu::AsyncTokenType::get(b.getContext());
  auto index = [&](int64_t v) -> Value {
    return arith::ConstantIndexOp::create(b, loc, v);
  };
  bool biased = type.getNumInputs() == 5;
  Value q = body->getArgument(0), k = body->getArgument(1),
        v = body->getArgument(2), o = body->getArguments().back();

  Value token =
      gpu::WaitOp::create(b, loc, tokenType, ValueRange{}).getAsyncToken();
  SmallVector<Value> deviceBuffers;
  auto allocLike = [&](Value host) {
    auto memrefType = cast<MemRefType>(host.getType());
    SmallVector<Value> sizes;
    for (int64_t i = 0; i < memrefType.getRank(); ++i)
      if (memrefType.isDynamicDim(i))
        sizes.push_back(memref::DimOp::create(b, loc, host, i));
    auto alloc = gpu::AllocOp::create(b, loc, memrefType, tokenType,
                                      ValueRange{token}, sizes, ValueRange{});
    token = alloc.getAsyncToken();
    deviceBuffers.push_back(alloc.getMemref());
    return alloc.getMemref();
  };
  auto copy = [&](Value dst, Value src) {
    token =
        gpu::MemcpyOp::create(b, loc, tokenType, ValueRange{token}, dst, src)
            .getAsyncToken();
  };
  auto toDevice = [&](Value host) {
    Value device = allocLike(host);
    copy(device, host);
    return device;
  };
  auto flatten = [&](Value memref) -> Value {
    ReassociationIndices all = llvm::to_vector<2>(
        llvm::seq<int64_t>(0, cast<MemRefType>(memref.getType()).getRank()));
    SmallVector<ReassociationIndices> groups{all};
    return memref::CollapseShapeOp::create(b, loc, memref, groups);
  };

  Value dq = toDevice(q), dk = toDevice(k), dv = toDevice(v);
  // ToMe key sizes: log2 of each key's size, one f32 per key.
  Value dbias = biased ? toDevice(body->getArgument(3)) : Value();
  Value dout = allocLike(o);
  Value queryLen = memref::DimOp::create(b, loc, q, 1);
  Value keyLen = memref::DimOp::create(b, loc, k, 1);
  int64_t rows = rowsAttr.getInt();
  Value blocks = arith::DivUIOp::create(
      b, loc, arith::AddIOp::create(b, loc, queryLen, index(rows - 1)),
      index(rows));
  // At least one block: the kernel stores nothing for an empty query range
  // and zeros for an empty key range.
  blocks = arith::MaxUIOp::create(b, loc, blocks, index(1));
  int64_t heads = cast<MemRefType>(q.getType()).getDimSize(0);
  Value dynamicShared;
  if (auto bytes = func->getAttrOfType<IntegerAttr>(kLauncherSharedAttr))
    dynamicShared = arith::ConstantIntOp::create(b, loc, bytes.getInt(), 32);
  SmallVector<Value> prefillArgs = {flatten(dq),   flatten(dk), flatten(dv),
                                    flatten(dout), queryLen,    keyLen};
  if (dbias)
    prefillArgs.push_back(dbias);
  auto launchPrefill = [&](Value after) {
    return gpu::LaunchFuncOp::create(
               b, loc, kernel, gpu::KernelDim3{blocks, index(heads), index(1)},
               gpu::KernelDim3{index((*block)[0]), index((*block)[1]),
                               index((*block)[2])},
               dynamicShared, prefillArgs, tokenType, ValueRange{after})
        .getAsyncToken();
  };
  auto decodeRef = func->getAttrOfType<SymbolRefAttr>(kLauncherDecodeAttr);
  auto combineRef = func->getAttrOfType<SymbolRefAttr>(kLauncherCombineAttr);
  if (!decodeRef) {
    token = launchPrefill(token);
  } else {
    auto partial =
        SymbolTable::lookupNearestSymbolFrom<gpu::GPUFuncOp>(func, decodeRef);
    auto combine =
        SymbolTable::lookupNearestSymbolFrom<gpu::GPUFuncOp>(func, combineRef);
    if (!partial || !combine)
      return func.emitError("GPU launcher of missing decode kernels ")
             << decodeRef << ", " << combineRef;
    // The branches start their own token chains (a token does not cross
    // scf.if in gpu-to-llvm): join here, start again after.
    gpu::WaitOp::create(b, loc, Type(), ValueRange{token});
    Value single = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq,
                                         queryLen, index(1));
    auto branch = scf::IfOp::create(b, loc, single, /*withElseRegion=*/true);
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(branch.thenBlock());
      // Split the keys into chunks of at least 32 so that about 512 blocks
      // run (a few per SM of a large GPU), and no split is empty.
      int64_t kvHeads = cast<MemRefType>(k.getType()).getDimSize(0);
      int64_t target = std::max<int64_t>(1, (512 + kvHeads - 1) / kvHeads);
      Value positive = arith::MaxUIOp::create(b, loc, keyLen, index(1));
      auto ceilDiv = [&](Value x, Value y) -> Value {
        return arith::DivUIOp::create(
            b, loc,
            arith::AddIOp::create(b, loc, x,
                                  arith::SubIOp::create(b, loc, y, index(1))),
            y);
      };
      Value splits = arith::MinUIOp::create(b, loc, index(target),
                                            ceilDiv(positive, index(32)));
      Value chunk = ceilDiv(positive, splits);
      splits = ceilDiv(positive, chunk);
      int64_t d = cast<MemRefType>(q.getType()).getDimSize(2);
      Value words =
          arith::MulIOp::create(b, loc, splits, index(heads * (d + 2)));
      Value t =
          gpu::WaitOp::create(b, loc, tokenType, ValueRange{}).getAsyncToken();
      auto workspace = gpu::AllocOp::create(
          b, loc, MemRefType::get({ShapedType::kDynamic}, b.getF32Type()),
          tokenType, ValueRange{t}, ValueRange{words}, ValueRange{});
      Value ws = workspace.getMemref();
      t = gpu::LaunchFuncOp::create(
              b, loc, partial,
              gpu::KernelDim3{splits, index(kvHeads), index(1)},
              gpu::KernelDim3{index(kDecodePartialThreads), index(1), index(1)},
              Value(),
              ValueRange{flatten(dq), flatten(dk), flatten(dv), ws, keyLen,
                         chunk},
              tokenType, ValueRange{workspace.getAsyncToken()})
              .getAsyncToken();
      t = gpu::LaunchFuncOp::create(
              b, loc, combine,
              gpu::KernelDim3{index(heads), index(1), index(1)},
              gpu::KernelDim3{index(d), index(1), index(1)}, Value(),
              ValueRange{ws, flatten(dout), splits}, tokenType, ValueRange{t})
              .getAsyncToken();
      t = gpu::DeallocOp::create(b, loc, tokenType, ValueRange{t}, ws)
              .getAsyncToken();
      gpu::WaitOp::create(b, loc, Type(), ValueRange{t});
      b.setInsertionPointToStart(branch.elseBlock());
      Value start =
          gpu::WaitOp::create(b, loc, tokenType, ValueRange{}).getAsyncToken();
      gpu::WaitOp::create(b, loc, Type(), ValueRange{launchPrefill(start)});
    }
    token =
        gpu::WaitOp::create(b, loc, tokenType, ValueRange{}).getAsyncToken();
  }
  copy(o, dout);
  for (Value buffer : deviceBuffers)
    token = gpu::DeallocOp::create(b, loc, tokenType, ValueRange{token}, buffer)
                .getAsyncToken();
  gpu::WaitOp::create(b, loc, Type(), ValueRange{token});
  func::ReturnOp::create(b, loc);
  func->removeAttr(kLauncherKernelAttr);
  func->removeAttr(kLauncherRowsAttr);
  func->removeAttr(kLauncherSharedAttr);
  func->removeAttr(kLauncherDecodeAttr);
  func->removeAttr(kLauncherCombineAttr);
  return success();
}

struct ConvertTokGPULaunchersPass
    : public tok::impl::ConvertTokGPULaunchersPassBase<
          ConvertTokGPULaunchersPass> {
  void runOnOperation() override {
    SmallVector<func::FuncOp> launchers;
    for (auto func : getOperation().getOps<func::FuncOp>())
      if (func.isDeclaration() && func->hasAttr(kLauncherKernelAttr))
        launchers.push_back(func);
    for (func::FuncOp func : launchers)
      if (failed(defineLauncher(func)))
        return signalPassFailure();
  }
};

} // namespace
