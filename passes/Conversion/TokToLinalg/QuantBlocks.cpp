//===- QuantBlocks.cpp - GGML weight blocks read in IR --------------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#include "QuantBlocks.h"

#include "LaneDot.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/AffineMap.h"

using namespace mlir;
using namespace mlir::tok;

RankedTensorType mlir::tok::getQuantStorageType(RankedTensorType weightType) {
  WeightQuantAttr quant = getWeightQuant(weightType);
  assert(quant && "not a #tok.quant weight");
  return RankedTensorType::get(
      {weightType.getDimSize(0), quant.getRowBytes(weightType.getDimSize(1))},
      IntegerType::get(weightType.getContext(), 8));
}

namespace {

/// Reads of one row of a bytes tensor.
struct RowReader {
  OpBuilder &b;
  Location loc;
  Value w, row;

  Value idx(int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); }
  Value add(Value a, int64_t v) {
    return v ? arith::AddIOp::create(b, loc, a, idx(v)).getResult() : a;
  }
  Value add(Value a, Value v) { return arith::AddIOp::create(b, loc, a, v); }
  Value mul(Value a, int64_t v) {
    return arith::MulIOp::create(b, loc, a, idx(v));
  }
  Value div(Value a, int64_t v) {
    return arith::DivUIOp::create(b, loc, a, idx(v));
  }
  Value rem(Value a, int64_t v) {
    return arith::RemUIOp::create(b, loc, a, idx(v));
  }

  /// The byte at `at`, as an i32 (zero- or sign-extended).
  Value byte(Value at, bool isSigned) {
    Value v = tensor::ExtractOp::create(b, loc, w, ValueRange{row, at});
    Type i32 = b.getI32Type();
    return isSigned ? arith::ExtSIOp::create(b, loc, i32, v).getResult()
                    : arith::ExtUIOp::create(b, loc, i32, v).getResult();
  }
  /// The little-endian f16 at `at`, as f32.
  Value half(Value at) {
    Value zero = arith::ConstantOp::create(b, loc, b.getI8IntegerAttr(0));
    Value two = vector::TransferReadOp::create(
        b, loc, VectorType::get({2}, b.getI8Type()), w, ValueRange{row, at},
        zero, ArrayRef<bool>{true});
    Value h = vector::BitCastOp::create(
        b, loc, VectorType::get({1}, b.getF16Type()), two);
    Value s = vector::ExtractOp::create(b, loc, h, ArrayRef<int64_t>{0});
    return arith::ExtFOp::create(b, loc, b.getF32Type(), s);
  }
  /// The little-endian f32 at `at`.
  Value single(Value at) {
    Value zero = arith::ConstantOp::create(b, loc, b.getI8IntegerAttr(0));
    Value four = vector::TransferReadOp::create(
        b, loc, VectorType::get({4}, b.getI8Type()), w, ValueRange{row, at},
        zero, ArrayRef<bool>{true});
    Value f = vector::BitCastOp::create(
        b, loc, VectorType::get({1}, b.getF32Type()), four);
    return vector::ExtractOp::create(b, loc, f, ArrayRef<int64_t>{0});
  }
  /// i8_channel's row scale: the f32 after the row's codes.
  Value rowScale() {
    int64_t bytes = cast<RankedTensorType>(w.getType()).getDimSize(1);
    return single(idx(bytes - 4));
  }
  /// 16 bytes from `at`.
  Value bytes16(Value at) {
    Value zero = arith::ConstantOp::create(b, loc, b.getI8IntegerAttr(0));
    return vector::TransferReadOp::create(
        b, loc, VectorType::get({16}, b.getI8Type()), w, ValueRange{row, at},
        zero, ArrayRef<bool>{true});
  }

