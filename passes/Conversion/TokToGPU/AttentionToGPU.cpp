//===- AttentionToGPU.cpp - tok.attention as a GPU kernel -----------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// convert-tok-to-gpu: each supported tok.attention becomes a launch of an
// online-softmax kernel built here as a gpu.func (GPU_CODEGEN.md's "direct
// build" route: the kernel needs warp-level code, dynamic lengths and masks,
// which no upstream tiling route produces). The host side copies the
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
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/SymbolTable.h"
#include "tok/Dialect/Tok/IR/TokOps.h"

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

namespace {

/// Everything a kernel depends on; two ops with equal shapes share one.
struct KernelShape {
  Type element;
  int64_t queryHeads, keyHeads, headDim;
  MaskAttr mask;
  float scale;
  int64_t keyTile, threads;

  /// Threads that share one query row (each holds headDim / this columns).
  int64_t threadsPerRow() const { return headDim > 64 ? headDim / 64 : 1; }
  int64_t rowsPerBlock() const { return threads / threadsPerRow(); }
  int64_t columnsPerThread() const { return headDim / threadsPerRow(); }

  std::string name() const {
    std::string s;
    llvm::raw_string_ostream os(s);
    os << "attention_" << element << "_h" << queryHeads << "_kv" << keyHeads
       << "_d" << headDim << (mask.isCausal() ? "_causal" : "_full");
    if (mask.getWindow())
      os << "_w" << mask.getWindow();
    if (mask.getSinks())
      os << "_s" << mask.getSinks();
    os << "_t" << keyTile << "_n" << threads << "_"
       << llvm::utohexstr(llvm::bit_cast<uint32_t>(scale));
    return s;
  }
};

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
  if (op.getKeySizes())
    return "key sizes (proportional attention)";
  if (op.getScores())
    return "received scores";
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
  if (q.isDynamicDim(2))
    return "a dynamic head dimension";
  int64_t d = q.getDimSize(2);
  if (d % 8 != 0 || d > 256 || (d > 64 && d % 64 != 0))
    return "head dimension " + std::to_string(d) +
           " (a multiple of 8 up to 64, or of 64 up to 256)";
  int64_t perRow = d > 64 ? d / 64 : 1;
  if (threads % perRow != 0)
    return "threads not divisible by the " + std::to_string(perRow) +
           " threads per row";
  return "";
}

/// Every vector access of the kernels is 16-byte aligned: rows and chunks
/// start at multiples of 8 elements, shared tiles are f32, and the buffers
/// are device allocations (256-byte aligned; a caller launching the kernel
/// directly must pass 16-byte aligned buffers).
const llvm::MaybeAlign kAlign(16);

/// Builds the kernel body of `shape` into `func`.
class KernelBuilder {
public:
  KernelBuilder(gpu::GPUFuncOp func, const KernelShape &shape)
      : func(func), s(shape), b(func.getContext()), loc(func.getLoc()) {}

  void build();

private:
  Value index(int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); }
  Value f32(float v) {
    return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(v));
  }
  Value splat(VectorType t, float v) {
    return arith::ConstantOp::create(
        b, loc, DenseElementsAttr::get(t, b.getF32FloatAttr(v)));
  }
  Value exp2(Value x) {
    return LLVM::CallIntrinsicOp::create(
               b, loc, b.getF32Type(),
               b.getStringAttr("llvm.nvvm.ex2.approx.ftz.f32"), ValueRange{x})
        .getResult(0);
  }
  /// Loads `n` elements of the element type at `offset` of `memref` as f32.
  Value loadF32(Value memref, Value offset, int64_t n) {
    auto wide = VectorType::get({n}, s.element);
    Value v = vector::LoadOp::create(b, loc, wide, memref, ValueRange{offset},
                                     /*nontemporal=*/false, kAlign);
    if (!s.element.isF32())
      v = arith::ExtFOp::create(b, loc, VectorType::get({n}, b.getF32Type()),
                                v);
    return v;
  }
  /// Whether key `key` is visible from query position `qpos` (i1).
  Value visible(Value qpos, Value key);

  gpu::GPUFuncOp func;
  const KernelShape &s;
  OpBuilder b;
  Location loc;
};

