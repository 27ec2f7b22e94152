//===- KVCacheParts.h - the tensors a KV cache lowers to --------*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// Private to the tok-to-linalg conversion: the bundle of tensors a
// !tok.kv_cache becomes (see KVCacheToTensors.cpp) and slot-level helpers
// shared by the cache op lowerings.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_PASSES_CONVERSION_TOKTOLINALG_KVCACHEPARTS_H
#define TOK_PASSES_CONVERSION_TOKTOLINALG_KVCACHEPARTS_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/DialectConversion.h"
#include "tok/Dialect/Tok/IR/TokTypes.h"

namespace mlir {
namespace tok {

/// The quantized storage of a cache with `quant` (KVQuantToTensors.cpp):
/// slots [0, quantized) live here, the rest in the full-precision tail.
struct QuantParts {
  Value quantized;                    // index, a multiple of group
  Value keyCodes, keyScales, keyMins; // [H, C, D*b/8] i8, [H, ceil(C/g), D] f16
  Value valueCodes, valueScales, valueMins; // [H, C, D*b/8] i8, [H, C, D/g] f16

  explicit operator bool() const { return static_cast<bool>(quantized); }
};

/// The converted values of one cache. With `quant`, `keys` and `values` are
/// the full-precision tail: slot s >= quant.quantized is tail row
/// s - quant.quantized.
struct CacheParts {
  Value keys, values, positions, length, scores;
  /// With `pages = P`: per KV head, page and channel, the min and max of
  /// the keys over the page's live slots ([H, ceil(C / P), D] f32).
  Value pageMin, pageMax;
  QuantParts quant;

  /// The number of converted values of a cache (see
  /// populateKVCacheTypeConversion): the plain parts, then scores (1), page
  /// bounds (2) or quantized storage (7; never with the other two). The
  /// counts 4, 5, 6, 7 and 11 tell them apart.
  static constexpr size_t kPlainParts = 4, kQuantParts = 7;

