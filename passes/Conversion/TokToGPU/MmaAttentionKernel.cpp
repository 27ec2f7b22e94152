//===- MmaAttentionKernel.cpp - attention on tensor cores -----------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// FlashAttention-2 with mma.sync (m16n8k16, f16 / bf16 operands, f32
// accumulation), written as fragments (docs/algorithms.md, "Tensor-core
// fragments": the vector-to-MMA route cannot put a softmax between two
// contractions).
//
// Each warp owns 16 x rowTiles query rows; with g = lane / 4 and t =
// lane % 4 a thread holds rows g and g + 8 of every 16-row tile:
//
//  - Shared memory (dynamic): the block's Q rows, and two buffers each of
//    the 64-key K and V tiles, all row-major with rows padded to D + 8
//    elements (the eight 16-byte rows an ldmatrix phase reads fall in
//    distinct banks). Tiles arrive by cp.async: tile i + 1's copies are
//    issued into the other buffer before tile i is computed.
//  - Q (A operand of S = Q K^T) and K (B operand) fragments by ldmatrix.x4,
//    two key blocks of K at a time, each K fragment shared by the row
//    tiles.
//  - S: 8 accumulators of 4 f32 per row tile (keys 8j + 2t, +1 of both
//    rows), exponentiated as exp2(fma(s, scale * log2(e), -max * scale *
//    log2(e))); masked (causal, or past S) with selects only in tiles that
//    need it; the online softmax reduces the row max over the quad (shuffle
//    xor 1, 2) and keeps a per-thread partial row sum, reduced once at the
//    end.
//  - P (A operand of P V): the S accumulators of key blocks 2kk and 2kk + 1,
//    rounded to pairs: registers only, no shared memory.
//  - V (B operand of P V) by ldmatrix.x4.trans, two D blocks at a time.
//  - O: D / 8 accumulators of 4 f32 per row tile, rescaled by the change of
//    the row max.
//
//===----------------------------------------------------------------------===//

#include "AttentionKernels.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/Builders.h"

#include <array>
#include <cmath>
#include <limits>

using namespace mlir;
using namespace mlir::tok;

namespace {

using Frag = std::array<Value, 4>;

class MmaBuilder : KernelEmitter {
public:
  MmaBuilder(gpu::GPUFuncOp func, const KernelShape &shape)
      : KernelEmitter(func, shape), i32(b.getI32Type()), f32(b.getF32Type()) {}

  void build();

private:
  /// The pair of elements at `offset` (even) of a global buffer, as i32.
  Value loadPair(Value memref, Value offset) {
    Value v = vector::LoadOp::create(b, loc, VectorType::get({2}, s.element),
                                     memref, ValueRange{offset},
                                     /*nontemporal=*/false, llvm::Align(4));
    return LLVM::BitcastOp::create(b, loc, i32, v);
  }
  /// Two f32 rounded to a pair of elements.
  Value narrowPair(Value lo, Value hi) {
    Value v = vector::FromElementsOp::create(b, loc, VectorType::get({2}, f32),
                                             ValueRange{lo, hi});
    return arith::TruncFOp::create(b, loc, VectorType::get({2}, s.element), v);
  }
  Value packPair(Value lo, Value hi) {
    return LLVM::BitcastOp::create(b, loc, i32, narrowPair(lo, hi));
  }
  /// d = a b + c on one m16n8k16 fragment.
  Frag mma(ArrayRef<Value> a, ArrayRef<Value> bb, const Frag &c);
  /// max / sum over the four threads of a quad.
  Value quadMax(Value v) { return buildXorReduce(b, loc, v, 4, true); }
  Value quadSum(Value v) { return buildXorReduce(b, loc, v, 4, false); }

