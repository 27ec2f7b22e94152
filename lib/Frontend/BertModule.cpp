//===- BertModule.cpp - tok IR for a BERT-family encoder ------------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// Built with MLIR's builders. @encode embeds the ids and calls the private
// block function @layer once per encoder block. Every shape inside a block
// is taken from the block's own values (never from the input ids), so that
// token merging and pruning, which shrink the token dimension in the middle
// of a block, leave a well-formed function.
//
//===----------------------------------------------------------------------===//

#include "tok/Frontend/BertModel.h"

#include "HeadsReshape.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "tok/Dialect/Tok/IR/TokDialect.h"
#include "tok/Dialect/Tok/IR/TokOps.h"
#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
using namespace mlir::tok;

namespace {

constexpr int64_t kDyn = ShapedType::kDynamic;
constexpr size_t kEmbeddingWeights = 5, kBlockWeights = 16;

class BertBuilder {
public:
  BertBuilder(ModuleOp module, const BertConfig &c)
      : module(module), b(module.getContext()), c(c),
        weights(getBertWeights(c)), e(c.dim), h(c.heads), d(c.getHeadDim()) {
    f32 = b.getF32Type();
    rows = tensor({kDyn, e});
    vec = tensor({e});
    ids = RankedTensorType::get({kDyn}, b.getI32Type());
    for (const BertWeight &w : weights)
      weightTypes.push_back(tensor(w.shape));
  }

  /// A public function `(%ids, weights...) -> result`, weights named.
  func::FuncOp begin(StringRef name, Type result) {
    SmallVector<Type> args{ids};
    llvm::append_range(args, weightTypes);
    b.setInsertionPointToEnd(module.getBody());
    auto fn = func::FuncOp::create(b, NameLoc::get(b.getStringAttr(name)), name,
                                   b.getFunctionType(args, result));
    for (auto [i, w] : llvm::enumerate(weights))
      fn.setArgAttr(1 + i, "tok.weight", b.getStringAttr(w.name));
    b.setInsertionPointToStart(fn.addEntryBlock());
    return fn;
  }

  /// One encoder block: `(x, weights...) -> x'` (post-norm).
  func::FuncOp buildBlock() {
    SmallVector<Type> args{rows};
    llvm::append_range(
        args,
        llvm::ArrayRef(weightTypes).slice(kEmbeddingWeights, kBlockWeights));
    Location loc = NameLoc::get(b.getStringAttr("layer"));
    b.setInsertionPointToEnd(module.getBody());
    auto fn =
        func::FuncOp::create(b, loc, "layer", b.getFunctionType(args, rows));
    fn.setPrivate();
    fn->setAttr(TokDialect::getLayerAttrName(), b.getUnitAttr());
    // One copy however many calls (the lowering inlines other functions).
    fn.setNoInline(true);
    Block *body = fn.addEntryBlock();
    b.setInsertionPointToStart(body);
    auto w = [&](unsigned i) { return body->getArgument(1 + i); };
    Value x = body->getArgument(0);
    Value c0 = arith::ConstantIndexOp::create(b, loc, 0);
    auto linear = [&](Value in, unsigned wIdx) -> Value {
      return LinearOp::create(b, loc, in, w(wIdx), w(wIdx + 1));
    };
    // [T, E] -> [H, T, D], with T read off the value itself.
    auto heads = [&](Value in) -> Value {
      return buildSplitHeads(b, loc, in, h, d, Value());
    };
    Value q = heads(linear(x, 0)), k = heads(linear(x, 2)),
          v = heads(linear(x, 4));
    Value a = AttentionOp::create(
                  b, loc, q.getType(), Type(), q, k, v, Value(), Value(),
                  Value(), Value(), Value(), Value(),
                  MaskAttr::get(b.getContext(), MaskKind::full, 0, 0, false),
                  FloatAttr(), FloatAttr(), ScoresAttr())
                  .getOutput();
    Value aR = buildMergeHeads(b, loc, a, Value());
    Value r = arith::AddFOp::create(b, loc, x, linear(aR, 6));
    Value xn = layerNorm(loc, r, w(8), w(9));
    Value i = linear(xn, 10);
    // GELU, erf form: x/2 * (1 + erf(x / sqrt 2)).
    Value gt = tensor::DimOp::create(b, loc, i, c0);
    Value gInit = tensor::EmptyOp::create(b, loc, i.getType(), ValueRange{gt});
    AffineMap id = b.getMultiDimIdentityMap(2);
    Value g =
        linalg::GenericOp::create(
            b, loc, i.getType(), ValueRange{i}, ValueRange{gInit},
            ArrayRef<AffineMap>{id, id},
            {utils::IteratorType::parallel, utils::IteratorType::parallel},
            [&](OpBuilder &nb, Location l, ValueRange args) {
              auto cst = [&](float value) -> Value {
                return arith::ConstantOp::create(nb, l,
                                                 nb.getF32FloatAttr(value));
              };
              Value half = cst(0.5f), one = cst(1.0f),
                    rsqrt2 = cst(0.707106781f);
              Value xs = arith::MulFOp::create(nb, l, args[0], rsqrt2);
              Value erf = math::ErfOp::create(nb, l, xs);
              Value p = arith::AddFOp::create(nb, l, one, erf);
              Value hx = arith::MulFOp::create(nb, l, args[0], half);
              Value y = arith::MulFOp::create(nb, l, hx, p);
              linalg::YieldOp::create(nb, l, y);
            })
            .getResult(0);
    Value r2 = arith::AddFOp::create(b, loc, xn, linear(g, 12));
    Value out = layerNorm(loc, r2, w(14), w(15));
    func::ReturnOp::create(b, loc, out);
    return fn;
  }