  Value i32(int64_t v) {
    return arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(v));
  }
  Value andI(Value a, int64_t m) {
    return arith::AndIOp::create(b, loc, a, i32(m));
  }
  Value shr(Value a, int64_t s) {
    return s ? arith::ShRUIOp::create(b, loc, a, i32(s)).getResult() : a;
  }
  Value shl(Value a, int64_t s) {
    return arith::ShLIOp::create(b, loc, a, i32(s));
  }
  Value orI(Value a, Value c) { return arith::OrIOp::create(b, loc, a, c); }
  Value f32(Value i) {
    return arith::SIToFPOp::create(b, loc, b.getF32Type(), i);
  }
  Value fmul(Value a, Value c) { return arith::MulFOp::create(b, loc, a, c); }

  /// q4_k's 6-bit scale and minimum of sub-block `sub` (0..7, a constant),
  /// from the 12 bytes at `scales`, as f32.
  std::pair<Value, Value> scaleMinK4(Value scales, int64_t sub) {
    auto at = [&](int64_t i) { return byte(add(scales, i), false); };
    if (sub < 4)
      return {f32(andI(at(sub), 63)), f32(andI(at(sub + 4), 63))};
    Value sc = orI(andI(at(sub + 4), 15), shl(shr(at(sub - 4), 6), 4));
    Value m = orI(shr(at(sub + 4), 4), shl(shr(at(sub), 6), 4));
    return {f32(sc), f32(m)};
  }
  /// The same for a sub-block index known only at run time.
  std::pair<Value, Value> scaleMinK4(Value scales, Value sub) {
    Value four = idx(4);
    Value low =
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, sub, four);
    // sub < 4: scales[sub] & 63, scales[sub + 4] & 63.
    // sub >= 4: (scales[sub + 4] & 15) | (scales[sub - 4] >> 6) << 4,
    //           (scales[sub + 4] >> 4) | (scales[sub] >> 6) << 4.
    Value sPlus4 = byte(add(scales, add(sub, 4)), false);
    Value sSub = byte(add(scales, sub), false);
    Value subMinus4 = arith::SelectOp::create(
        b, loc, low, sub, arith::SubIOp::create(b, loc, sub, four));
    Value sMinus4 = byte(add(scales, subMinus4), false);
    Value scLow = andI(sSub, 63), mLow = andI(sPlus4, 63);
    Value scHigh = orI(andI(sPlus4, 15), shl(shr(sMinus4, 6), 4));
    Value mHigh = orI(shr(sPlus4, 4), shl(shr(sSub, 6), 4));
    Value sc = arith::SelectOp::create(b, loc, low, scLow, scHigh);
    Value m = arith::SelectOp::create(b, loc, low, mLow, mHigh);
    return {f32(sc), f32(m)};
  }
};

} // namespace

Value mlir::tok::emitDequantElement(OpBuilder &b, Location loc,
                                    WeightQuantAttr quant, Value w, Value row,
                                    Value k) {
  RowReader r{b, loc, w, row};
  int64_t bs = quant.getBlockSize(), bb = quant.getBlockBytes();
  Value base = r.mul(r.div(k, bs), bb);
  Value j = r.rem(k, bs);
  switch (quant.getScheme()) {
  case WeightScheme::q8_0: {
    Value q = r.byte(r.add(r.add(base, 2), j), true);
    return r.fmul(r.half(base), r.f32(q));
  }
  case WeightScheme::i8_channel:
    return r.fmul(r.rowScale(), r.f32(r.byte(k, true)));
  case WeightScheme::q4_0: {
    // Weight j < 16: low nibble of byte j; j >= 16: high nibble of j - 16.
    Value byte = r.byte(r.add(r.add(base, 2), r.rem(j, 16)), false);
    Value shift = arith::IndexCastOp::create(b, loc, b.getI32Type(),
                                             r.mul(r.div(j, 16), 4));
    Value nib = r.andI(arith::ShRUIOp::create(b, loc, byte, shift), 15);
    Value q = arith::SubIOp::create(b, loc, nib, r.i32(8));
    return r.fmul(r.half(base), r.f32(q));
  }
  case WeightScheme::q4_k: {
    // 8 sub-blocks of 32; sub-blocks 2p and 2p + 1 share the 32 code bytes
    // at 16 + 32p (low nibbles, then high nibbles).
    Value sub = r.div(j, 32);
    Value pair = r.div(j, 64), inPair = r.rem(j, 64);
    Value at =
        r.add(r.add(base, 16), r.add(r.mul(pair, 32), r.rem(inPair, 32)));
    Value shift = arith::IndexCastOp::create(b, loc, b.getI32Type(),
                                             r.mul(r.div(inPair, 32), 4));
    Value nib =
        r.andI(arith::ShRUIOp::create(b, loc, r.byte(at, false), shift), 15);
    auto [sc, m] = r.scaleMinK4(r.add(base, 4), sub);
    Value d = r.half(base), dmin = r.half(r.add(base, 2));
    return arith::SubFOp::create(b, loc, r.fmul(r.fmul(d, sc), r.f32(nib)),
                                 r.fmul(dmin, m));
  }
  case WeightScheme::q6_k: {
    // Two halves of 128; in each, quarter i of 32 weights takes its low 4
    // bits from ql[l + 32 (i % 2)] (low nibble for i < 2, high for i >= 2)
    // and its high 2 bits from bits 2i, 2i + 1 of qh[l].
    Value h = r.div(j, 128), jj = r.rem(j, 128);
    Value i = r.div(jj, 32), l = r.rem(jj, 32);
    Value qlAt =
        r.add(base, r.add(r.mul(h, 64), r.add(l, r.mul(r.rem(i, 2), 32))));
    Value lowShift = arith::IndexCastOp::create(b, loc, b.getI32Type(),
                                                r.mul(r.div(i, 2), 4));
    Value low = r.andI(
        arith::ShRUIOp::create(b, loc, r.byte(qlAt, false), lowShift), 15);
    Value qhAt = r.add(r.add(base, 128), r.add(r.mul(h, 32), l));
    Value highShift =
        arith::IndexCastOp::create(b, loc, b.getI32Type(), r.mul(i, 2));
    Value high = r.andI(
        arith::ShRUIOp::create(b, loc, r.byte(qhAt, false), highShift), 3);
    Value q =
        arith::SubIOp::create(b, loc, r.orI(low, r.shl(high, 4)), r.i32(32));
    Value scAt = r.add(r.add(base, 192),
                       r.add(r.mul(h, 8), r.add(r.div(l, 16), r.mul(i, 2))));
    Value sc = r.f32(r.byte(scAt, true));
    return r.fmul(r.fmul(r.half(r.add(base, 208)), sc), r.f32(q));
  }
  }
  llvm_unreachable("unknown weight scheme");
}

