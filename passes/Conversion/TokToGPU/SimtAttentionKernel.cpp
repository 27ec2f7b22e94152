//===- SimtAttentionKernel.cpp - attention on CUDA cores ------------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// FlashAttention-2's online softmax in f32 SIMT form: a block of `threads`
// threads owns threads / R query rows of one query head, R = max(1, D / 64)
// threads per row (each holds D / R columns of the query row and of the
// output in registers; the dot products are combined with gpu.shuffle xor).
// Key and value tiles are staged through shared memory as f32, one key at a
// time updates the running max, sum and output. Masks are selects, so a row
// with no visible key yields zeros.
//
//===----------------------------------------------------------------------===//

#include "AttentionKernels.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/Builders.h"

#include <cmath>
#include <limits>

using namespace mlir;
using namespace mlir::tok;

namespace {

/// Builds the kernel body of `shape` into `func`.
class KernelBuilder : KernelEmitter {
public:
  KernelBuilder(gpu::GPUFuncOp func, const KernelShape &shape)
      : KernelEmitter(func, shape) {}

  void build();

private:
  Value splat(VectorType t, float v) {
    return arith::ConstantOp::create(
        b, loc, DenseElementsAttr::get(t, b.getF32FloatAttr(v)));
  }
  Value exp2(Value x) { return buildExp2(b, loc, x); }
  /// Loads `n` elements of the element type at `offset` of `memref` as f32.
  Value loadF32(Value memref, Value offset, int64_t n) {
    auto wide = VectorType::get({n}, s.element);
    Value v = vector::LoadOp::create(b, loc, wide, memref, ValueRange{offset},
                                     /*nontemporal=*/false, kAlign16);
    if (!s.element.isF32())
      v = arith::ExtFOp::create(b, loc, VectorType::get({n}, b.getF32Type()),
                                v);
    return v;
  }
};

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

  guardNonEmptyQueries(queryLen);

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

  Value negInf = f32c(-std::numeric_limits<float>::infinity());
  Value zero = f32c(0.0f);
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
                              ValueRange{flat}, false, kAlign16);
      vector::StoreOp::create(b, loc, loadF32(v, src, chunk), vTile,
                              ValueRange{flat}, false, kAlign16);
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
                                           ValueRange{at}, false, kAlign16);
      Value logit = vector::ReductionOp::create(
          b, loc, vector::CombiningKind::ADD,
          arith::MulFOp::create(b, loc, qCols, kCols));
      logit = buildXorReduce(b, loc, logit, perRow, /*max=*/false);
      Value key = arith::AddIOp::create(b, loc, t0, j);
      if (s.keySizes)
        logit = arith::AddFOp::create(
            b, loc, logit,
            memref::LoadOp::create(b, loc, entry.getArgument(6),
                                   ValueRange{key}));
      Value vis = visible(qpos, key);
      Value mNew = arith::SelectOp::create(
          b, loc, vis, arith::MaximumFOp::create(b, loc, mi, logit), mi);
      // A masked key leaves the state as it is (alpha = 1, p = 0), which
      // also keeps (-inf) - (-inf) out of the exponent.
      Value alpha = arith::SelectOp::create(
          b, loc, vis, exp2(arith::SubFOp::create(b, loc, mi, mNew)),
          f32c(1.0f));
      Value p = arith::SelectOp::create(
          b, loc, vis, exp2(arith::SubFOp::create(b, loc, logit, mNew)), zero);
      Value lNew = arith::AddFOp::create(
          b, loc, arith::MulFOp::create(b, loc, li, alpha), p);
      Value vCols = vector::LoadOp::create(b, loc, colType, vTile,
                                           ValueRange{at}, false, kAlign16);
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
      b, loc, seen, arith::DivFOp::create(b, loc, f32c(1.0f), l), zero);
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
    vector::StoreOp::create(b, loc, out, o, ValueRange{oOffset}, false,
                            kAlign16);
  }
}

} // namespace

void mlir::tok::buildSimtAttentionKernel(gpu::GPUFuncOp func,
                                         const KernelShape &shape) {
  KernelBuilder(func, shape).build();
}