  static CacheParts unpack(ValueRange parts) {
    CacheParts c;
    c.keys = parts[0];
    c.values = parts[1];
    c.positions = parts[2];
    c.length = parts[3];
    size_t n = parts.size(), next = kPlainParts;
    if (n == kPlainParts + 1 || n == kPlainParts + 3)
      c.scores = parts[next++];
    if (n == kPlainParts + 2 || n == kPlainParts + 3) {
      c.pageMin = parts[next++];
      c.pageMax = parts[next++];
    }
    if (n == kPlainParts + kQuantParts) {
      QuantParts &q = c.quant;
      q.quantized = parts[4];
      q.keyCodes = parts[5];
      q.keyScales = parts[6];
      q.keyMins = parts[7];
      q.valueCodes = parts[8];
      q.valueScales = parts[9];
      q.valueMins = parts[10];
    }
    return c;
  }
  SmallVector<Value> pack() const {
    SmallVector<Value> parts{keys, values, positions, length};
    if (scores)
      parts.push_back(scores);
    if (pageMin)
      parts.append({pageMin, pageMax});
    if (quant)
      parts.append({quant.quantized, quant.keyCodes, quant.keyScales,
                    quant.keyMins, quant.valueCodes, quant.valueScales,
                    quant.valueMins});
    return parts;
  }
};

inline OpFoldResult idxAttr(OpBuilder &b, int64_t v) {
  return b.getIndexAttr(v);
}

/// The [H, count, D] (or [H, count] for rank 2) slots starting at `slot`.
inline Value extractSlots(OpBuilder &b, Location loc, Value source,
                          OpFoldResult slot, OpFoldResult count) {
  auto type = cast<RankedTensorType>(source.getType());
  SmallVector<OpFoldResult> offsets{idxAttr(b, 0), slot};
  SmallVector<OpFoldResult> sizes{idxAttr(b, type.getDimSize(0)), count};
  if (type.getRank() == 3) {
    offsets.push_back(idxAttr(b, 0));
    sizes.push_back(idxAttr(b, type.getDimSize(2)));
  }
  SmallVector<OpFoldResult> strides(type.getRank(), idxAttr(b, 1));
  return tensor::ExtractSliceOp::create(b, loc, source, offsets, sizes,
                                        strides);
}

/// Writes `slots` ([H, n, D] or [H, n]) into `dest` from slot `slot` on.
inline Value insertSlots(OpBuilder &b, Location loc, Value slots, Value dest,
                         OpFoldResult slot) {
  auto type = cast<RankedTensorType>(dest.getType());
  auto slotsType = cast<RankedTensorType>(slots.getType());
  // The verifier lets the new slots leave heads and head dim dynamic; the
  // cache fixes them, so give the slice the cache's static sizes.
  SmallVector<int64_t> shape(type.getShape());
  shape[1] = slotsType.getDimSize(1);
  auto castType = RankedTensorType::get(shape, slotsType.getElementType());
  if (castType != slotsType) {
    slots = tensor::CastOp::create(b, loc, castType, slots);
    slotsType = castType;
  }
  SmallVector<OpFoldResult> offsets{idxAttr(b, 0), slot};
  SmallVector<OpFoldResult> sizes{idxAttr(b, type.getDimSize(0))};
  if (slotsType.isDynamicDim(1))
    sizes.push_back(OpFoldResult(tensor::DimOp::create(b, loc, slots, 1)));
  else
    sizes.push_back(idxAttr(b, slotsType.getDimSize(1)));
  if (type.getRank() == 3) {
    offsets.push_back(idxAttr(b, 0));
    sizes.push_back(idxAttr(b, type.getDimSize(2)));
  }
  SmallVector<OpFoldResult> strides(type.getRank(), idxAttr(b, 1));
  return tensor::InsertSliceOp::create(b, loc, slots, dest, offsets, sizes,
                                       strides);
}

/// Copies the slots [from, from + count) of every cache tensor to
/// [to, to + count). Values stay correct for overlapping ranges (the slice
/// is read before it is written).
inline CacheParts moveSlots(OpBuilder &b, Location loc, CacheParts c,
                            OpFoldResult from, OpFoldResult to,
                            OpFoldResult count) {
  auto move = [&](Value t) {
    return insertSlots(b, loc, extractSlots(b, loc, t, from, count), t, to);
  };
  c.keys = move(c.keys);
  c.values = move(c.values);
  c.positions = move(c.positions);
  if (c.scores)
    c.scores = move(c.scores);
  return c;
}

inline Value constIndex(OpBuilder &b, Location loc, int64_t v) {
  return arith::ConstantIndexOp::create(b, loc, v);
}

//===----------------------------------------------------------------------===//
// Quantized caches (KVQuantToTensors.cpp)
//===----------------------------------------------------------------------===//

/// Full-precision tail rows of a quantized cache: min(C, R + g - 1).
int64_t quantTailCapacity(KVCacheType type);

/// The converted types of a cache with `quant`, in CacheParts order.
void appendQuantizedCacheTypes(KVCacheType type,
                               SmallVectorImpl<Type> &results);

/// An empty quantized cache of the converted `parts` types.
CacheParts emitQuantizedEmpty(OpBuilder &b, Location loc, TypeRange parts);

/// Appends `keys` / `values` ([H, T, D]) to the tail of `c` (a cache of
/// `type`, growing to `newLength`), quantizing the whole groups that leave
/// the residual window. Positions and length are the caller's.
CacheParts emitQuantizedAppend(OpBuilder &b, Location loc, KVCacheType type,
                               CacheParts c, Value keys, Value values,
                               Value newLength);

/// Asserts at run time that truncating `c` to `newLength` drops only tail
/// slots.
void emitQuantizedTruncateCheck(OpBuilder &b, Location loc, const CacheParts &c,
                                Value newLength);

/// The keys (or values) of slots [0, quantized + rows(tail)) as one
/// [H, S, D] tensor of the tail's element type: codes dequantized, tail
/// rows copied. The general attention lowering reads this; the vectorized
/// kernels dequantize in registers instead.
Value dequantizeSlots(OpBuilder &b, Location loc, const QuantParts &q,
                      int64_t bits, int64_t group, Value tail, bool ofKeys);

/// tok.kv.quantize.
void populateKVQuantToTensorsPatterns(const TypeConverter &converter,
                                      RewritePatternSet &patterns);

//===----------------------------------------------------------------------===//
// Page bounds for query-aware selection (KVSelectToTensors.cpp)
//===----------------------------------------------------------------------===//

/// The converted type of a cache's page minima (and maxima):
/// [H, ceil(C / P), D] f32.
RankedTensorType pageBoundsType(KVCacheType type);

/// Recomputes the bounds of pages [firstPage, endPage) of `c` from its
/// keys, over the live slots below `length`.
CacheParts emitPageBoundsUpdate(OpBuilder &b, Location loc, int64_t pageSize,
                                CacheParts c, Value firstPage, Value endPage,
                                Value length);

/// After the live slots changed from `oldLength` slots to `c.length`
/// (append: the pages from the old last one on; truncate: the new last
/// partial page).
CacheParts emitPageBoundsAfterResize(OpBuilder &b, Location loc,
                                     int64_t pageSize, CacheParts c,
                                     Value oldLength);

} // namespace tok
} // namespace mlir

#endif // TOK_PASSES_CONVERSION_TOKTOLINALG_KVCACHEPARTS_H