void mlir::tok::forEachLaneGroup(
    OpBuilder &b, Location loc, WeightQuantAttr quant, Value w, Value row,
    Value base, llvm::function_ref<void(const LaneGroup &)> body) {
  RowReader r{b, loc, w, row};
  auto vecI8 = VectorType::get({16}, b.getI8Type());
  auto splat = [&](int64_t v) -> Value {
    return arith::ConstantOp::create(
        b, loc, DenseElementsAttr::get(vecI8, b.getI8IntegerAttr(v)));
  };
  auto vAnd = [&](Value v, int64_t m) -> Value {
    return arith::AndIOp::create(b, loc, v, splat(m));
  };
  auto vShr = [&](Value v, int64_t s) -> Value {
    return s ? arith::ShRUIOp::create(b, loc, v, splat(s)).getResult() : v;
  };
  auto vSub = [&](Value v, int64_t c) -> Value {
    return arith::SubIOp::create(b, loc, v, splat(c));
  };
  auto widen = [&](Value v) -> Value {
    return arith::SIToFPOp::create(b, loc,
                                   VectorType::get({16}, b.getF32Type()), v);
  };

  switch (quant.getScheme()) {
  case WeightScheme::q8_0: {
    Value d = r.half(base);
    for (int64_t g = 0; g < 2; ++g)
      body({widen(r.bytes16(r.add(base, 2 + 16 * g))), d, Value(), 16 * g});
    return;
  }
  case WeightScheme::i8_channel: {
    Value s = r.rowScale();
    for (int64_t g = 0; g < 2; ++g)
      body({widen(r.bytes16(r.add(base, 16 * g))), s, Value(), 16 * g});
    return;
  }
  case WeightScheme::q4_0: {
    Value d = r.half(base);
    Value bytes = r.bytes16(r.add(base, 2));
    body({widen(vSub(vAnd(bytes, 15), 8)), d, Value(), 0});
    body({widen(vSub(vShr(bytes, 4), 8)), d, Value(), 16});
    return;
  }
  case WeightScheme::q4_k: {
    Value d = r.half(base), dmin = r.half(r.add(base, 2));
    Value scales = r.add(base, 4);
    for (int64_t p = 0; p < 4; ++p) {
      Value lo = r.bytes16(r.add(base, 16 + 32 * p));
      Value hi = r.bytes16(r.add(base, 16 + 32 * p + 16));
      for (int64_t half = 0; half < 2; ++half) {
        auto [sc, m] = r.scaleMinK4(scales, 2 * p + half);
        Value mult = r.fmul(d, sc), min = r.fmul(dmin, m);
        int64_t shift = 4 * half;
        body({widen(vAnd(vShr(lo, shift), 15)), mult, min, 64 * p + 32 * half});
        body({widen(vAnd(vShr(hi, shift), 15)), mult, min,
              64 * p + 32 * half + 16});
      }
    }
    return;
  }
  case WeightScheme::q6_k: {
    Value d = r.half(r.add(base, 208));
    for (int64_t h = 0; h < 2; ++h) {
      for (int64_t g = 0; g < 2; ++g) {
        Value qlA = r.bytes16(r.add(base, 64 * h + 16 * g));
        Value qlB = r.bytes16(r.add(base, 64 * h + 32 + 16 * g));
        Value qh = r.bytes16(r.add(base, 128 + 32 * h + 16 * g));
        for (int64_t i = 0; i < 4; ++i) {
          Value low = i < 2 ? vAnd(i == 0 ? qlA : qlB, 15)
                            : vShr(i == 2 ? qlA : qlB, 4);
          Value high = vAnd(vShr(qh, 2 * i), 3);
          Value q = arith::OrIOp::create(
              b, loc, low,
              arith::ShLIOp::create(b, loc, high, splat(4)).getResult());
          Value sc = r.f32(r.byte(r.add(base, 192 + 8 * h + g + 2 * i), true));
          body({widen(vSub(q, 32)), r.fmul(d, sc), Value(),
                128 * h + 32 * i + 16 * g});
        }
      }
    }
    return;
  }
  }
  llvm_unreachable("unknown weight scheme");
}

