//===- LaneDot.h - lane-wise dot products as vector.contract ----*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// The kernels' short dot products (VNNI's 4 bytes or 2 words per lane,
// AVX512-BF16's 2 bf16 per lane) are written as one generic shape: a
// `vector.contract` over [lanes x r] whose result lane i adds the r
// products of row i of two extended operands. That is correct on any host;
// the tok-x86-*-dot passes recognize it (isLaneDot) and select the
// instruction with the same semantics.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_CONVERSION_TOKTOLINALG_LANEDOT_H
#define TOK_CONVERSION_TOKTOLINALG_LANEDOT_H

#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/Builders.h"

namespace mlir::tok {

/// acc[i] + sum_j lhs[i, j] * rhs[i, j]: `lhs` and `rhs` are [lanes x r]
/// vectors already extended to acc's element type.
Value emitLaneDot(OpBuilder &b, Location loc, Value acc, Value lhs, Value rhs);

/// acc (vector<16xf32>) plus, per lane i, a[2i] c[2i] + a[2i+1] c[2i+1] for
/// vector<32xbf16> a and c: vdpbf16ps's semantics as a lane dot of the
/// operands extended to f32 (tok-x86-bf16-dot selects the instruction).
Value emitBf16PairDot(OpBuilder &b, Location loc, Value acc, Value a, Value c);

/// Whether `op` is what emitLaneDot builds (maps (i, j), (i, j) -> (i),
/// kind add) with a 1-D accumulator of `lanes` elements of `elem`.
bool isLaneDot(vector::ContractionOp op, int64_t lanes, Type elem);

/// The vector<N x narrow> that `v` extends (with `Ext`) after a shape cast
/// to 2-D, where N and the element type are the given ones; else null.
template <typename Ext>
Value laneDotSource(Value v, int64_t n, llvm::function_ref<bool(Type)> elem) {
  auto ext = v.getDefiningOp<Ext>();
  if (!ext)
    return nullptr;
  auto cast = ext.getIn().template getDefiningOp<vector::ShapeCastOp>();
  if (!cast)
    return nullptr;
  auto type = dyn_cast<VectorType>(cast.getSource().getType());
  if (!type || type.getShape() != ArrayRef<int64_t>{n} ||
      !elem(type.getElementType()))
    return nullptr;
  return cast.getSource();
}

} // namespace mlir::tok

#endif // TOK_CONVERSION_TOKTOLINALG_LANEDOT_H