  Type i32, f32;
};

Frag MmaBuilder::mma(ArrayRef<Value> a, ArrayRef<Value> bb, const Frag &c) {
  bool half = s.element.isF16();
  auto operand = [&](Value v) -> Value {
    // f16 operands are f16x2 vectors, bf16 ones i32 (NVVM's table).
    if (!half)
      return v;
    return LLVM::BitcastOp::create(b, loc, VectorType::get({2}, s.element), v);
  };
  SmallVector<Value> as, bs;
  for (Value v : a)
    as.push_back(operand(v));
  for (Value v : bb)
    bs.push_back(operand(v));
  NVVM::MMATypes type = half ? NVVM::MMATypes::f16 : NVVM::MMATypes::bf16;
  Type result =
      LLVM::LLVMStructType::getLiteral(b.getContext(), {f32, f32, f32, f32});
  auto op = NVVM::MmaOp::create(
      b, loc, result, as, bs, ValueRange(ArrayRef<Value>(c)), {16, 8, 16},
      std::nullopt, std::nullopt, std::array<NVVM::MMATypes, 2>{type, type},
      std::array<NVVM::MMALayout, 2>{NVVM::MMALayout::row,
                                     NVVM::MMALayout::col});
  Frag d;
  for (int64_t i = 0; i < 4; ++i)
    d[i] = LLVM::ExtractValueOp::create(b, loc, op.getRes(), i);
  return d;
}

void MmaBuilder::build() {
  const int64_t d = s.headDim, bc = kMmaKeyTile, mt = s.rowTiles,
                rows = s.rowsPerBlock(), nt = s.threads;
  const int64_t kSteps = d / 16, keyBlocks = bc / 8, dBlocks = d / 8;
  const int64_t rowElems = d + 8;
  // Rows of the fragments a thread holds: 2 per 16-row tile (g, g + 8).
  const int64_t nRows = 2 * mt;
  Block &entry = func.getBody().front();
  b.setInsertionPointToStart(&entry);
  Value q = entry.getArgument(0), k = entry.getArgument(1),
        v = entry.getArgument(2), o = entry.getArgument(3);
  Value queryLen = entry.getArgument(4), keyLen = entry.getArgument(5);

  // Shared memory (dynamic: over the 48 KiB static limit), rows padded to
  // D + 8 elements so that the eight 16-byte rows of an ldmatrix phase fall
  // in distinct banks: the block's Q rows, then two buffers each of the K
  // and V tiles (row-major; P V's B fragments come from ldmatrix.trans).
  auto workgroup =
      gpu::AddressSpaceAttr::get(b.getContext(), gpu::AddressSpace::Workgroup);
  Value smem = gpu::DynamicSharedMemoryOp::create(
      b, loc,
      MemRefType::get({ShapedType::kDynamic}, b.getI8Type(),
                      MemRefLayoutAttrInterface{}, workgroup));
  int64_t offset = 0;
  auto view = [&](ArrayRef<int64_t> shape) -> Value {
    auto type = MemRefType::get(shape, s.element, MemRefLayoutAttrInterface{},
                                workgroup);
    Value at = index(offset);
    int64_t bytes = s.element.getIntOrFloatBitWidth() / 8;
    for (int64_t n : shape)
      bytes *= n;
    offset += bytes;
    return memref::ViewOp::create(b, loc, type, smem, at, ValueRange{});
  };
  Value qTile = view({rows, rowElems});
  Value kTiles = view({2, bc, rowElems});
  Value vTiles = view({2, bc, rowElems});

  guardNonEmptyQueries(queryLen);

  bool causal = s.mask.isCausal();
  Value tid = gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x);
  Value block = gpu::BlockIdOp::create(b, loc, gpu::Dimension::x);
  if (causal) {
    // The last query blocks see the most keys: start them first.
    Value blocks = gpu::GridDimOp::create(b, loc, gpu::Dimension::x);
    block = arith::SubIOp::create(
        b, loc, arith::SubIOp::create(b, loc, blocks, index(1)), block);
  }
  Value head = gpu::BlockIdOp::create(b, loc, gpu::Dimension::y);
  Value kvHead =
      arith::DivUIOp::create(b, loc, head, index(s.queryHeads / s.keyHeads));
  Value warp = arith::DivUIOp::create(b, loc, tid, index(32));
  Value lane = arith::RemUIOp::create(b, loc, tid, index(32));
  Value g = arith::DivUIOp::create(b, loc, lane, index(4));
  Value t = arith::RemUIOp::create(b, loc, lane, index(4));
  Value twoT = mulc(t, 2);
  // ldmatrix lane roles: the row within an 8-row matrix, and which of the
  // four matrices the lane addresses.
  Value lane8 = arith::RemUIOp::create(b, loc, lane, index(8));
  Value quarter = arith::DivUIOp::create(b, loc, lane, index(8));
  Value half = arith::DivUIOp::create(b, loc, lane, index(16));
  Value odd8 = arith::RemUIOp::create(b, loc, quarter, index(2));
  Value lane16 = arith::RemUIOp::create(b, loc, lane, index(16));