//===----------------------------------------------------------------------===//
// The integer path
//===----------------------------------------------------------------------===//

/// acc[i] + sum_j ext(a[i * r + j]) * ext(b[i * r + j]) for i < lanes,
/// j < r (r = 32 / lanes): the operands extended to i32 (`a` zero-extended
/// when `unsignedA`), as a lane dot (LaneDot.h).
static Value emitIntLaneDot(OpBuilder &b, Location loc, Value acc, Value a,
                            Value b2, int64_t lanes, bool unsignedA) {
  auto elem = cast<VectorType>(a.getType()).getElementType();
  int64_t per = 32 / lanes;
  auto narrow2d = VectorType::get({lanes, per}, elem);
  auto ints2d = VectorType::get({lanes, per}, b.getI32Type());
  Value a2 = vector::ShapeCastOp::create(b, loc, narrow2d, a);
  Value a32 = unsignedA
                  ? arith::ExtUIOp::create(b, loc, ints2d, a2).getResult()
                  : arith::ExtSIOp::create(b, loc, ints2d, a2).getResult();
  Value b32 = arith::ExtSIOp::create(
      b, loc, ints2d, vector::ShapeCastOp::create(b, loc, narrow2d, b2));
  return emitLaneDot(b, loc, acc, a32, b32);
}

Value mlir::tok::emitDotU8S8(OpBuilder &b, Location loc, Value acc, Value a,
                             Value b8) {
  // Generic vector IR with the exact semantics (8 lanes, each the sum of 4
  // products of an unsigned and a signed byte). tok-x86-int8-dot turns this
  // shape into vpdpbusd where the host has AVX512-VNNI; elsewhere it lowers
  // as any contraction.
  return emitIntLaneDot(b, loc, acc, a, b8, 8, /*unsignedA=*/true);
}

Value mlir::tok::emitDotS16(OpBuilder &b, Location loc, Value acc, Value a,
                            Value b16) {
  // vpdpwssd's semantics: 16 lanes, each the sum of 2 products of signed
  // 16-bit integers (tok-x86-int8-dot selects the instruction).
  return emitIntLaneDot(b, loc, acc, a, b16, 16, /*unsignedA=*/false);
}

Value mlir::tok::emitSignBytes(OpBuilder &b, Location loc, Value a,
                               Value sign) {
  auto type = cast<VectorType>(a.getType());
  Value zero = arith::ConstantOp::create(
      b, loc, DenseElementsAttr::get(type, b.getI8IntegerAttr(0)));
  Value negative =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, sign, zero);
  Value isZero =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, sign, zero);
  Value flipped = arith::SelectOp::create(
      b, loc, negative, arith::SubIOp::create(b, loc, zero, a), a);
  return arith::SelectOp::create(b, loc, isZero, zero, flipped);
}

