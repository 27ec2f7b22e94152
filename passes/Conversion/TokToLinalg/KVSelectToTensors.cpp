//===- KVSelectToTensors.cpp - page bounds of a cache (Quest) -------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// A cache with `pages = P` carries, per KV head, page of P consecutive
// slots and key channel, the minimum and maximum of the keys over the
// page's live slots (Quest's metadata: docs/algorithms.md, "Query-aware
// page selection (Quest)"), as two f32 tensors [H, ceil(C / P), D] after
// the plain parts. Appends recompute the pages they touch (the old last
// page and the new ones), a truncate the new last partial page; pages past
// the live slots are stale and never read. tok.cached_attention with
// `select_budget` reads them to rank pages (AttentionToVector.cpp).
//
//===----------------------------------------------------------------------===//

#include "KVCacheParts.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <limits>

using namespace mlir;
using namespace mlir::tok;

RankedTensorType mlir::tok::pageBoundsType(KVCacheType type) {
  int64_t p = type.getPages();
  return RankedTensorType::get(
      {type.getKvHeads(), (type.getCapacity() + p - 1) / p, type.getHeadDim()},
      Float32Type::get(type.getContext()));
}

CacheParts mlir::tok::emitPageBoundsUpdate(OpBuilder &b, Location loc,
                                           int64_t pageSize, CacheParts c,
                                           Value firstPage, Value endPage,
                                           Value length) {
  auto keysType = cast<RankedTensorType>(c.keys.getType());
  int64_t heads = keysType.getDimSize(0), depth = keysType.getDimSize(2);
  Type f32 = b.getF32Type();
  auto idx = [&](OpBuilder &ob, int64_t v) -> Value {
    return arith::ConstantIndexOp::create(ob, loc, v);
  };
  double inf = std::numeric_limits<double>::infinity();
  auto perPage = scf::ForOp::create(
      b, loc, firstPage, endPage, idx(b, 1), ValueRange{c.pageMin, c.pageMax},
      [&](OpBuilder &pb, Location l, Value page, ValueRange bounds) {
        Value first = arith::MulIOp::create(pb, l, page, idx(pb, pageSize));
        Value end = arith::MinUIOp::create(
            pb, l, arith::AddIOp::create(pb, l, first, idx(pb, pageSize)),
            length);
        auto perHead = scf::ForOp::create(
            pb, l, idx(pb, 0), idx(pb, heads), idx(pb, 1), bounds,
            [&](OpBuilder &hb, Location, Value h, ValueRange hbounds) {
              auto perChannel = scf::ForOp::create(
                  hb, l, idx(hb, 0), idx(hb, depth), idx(hb, 1), hbounds,
                  [&](OpBuilder &db, Location, Value d, ValueRange dbounds) {
                    Value lo = arith::ConstantOp::create(
                        db, l, db.getF32FloatAttr(inf));
                    Value hi = arith::ConstantOp::create(
                        db, l, db.getF32FloatAttr(-inf));
                    auto slots = scf::ForOp::create(
                        db, l, first, end, idx(db, 1), ValueRange{lo, hi},
                        [&](OpBuilder &sb, Location, Value s, ValueRange mm) {
                          Value x = tensor::ExtractOp::create(
                              sb, l, c.keys, ValueRange{h, s, d});
                          if (x.getType() != f32)
                            x = arith::ExtFOp::create(sb, l, f32, x);
                          scf::YieldOp::create(
                              sb, l,
                              ValueRange{
                                  arith::MinimumFOp::create(sb, l, mm[0], x),
                                  arith::MaximumFOp::create(sb, l, mm[1], x)});
                        });
                    Value mn = tensor::InsertOp::create(
                        db, l, slots.getResult(0), dbounds[0],
                        ValueRange{h, page, d});
                    Value mx = tensor::InsertOp::create(
                        db, l, slots.getResult(1), dbounds[1],
                        ValueRange{h, page, d});
                    scf::YieldOp::create(db, l, ValueRange{mn, mx});
                  });
              scf::YieldOp::create(hb, l, perChannel.getResults());
            });
        scf::YieldOp::create(pb, l, perHead.getResults());
      });
  c.pageMin = perPage.getResult(0);
  c.pageMax = perPage.getResult(1);
  return c;
}

CacheParts mlir::tok::emitPageBoundsAfterResize(OpBuilder &b, Location loc,
                                                int64_t pageSize, CacheParts c,
                                                Value oldLength) {
  Value p = arith::ConstantIndexOp::create(b, loc, pageSize);
  Value pm1 = arith::ConstantIndexOp::create(b, loc, pageSize - 1);
  // From the page holding the first slot that changed: min(old, new)
  // (append: the old last page; truncate: the new last page) to the end of
  // the live slots.
  Value from = arith::MinUIOp::create(b, loc, oldLength, c.length);
  Value firstPage = arith::DivUIOp::create(b, loc, from, p);
  Value endPage = arith::DivUIOp::create(
      b, loc, arith::AddIOp::create(b, loc, c.length, pm1), p);
  return emitPageBoundsUpdate(b, loc, pageSize, c, firstPage, endPage,
                              c.length);
}
