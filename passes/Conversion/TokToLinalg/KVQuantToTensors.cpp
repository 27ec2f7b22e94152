//===- KVQuantToTensors.cpp - KIVI-quantized KV caches as tensors ---------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// A cache with `quant = #tok.kv_quant<bits = b, group = g, residual = R>`
// (docs/algorithms.md, "KV-cache quantization (KIVI)") lowers to the plain
// parts, whose keys and values hold only the full-precision tail, plus its
// quantized storage:
//
//   keys, values   tensor<H x Rt x D x T>   the tail, Rt = min(C, R + g - 1)
//   positions      tensor<H x C x i32>      every slot, as for plain caches
//   length         index                    live slots [0, length)
//   quantized      index                    slots [0, quantized) are codes
//   keyCodes       tensor<H x C x (D b / 8) x i8>
//   keyScales/Mins tensor<H x ceil(C / g) x D x f16>   per channel, per g
//                                                      consecutive tokens
//   valueCodes     tensor<H x C x (D b / 8) x i8>
//   valueScales/Mins tensor<H x C x (D / g) x f16>     per token, per g
//                                                      consecutive channels
//
// Slot s >= quantized is tail row s - quantized. Codes are unsigned; int4
// packs two channels per byte, the even channel in the low nibble (channels
// are the contiguous axis of the CPU kernels' dot products, for keys too).
//
// The flush rule: after an append of T tokens to length L' = L + T, the
// quantized prefix grows to max(quantized, g * floor((L' - R) / g)), so that
// at least the R most recent tokens stay in full precision and keys are
// quantized in whole groups of g tokens (values, per token, use the same
// boundary). An append that crosses no group boundary writes the tail in
// place; one that does quantizes the oldest whole groups of (old tail ++
// new tokens) and rewrites the tail, every g steps at decode.
//
// The quantizer is KIVI's (asymmetric, float zero point): per group
// mn = min, s = (max - mn) / (2^b - 1), both rounded to f16; code =
// clamp(roundeven((x - mn) / s), 0, 2^b - 1), 0 where s = 0; x^ = code s + mn.
// Values beyond f16's range (|x| > 65504) make the scale or minimum
// infinite: KV quantization assumes activations within f16, as KIVI does.
//
//===----------------------------------------------------------------------===//

#include "AttentionEmitter.h"
#include "KVCacheParts.h"
#include "tok/Conversion/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Transforms/DialectConversion.h"
#include "tok/Dialect/Tok/IR/TokOps.h"

#include <limits>

using namespace mlir;
using namespace mlir::tok;

int64_t mlir::tok::quantTailCapacity(KVCacheType type) {
  KVQuantAttr q = type.getQuant();
  return std::min(type.getCapacity(), q.getResidual() + q.getGroup() - 1);
}

void mlir::tok::appendQuantizedCacheTypes(KVCacheType type,
                                          SmallVectorImpl<Type> &results) {
  MLIRContext *ctx = type.getContext();
  KVQuantAttr q = type.getQuant();
  int64_t h = type.getKvHeads(), c = type.getCapacity(), d = type.getHeadDim();
  int64_t g = q.getGroup();
  auto i8 = IntegerType::get(ctx, 8);
  auto f16 = Float16Type::get(ctx);
  auto tail = RankedTensorType::get({h, quantTailCapacity(type), d},
                                    type.getElementType());
  results.push_back(tail);
  results.push_back(tail);
  results.push_back(RankedTensorType::get({h, c}, IntegerType::get(ctx, 32)));
  results.push_back(IndexType::get(ctx)); // length
  results.push_back(IndexType::get(ctx)); // quantized
  auto codes = RankedTensorType::get({h, c, d * q.getBits() / 8}, i8);
  auto keyScales = RankedTensorType::get({h, (c + g - 1) / g, d}, f16);
  auto valueScales = RankedTensorType::get({h, c, d / g}, f16);
  results.append(
      {codes, keyScales, keyScales, codes, valueScales, valueScales});
}

namespace {

Value index(OpBuilder &b, Location loc, int64_t v) {
  return arith::ConstantIndexOp::create(b, loc, v);
}

Value f32Const(OpBuilder &b, Location loc, double v) {
  return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(v));
}