Value KernelBuilder::visible(Value qpos, Value key) {
  if (!s.mask.isCausal())
    return arith::ConstantOp::create(b, loc, b.getBoolAttr(true));
  Value vis =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sle, key, qpos);
  if (s.mask.getWindow() > 0) {
    Value distance = arith::SubIOp::create(b, loc, qpos, key);
    Value in = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt,
                                     distance, index(s.mask.getWindow()));
    if (s.mask.getSinks() > 0) {
      Value sink = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, key,
                                         index(s.mask.getSinks()));
      in = arith::OrIOp::create(b, loc, in, sink);
    }
    vis = arith::AndIOp::create(b, loc, vis, in);
  }
  return vis;
}

void KernelBuilder::build() {
  Block &entry = func.getBody().front();
  b.setInsertionPointToStart(&entry);
  Value q = entry.getArgument(0), k = entry.getArgument(1),
        v = entry.getArgument(2), o = entry.getArgument(3);
  Value queryLen = entry.getArgument(4), keyLen = entry.getArgument(5);
  Value kTile = func.getWorkgroupAttributions()[0];
  Value vTile = func.getWorkgroupAttributions()[1];

  const int64_t d = s.headDim, perRow = s.threadsPerRow(),
                cols = s.columnsPerThread(), rows = s.rowsPerBlock(),
                bc = s.keyTile, nt = s.threads;
  Type f32Type = b.getF32Type();
  auto colType = VectorType::get({cols}, f32Type);

  // An empty query range (one block is launched anyway) does nothing; the
  // condition is uniform, so barriers inside stay reached by all threads.
  auto nonEmpty =
      scf::IfOp::create(b, loc,
                        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ugt,
                                              queryLen, index(0)),
                        /*withElseRegion=*/false);
  gpu::ReturnOp::create(b, loc);
  b.setInsertionPointToStart(nonEmpty.thenBlock());

  Value tid = gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x);
  Value block = gpu::BlockIdOp::create(b, loc, gpu::Dimension::x);
  Value head = gpu::BlockIdOp::create(b, loc, gpu::Dimension::y);
  Value kvHead =
      arith::DivUIOp::create(b, loc, head, index(s.queryHeads / s.keyHeads));
  Value rowInBlock = arith::DivUIOp::create(b, loc, tid, index(perRow));
  Value part = arith::RemUIOp::create(b, loc, tid, index(perRow));
  Value firstRow = arith::MulIOp::create(b, loc, block, index(rows));
  Value row = arith::AddIOp::create(b, loc, firstRow, rowInBlock);
  Value active =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, row, queryLen);
  // Rows past the end compute on the last row and store nothing, so that
  // every thread takes part in the shuffles and barriers.
  Value lastRow = arith::SubIOp::create(b, loc, queryLen, index(1));
  Value loadRow = arith::MinUIOp::create(b, loc, row, lastRow);
  // Query i sits at position S - T + i (the last T of the S tokens).
  Value offsetPos = arith::SubIOp::create(b, loc, keyLen, queryLen);
  Value qpos = arith::AddIOp::create(b, loc, offsetPos, row);

  // This thread's columns of its query row, scaled into the log2 domain.
  Value colOffset = arith::MulIOp::create(b, loc, part, index(cols));
  Value qRowIndex = arith::AddIOp::create(
      b, loc, arith::MulIOp::create(b, loc, head, queryLen), loadRow);
  Value qOffset = arith::AddIOp::create(
      b, loc, arith::MulIOp::create(b, loc, qRowIndex, index(d)), colOffset);
  Value qCols = loadF32(q, qOffset, cols);
  qCols = arith::MulFOp::create(
      b, loc, qCols, splat(colType, s.scale * static_cast<float>(M_LOG2E)));

  // Key range of the block: causal masks end at the block's last row (and
  // the window, without sinks, starts at its first row's window).
  Value keyEnd = keyLen;
  Value keyBegin = index(0);
  if (s.mask.isCausal()) {
    Value blockEnd = arith::MinUIOp::create(
        b, loc, arith::AddIOp::create(b, loc, firstRow, index(rows)), queryLen);
    keyEnd = arith::MinUIOp::create(
        b, loc, keyLen, arith::AddIOp::create(b, loc, offsetPos, blockEnd));
    if (s.mask.getWindow() > 0 && s.mask.getSinks() == 0) {
      Value firstPos = arith::AddIOp::create(b, loc, offsetPos, firstRow);
      Value lo = arith::SubIOp::create(b, loc, firstPos,
                                       index(s.mask.getWindow() - 1));
      keyBegin = arith::MaxSIOp::create(b, loc, lo, index(0));
    }
  }

  Value negInf = f32(-std::numeric_limits<float>::infinity());
  Value zero = f32(0.0f);
  auto tileLoop =
      scf::ForOp::create(b, loc, keyBegin, keyEnd, index(bc),
                         ValueRange{negInf, zero, splat(colType, 0.0f)});
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(tileLoop.getBody());
    Value t0 = tileLoop.getInductionVar();
    Value m = tileLoop.getRegionIterArg(0), l = tileLoop.getRegionIterArg(1),
          acc = tileLoop.getRegionIterArg(2);

    // Stage the tile's keys and values: chunks of 8 consecutive elements,
    // spread over the block's threads. Keys past the end are clamped to
    // the last one; the loop below never reads them.
    constexpr int64_t chunk = 8;
    auto chunkLoop =
        scf::ForOp::create(b, loc, tid, index(bc * d / chunk), index(nt));
    {
      OpBuilder::InsertionGuard g(b);
      b.setInsertionPointToStart(chunkLoop.getBody());
      Value c = chunkLoop.getInductionVar();
      Value flat = arith::MulIOp::create(b, loc, c, index(chunk));
      Value key = arith::AddIOp::create(
          b, loc, t0, arith::DivUIOp::create(b, loc, flat, index(d)));
      key = arith::MinUIOp::create(
          b, loc, key, arith::SubIOp::create(b, loc, keyLen, index(1)));
      Value col = arith::RemUIOp::create(b, loc, flat, index(d));
      Value src = arith::AddIOp::create(
          b, loc,
          arith::MulIOp::create(
              b, loc,
              arith::AddIOp::create(
                  b, loc, arith::MulIOp::create(b, loc, kvHead, keyLen), key),
              index(d)),
          col);
      vector::StoreOp::create(b, loc, loadF32(k, src, chunk), kTile,
                              ValueRange{flat}, false, kAlign);
      vector::StoreOp::create(b, loc, loadF32(v, src, chunk), vTile,
                              ValueRange{flat}, false, kAlign);
    }
    gpu::BarrierOp::create(b, loc);

    Value tileLen = arith::MinUIOp::create(
        b, loc, index(bc), arith::SubIOp::create(b, loc, keyEnd, t0));
    auto keyLoop = scf::ForOp::create(b, loc, index(0), tileLen, index(1),
                                      ValueRange{m, l, acc});
    {
      OpBuilder::InsertionGuard g(b);
      b.setInsertionPointToStart(keyLoop.getBody());
      Value j = keyLoop.getInductionVar();
      Value mi = keyLoop.getRegionIterArg(0), li = keyLoop.getRegionIterArg(1),
            ai = keyLoop.getRegionIterArg(2);
      Value at = arith::AddIOp::create(
          b, loc, arith::MulIOp::create(b, loc, j, index(d)), colOffset);
      Value kCols = vector::LoadOp::create(b, loc, colType, kTile,
                                           ValueRange{at}, false, kAlign);
      Value logit = vector::ReductionOp::create(
          b, loc, vector::CombiningKind::ADD,
          arith::MulFOp::create(b, loc, qCols, kCols));
      for (int64_t off = 1; off < perRow; off *= 2) {
        Value other = gpu::ShuffleOp::create(b, loc, logit, off, 32,
                                             gpu::ShuffleMode::XOR)
                          .getShuffleResult();
        logit = arith::AddFOp::create(b, loc, logit, other);
      }
      Value key = arith::AddIOp::create(b, loc, t0, j);
      Value vis = visible(qpos, key);
      Value mNew = arith::SelectOp::create(
          b, loc, vis, arith::MaximumFOp::create(b, loc, mi, logit), mi);
      // A masked key leaves the state as it is (alpha = 1, p = 0), which
      // also keeps (-inf) - (-inf) out of the exponent.
      Value alpha = arith::SelectOp::create(
          b, loc, vis, exp2(arith::SubFOp::create(b, loc, mi, mNew)),
          f32(1.0f));
      Value p = arith::SelectOp::create(
          b, loc, vis, exp2(arith::SubFOp::create(b, loc, logit, mNew)), zero);
      Value lNew = arith::AddFOp::create(
          b, loc, arith::MulFOp::create(b, loc, li, alpha), p);
      Value vCols = vector::LoadOp::create(b, loc, colType, vTile,
                                           ValueRange{at}, false, kAlign);
      Value scaled = arith::MulFOp::create(
          b, loc, ai, vector::BroadcastOp::create(b, loc, colType, alpha));
      Value aNew = vector::FMAOp::create(
          b, loc, vector::BroadcastOp::create(b, loc, colType, p), vCols,
          scaled);
      scf::YieldOp::create(b, loc, ValueRange{mNew, lNew, aNew});
    }
    // Every thread is done with the tile before the next one overwrites it.
    gpu::BarrierOp::create(b, loc);
    scf::YieldOp::create(b, loc, keyLoop.getResults());
  }

  // out = acc / l; a row that saw no key (l = 0) is zeros.
  Value l = tileLoop.getResult(1), acc = tileLoop.getResult(2);
  Value seen =
      arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, l, zero);
  Value inv = arith::SelectOp::create(
      b, loc, seen, arith::DivFOp::create(b, loc, f32(1.0f), l), zero);
  Value out = arith::MulFOp::create(
      b, loc, acc, vector::BroadcastOp::create(b, loc, colType, inv));
  if (!s.element.isF32())
    out = arith::TruncFOp::create(b, loc, VectorType::get({cols}, s.element),
                                  out);
  auto store = scf::IfOp::create(b, loc, active, /*withElseRegion=*/false);
  {
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(store.thenBlock());
    Value oRow = arith::AddIOp::create(
        b, loc, arith::MulIOp::create(b, loc, head, queryLen), row);
    Value oOffset = arith::AddIOp::create(
        b, loc, arith::MulIOp::create(b, loc, oRow, index(d)), colOffset);
    vector::StoreOp::create(b, loc, out, o, ValueRange{oOffset}, false, kAlign);
  }
}

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
  auto type = b.getFunctionType(
      {buffer, buffer, buffer, buffer, indexType, indexType}, {});
  auto workgroup =
      gpu::AddressSpaceAttr::get(ctx, gpu::AddressSpace::Workgroup);
  auto tile = MemRefType::get({shape.keyTile * shape.headDim}, b.getF32Type(),
                              MemRefLayoutAttrInterface{}, workgroup);
  auto func = gpu::GPUFuncOp::create(b, kernels.getLoc(), name, type,
                                     TypeRange{tile, tile});
  func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
  func.setKnownBlockSizeAttr(
      b.getDenseI32ArrayAttr({static_cast<int32_t>(shape.threads), 1, 1}));
  KernelBuilder(func, shape).build();
  return func;
}