  /// @encode: embeddings, then one call of `block` per encoder block.
  void buildEncode(func::FuncOp block) {
    func::FuncOp fn = begin("encode", rows);
    Block *body = &fn.getBody().front();
    Location loc = fn.getLoc();
    auto w = [&](unsigned i) { return body->getArgument(1 + i); };
    Value tokIds = body->getArgument(0);
    Value c0 = arith::ConstantIndexOp::create(b, loc, 0);
    Value t = tensor::DimOp::create(b, loc, tokIds, c0);
    // Embeddings: word + position (0..T-1) + token type 0, then LayerNorm.
    Value posInit = tensor::EmptyOp::create(b, loc, ids, ValueRange{t});
    Value pos = linalg::GenericOp::create(
                    b, loc, ids, ValueRange{}, ValueRange{posInit},
                    ArrayRef<AffineMap>{b.getMultiDimIdentityMap(1)},
                    {utils::IteratorType::parallel},
                    [&](OpBuilder &nb, Location l, ValueRange) {
                      Value i = linalg::IndexOp::create(nb, l, 0);
                      Value i32 =
                          arith::IndexCastOp::create(nb, l, nb.getI32Type(), i);
                      linalg::YieldOp::create(nb, l, i32);
                    })
                    .getResult(0);
    Value word = EmbedOp::create(b, loc, w(0), tokIds);
    Value posRow = EmbedOp::create(b, loc, w(1), pos);
    auto idx = [&](int64_t x) -> OpFoldResult { return b.getIndexAttr(x); };
    Value type2 = tensor::ExtractSliceOp::create(
        b, loc, tensor({1, e}), w(2), ArrayRef<OpFoldResult>{idx(0), idx(0)},
        ArrayRef<OpFoldResult>{idx(1), idx(e)},
        ArrayRef<OpFoldResult>{idx(1), idx(1)});
    Value type = tensor::CollapseShapeOp::create(
        b, loc, type2, SmallVector<ReassociationIndices>{{0, 1}});
    Value embInit = tensor::EmptyOp::create(b, loc, rows, ValueRange{t});
    MLIRContext *ctx = b.getContext();
    AffineMap id = b.getMultiDimIdentityMap(2);
    AffineMap col = AffineMap::get(2, 0, {getAffineDimExpr(1, ctx)}, ctx);
    Value emb =
        linalg::GenericOp::create(
            b, loc, rows, ValueRange{word, posRow, type}, ValueRange{embInit},
            ArrayRef<AffineMap>{id, id, col, id},
            {utils::IteratorType::parallel, utils::IteratorType::parallel},
            [&](OpBuilder &nb, Location l, ValueRange args) {
              Value ab = arith::AddFOp::create(nb, l, args[0], args[1]);
              Value abc = arith::AddFOp::create(nb, l, ab, args[2]);
              linalg::YieldOp::create(nb, l, abc);
            })
            .getResult(0);
    Value x = layerNorm(loc, emb, w(3), w(4));
    for (int64_t l = 0; l < c.layers; ++l) {
      SmallVector<Value> operands{x};
      for (size_t k = 0; k < kBlockWeights; ++k)
        operands.push_back(w(kEmbeddingWeights + l * kBlockWeights + k));
      Location callLoc =
          NameLoc::get(b.getStringAttr("encoder.layer." + std::to_string(l)));
      auto call = func::CallOp::create(b, callLoc, block, operands);
      call->setAttr(TokDialect::getLayerAttrName(), b.getI64IntegerAttr(l));
      x = call.getResult(0);
    }
    func::ReturnOp::create(b, loc, x);
  }

