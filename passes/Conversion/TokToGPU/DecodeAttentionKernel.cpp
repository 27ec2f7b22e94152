//===- DecodeAttentionKernel.cpp - split-KV attention for one query -------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// Decode (T = 1) is memory-bound and has too little work per KV head to
// fill the GPU with one block per head: flash-decoding splits the keys.
//
//  - The partial kernel: grid (splits, Hk), 4 warps. A block takes a chunk
//    of the keys of one KV head and all G = Hq / Hk query heads that share
//    it. Lanes split the head dimension (D / 32 columns each, so that a
//    warp reads a K or V row in one coalesced access); a warp takes every
//    4th group of 4 keys (loads first, then arithmetic), reduces the dot
//    products across lanes with shuffles and runs an online softmax per
//    query head. The warps' states meet in shared memory, and the block
//    writes, per query head, the unnormalized output row, the max (log2
//    domain) and the sum to a workspace.
//  - The combine kernel: grid (Hq), D threads: merges the splits' partial
//    results with their maxima (docs/algorithms.md, "Merging partial
//    attentions") and stores the normalized row.
//
// Workspace layout (f32): output rows [split][Hq][D], then maxima
// [split][Hq], then sums [split][Hq].
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

/// Keys a warp loads before it computes on them.
constexpr int64_t kUnroll = 4;
constexpr int64_t kWarps = 4;

class DecodeBuilder : KernelEmitter {
public:
  DecodeBuilder(gpu::GPUFuncOp func, const KernelShape &shape)
      : KernelEmitter(func, shape), f32(b.getF32Type()) {}

  void buildPartial();
  void buildCombine();

private:
  Value minu(Value x, Value y) { return arith::MinUIOp::create(b, loc, x, y); }
  /// `n` elements at `offset` of a global buffer, widened to f32 scalars.
  SmallVector<Value> loadRow(Value memref, Value offset, int64_t n) {
    Value v = vector::LoadOp::create(
        b, loc, VectorType::get({n}, s.element), memref, ValueRange{offset},
        false, llvm::Align(n * s.element.getIntOrFloatBitWidth() / 8));
    if (!s.element.isF32())
      v = arith::ExtFOp::create(b, loc, VectorType::get({n}, f32), v);
    SmallVector<Value> out;
    for (int64_t i = 0; i < n; ++i)
      out.push_back(vector::ExtractOp::create(b, loc, v, i));
    return out;
  }
  Value warpSum(Value v) { return buildXorReduce(b, loc, v, 32, false); }

  Type f32;
};

