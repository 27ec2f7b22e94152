//===- LaneSums.h - horizontal sums of many vectors at once -----*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// The sums across lanes of up to 16 vectors of 16 f32 lanes, as one vector,
// by a butterfly of two-source shuffles: at each level (width 8, 4, 2, 1) a
// pair (a, b) becomes lo + hi, where lo takes the first w lanes of each
// 2w-lane block of a then b, and hi the last w. 16 vectors cost 30 shuffles
// and 15 adds where 16 separate reductions cost 64 of each plus the inserts
// that gather their results. Used by the decode attention kernel (16 keys'
// dot products) and the threaded linear kernel (rows x tokens dot
// products).
//
//===----------------------------------------------------------------------===//

#ifndef TOK_CONVERSION_TOKTOLINALG_LANESUMS_H
#define TOK_CONVERSION_TOKTOLINALG_LANESUMS_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/SmallVector.h"

namespace mlir::tok {

/// The result of sumLanes: `sums` holds the full sum of input `a` in lane
/// `laneOf[a]` (and, with fewer than 16 inputs, in other lanes too).
struct LaneSums {
  Value sums;
  llvm::SmallVector<int64_t> laneOf;
};

/// Sums each of `partials` (1 to 16 vectors of 16 f32 lanes; a null Value
/// stands for a zero vector and costs nothing where both of a pair are
/// null) across its lanes. With 16 inputs, input `a` placed at position
/// reverseLaneBits(a) comes out in lane `a`.
LaneSums sumLanes(OpBuilder &b, Location loc, ArrayRef<Value> partials,
                  arith::FastMathFlagsAttr flags);

/// The 4-bit reversal of a lane index (0..15).
inline int64_t reverseLaneBits(int64_t lane) {
  return ((lane & 1) << 3) | ((lane & 2) << 1) | ((lane & 4) >> 1) |
         ((lane & 8) >> 3);
}

} // namespace mlir::tok

#endif // TOK_CONVERSION_TOKTOLINALG_LANESUMS_H