/// A scf.for over [0, n) threading `inits`.
scf::ForOp forRange(
    OpBuilder &b, Location loc, Value n, ValueRange inits,
    function_ref<SmallVector<Value>(OpBuilder &, Value, ValueRange)> body) {
  return scf::ForOp::create(
      b, loc, index(b, loc, 0), n, index(b, loc, 1), inits,
      [&](OpBuilder &lb, Location l, Value i, ValueRange args) {
        scf::YieldOp::create(lb, l, body(lb, i, args));
      });
}

/// The (scale, min) in f16 of a group whose elements `read(i)`, i < count,
/// returns (f32).
std::pair<Value, Value>
groupScaleAndMin(OpBuilder &b, Location loc, int64_t count, int64_t bits,
                 function_ref<Value(OpBuilder &, Value)> read) {
  double inf = std::numeric_limits<double>::infinity();
  auto loop = forRange(
      b, loc, index(b, loc, count),
      ValueRange{f32Const(b, loc, inf), f32Const(b, loc, -inf)},
      [&](OpBuilder &lb, Value i, ValueRange mm) {
        Value x = read(lb, i);
        return SmallVector<Value>{arith::MinimumFOp::create(lb, loc, mm[0], x),
                                  arith::MaximumFOp::create(lb, loc, mm[1], x)};
      });
  Value mn = loop.getResult(0), mx = loop.getResult(1);
  Value range = arith::SubFOp::create(b, loc, mx, mn);
  Value scale = arith::DivFOp::create(
      b, loc, range, f32Const(b, loc, static_cast<double>((1 << bits) - 1)));
  Type f16 = b.getF16Type();
  return {arith::TruncFOp::create(b, loc, f16, scale),
          arith::TruncFOp::create(b, loc, f16, mn)};
}

/// The code (i32, in [0, 2^bits)) of x in a group of f16 (scale, min).
Value encode(OpBuilder &b, Location loc, Value x, Value scale16, Value min16,
             int64_t bits) {
  Type f32 = b.getF32Type();
  Value scale = arith::ExtFOp::create(b, loc, f32, scale16);
  Value mn = arith::ExtFOp::create(b, loc, f32, min16);
  Value zero = f32Const(b, loc, 0.0);
  Value top = f32Const(b, loc, static_cast<double>((1 << bits) - 1));
  Value r = math::RoundEvenOp::create(
      b, loc,
      arith::DivFOp::create(b, loc, arith::SubFOp::create(b, loc, x, mn),
                            scale));
  r = arith::MinimumFOp::create(
      b, loc, arith::MaximumFOp::create(b, loc, r, zero), top);
  // A constant group (scale 0) has code 0: x^ = min exactly.
  Value flat =
      arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, scale, zero);
  r = arith::SelectOp::create(b, loc, flat, zero, r);
  return arith::FPToUIOp::create(b, loc, b.getI32Type(), r);
}

/// The byte at [h, slot, byte] of a code tensor for codes `codeOf(channel)`
/// (i32): one code for int8, two (even channel low) for int4.
Value packByte(OpBuilder &b, Location loc, int64_t bits, Value byte,
               function_ref<Value(OpBuilder &, Value)> codeOf) {
  Value code;
  if (bits == 8) {
    code = codeOf(b, byte);
  } else {
    Value even = arith::MulIOp::create(b, loc, byte, index(b, loc, 2));
    Value odd = arith::AddIOp::create(b, loc, even, index(b, loc, 1));
    Value high = arith::ShLIOp::create(
        b, loc, codeOf(b, odd),
        arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(4)));
    code = arith::OrIOp::create(b, loc, codeOf(b, even), high);
  }
  return arith::TruncIOp::create(b, loc, b.getI8Type(), code);
}

Value extract(OpBuilder &b, Location loc, Value t, ValueRange idx) {
  return tensor::ExtractOp::create(b, loc, t, idx);
}

Value insert(OpBuilder &b, Location loc, Value x, Value t, ValueRange idx) {
  return tensor::InsertOp::create(b, loc, x, t, idx);
}