void DecodeBuilder::buildPartial() {
  const int64_t d = s.headDim, cols = d / 32, group = s.queryHeads / s.keyHeads,
                hq = s.queryHeads;
  Block &entry = func.getBody().front();
  b.setInsertionPointToStart(&entry);
  Value q = entry.getArgument(0), k = entry.getArgument(1),
        v = entry.getArgument(2), ws = entry.getArgument(3);
  Value keyLen = entry.getArgument(4), chunk = entry.getArgument(5);
  Value splits = gpu::GridDimOp::create(b, loc, gpu::Dimension::x);
  Value mState = func.getWorkgroupAttributions()[0];
  Value lState = func.getWorkgroupAttributions()[1];
  Value oState = func.getWorkgroupAttributions()[2];

  Value tid = gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x);
  Value split = gpu::BlockIdOp::create(b, loc, gpu::Dimension::x);
  Value kvHead = gpu::BlockIdOp::create(b, loc, gpu::Dimension::y);
  Value warp = arith::DivUIOp::create(b, loc, tid, index(32));
  Value lane = arith::RemUIOp::create(b, loc, tid, index(32));
  Value col0 = mulc(lane, cols);
  Value begin = mul(split, chunk);
  Value end = minu(add(begin, chunk), keyLen);
  // The single query sits at position S - 1.
  Value qpos = arith::SubIOp::create(b, loc, keyLen, index(1));

  // The G query rows of this KV head, scaled into the log2 domain.
  Value scale = f32c(s.scale * static_cast<float>(M_LOG2E));
  SmallVector<SmallVector<Value>> qr(group);
  for (int64_t r = 0; r < group; ++r) {
    Value head = add(mulc(kvHead, group), index(r));
    qr[r] = loadRow(q, add(mulc(head, d), col0), cols);
    for (Value &x : qr[r])
      x = arith::MulFOp::create(b, loc, x, scale);
  }

  const float negInf = -std::numeric_limits<float>::infinity();
  SmallVector<Value> init;
  for (int64_t r = 0; r < group; ++r)
    init.push_back(f32c(negInf));
  for (int64_t r = 0; r < group; ++r)
    init.push_back(f32c(0));
  for (int64_t i = 0; i < group * cols; ++i)
    init.push_back(f32c(0));
  Value kvBase = mul(kvHead, keyLen);
  Value lastKey = arith::SubIOp::create(b, loc, end, index(1));
  auto loop = scf::ForOp::create(b, loc, add(begin, mulc(warp, kUnroll)), end,
                                 index(kUnroll * kWarps), init);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(loop.getBody());
    Value first = loop.getInductionVar();
    auto iter = loop.getRegionIterArgs();
    SmallVector<Value> m(iter.begin(), iter.begin() + group);
    SmallVector<Value> l(iter.begin() + group, iter.begin() + 2 * group);
    SmallVector<Value> acc(iter.begin() + 2 * group, iter.end());
    // Loads of all the keys first, then the arithmetic.
    SmallVector<SmallVector<Value>> kRows, vRows;
    SmallVector<Value> keys;
    for (int64_t u = 0; u < kUnroll; ++u) {
      Value key = addc(first, u);
      keys.push_back(key);
      Value at = add(mulc(add(kvBase, minu(key, lastKey)), d), col0);
      kRows.push_back(loadRow(k, at, cols));
      vRows.push_back(loadRow(v, at, cols));
    }
    for (int64_t u = 0; u < kUnroll; ++u) {
      Value inRange = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult,
                                            keys[u], end);
      Value vis =
          arith::AndIOp::create(b, loc, inRange, visible(qpos, keys[u]));
      for (int64_t r = 0; r < group; ++r) {
        Value dot = arith::MulFOp::create(b, loc, qr[r][0], kRows[u][0]);
        for (int64_t c = 1; c < cols; ++c)
          dot = arith::AddFOp::create(
              b, loc, dot,
              arith::MulFOp::create(b, loc, qr[r][c], kRows[u][c]));
        Value logit = warpSum(dot);
        Value mNew = arith::SelectOp::create(
            b, loc, vis, arith::MaximumFOp::create(b, loc, m[r], logit), m[r]);
        // A masked key leaves the state as it is (alpha = 1, p = 0).
        Value alpha = arith::SelectOp::create(
            b, loc, vis,
            buildExp2(b, loc, arith::SubFOp::create(b, loc, m[r], mNew)),
            f32c(1));
        Value p = arith::SelectOp::create(
            b, loc, vis,
            buildExp2(b, loc, arith::SubFOp::create(b, loc, logit, mNew)),
            f32c(0));
        l[r] = arith::AddFOp::create(
            b, loc, arith::MulFOp::create(b, loc, l[r], alpha), p);
        for (int64_t c = 0; c < cols; ++c) {
          Value &a = acc[r * cols + c];
          a = arith::AddFOp::create(
              b, loc, arith::MulFOp::create(b, loc, a, alpha),
              arith::MulFOp::create(b, loc, p, vRows[u][c]));
        }
        m[r] = mNew;
      }
    }
    SmallVector<Value> next(m);
    next.append(l);
    next.append(acc);
    scf::YieldOp::create(b, loc, next);
  }

  // The warps' states meet in shared memory: [warp][row] maxima and sums,
  // [warp][row][D] outputs.
  auto results = loop.getResults();
  auto isLane0 = scf::IfOp::create(
      b, loc,
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, lane, index(0)),
      false);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(isLane0.thenBlock());
    for (int64_t r = 0; r < group; ++r) {
      Value at = addc(mulc(warp, group), r);
      memref::StoreOp::create(b, loc, results[r], mState, ValueRange{at});
      memref::StoreOp::create(b, loc, results[group + r], lState,
                              ValueRange{at});
    }
  }
  for (int64_t r = 0; r < group; ++r)
    for (int64_t c = 0; c < cols; ++c)
      memref::StoreOp::create(
          b, loc, results[2 * group + r * cols + c], oState,
          ValueRange{add(mulc(addc(mulc(warp, group), r), d), addc(col0, c))});
  gpu::BarrierOp::create(b, loc);

  // Merge the warps: thread x covers (row, column) pairs x, x + 128, ...
  auto merge =
      scf::ForOp::create(b, loc, tid, index(group * d), index(32 * kWarps));
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(merge.getBody());
    Value x = merge.getInductionVar();
    Value r = arith::DivUIOp::create(b, loc, x, index(d));
    Value c = arith::RemUIOp::create(b, loc, x, index(d));
    SmallVector<Value> ms;
    Value mx = f32c(negInf);
    for (int64_t w = 0; w < kWarps; ++w) {
      ms.push_back(memref::LoadOp::create(b, loc, mState,
                                          ValueRange{addc(r, w * group)}));
      mx = arith::MaximumFOp::create(b, loc, mx, ms.back());
    }
    Value none = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, mx,
                                       f32c(negInf));
    Value base = arith::SelectOp::create(b, loc, none, f32c(0), mx);
    Value sum = f32c(0), out = f32c(0);
    for (int64_t w = 0; w < kWarps; ++w) {
      Value wgt = buildExp2(b, loc, arith::SubFOp::create(b, loc, ms[w], base));
      Value lw = memref::LoadOp::create(b, loc, lState,
                                        ValueRange{addc(r, w * group)});
      Value ow = memref::LoadOp::create(
          b, loc, oState, ValueRange{add(mulc(addc(r, w * group), d), c)});
      sum = arith::AddFOp::create(b, loc, sum,
                                  arith::MulFOp::create(b, loc, wgt, lw));
      out = arith::AddFOp::create(b, loc, out,
                                  arith::MulFOp::create(b, loc, wgt, ow));
    }
    Value head = add(mulc(kvHead, group), r);
    Value slot = add(mulc(split, hq), head);
    memref::StoreOp::create(b, loc, out, ws, ValueRange{add(mulc(slot, d), c)});
    auto isFirstColumn = scf::IfOp::create(
        b, loc,
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, c, index(0)),
        false);
    b.setInsertionPointToStart(isFirstColumn.thenBlock());
    Value statsBase = mulc(mul(splits, index(hq)), d);
    memref::StoreOp::create(b, loc, mx, ws, ValueRange{add(statsBase, slot)});
    memref::StoreOp::create(
        b, loc, sum, ws,
        ValueRange{add(add(statsBase, mulc(splits, hq)), slot)});
  }
  gpu::ReturnOp::create(b, loc);
}

