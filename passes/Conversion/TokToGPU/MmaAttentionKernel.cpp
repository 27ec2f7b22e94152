//===- MmaAttentionKernel.cpp - attention on tensor cores -----------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// FlashAttention-2 with mma.sync (m16n8k16, f16 / bf16 operands, f32
// accumulation), written as fragments (GPU_CODEGEN.md section 2.2: the
// vector-to-MMA route cannot put a softmax between two contractions).
//
// Each warp owns 16 query rows; with g = lane / 4 and t = lane % 4 a thread
// holds rows g and g + 8 of every fragment:
//
//  - Q (A operand of S = Q K^T): loaded once from global memory, D / 16
//    k-steps of four packed pairs.
//  - K tile ([64 keys][D + 8] in shared memory, pairs as i32): the B
//    fragment of key block j and k-step kk is two 32-bit loads, at words
//    (8j + g) * (D + 8) / 2 + 8kk + t (+ 4); the 8-element padding puts the
//    eight rows in distinct banks.
//  - S: 8 accumulators of 4 f32 (keys 8j + 2t, +1 of both rows), scaled by
//    scale * log2(e); masked (causal, or past S) with selects only in tiles
//    that need it; the online softmax reduces the row max over the quad
//    (shuffle xor 1, 2) and keeps a per-thread partial row sum, reduced once
//    at the end.
//  - P (A operand of P V): the S accumulators of key blocks 2kk and 2kk + 1,
//    rounded to pairs: registers only, no shared memory.
//  - V tile, transposed while staging ([D][64 + 8] as pairs of keys), so
//    that its B fragments are 32-bit loads too; lane l packs keys 2l, 2l + 1.
//  - O: D / 8 accumulators of 4 f32, rescaled by the change of the row max.
//
// Tiles are staged synchronously (global -> registers -> shared, barrier);
// double buffering with cp.async is the next step (docs/gpu.md).
//
//===----------------------------------------------------------------------===//

#include "AttentionKernels.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
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

class MmaBuilder {
public:
  MmaBuilder(gpu::GPUFuncOp func, const KernelShape &shape)
      : func(func), s(shape), b(func.getContext()), loc(func.getLoc()),
        i32(b.getI32Type()), f32(b.getF32Type()) {}

  void build();

private:
  Value index(int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); }
  Value f32c(float v) {
    return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(v));
  }
  Value add(Value x, Value y) { return arith::AddIOp::create(b, loc, x, y); }
  Value mul(Value x, Value y) { return arith::MulIOp::create(b, loc, x, y); }
  Value addc(Value x, int64_t c) { return c ? add(x, index(c)) : x; }
  Value mulc(Value x, int64_t c) { return mul(x, index(c)); }

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
  Value loadWord(Value memref, Value index) {
    return memref::LoadOp::create(b, loc, memref, ValueRange{index});
  }
  /// d = a b + c on one m16n8k16 fragment.
  Frag mma(ArrayRef<Value> a, ArrayRef<Value> bb, const Frag &c);
  /// max / sum over the four threads of a quad.
  Value quadMax(Value v);
  Value quadSum(Value v);

  gpu::GPUFuncOp func;
  const KernelShape &s;
  OpBuilder b;
  Location loc;
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

Value MmaBuilder::quadMax(Value v) {
  for (int32_t off : {1, 2}) {
    Value other =
        gpu::ShuffleOp::create(b, loc, v, off, 32, gpu::ShuffleMode::XOR)
            .getShuffleResult();
    v = arith::MaximumFOp::create(b, loc, v, other);
  }
  return v;
}

Value MmaBuilder::quadSum(Value v) {
  for (int32_t off : {1, 2}) {
    Value other =
        gpu::ShuffleOp::create(b, loc, v, off, 32, gpu::ShuffleMode::XOR)
            .getShuffleResult();
    v = arith::AddFOp::create(b, loc, v, other);
  }
  return v;
}