/// Quantizes rows [0, count) of `keys` and `values` ([H, n, D], count a
/// multiple of g) into slots [slot, slot + count) of `q` (slot a multiple
/// of g).
QuantParts quantizeRows(OpBuilder &b, Location loc, KVQuantAttr quant,
                        int64_t heads, int64_t depth, Value keys, Value values,
                        Value count, Value slot, QuantParts q) {
  int64_t bits = quant.getBits(), g = quant.getGroup();
  int64_t bytes = depth * bits / 8;
  Type f32 = b.getF32Type();
  auto read = [&](OpBuilder &rb, Value src, Value h, Value t,
                  Value d) -> Value {
    Value x = extract(rb, loc, src, {h, t, d});
    if (x.getType() != f32)
      x = arith::ExtFOp::create(rb, loc, f32, x);
    return x;
  };
  Value groups = arith::DivUIOp::create(b, loc, count, index(b, loc, g));
  Value firstGroup = arith::DivUIOp::create(b, loc, slot, index(b, loc, g));
  Value cg = index(b, loc, g);

  auto perHead = forRange(
      b, loc, index(b, loc, heads),
      ValueRange{q.keyCodes, q.keyScales, q.keyMins, q.valueCodes,
                 q.valueScales, q.valueMins},
      [&](OpBuilder &hb, Value h, ValueRange st) {
        // Keys: per channel over each group of g tokens.
        auto keyGroups = forRange(
            hb, loc, groups, st.take_front(3),
            [&](OpBuilder &gb, Value grp, ValueRange ks) {
              Value t0 = arith::MulIOp::create(gb, loc, grp, cg);
              Value sg = arith::AddIOp::create(gb, loc, firstGroup, grp);
              auto stats = forRange(
                  gb, loc, index(gb, loc, depth), ks.drop_front(),
                  [&](OpBuilder &db, Value d, ValueRange sm) {
                    auto [s, mn] = groupScaleAndMin(
                        db, loc, g, bits, [&](OpBuilder &rb, Value t) {
                          return read(rb, keys, h,
                                      arith::AddIOp::create(rb, loc, t0, t), d);
                        });
                    return SmallVector<Value>{
                        insert(db, loc, s, sm[0], {h, sg, d}),
                        insert(db, loc, mn, sm[1], {h, sg, d})};
                  });
              Value scales = stats.getResult(0), mins = stats.getResult(1);
              auto codes = forRange(
                  gb, loc, cg, ValueRange{ks[0]},
                  [&](OpBuilder &tb, Value t, ValueRange cs) {
                    Value row = arith::AddIOp::create(tb, loc, t0, t);
                    Value s = arith::AddIOp::create(tb, loc, slot, row);
                    auto perByte = forRange(
                        tb, loc, index(tb, loc, bytes), cs,
                        [&](OpBuilder &bb, Value byte, ValueRange c) {
                          Value packed = packByte(
                              bb, loc, bits, byte, [&](OpBuilder &eb, Value d) {
                                return encode(
                                    eb, loc, read(eb, keys, h, row, d),
                                    extract(eb, loc, scales, {h, sg, d}),
                                    extract(eb, loc, mins, {h, sg, d}), bits);
                              });
                          return SmallVector<Value>{
                              insert(bb, loc, packed, c[0], {h, s, byte})};
                        });
                    return SmallVector<Value>(perByte.getResults());
                  });
              return SmallVector<Value>{codes.getResult(0), scales, mins};
            });
        // Values: per token over each group of g channels.
        auto valueRows = forRange(
            hb, loc, count, st.drop_front(3),
            [&](OpBuilder &tb, Value t, ValueRange vs) {
              Value s = arith::AddIOp::create(tb, loc, slot, t);
              auto stats = forRange(
                  tb, loc, index(tb, loc, depth / g), vs.drop_front(),
                  [&](OpBuilder &cb, Value grp, ValueRange sm) {
                    Value d0 = arith::MulIOp::create(cb, loc, grp, cg);
                    auto [sc, mn] = groupScaleAndMin(
                        cb, loc, g, bits, [&](OpBuilder &rb, Value dd) {
                          return read(rb, values, h, t,
                                      arith::AddIOp::create(rb, loc, d0, dd));
                        });
                    return SmallVector<Value>{
                        insert(cb, loc, sc, sm[0], {h, s, grp}),
                        insert(cb, loc, mn, sm[1], {h, s, grp})};
                  });
              Value scales = stats.getResult(0), mins = stats.getResult(1);
              auto perByte = forRange(
                  tb, loc, index(tb, loc, bytes), ValueRange{vs[0]},
                  [&](OpBuilder &bb, Value byte, ValueRange c) {
                    Value packed = packByte(
                        bb, loc, bits, byte, [&](OpBuilder &eb, Value d) {
                          Value grp = arith::DivUIOp::create(eb, loc, d, cg);
                          return encode(eb, loc, read(eb, values, h, t, d),
                                        extract(eb, loc, scales, {h, s, grp}),
                                        extract(eb, loc, mins, {h, s, grp}),
                                        bits);
                        });
                    return SmallVector<Value>{
                        insert(bb, loc, packed, c[0], {h, s, byte})};
                  });
              return SmallVector<Value>{perByte.getResult(0), scales, mins};
            });
        SmallVector<Value> next(keyGroups.getResults());
        next.append(valueRows.getResults().begin(),
                    valueRows.getResults().end());
        return next;
      });
  QuantParts out = q;
  out.keyCodes = perHead.getResult(0);
  out.keyScales = perHead.getResult(1);
  out.keyMins = perHead.getResult(2);
  out.valueCodes = perHead.getResult(3);
  out.valueScales = perHead.getResult(4);
  out.valueMins = perHead.getResult(5);
  return out;
}