QuantizedActivations mlir::tok::emitQuantizeActivations(OpBuilder &b,
                                                        Location loc, Value x,
                                                        int64_t k,
                                                        unsigned bits) {
  auto idx = [&](int64_t v) -> Value {
    return arith::ConstantIndexOp::create(b, loc, v);
  };
  Type f32 = b.getF32Type(), code = b.getIntegerType(bits);
  auto vec = VectorType::get({16}, f32);
  Value c0 = idx(0), c1 = idx(1);
  Value tokens = tensor::DimOp::create(b, loc, x, 0);
  auto make = [&](int64_t cols, Type elem) -> Value {
    return tensor::EmptyOp::create(
        b, loc, RankedTensorType::get({ShapedType::kDynamic, cols}, elem),
        ValueRange{tokens});
  };
  Value zeroF = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.0f));
  Value limit = arith::ConstantOp::create(
      b, loc, b.getF32FloatAttr(static_cast<float>((1 << (bits - 1)) - 1)));
  SmallVector<Value> inits{make(k, code), make(k / 32, f32), make(k / 32, f32)};
  auto rows = scf::ForOp::create(
      b, loc, c0, tokens, c1, inits,
      [&](OpBuilder &tb, Location, Value t, ValueRange rowArgs) {
        auto blocks = scf::ForOp::create(
            tb, loc, c0, idx(k / 32), c1, rowArgs,
            [&](OpBuilder &bb, Location, Value blk, ValueRange a) {
              Value k0 = arith::MulIOp::create(bb, loc, blk, idx(32));
              Value k1 = arith::AddIOp::create(bb, loc, k0, idx(16));
              SmallVector<Value> v, ats{k0, k1};
              for (Value at : ats)
                v.push_back(vector::TransferReadOp::create(
                    bb, loc, vec, x, ValueRange{t, at}, zeroF,
                    ArrayRef<bool>{true}));
              Value absMax = arith::MaximumFOp::create(
                  bb, loc, math::AbsFOp::create(bb, loc, v[0]),
                  math::AbsFOp::create(bb, loc, v[1]));
              Value m = vector::ReductionOp::create(
                  bb, loc, vector::CombiningKind::MAXIMUMF, absMax);
              Value dx = arith::DivFOp::create(bb, loc, m, limit);
              Value positive = arith::CmpFOp::create(
                  bb, loc, arith::CmpFPredicate::OGT, m, zeroF);
              Value inv = arith::SelectOp::create(
                  bb, loc, positive, arith::DivFOp::create(bb, loc, limit, m),
                  zeroF);
              Value invVec = vector::BroadcastOp::create(bb, loc, vec, inv);
              Value codes = a[0];
              for (auto [j, at] : llvm::enumerate(ats)) {
                Value r = math::RoundEvenOp::create(
                    bb, loc, arith::MulFOp::create(bb, loc, v[j], invVec));
                Value q32 = arith::FPToSIOp::create(
                    bb, loc, VectorType::get({16}, bb.getI32Type()), r);
                Value q8 = arith::TruncIOp::create(
                    bb, loc, VectorType::get({16}, code), q32);
                codes = vector::TransferWriteOp::create(bb, loc, q8, codes,
                                                        ValueRange{t, at},
                                                        ArrayRef<bool>{true})
                            .getResult();
              }
              Value scales = tensor::InsertOp::create(bb, loc, dx, a[1],
                                                      ValueRange{t, blk});
              // The sum of the block's activations (exact, in f32).
              Value sum = arith::AddFOp::create(
                  bb, loc,
                  vector::ReductionOp::create(bb, loc,
                                              vector::CombiningKind::ADD, v[0]),
                  vector::ReductionOp::create(
                      bb, loc, vector::CombiningKind::ADD, v[1]));
              Value sums32 = tensor::InsertOp::create(bb, loc, sum, a[2],
                                                      ValueRange{t, blk});
              scf::YieldOp::create(bb, loc, ValueRange{codes, scales, sums32});
            });
        scf::YieldOp::create(tb, loc, blocks.getResults());
      });
  return {rows.getResult(0), rows.getResult(1), rows.getResult(2)};
}