  Value firstRow = mulc(block, rows);
  Value warpRow0 = mulc(warp, 16 * mt);
  SmallVector<Value> row(nRows), qpos(nRows);
  Value offsetPos = arith::SubIOp::create(b, loc, keyLen, queryLen);
  for (int64_t r = 0; r < nRows; ++r) {
    row[r] = add(firstRow, addc(add(warpRow0, g), 16 * (r / 2) + 8 * (r % 2)));
    qpos[r] = add(offsetPos, row[r]);
  }
  Value lastRow = arith::SubIOp::create(b, loc, queryLen, index(1));
  Value lastKey = arith::SubIOp::create(b, loc, keyLen, index(1));
  Value rowBase = mul(head, queryLen);
  Value kvBase = mul(kvHead, keyLen);

  // Q rows, once (rows past T repeat the last one).
  {
    auto chunks =
        scf::ForOp::create(b, loc, tid, index(rows * d / 8), index(nt));
    OpBuilder::InsertionGuard g2(b);
    b.setInsertionPointToStart(chunks.getBody());
    Value c = chunks.getInductionVar();
    Value r = arith::DivUIOp::create(b, loc, c, index(d / 8));
    Value col = mulc(arith::RemUIOp::create(b, loc, c, index(d / 8)), 8);
    Value src = arith::MinUIOp::create(b, loc, add(firstRow, r), lastRow);
    nvgpu::DeviceAsyncCopyOp::create(
        b, loc, nvgpu::DeviceAsyncTokenType::get(b.getContext()), qTile,
        ValueRange{r, col}, q, ValueRange{add(mulc(add(rowBase, src), d), col)},
        b.getIndexAttr(8), Value(), b.getUnitAttr());
  }