/// The quantized prefix after the cache grows to `length` slots:
/// max(current, g * floor(max(length - R, 0) / g)).
Value flushBoundary(OpBuilder &b, Location loc, KVQuantAttr quant,
                    Value current, Value length) {
  Value r = index(b, loc, quant.getResidual());
  Value over = arith::SubIOp::create(
      b, loc, arith::MaxUIOp::create(b, loc, length, r), r);
  Value g = index(b, loc, quant.getGroup());
  Value whole =
      arith::MulIOp::create(b, loc, arith::DivUIOp::create(b, loc, over, g), g);
  return arith::MaxUIOp::create(b, loc, current, whole);
}

/// [H, n, D] rows of `t` from `from`.
Value rows(OpBuilder &b, Location loc, Value t, OpFoldResult from,
           OpFoldResult n) {
  return extractSlots(b, loc, t, from, n);
}

/// `a` ++ `c` along the token dimension, [H, na + nc, D].
Value concatRows(OpBuilder &b, Location loc, Value a, Value c, Value na,
                 Value nc, RankedTensorType type) {
  Value n = arith::AddIOp::create(b, loc, na, nc);
  auto dynType = RankedTensorType::get(
      {type.getDimSize(0), ShapedType::kDynamic, type.getDimSize(2)},
      type.getElementType());
  Value empty = tensor::EmptyOp::create(b, loc, dynType, ValueRange{n});
  Value out = insertSlots(b, loc, a, empty, b.getIndexAttr(0));
  return insertSlots(b, loc, c, out, na);
}

/// Quantizes the first `quantizedNow - quantized` rows of `rows` ([H, n, D]
/// rows of slots quantized.. ) and writes the rest to the tail.
CacheParts flushRows(OpBuilder &b, Location loc, KVCacheType type, CacheParts c,
                     Value keyRows, Value valueRows, Value n,
                     Value quantizedNow) {
  KVQuantAttr quant = type.getQuant();
  Value count = arith::SubIOp::create(b, loc, quantizedNow, c.quant.quantized);
  QuantParts q =
      quantizeRows(b, loc, quant, type.getKvHeads(), type.getHeadDim(), keyRows,
                   valueRows, count, c.quant.quantized, c.quant);
  Value rest = arith::SubIOp::create(b, loc, n, count);
  c.keys = insertSlots(b, loc, rows(b, loc, keyRows, count, rest), c.keys,
                       b.getIndexAttr(0));
  c.values = insertSlots(b, loc, rows(b, loc, valueRows, count, rest), c.values,
                         b.getIndexAttr(0));
  q.quantized = quantizedNow;
  c.quant = q;
  return c;
}

} // namespace

