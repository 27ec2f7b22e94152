//===- LaneDot.cpp - lane-wise dot products as vector.contract ------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#include "LaneDot.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/AffineMap.h"

using namespace mlir;
using namespace mlir::tok;

/// The indexing maps of a lane dot: (i, j), (i, j) -> (i).
static SmallVector<AffineMap> laneDotMaps(MLIRContext *ctx) {
  AffineExpr i, j;
  bindDims(ctx, i, j);
  return {AffineMap::get(2, 0, {i, j}, ctx), AffineMap::get(2, 0, {i, j}, ctx),
          AffineMap::get(2, 0, {i}, ctx)};
}

Value mlir::tok::emitLaneDot(OpBuilder &b, Location loc, Value acc, Value lhs,
                             Value rhs) {
  MLIRContext *ctx = b.getContext();
  SmallVector<Attribute> maps;
  for (AffineMap m : laneDotMaps(ctx))
    maps.push_back(AffineMapAttr::get(m));
  auto iterators = ArrayAttr::get(
      ctx,
      {vector::IteratorTypeAttr::get(ctx, vector::IteratorType::parallel),
       vector::IteratorTypeAttr::get(ctx, vector::IteratorType::reduction)});
  return vector::ContractionOp::create(b, loc, lhs, rhs, acc,
                                       ArrayAttr::get(ctx, maps), iterators);
}

Value mlir::tok::emitBf16PairDot(OpBuilder &b, Location loc, Value acc, Value a,
                                 Value c) {
  int64_t lanes = cast<VectorType>(acc.getType()).getDimSize(0);
  auto pairs = VectorType::get({lanes, 2}, b.getBF16Type());
  auto wide = VectorType::get({lanes, 2}, b.getF32Type());
  auto extend = [&](Value v) -> Value {
    return arith::ExtFOp::create(
        b, loc, wide,
        vector::ShapeCastOp::create(b, loc, pairs, v).getResult());
  };
  return emitLaneDot(b, loc, acc, extend(a), extend(c));
}

bool mlir::tok::isLaneDot(vector::ContractionOp op, int64_t lanes, Type elem) {
  auto accType = dyn_cast<VectorType>(op.getAcc().getType());
  return accType && accType.getShape() == ArrayRef<int64_t>{lanes} &&
         accType.getElementType() == elem &&
         op.getKind() == vector::CombiningKind::ADD &&
         op.getIndexingMapsArray() == laneDotMaps(op.getContext());
}