void MmaBuilder::build() {
  const int64_t d = s.headDim, bc = kMmaKeyTile, rows = s.rowsPerBlock(),
                nt = s.threads, warps = nt / 32;
  const int64_t kSteps = d / 16, keyBlocks = bc / 8, dBlocks = d / 8;
  const int64_t kRowWords = (d + 8) / 2, vRowWords = (bc + 8) / 2;
  Block &entry = func.getBody().front();
  b.setInsertionPointToStart(&entry);
  Value q = entry.getArgument(0), k = entry.getArgument(1),
        v = entry.getArgument(2), o = entry.getArgument(3);
  Value queryLen = entry.getArgument(4), keyLen = entry.getArgument(5);
  Value kTile = func.getWorkgroupAttributions()[0];
  Value vTile = func.getWorkgroupAttributions()[1];

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
  Value warp = arith::DivUIOp::create(b, loc, tid, index(32));
  Value lane = arith::RemUIOp::create(b, loc, tid, index(32));
  Value g = arith::DivUIOp::create(b, loc, lane, index(4));
  Value t = arith::RemUIOp::create(b, loc, lane, index(4));

  Value firstRow = mulc(block, rows);
  Value rowA = add(add(firstRow, mulc(warp, 16)), g);
  Value rowB = addc(rowA, 8);
  Value lastRow = arith::SubIOp::create(b, loc, queryLen, index(1));
  Value lastKey = arith::SubIOp::create(b, loc, keyLen, index(1));
  Value offsetPos = arith::SubIOp::create(b, loc, keyLen, queryLen);
  Value qposA = add(offsetPos, rowA), qposB = add(offsetPos, rowB);
  Value rowBase = mul(head, queryLen);
  auto rowOffset = [&](Value row) {
    Value clamped = arith::MinUIOp::create(b, loc, row, lastRow);
    return mulc(add(rowBase, clamped), d);
  };
  Value qOffA = rowOffset(rowA), qOffB = rowOffset(rowB);

  // Q fragments, once.
  SmallVector<Frag> qa(kSteps);
  Value twoT = mulc(t, 2);
  for (int64_t kk = 0; kk < kSteps; ++kk) {
    Value col = addc(twoT, kk * 16);
    Value col8 = addc(col, 8);
    qa[kk] = {loadPair(q, add(qOffA, col)), loadPair(q, add(qOffB, col)),
              loadPair(q, add(qOffA, col8)), loadPair(q, add(qOffB, col8))};
  }

  bool causal = s.mask.isCausal();
  Value keyEnd = keyLen;
  if (causal) {
    Value blockEnd =
        arith::MinUIOp::create(b, loc, addc(firstRow, rows), queryLen);
    keyEnd = arith::MinUIOp::create(b, loc, keyLen, add(offsetPos, blockEnd));
  }
  Value firstPos = add(offsetPos, firstRow);

  const float negInf = -std::numeric_limits<float>::infinity();
  SmallVector<Value> init = {f32c(negInf), f32c(negInf), f32c(0), f32c(0)};
  for (int64_t i = 0; i < dBlocks * 4; ++i)
    init.push_back(init[2]);
  auto tileLoop = scf::ForOp::create(b, loc, index(0), keyEnd, index(bc), init);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(tileLoop.getBody());
    Value t0 = tileLoop.getInductionVar();
    auto iter = tileLoop.getRegionIterArgs();
    Value mA = iter[0], mB = iter[1], lA = iter[2], lB = iter[3];
    SmallVector<Frag> acc(dBlocks);
    for (int64_t n = 0; n < dBlocks; ++n)
      for (int64_t i = 0; i < 4; ++i)
        acc[n][i] = iter[4 + 4 * n + i];
    Value kvBase = mul(kvHead, keyLen);

    // Stage K: 8-element chunks, rows padded to D + 8.
    {
      auto chunks =
          scf::ForOp::create(b, loc, tid, index(bc * d / 8), index(nt));
      OpBuilder::InsertionGuard g2(b);
      b.setInsertionPointToStart(chunks.getBody());
      Value c = chunks.getInductionVar();
      Value keyInTile = arith::DivUIOp::create(b, loc, c, index(d / 8));
      Value col = mulc(arith::RemUIOp::create(b, loc, c, index(d / 8)), 8);
      Value key = arith::MinUIOp::create(b, loc, add(t0, keyInTile), lastKey);
      Value chunk = vector::LoadOp::create(
          b, loc, VectorType::get({8}, s.element), k,
          ValueRange{add(mulc(add(kvBase, key), d), col)}, false, kAlign16);
      Value words =
          LLVM::BitcastOp::create(b, loc, VectorType::get({4}, i32), chunk);
      Value at = add(mulc(keyInTile, kRowWords),
                     arith::DivUIOp::create(b, loc, col, index(2)));
      vector::StoreOp::create(b, loc, words, kTile, ValueRange{at}, false,
                              kAlign16);
    }
    // Stage V transposed: lane l packs keys 2l and 2l + 1 of 8 columns.
    {
      auto chunks =
          scf::ForOp::create(b, loc, warp, index(dBlocks), index(warps));
      OpBuilder::InsertionGuard g2(b);
      b.setInsertionPointToStart(chunks.getBody());
      Value col = mulc(chunks.getInductionVar(), 8);
      Value key0 = add(t0, mulc(lane, 2));
      auto load = [&](Value key) {
        Value clamped = arith::MinUIOp::create(b, loc, key, lastKey);
        return vector::LoadOp::create(
            b, loc, VectorType::get({8}, s.element), v,
            ValueRange{add(mulc(add(kvBase, clamped), d), col)}, false,
            kAlign16);
      };
      Value even = load(key0), odd = load(addc(key0, 1));
      Value pairs = vector::ShuffleOp::create(
          b, loc, even, odd,
          ArrayRef<int64_t>{0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7,
                            15});
      Value words =
          LLVM::BitcastOp::create(b, loc, VectorType::get({8}, i32), pairs);
      for (int64_t i = 0; i < 8; ++i) {
        Value word = vector::ExtractOp::create(b, loc, words, i);
        memref::StoreOp::create(
            b, loc, word, vTile,
            ValueRange{add(mulc(addc(col, i), vRowWords), lane)});
      }
    }
    gpu::BarrierOp::create(b, loc);

    // S = Q K^T, in the log2 domain.
    Value scale = f32c(s.scale * static_cast<float>(M_LOG2E));
    SmallVector<Frag> sc(keyBlocks);
    for (int64_t j = 0; j < keyBlocks; ++j) {
      Frag c = {f32c(0), f32c(0), f32c(0), f32c(0)};
      Value rowK = mulc(addc(g, j * 8), kRowWords);
      for (int64_t kk = 0; kk < kSteps; ++kk) {
        Value w = add(rowK, addc(t, kk * 8));
        c = mma(qa[kk], {loadWord(kTile, w), loadWord(kTile, addc(w, 4))}, c);
      }
      for (int64_t i = 0; i < 4; ++i)
        sc[j][i] = arith::MulFOp::create(b, loc, c[i], scale);
    }

    // Masks, only in tiles that reach past S or (causal) past the block's
    // first row.
    Value pastEnd = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ugt,
                                          addc(t0, bc), keyLen);
    Value needMask = pastEnd;
    if (causal)
      needMask = arith::OrIOp::create(
          b, loc, needMask,
          arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ugt,
                                addc(t0, bc - 1), firstPos));
    SmallVector<Type> scoreTypes(keyBlocks * 4, f32);
    auto masked = scf::IfOp::create(b, loc, scoreTypes, needMask,
                                    /*withElseRegion=*/true);
    {
      OpBuilder::InsertionGuard g2(b);
      b.setInsertionPointToStart(masked.thenBlock());
      SmallVector<Value> out;
      Value minusInf = f32c(negInf);
      for (int64_t j = 0; j < keyBlocks; ++j)
        for (int64_t i = 0; i < 4; ++i) {
          Value key = add(t0, addc(twoT, j * 8 + (i & 1)));
          Value vis = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult,
                                            key, keyLen);
          if (causal)
            vis = arith::AndIOp::create(
                b, loc, vis,
                arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ule, key,
                                      i < 2 ? qposA : qposB));
          out.push_back(
              arith::SelectOp::create(b, loc, vis, sc[j][i], minusInf));
        }
      scf::YieldOp::create(b, loc, out);
      b.setInsertionPointToStart(masked.elseBlock());
      SmallVector<Value> same;
      for (int64_t j = 0; j < keyBlocks; ++j)
        same.append(sc[j].begin(), sc[j].end());
      scf::YieldOp::create(b, loc, same);
    }
    for (int64_t j = 0; j < keyBlocks; ++j)
      for (int64_t i = 0; i < 4; ++i)
        sc[j][i] = masked.getResult(4 * j + i);

    // Online softmax of rows A (elements 0, 1) and B (2, 3).
    auto rowUpdate = [&](Value m, Value l, int64_t first, Value &mNew,
                         Value &lNew, Value &alpha) {
      Value mx = sc[0][first];
      for (int64_t j = 0; j < keyBlocks; ++j)
        for (int64_t i = first; i < first + 2; ++i)
          if (j || i != first)
            mx = arith::MaximumFOp::create(b, loc, mx, sc[j][i]);
      mNew = arith::MaximumFOp::create(b, loc, m, quadMax(mx));
      // A row with nothing visible yet keeps -inf; exponentiate against 0
      // then, so that no (-inf) - (-inf) arises.
      Value none = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ,
                                         mNew, f32c(negInf));
      Value base = arith::SelectOp::create(b, loc, none, f32c(0), mNew);
      alpha = buildExp2(b, loc, arith::SubFOp::create(b, loc, m, base));
      Value sum = arith::MulFOp::create(b, loc, l, alpha);
      for (int64_t j = 0; j < keyBlocks; ++j)
        for (int64_t i = first; i < first + 2; ++i) {
          sc[j][i] =
              buildExp2(b, loc, arith::SubFOp::create(b, loc, sc[j][i], base));
          sum = arith::AddFOp::create(b, loc, sum, sc[j][i]);
        }
      lNew = sum;
    };
    Value mA2, lA2, alphaA, mB2, lB2, alphaB;
    rowUpdate(mA, lA, 0, mA2, lA2, alphaA);
    rowUpdate(mB, lB, 2, mB2, lB2, alphaB);
    for (int64_t n = 0; n < dBlocks; ++n)
      for (int64_t i = 0; i < 4; ++i)
        acc[n][i] =
            arith::MulFOp::create(b, loc, acc[n][i], i < 2 ? alphaA : alphaB);

    // O += P V.
    for (int64_t kk = 0; kk < bc / 16; ++kk) {
      const Frag &lo = sc[2 * kk], &hi = sc[2 * kk + 1];
      SmallVector<Value> pa = {packPair(lo[0], lo[1]), packPair(lo[2], lo[3]),
                               packPair(hi[0], hi[1]), packPair(hi[2], hi[3])};
      for (int64_t n = 0; n < dBlocks; ++n) {
        Value w = add(mulc(addc(g, n * 8), vRowWords), addc(t, kk * 8));
        acc[n] =
            mma(pa, {loadWord(vTile, w), loadWord(vTile, addc(w, 4))}, acc[n]);
      }
    }
    gpu::BarrierOp::create(b, loc);
    SmallVector<Value> next = {mA2, mB2, lA2, lB2};
    for (int64_t n = 0; n < dBlocks; ++n)
      next.append(acc[n].begin(), acc[n].end());
    scf::YieldOp::create(b, loc, next);
  }

  // out = O / l, a row with no visible key is zeros; rows past T store
  // nothing.
  auto results = tileLoop.getResults();
  auto inverse = [&](Value partial) {
    Value l = quadSum(partial);
    Value seen =
        arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, l, f32c(0));
    return arith::SelectOp::create(
        b, loc, seen, arith::DivFOp::create(b, loc, f32c(1), l), f32c(0));
  };
  Value invA = inverse(results[2]), invB = inverse(results[3]);
  auto store = [&](Value row, Value inv, int64_t first) {
    auto live = scf::IfOp::create(
        b, loc,
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, row, queryLen),
        /*withElseRegion=*/false);
    OpBuilder::InsertionGuard g2(b);
    b.setInsertionPointToStart(live.thenBlock());
    Value base = add(mulc(add(rowBase, row), d), twoT);
    for (int64_t n = 0; n < dBlocks; ++n) {
      Value lo = arith::MulFOp::create(b, loc, results[4 + 4 * n + first], inv);
      Value hi =
          arith::MulFOp::create(b, loc, results[4 + 4 * n + first + 1], inv);
      vector::StoreOp::create(b, loc, narrowPair(lo, hi), o,
                              ValueRange{addc(base, n * 8)}, false,
                              llvm::Align(4));
    }
  };
  store(rowA, invA, 0);
  store(rowB, invB, 2);
}

} // namespace

void mlir::tok::buildMmaAttentionKernel(gpu::GPUFuncOp func,
                                        const KernelShape &shape) {
  MmaBuilder(func, shape).build();
}