CacheParts mlir::tok::emitQuantizedEmpty(OpBuilder &b, Location loc,
                                         TypeRange parts) {
  auto alloc = [&](Type t) -> Value {
    return bufferization::AllocTensorOp::create(
        b, loc, cast<RankedTensorType>(t), ValueRange{});
  };
  CacheParts c;
  c.keys = alloc(parts[0]);
  c.values = alloc(parts[1]);
  c.positions = alloc(parts[2]);
  c.length = index(b, loc, 0);
  QuantParts &q = c.quant;
  q.quantized = index(b, loc, 0);
  q.keyCodes = alloc(parts[5]);
  q.keyScales = alloc(parts[6]);
  q.keyMins = alloc(parts[7]);
  q.valueCodes = alloc(parts[8]);
  q.valueScales = alloc(parts[9]);
  q.valueMins = alloc(parts[10]);
  return c;
}

CacheParts mlir::tok::emitQuantizedAppend(OpBuilder &b, Location loc,
                                          KVCacheType type, CacheParts c,
                                          Value keys, Value values,
                                          Value newLength) {
  KVQuantAttr quant = type.getQuant();
  Value next = flushBoundary(b, loc, quant, c.quant.quantized, newLength);
  Value tailLength = arith::SubIOp::create(b, loc, c.length, c.quant.quantized);
  Value same = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, next,
                                     c.quant.quantized);
  auto tailType = cast<RankedTensorType>(c.keys.getType());
  auto ifOp = scf::IfOp::create(
      b, loc, same,
      [&](OpBuilder &tb, Location l) {
        // No group completes: the new tokens join the tail in place.
        CacheParts t = c;
        t.keys = insertSlots(tb, l, keys, c.keys, tailLength);
        t.values = insertSlots(tb, l, values, c.values, tailLength);
        scf::YieldOp::create(tb, l, t.pack());
      },
      [&](OpBuilder &eb, Location l) {
        Value tokens = tensor::DimOp::create(eb, l, keys, 1);
        Value n = arith::AddIOp::create(eb, l, tailLength, tokens);
        Value zero = index(eb, l, 0);
        Value keyRows = concatRows(eb, l, rows(eb, l, c.keys, zero, tailLength),
                                   keys, tailLength, tokens, tailType);
        Value valueRows =
            concatRows(eb, l, rows(eb, l, c.values, zero, tailLength), values,
                       tailLength, tokens, tailType);
        CacheParts f = flushRows(eb, l, type, c, keyRows, valueRows, n, next);
        scf::YieldOp::create(eb, l, f.pack());
      });
  return CacheParts::unpack(ifOp.getResults());
}

void mlir::tok::emitQuantizedTruncateCheck(OpBuilder &b, Location loc,
                                           const CacheParts &c,
                                           Value newLength) {
  Value ok = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::uge, newLength,
                                   c.quant.quantized);
  cf::AssertOp::create(b, loc, ok,
                       "tok.kv.truncate: the slots to drop are already "
                       "quantized (only the full-precision tail, the "
                       "residual most recent tokens, can be rolled back)");
}