  // Copies of the K and V tile at key `t0` into buffer `buf` (keys past S
  // repeat the last one; the masks hide them), as one cp.async group.
  auto stageTile = [&](Value t0, Value buf) {
    auto chunks = scf::ForOp::create(b, loc, tid, index(bc * d / 8), index(nt));
    {
      OpBuilder::InsertionGuard g2(b);
      b.setInsertionPointToStart(chunks.getBody());
      Value c = chunks.getInductionVar();
      Value keyInTile = arith::DivUIOp::create(b, loc, c, index(d / 8));
      Value col = mulc(arith::RemUIOp::create(b, loc, c, index(d / 8)), 8);
      Value key = arith::MinUIOp::create(b, loc, add(t0, keyInTile), lastKey);
      Value src = add(mulc(add(kvBase, key), d), col);
      Type token = nvgpu::DeviceAsyncTokenType::get(b.getContext());
      nvgpu::DeviceAsyncCopyOp::create(
          b, loc, token, kTiles, ValueRange{buf, keyInTile, col}, k,
          ValueRange{src}, b.getIndexAttr(8), Value(), b.getUnitAttr());
      nvgpu::DeviceAsyncCopyOp::create(
          b, loc, token, vTiles, ValueRange{buf, keyInTile, col}, v,
          ValueRange{src}, b.getIndexAttr(8), Value(), b.getUnitAttr());
    }
    NVVM::CpAsyncCommitGroupOp::create(b, loc);
  };
  // The first group holds the Q rows and the first tile (none without
  // keys: the clamp to the last key needs one).
  {
    auto any = scf::IfOp::create(
        b, loc,
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ugt, keyLen,
                              index(0)),
        /*withElseRegion=*/true);
    OpBuilder::InsertionGuard g2(b);
    b.setInsertionPointToStart(any.thenBlock());
    stageTile(index(0), index(0));
    b.setInsertionPointToStart(any.elseBlock());
    NVVM::CpAsyncCommitGroupOp::create(b, loc);
  }

  Value keyEnd = keyLen;
  if (causal) {
    Value blockEnd =
        arith::MinUIOp::create(b, loc, addc(firstRow, rows), queryLen);
    keyEnd = arith::MinUIOp::create(b, loc, keyLen, add(offsetPos, blockEnd));
  }
  Value firstPos = add(offsetPos, firstRow);

  /// Four 8x8 matrices of 16-bit elements as four i32 registers.
  auto ldmatrix = [&](Value tile, ValueRange at, bool transpose) {
    Value frag = nvgpu::LdMatrixOp::create(
        b, loc, VectorType::get({4, 2}, s.element), tile, at,
        b.getBoolAttr(transpose), b.getI32IntegerAttr(4));
    SmallVector<Value> regs;
    for (int64_t i = 0; i < 4; ++i)
      regs.push_back(LLVM::BitcastOp::create(
          b, loc, i32, vector::ExtractOp::create(b, loc, frag, i)));
    return regs;
  };

  const float negInf = -std::numeric_limits<float>::infinity();
  // Loop state: the running max and partial sum of each row, then the O
  // accumulators (tile-major, then D block).
  SmallVector<Value> init;
  for (int64_t r = 0; r < nRows; ++r)
    init.push_back(f32c(negInf));
  for (int64_t r = 0; r < nRows; ++r)
    init.push_back(f32c(0));
  for (int64_t i = 0; i < mt * dBlocks * 4; ++i)
    init.push_back(init[nRows]);
  auto tileLoop = scf::ForOp::create(b, loc, index(0), keyEnd, index(bc), init);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(tileLoop.getBody());
    Value t0 = tileLoop.getInductionVar();
    auto iter = tileLoop.getRegionIterArgs();
    SmallVector<Value> m(iter.begin(), iter.begin() + nRows);
    SmallVector<Value> l(iter.begin() + nRows, iter.begin() + 2 * nRows);
    // acc[tile][dBlock]
    SmallVector<SmallVector<Frag>> acc(mt, SmallVector<Frag>(dBlocks));
    for (int64_t x = 0; x < mt; ++x)
      for (int64_t n = 0; n < dBlocks; ++n)
        for (int64_t i = 0; i < 4; ++i)
          acc[x][n][i] = iter[2 * nRows + (x * dBlocks + n) * 4 + i];
    Value buf = arith::RemUIOp::create(
        b, loc, arith::DivUIOp::create(b, loc, t0, index(bc)), index(2));

    // Start the next tile's copies into the other buffer (an empty group
    // past the end), then wait for this tile's.
    Value next = addc(t0, bc);
    auto more = scf::IfOp::create(
        b, loc,
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, next, keyEnd),
        /*withElseRegion=*/true);
    {
      OpBuilder::InsertionGuard g2(b);
      b.setInsertionPointToStart(more.thenBlock());
      stageTile(next, arith::SubIOp::create(b, loc, index(1), buf));
      b.setInsertionPointToStart(more.elseBlock());
      NVVM::CpAsyncCommitGroupOp::create(b, loc);
    }
    NVVM::CpAsyncWaitGroupOp::create(b, loc, b.getI32IntegerAttr(1));
    gpu::BarrierOp::create(b, loc);

    // S = Q K^T: per k-step, the Q fragments of each row tile, then the K
    // fragments of two key blocks at a time, each used by every row tile.
    SmallVector<SmallVector<Frag>> sc(mt, SmallVector<Frag>(keyBlocks));
    for (int64_t x = 0; x < mt; ++x)
      for (int64_t j = 0; j < keyBlocks; ++j)
        sc[x][j] = {f32c(0), f32c(0), f32c(0), f32c(0)};
    for (int64_t kk = 0; kk < kSteps; ++kk) {
      SmallVector<SmallVector<Value>> qa(mt);
      for (int64_t x = 0; x < mt; ++x)
        qa[x] = ldmatrix(qTile,
                         ValueRange{add(addc(warpRow0, 16 * x), lane16),
                                    addc(mulc(half, 8), kk * 16)},
                         /*transpose=*/false);
      for (int64_t j = 0; j < keyBlocks; j += 2) {
        SmallVector<Value> kb =
            ldmatrix(kTiles,
                     ValueRange{buf, add(addc(lane8, j * 8), mulc(half, 8)),
                                addc(mulc(odd8, 8), kk * 16)},
                     /*transpose=*/false);
        for (int64_t x = 0; x < mt; ++x) {
          sc[x][j] = mma(qa[x], {kb[0], kb[1]}, sc[x][j]);
          sc[x][j + 1] = mma(qa[x], {kb[2], kb[3]}, sc[x][j + 1]);
        }
      }
    }
    // The logits stay unscaled (scale > 0 keeps the max); the softmax
    // exponentiates fma(s, scale * log2(e), -max * scale * log2(e)).
    Value scale = f32c(s.scale * static_cast<float>(M_LOG2E));

    // Masks, only in tiles that reach past S or (causal) past the block's
    // first row.
    Value needMask = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ugt,
                                           addc(t0, bc), keyLen);
    if (causal)
      needMask = arith::OrIOp::create(
          b, loc, needMask,
          arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ugt,
                                addc(t0, bc - 1), firstPos));
    SmallVector<Type> scoreTypes(mt * keyBlocks * 4, f32);
    auto masked = scf::IfOp::create(b, loc, scoreTypes, needMask,
                                    /*withElseRegion=*/true);
    {
      OpBuilder::InsertionGuard g2(b);
      b.setInsertionPointToStart(masked.thenBlock());
      SmallVector<Value> out;
      Value minusInf = f32c(negInf);
      for (int64_t x = 0; x < mt; ++x)
        for (int64_t j = 0; j < keyBlocks; ++j)
          for (int64_t i = 0; i < 4; ++i) {
            Value key = add(t0, addc(twoT, j * 8 + (i & 1)));
            Value vis = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult,
                                              key, keyLen);
            if (causal)
              vis = arith::AndIOp::create(
                  b, loc, vis,
                  arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ule, key,
                                        qpos[2 * x + i / 2]));
            out.push_back(
                arith::SelectOp::create(b, loc, vis, sc[x][j][i], minusInf));
          }
      scf::YieldOp::create(b, loc, out);
      b.setInsertionPointToStart(masked.elseBlock());
      SmallVector<Value> same;
      for (int64_t x = 0; x < mt; ++x)
        for (int64_t j = 0; j < keyBlocks; ++j)
          same.append(sc[x][j].begin(), sc[x][j].end());
      scf::YieldOp::create(b, loc, same);
    }
    for (int64_t x = 0; x < mt; ++x)
      for (int64_t j = 0; j < keyBlocks; ++j)
        for (int64_t i = 0; i < 4; ++i)
          sc[x][j][i] = masked.getResult((x * keyBlocks + j) * 4 + i);

    // Online softmax of each row: elements 0, 1 (row g) and 2, 3 (g + 8)
    // of its tile's fragments.
    SmallVector<Value> mNew(nRows), lNew(nRows), alpha(nRows);
    for (int64_t r = 0; r < nRows; ++r) {
      int64_t x = r / 2, first = 2 * (r % 2);
      Value mx = sc[x][0][first];
      for (int64_t j = 0; j < keyBlocks; ++j)
        for (int64_t i = first; i < first + 2; ++i)
          if (j || i != first)
            mx = arith::MaximumFOp::create(b, loc, mx, sc[x][j][i]);
      mNew[r] = arith::MaximumFOp::create(b, loc, m[r], quadMax(mx));
      // A row with nothing visible yet keeps -inf; exponentiate against 0
      // then, so that no (-inf) - (-inf) arises.
      Value none = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ,
                                         mNew[r], f32c(negInf));
      Value base = arith::SelectOp::create(b, loc, none, f32c(0), mNew[r]);
      Value negBase = arith::NegFOp::create(
          b, loc, arith::MulFOp::create(b, loc, base, scale));
      alpha[r] =
          buildExp2(b, loc, LLVM::FMAOp::create(b, loc, m[r], scale, negBase));
      Value sum = arith::MulFOp::create(b, loc, l[r], alpha[r]);
      for (int64_t j = 0; j < keyBlocks; ++j)
        for (int64_t i = first; i < first + 2; ++i) {
          sc[x][j][i] = buildExp2(
              b, loc, LLVM::FMAOp::create(b, loc, sc[x][j][i], scale, negBase));
          sum = arith::AddFOp::create(b, loc, sum, sc[x][j][i]);
        }
      lNew[r] = sum;
    }
    for (int64_t x = 0; x < mt; ++x)
      for (int64_t n = 0; n < dBlocks; ++n)
        for (int64_t i = 0; i < 4; ++i)
          acc[x][n][i] =
              arith::MulFOp::create(b, loc, acc[x][n][i], alpha[2 * x + i / 2]);

    // O += P V: P from registers; the V fragments of two D blocks at a time
    // by ldmatrix.trans, each used by every row tile.
    for (int64_t kk = 0; kk < bc / 16; ++kk) {
      SmallVector<SmallVector<Value>> pa(mt);
      for (int64_t x = 0; x < mt; ++x) {
        const Frag &lo = sc[x][2 * kk], &hi = sc[x][2 * kk + 1];
        pa[x] = {packPair(lo[0], lo[1]), packPair(lo[2], lo[3]),
                 packPair(hi[0], hi[1]), packPair(hi[2], hi[3])};
      }
      for (int64_t n = 0; n < dBlocks; n += 2) {
        SmallVector<Value> vb =
            ldmatrix(vTiles,
                     ValueRange{buf, add(addc(lane8, kk * 16), mulc(odd8, 8)),
                                addc(mulc(half, 8), n * 8)},
                     /*transpose=*/true);
        for (int64_t x = 0; x < mt; ++x) {
          acc[x][n] = mma(pa[x], {vb[0], vb[1]}, acc[x][n]);
          acc[x][n + 1] = mma(pa[x], {vb[2], vb[3]}, acc[x][n + 1]);
        }
      }
    }
    // Every warp is done with this buffer before the next iteration's
    // copies overwrite it.
    gpu::BarrierOp::create(b, loc);
    SmallVector<Value> nextState(mNew);
    nextState.append(lNew);
    for (int64_t x = 0; x < mt; ++x)
      for (int64_t n = 0; n < dBlocks; ++n)
        nextState.append(acc[x][n].begin(), acc[x][n].end());
    scf::YieldOp::create(b, loc, nextState);
  }
  // No copy may be in flight when the block exits (an empty key range
  // never waits in the loop).
  NVVM::CpAsyncWaitGroupOp::create(b, loc, b.getI32IntegerAttr(0));

  // out = O / l, a row with no visible key is zeros; rows past T store
  // nothing.
  auto results = tileLoop.getResults();
  for (int64_t r = 0; r < nRows; ++r) {
    int64_t x = r / 2, first = 2 * (r % 2);
    Value lsum = quadSum(results[nRows + r]);
    Value seen =
        arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, lsum, f32c(0));
    Value inv = arith::SelectOp::create(
        b, loc, seen, arith::DivFOp::create(b, loc, f32c(1), lsum), f32c(0));
    auto live = scf::IfOp::create(
        b, loc,
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, row[r],
                              queryLen),
        /*withElseRegion=*/false);
    OpBuilder::InsertionGuard g2(b);
    b.setInsertionPointToStart(live.thenBlock());
    Value base = add(mulc(add(rowBase, row[r]), d), twoT);
    for (int64_t n = 0; n < dBlocks; ++n) {
      int64_t at = 2 * nRows + (x * dBlocks + n) * 4 + first;
      Value lo = arith::MulFOp::create(b, loc, results[at], inv);
      Value hi = arith::MulFOp::create(b, loc, results[at + 1], inv);
      vector::StoreOp::create(b, loc, narrowPair(lo, hi), o,
                              ValueRange{addc(base, n * 8)}, false,
                              llvm::Align(4));
    }
  }
}

} // namespace

void mlir::tok::buildMmaAttentionKernel(gpu::GPUFuncOp func,
                                        const KernelShape &shape) {
  MmaBuilder(func, shape).build();
}