void DecodeBuilder::buildCombine() {
  const int64_t d = s.headDim, hq = s.queryHeads;
  Block &entry = func.getBody().front();
  b.setInsertionPointToStart(&entry);
  Value ws = entry.getArgument(0), o = entry.getArgument(1);
  Value splits = entry.getArgument(2);
  Value head = gpu::BlockIdOp::create(b, loc, gpu::Dimension::x);
  Value c = gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x);
  Value statsBase = mulc(mulc(splits, hq), d);
  Value sumBase = add(statsBase, mulc(splits, hq));
  const float negInf = -std::numeric_limits<float>::infinity();

  auto maxLoop = scf::ForOp::create(b, loc, index(0), splits, index(1),
                                    ValueRange{f32c(negInf)});
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(maxLoop.getBody());
    Value slot = add(mulc(maxLoop.getInductionVar(), hq), head);
    Value m =
        memref::LoadOp::create(b, loc, ws, ValueRange{add(statsBase, slot)});
    scf::YieldOp::create(b, loc,
                         ValueRange{arith::MaximumFOp::create(
                             b, loc, maxLoop.getRegionIterArg(0), m)});
  }
  Value mx = maxLoop.getResult(0);
  Value none = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, mx,
                                     f32c(negInf));
  Value base = arith::SelectOp::create(b, loc, none, f32c(0), mx);
  auto sumLoop = scf::ForOp::create(b, loc, index(0), splits, index(1),
                                    ValueRange{f32c(0), f32c(0)});
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(sumLoop.getBody());
    Value slot = add(mulc(sumLoop.getInductionVar(), hq), head);
    Value m =
        memref::LoadOp::create(b, loc, ws, ValueRange{add(statsBase, slot)});
    Value l =
        memref::LoadOp::create(b, loc, ws, ValueRange{add(sumBase, slot)});
    Value part =
        memref::LoadOp::create(b, loc, ws, ValueRange{add(mulc(slot, d), c)});
    Value wgt = buildExp2(b, loc, arith::SubFOp::create(b, loc, m, base));
    scf::YieldOp::create(
        b, loc,
        ValueRange{
            arith::AddFOp::create(b, loc, sumLoop.getRegionIterArg(0),
                                  arith::MulFOp::create(b, loc, wgt, l)),
            arith::AddFOp::create(b, loc, sumLoop.getRegionIterArg(1),
                                  arith::MulFOp::create(b, loc, wgt, part))});
  }
  Value l = sumLoop.getResult(0), out = sumLoop.getResult(1);
  Value seen =
      arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, l, f32c(0));
  Value value = arith::SelectOp::create(
      b, loc, seen, arith::DivFOp::create(b, loc, out, l), f32c(0));
  if (!s.element.isF32())
    value = arith::TruncFOp::create(b, loc, s.element, value);
  memref::StoreOp::create(b, loc, value, o, ValueRange{add(mulc(head, d), c)});
  gpu::ReturnOp::create(b, loc);
}

} // namespace

bool mlir::tok::decodeKernelApplies(const KernelShape &shape) {
  int64_t group = shape.queryHeads / shape.keyHeads;
  // D / 32 columns a lane, loaded as one vector: a power of two.
  int64_t d = shape.headDim;
  return (d == 32 || d == 64 || d == 128 || d == 256) && group * d <= 2048;
}

void mlir::tok::buildDecodePartialKernel(gpu::GPUFuncOp func,
                                         const KernelShape &shape) {
  DecodeBuilder(func, shape).buildPartial();
}

void mlir::tok::buildDecodeCombineKernel(gpu::GPUFuncOp func,
                                         const KernelShape &shape) {
  DecodeBuilder(func, shape).buildCombine();
}