  /// @embed: mean pooling (+ L2 normalization, as
  /// torch.nn.functional.normalize: x / max(|x|, 1e-12)).
  void buildEmbed(func::FuncOp encode, bool normalize) {
    func::FuncOp fn = begin("embed", vec);
    Block *body = &fn.getBody().front();
    Location loc = fn.getLoc();
    MLIRContext *ctx = b.getContext();
    Value c0 = arith::ConstantIndexOp::create(b, loc, 0);
    Value hs =
        func::CallOp::create(b, loc, encode, body->getArguments()).getResult(0);
    Value n = tensor::DimOp::create(b, loc, hs, c0);
    Value n64 = arith::IndexCastOp::create(b, loc, b.getI64Type(), n);
    Value nf = arith::SIToFPOp::create(b, loc, f32, n64);
    Value zero = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.0f));
    Value accInit = tensor::EmptyOp::create(b, loc, vec, ValueRange{});
    Value acc0 = linalg::FillOp::create(b, loc, zero, accInit).getResult(0);
    AffineMap id2 = b.getMultiDimIdentityMap(2);
    AffineMap col = AffineMap::get(2, 0, {getAffineDimExpr(1, ctx)}, ctx);
    Value sum =
        linalg::GenericOp::create(
            b, loc, vec, ValueRange{hs}, ValueRange{acc0},
            ArrayRef<AffineMap>{id2, col},
            {utils::IteratorType::reduction, utils::IteratorType::parallel},
            [&](OpBuilder &nb, Location l, ValueRange args) {
              Value sum = arith::AddFOp::create(nb, l, args[1], args[0]);
              linalg::YieldOp::create(nb, l, sum);
            })
            .getResult(0);
    AffineMap id1 = b.getMultiDimIdentityMap(1);
    auto elementwise =
        [&](Value in,
            function_ref<Value(OpBuilder &, Location, Value)> fnBody) -> Value {
      return linalg::GenericOp::create(
                 b, loc, vec, ValueRange{in}, ValueRange{accInit},
                 ArrayRef<AffineMap>{id1, id1}, {utils::IteratorType::parallel},
                 [&](OpBuilder &nb, Location l, ValueRange args) {
                   linalg::YieldOp::create(nb, l, fnBody(nb, l, args[0]));
                 })
          .getResult(0);
    };
    Value mean = elementwise(sum, [&](OpBuilder &nb, Location l, Value s) {
      return arith::DivFOp::create(nb, l, s, nf);
    });
    if (!normalize) {
      func::ReturnOp::create(b, loc, mean);
      return;
    }
    auto scalar = RankedTensorType::get({}, f32);
    Value sqInit = tensor::EmptyOp::create(b, loc, scalar, ValueRange{});
    Value sq0 = linalg::FillOp::create(b, loc, zero, sqInit).getResult(0);
    Value sq = linalg::GenericOp::create(
                   b, loc, scalar, ValueRange{mean}, ValueRange{sq0},
                   ArrayRef<AffineMap>{id1, AffineMap::get(1, 0, {}, ctx)},
                   {utils::IteratorType::reduction},
                   [&](OpBuilder &nb, Location l, ValueRange args) {
                     Value xx = arith::MulFOp::create(nb, l, args[0], args[0]);
                     Value sum = arith::AddFOp::create(nb, l, args[1], xx);
                     linalg::YieldOp::create(nb, l, sum);
                   })
                   .getResult(0);
    Value sqv = tensor::ExtractOp::create(b, loc, sq, ValueRange{});
    Value norm0 = math::SqrtOp::create(b, loc, sqv);
    Value tiny = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(1.0e-12f));
    Value norm = arith::MaximumFOp::create(b, loc, norm0, tiny);
    Value unit = elementwise(mean, [&](OpBuilder &nb, Location l, Value x) {
      return arith::DivFOp::create(nb, l, x, norm);
    });
    func::ReturnOp::create(b, loc, unit);
  }

private:
  ModuleOp module;
  OpBuilder b;
  const BertConfig &c;
  std::vector<BertWeight> weights;
  SmallVector<Type> weightTypes;
  int64_t e, h, d;
  Type f32;
  RankedTensorType rows, vec, ids;

  RankedTensorType tensor(llvm::ArrayRef<int64_t> shape) const {
    return RankedTensorType::get(shape, f32);
  }
  Value layerNorm(Location loc, Value x, Value w, Value bias) {
    return LayerNormOp::create(
        b, loc, x, w, bias, b.getF32FloatAttr(static_cast<float>(c.normEps)));
  }
};

} // namespace

OwningOpRef<ModuleOp> mlir::tok::buildBertModule(MLIRContext *ctx,
                                                 const BertConfig &c,
                                                 const BertModuleOptions &o) {
  ctx->loadDialect<TokDialect, func::FuncDialect, arith::ArithDialect,
                   linalg::LinalgDialect, math::MathDialect,
                   tensor::TensorDialect>();
  OwningOpRef<ModuleOp> owned =
      ModuleOp::create(NameLoc::get(StringAttr::get(ctx, "bert")));
  owned->getOperation()->setAttr(
      "tok.model",
      StringAttr::get(ctx,
                      llvm::formatv("bert: {0} layers, dim {1}, {2} heads "
                                    "of {3}, hidden {4}, vocabulary {5}, "
                                    "{6} positions",
                                    c.layers, c.dim, c.heads, c.getHeadDim(),
                                    c.hiddenDim, c.vocab, c.maxPositions)
                          .str()));
  BertBuilder builder(*owned, c);
  func::FuncOp block = builder.buildBlock();
  builder.buildEncode(block);
  auto encode = owned->lookupSymbol<func::FuncOp>("encode");
  builder.buildEmbed(encode, o.normalize);
  return owned;
}
