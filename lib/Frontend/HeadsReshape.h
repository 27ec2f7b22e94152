//===- HeadsReshape.h - token rows <-> attention heads ----------*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// Private to lib/Frontend: the reshapes between a projection's token rows
// and the heads layout of tok's attention ops, built the same way by the
// decoder and encoder builders.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_LIB_FRONTEND_HEADSRESHAPE_H
#define TOK_LIB_FRONTEND_HEADSRESHAPE_H

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"

namespace mlir {
namespace tok {

/// [T, H*D] -> [H, T, D]: `tokens` is T (index), or null to read it off
/// `rows` itself.
inline Value buildSplitHeads(OpBuilder &b, Location loc, Value rows,
                             int64_t heads, int64_t headDim, Value tokens) {
  auto type = cast<RankedTensorType>(rows.getType());
  Type elem = type.getElementType();
  constexpr int64_t dyn = ShapedType::kDynamic;
  if (!tokens)
    tokens = tensor::DimOp::create(b, loc, rows, 0);
  SmallVector<OpFoldResult> shape{tokens, b.getIndexAttr(heads),
                                  b.getIndexAttr(headDim)};
  Value expanded = tensor::ExpandShapeOp::create(
      b, loc, RankedTensorType::get({dyn, heads, headDim}, elem), rows,
      SmallVector<ReassociationIndices>{{0}, {1, 2}}, shape);
  Value init = tensor::EmptyOp::create(
      b, loc, RankedTensorType::get({heads, dyn, headDim}, elem),
      ValueRange{tokens});
  return linalg::TransposeOp::create(b, loc, expanded, init,
                                     ArrayRef<int64_t>{1, 0, 2})
      .getResult()[0];
}

/// [H, T, D] -> [T, H*D]: `tokens` is T (index), or null to read it off
/// `heads` itself.
inline Value buildMergeHeads(OpBuilder &b, Location loc, Value headsValue,
                             Value tokens) {
  auto type = cast<RankedTensorType>(headsValue.getType());
  int64_t heads = type.getDimSize(0), headDim = type.getDimSize(2);
  if (!tokens)
    tokens = tensor::DimOp::create(b, loc, headsValue, 1);
  Value init = tensor::EmptyOp::create(
      b, loc,
      RankedTensorType::get({ShapedType::kDynamic, heads, headDim},
                            type.getElementType()),
      ValueRange{tokens});
  Value transposed = linalg::TransposeOp::create(b, loc, headsValue, init,
                                                 ArrayRef<int64_t>{1, 0, 2})
                         .getResult()[0];
  return tensor::CollapseShapeOp::create(
      b, loc, transposed, SmallVector<ReassociationIndices>{{0}, {1, 2}});
}

} // namespace tok
} // namespace mlir

#endif // TOK_LIB_FRONTEND_HEADSRESHAPE_H
