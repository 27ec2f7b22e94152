//===- QuantBlocks.cpp - GGML weight blocks read in IR --------------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#include "QuantBlocks.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

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