Value mlir::tok::dequantizeSlots(OpBuilder &b, Location loc,
                                 const QuantParts &q, int64_t bits,
                                 int64_t group, Value tail, bool ofKeys) {
  auto tailType = cast<RankedTensorType>(tail.getType());
  Type elem = tailType.getElementType();
  Value tailRows = tensor::DimOp::create(b, loc, tail, 1);
  Value slots = arith::AddIOp::create(b, loc, q.quantized, tailRows);
  auto type = RankedTensorType::get(
      {tailType.getDimSize(0), ShapedType::kDynamic, tailType.getDimSize(2)},
      elem);
  Value init = tensor::EmptyOp::create(b, loc, type, ValueRange{slots});
  Value codes = ofKeys ? q.keyCodes : q.valueCodes;
  Value scales = ofKeys ? q.keyScales : q.valueScales;
  Value mins = ofKeys ? q.keyMins : q.valueMins;
  AffineMap id = AffineMap::getMultiDimIdentityMap(3, b.getContext());
  SmallVector<utils::IteratorType> par(3, utils::IteratorType::parallel);
  return linalg::GenericOp::create(
             b, loc, type, ValueRange{}, ValueRange{init},
             ArrayRef<AffineMap>{id}, par,
             [&](OpBuilder &gb, Location l, ValueRange) {
               Value h = linalg::IndexOp::create(gb, l, 0);
               Value s = linalg::IndexOp::create(gb, l, 1);
               Value d = linalg::IndexOp::create(gb, l, 2);
               Value inCodes = arith::CmpIOp::create(
                   gb, l, arith::CmpIPredicate::ult, s, q.quantized);
               auto ifOp = scf::IfOp::create(
                   gb, l, inCodes,
                   [&](OpBuilder &tb, Location tl) {
                     Value g = index(tb, tl, group);
                     Value byte = bits == 8 ? d
                                            : arith::DivUIOp::create(
                                                  tb, tl, d, index(tb, tl, 2));
                     Value code = arith::ExtUIOp::create(
                         tb, tl, tb.getI32Type(),
                         extract(tb, tl, codes, {h, s, byte}));
                     if (bits == 4) {
                       Value odd = arith::IndexCastOp::create(
                           tb, tl, tb.getI32Type(),
                           arith::RemUIOp::create(tb, tl, d, index(tb, tl, 2)));
                       Value shift = arith::MulIOp::create(
                           tb, tl, odd,
                           arith::ConstantOp::create(tb, tl,
                                                     tb.getI32IntegerAttr(4)));
                       code = arith::AndIOp::create(
                           tb, tl, arith::ShRUIOp::create(tb, tl, code, shift),
                           arith::ConstantOp::create(tb, tl,
                                                     tb.getI32IntegerAttr(15)));
                     }
                     SmallVector<Value> at =
                         ofKeys
                             ? SmallVector<Value>{h,
                                                  arith::DivUIOp::create(tb, tl,
                                                                         s, g),
                                                  d}
                             : SmallVector<Value>{
                                   h, s, arith::DivUIOp::create(tb, tl, d, g)};
                     Type f32 = tb.getF32Type();
                     Value scale = arith::ExtFOp::create(
                         tb, tl, f32, extract(tb, tl, scales, at));
                     Value mn = arith::ExtFOp::create(
                         tb, tl, f32, extract(tb, tl, mins, at));
                     Value x = arith::UIToFPOp::create(tb, tl, f32, code);
                     x = math::FmaOp::create(tb, tl, x, scale, mn);
                     if (elem != f32)
                       x = arith::TruncFOp::create(tb, tl, elem, x);
                     scf::YieldOp::create(tb, tl, x);
                   },
                   [&](OpBuilder &eb, Location el) {
                     Value row = arith::SubIOp::create(eb, el, s, q.quantized);
                     scf::YieldOp::create(eb, el,
                                          extract(eb, el, tail, {h, row, d}));
                   });
               linalg::YieldOp::create(gb, l, ifOp.getResult(0));
             })
      .getResult(0);
}

namespace {

/// tok.kv.quantize: the live slots of a plain cache into quantized storage
/// by the flush rule (all but the most recent R, in whole groups).
struct KVQuantizeLowering : OpConversionPattern<KVQuantizeOp> {
  using OpConversionPattern::OpConversionPattern;

  LogicalResult
  matchAndRewrite(KVQuantizeOp op, OneToNOpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    KVCacheType type = op.getType();
    SmallVector<Type> parts;
    if (failed(getTypeConverter()->convertType(type, parts)))
      return failure();
    CacheParts from = CacheParts::unpack(adaptor.getCache());
    CacheParts c = emitQuantizedEmpty(rewriter, loc, parts);
    c.positions = from.positions;
    c.length = from.length;
    Value n = from.length;
    Value next =
        flushBoundary(rewriter, loc, type.getQuant(), c.quant.quantized, n);
    Value zero = index(rewriter, loc, 0);
    c = flushRows(rewriter, loc, type, c,
                  rows(rewriter, loc, from.keys, zero, n),
                  rows(rewriter, loc, from.values, zero, n), n, next);
    rewriter.replaceOpWithMultiple(op, {c.pack()});
    return success();
  }
};

} // namespace

void mlir::tok::populateKVQuantToTensorsPatterns(const TypeConverter &converter,
                                                 RewritePatternSet &patterns) {
  patterns.add<KVQuantizeLowering>(converter, patterns.getContext());
}