/// The host function that launches `kernel`: declared here (private, no
/// body) and defined by convert-tok-gpu-calls after bufferization and buffer
/// deallocation, whose analyses do not know the gpu runtime ops.
func::FuncOp getOrDeclareLauncher(ModuleOp module, gpu::GPUFuncOp kernel,
                                  const KernelShape &shape, AttentionOp op) {
  std::string name = "tok_gpu_" + kernel.getName().str();
  if (auto existing = module.lookupSymbol<func::FuncOp>(name))
    return existing;
  MLIRContext *ctx = module.getContext();
  OpBuilder b(ctx);
  b.setInsertionPointToEnd(module.getBody());
  auto memrefOf = [](Value tensor) {
    auto type = cast<RankedTensorType>(tensor.getType());
    return MemRefType::get(type.getShape(), type.getElementType());
  };
  auto type =
      b.getFunctionType({memrefOf(op.getQuery()), memrefOf(op.getKey()),
                         memrefOf(op.getValue()), memrefOf(op.getOutput())},
                        {});
  auto func = func::FuncOp::create(b, op.getLoc(), name, type);
  func.setPrivate();
  auto kernels = cast<gpu::GPUModuleOp>(kernel->getParentOp());
  func->setAttr(kLauncherKernelAttr,
                SymbolRefAttr::get(kernels.getNameAttr(),
                                   {FlatSymbolRefAttr::get(kernel)}));
  func->setAttr(kLauncherRowsAttr, b.getI64IntegerAttr(shape.rowsPerBlock()));
  return func;
}

/// Replaces `op` by a call of its launcher on the operands' buffers and a
/// fresh output buffer.
void rewriteAttention(AttentionOp op, func::FuncOp launcher) {
  OpBuilder b(op);
  Location loc = op.getLoc();
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
  func::CallOp::create(b, loc, launcher,
                       ValueRange{buffer(op.getQuery()), buffer(op.getKey()),
                                  buffer(op.getValue()), out});
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
      // The K and V tiles (f32) share the 48 KiB of static shared memory:
      // wide heads get shorter tiles.
      shape.keyTile =
          std::min<int64_t>(keyTile, kSharedBytes / (8 * shape.headDim));
      shape.threads = threads;
      gpu::GPUFuncOp kernel = getOrBuildKernel(kernels, shape);
      rewriteAttention(op, getOrDeclareLauncher(module, kernel, shape, op));
    }
  }
};

} // namespace
