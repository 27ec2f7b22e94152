//===- LaneSums.cpp - horizontal sums of many vectors at once -------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#include "LaneSums.h"

#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <cassert>

using namespace mlir;
using namespace mlir::tok;

namespace {

constexpr int64_t kLanes = 16;

/// A vector of the butterfly and, per lane, the input whose partial sum the
/// lane holds (-1: none, a zero lane). A null `value` is all zeros.
struct Partial {
  Value value;
  SmallVector<int64_t, kLanes> owner;
};

} // namespace

LaneSums mlir::tok::sumLanes(OpBuilder &b, Location loc,
                             ArrayRef<Value> partials,
                             arith::FastMathFlagsAttr flags) {
  assert(!partials.empty() && partials.size() <= kLanes &&
         "1 to 16 partial vectors");
  // Pad to a power of two with zero vectors.
  size_t count = 1;
  while (count < partials.size())
    count *= 2;
  SmallVector<Partial> level;
  for (size_t i = 0; i < count; ++i) {
    Value v = i < partials.size() ? partials[i] : Value();
    int64_t who = v ? static_cast<int64_t>(i) : -1;
    level.push_back({v, SmallVector<int64_t, kLanes>(kLanes, who)});
  }
  auto zeros = [&]() -> Value {
    auto type = VectorType::get({kLanes}, b.getF32Type());
    return arith::ConstantOp::create(
        b, loc, DenseElementsAttr::get(type, b.getF32FloatAttr(0.0f)));
  };
  for (int64_t w = kLanes / 2; w >= 1; w /= 2) {
    // Once one vector is left, it adds the halves of each 2w-lane block
    // swapped (one shuffle): both halves then hold the block's sums.
    if (level.size() == 1) {
      Partial &v = level.front();
      SmallVector<int64_t> swap;
      for (int64_t lane = 0; lane < kLanes; ++lane) {
        swap.push_back(lane ^ w);
        assert(v.owner[lane] == v.owner[lane ^ w] &&
               "a lane pair sums one input's partials");
      }
      if (v.value)
        v.value = arith::AddFOp::create(
            b, loc, v.value,
            vector::ShuffleOp::create(b, loc, v.value, v.value, swap), flags);
      continue;
    }
    SmallVector<int64_t> lo, hi;
    for (int64_t block = 0; block < kLanes / (2 * w); ++block)
      for (int64_t src = 0; src < 2; ++src)
        for (int64_t i = 0; i < w; ++i) {
          lo.push_back(src * kLanes + block * 2 * w + i);
          hi.push_back(src * kLanes + block * 2 * w + w + i);
        }
    SmallVector<Partial> next;
    for (size_t j = 0; j + 1 < level.size(); j += 2) {
      const Partial &x = level[j], &y = level[j + 1];
      Partial sum;
      for (int64_t lane = 0; lane < kLanes; ++lane) {
        const Partial &from = lane % (2 * w) < w ? x : y;
        int64_t at = lane / (2 * w) * 2 * w + lane % w;
        assert(from.owner[at] == from.owner[at + w] &&
               "a lane pair sums one input's partials");
        sum.owner.push_back(from.owner[at]);
      }
      if (x.value || y.value) {
        Value xv = x.value ? x.value : zeros();
        Value yv = y.value ? y.value : zeros();
        Value l = vector::ShuffleOp::create(b, loc, xv, yv, lo);
        Value h = vector::ShuffleOp::create(b, loc, xv, yv, hi);
        sum.value = arith::AddFOp::create(b, loc, l, h, flags);
      }
      next.push_back(std::move(sum));
    }
    level = std::move(next);
  }
  assert(level.size() == 1 && "the butterfly ends in one vector");
  LaneSums result;
  result.sums = level.front().value ? level.front().value : zeros();
  result.laneOf.assign(partials.size(), -1);
  for (int64_t lane = kLanes - 1; lane >= 0; --lane)
    if (int64_t who = level.front().owner[lane]; who >= 0)
      result.laneOf[who] = lane;
  return result;
}