void mlir::tok::forEachInt8Piece(
    OpBuilder &b, Location loc, WeightQuantAttr quant, Value w, Value row,
    Value base, llvm::function_ref<void(const Int8Piece &)> body,
    Value *blockMinimums) {
  RowReader r{b, loc, w, row};
  auto vecI8 = VectorType::get({32}, b.getI8Type());
  auto splat = [&](int64_t v) -> Value {
    return arith::ConstantOp::create(
        b, loc, DenseElementsAttr::get(vecI8, b.getI8IntegerAttr(v)));
  };
  auto bytes32 = [&](Value at) -> Value {
    Value zero = arith::ConstantOp::create(b, loc, b.getI8IntegerAttr(0));
    return vector::TransferReadOp::create(b, loc, vecI8, w, ValueRange{row, at},
                                          zero, ArrayRef<bool>{true});
  };
  auto vAnd = [&](Value v, int64_t m) -> Value {
    return arith::AndIOp::create(b, loc, v, splat(m));
  };
  auto vShr = [&](Value v, int64_t s) -> Value {
    return s ? arith::ShRUIOp::create(b, loc, v, splat(s)).getResult() : v;
  };
  auto times = [&](Value v, float c) -> Value {
    return r.fmul(v, arith::ConstantOp::create(b, loc, b.getF32FloatAttr(c)));
  };

  switch (quant.getScheme()) {
  case WeightScheme::q8_0:
  case WeightScheme::i8_channel: {
    bool perRow = quant.getScheme() == WeightScheme::i8_channel;
    Value raw = bytes32(perRow ? base : r.add(base, 2));
    Int8Piece p;
    p.codes = math::AbsIOp::create(b, loc, raw);
    p.signOf = raw;
    p.scale = perRow ? r.rowScale() : r.half(base);
    p.k0 = 0;
    body(p);
    return;
  }
  case WeightScheme::q4_0: {
    Value d = r.half(base);
    Value zero16 = arith::ConstantOp::create(b, loc, b.getI8IntegerAttr(0));
    Value q16 = vector::TransferReadOp::create(
        b, loc, VectorType::get({16}, b.getI8Type()), w,
        ValueRange{row, r.add(base, 2)}, zero16, ArrayRef<bool>{true});
    auto splat16 = [&](int64_t v) -> Value {
      return arith::ConstantOp::create(
          b, loc,
          DenseElementsAttr::get(VectorType::get({16}, b.getI8Type()),
                                 b.getI8IntegerAttr(v)));
    };
    Value lo = arith::AndIOp::create(b, loc, q16, splat16(15));
    Value hi = arith::ShRUIOp::create(b, loc, q16, splat16(4));
    SmallVector<int64_t> concat;
    for (int64_t i = 0; i < 32; ++i)
      concat.push_back(i);
    Int8Piece p;
    p.codes = vector::ShuffleOp::create(b, loc, lo, hi, concat);
    p.scale = d;
    p.k0 = 0;
    p.coef32 = times(d, 8.0f);
    body(p);
    return;
  }
  case WeightScheme::q4_k: {
    // The 8 scales and minimums unpacked together (lanes j = 0..7): for
    // j < 4, s[j] & 63 and s[j + 4] & 63; for j >= 4,
    // (s[j + 4] & 15) | (s[j - 4] >> 6) << 4 and
    // (s[j + 4] >> 4) | (s[j] >> 6) << 4.
    Value d = r.half(base), dmin = r.half(r.add(base, 2));
    Value zero = arith::ConstantOp::create(b, loc, b.getI8IntegerAttr(0));
    Value s16 = vector::TransferReadOp::create(
        b, loc, VectorType::get({16}, b.getI8Type()), w,
        ValueRange{row, r.add(base, 4)}, zero, ArrayRef<bool>{true});
    auto vec8i = VectorType::get({8}, b.getI8Type());
    auto pick = [&](ArrayRef<int64_t> lanes) -> Value {
      return vector::ShuffleOp::create(b, loc, s16, s16, lanes);
    };
    auto c8 = [&](int64_t v) -> Value {
      return arith::ConstantOp::create(
          b, loc, DenseElementsAttr::get(vec8i, b.getI8IntegerAttr(v)));
    };
    auto and8 = [&](Value v, int64_t m) -> Value {
      return arith::AndIOp::create(b, loc, v, c8(m));
    };
    auto shr8 = [&](Value v, int64_t n) -> Value {
      return arith::ShRUIOp::create(b, loc, v, c8(n));
    };
    auto shl8 = [&](Value v, int64_t n) -> Value {
      return arith::ShLIOp::create(b, loc, v, c8(n));
    };
    SmallVector<bool> firstFour{true,  true,  true,  true,
                                false, false, false, false};
    Value low = arith::ConstantOp::create(
        b, loc,
        DenseElementsAttr::get(VectorType::get({8}, b.getI1Type()),
                               ArrayRef<bool>(firstFour)));
    Value scLo = pick({0, 1, 2, 3, 8, 9, 10, 11});
    Value scHi = pick({0, 1, 2, 3, 0, 1, 2, 3});
    Value mLo = pick({4, 5, 6, 7, 8, 9, 10, 11});
    Value mHi = pick({4, 5, 6, 7, 4, 5, 6, 7});
    Value sc8 = arith::SelectOp::create(
        b, loc, low, and8(scLo, 63),
        arith::OrIOp::create(b, loc, and8(scLo, 15), shl8(shr8(scHi, 6), 4)));
    Value m8 = arith::SelectOp::create(
        b, loc, low, and8(mLo, 63),
        arith::OrIOp::create(b, loc, shr8(mLo, 4), shl8(shr8(mHi, 6), 4)));
    auto vec8 = VectorType::get({8}, b.getF32Type());
    Value dsc = arith::MulFOp::create(
        b, loc, arith::UIToFPOp::create(b, loc, vec8, sc8),
        vector::BroadcastOp::create(b, loc, vec8, d));
    Value dm =
        arith::MulFOp::create(b, loc, arith::UIToFPOp::create(b, loc, vec8, m8),
                              vector::BroadcastOp::create(b, loc, vec8, dmin));
    if (blockMinimums)
      *blockMinimums = dm;
    for (int64_t pair = 0; pair < 4; ++pair) {
      Value q32 = bytes32(r.add(base, 16 + 32 * pair));
      for (int64_t half = 0; half < 2; ++half) {
        int64_t sub = 2 * pair + half;
        Int8Piece p;
        p.codes = half ? vShr(q32, 4) : vAnd(q32, 15);
        p.scale =
            vector::ExtractOp::create(b, loc, dsc, ArrayRef<int64_t>{sub});
        p.k0 = 64 * pair + 32 * half;
        if (!blockMinimums)
          p.coef32 =
              vector::ExtractOp::create(b, loc, dm, ArrayRef<int64_t>{sub});
        body(p);
      }
    }
    return;
  }
  case WeightScheme::q6_k: {
    // The 16 scales (one per 16 weights) widened together; a piece of 32
    // takes two of them, lanes 0-3 and 4-7 of its 8 sums.
    Value d = r.half(r.add(base, 208));
    Value zero = arith::ConstantOp::create(b, loc, b.getI8IntegerAttr(0));
    Value sc16 = vector::TransferReadOp::create(
        b, loc, VectorType::get({16}, b.getI8Type()), w,
        ValueRange{row, r.add(base, 192)}, zero, ArrayRef<bool>{true});
    auto vec16 = VectorType::get({16}, b.getF32Type());
    Value scales = arith::MulFOp::create(
        b, loc, arith::SIToFPOp::create(b, loc, vec16, sc16),
        vector::BroadcastOp::create(b, loc, vec16, d));
    for (int64_t h = 0; h < 2; ++h) {
      Value qlA = bytes32(r.add(base, 64 * h));
      Value qlB = bytes32(r.add(base, 64 * h + 32));
      Value qh = bytes32(r.add(base, 128 + 32 * h));
      for (int64_t i = 0; i < 4; ++i) {
        Value low =
            i < 2 ? vAnd(i == 0 ? qlA : qlB, 15) : vShr(i == 2 ? qlA : qlB, 4);
        Value high = vAnd(vShr(qh, 2 * i), 3);
        // The signed code q - 32 as a magnitude and a sign (which the
        // activations take), rather than a correction per 16 weights.
        Value q = arith::OrIOp::create(
            b, loc, low, arith::ShLIOp::create(b, loc, high, splat(4)));
        Value centered = arith::SubIOp::create(b, loc, q, splat(32));
        Int8Piece p;
        p.codes = math::AbsIOp::create(b, loc, centered);
        p.signOf = centered;
        int64_t a = 8 * h + 2 * i;
        p.scale = vector::ShuffleOp::create(
            b, loc, scales, scales,
            ArrayRef<int64_t>{a, a, a, a, a + 1, a + 1, a + 1, a + 1});
        p.k0 = 128 * h + 32 * i;
        body(p);
      }
    }
    return;
  }
  }
  llvm_unreachable("unknown weight scheme");
}
