//===- LlamaModule.cpp - tok IR for a Llama-family decoder ----------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// The module is built with MLIR's builders. Each decoder layer is one call of
// a private layer function; layers whose weights have the same types share
// one function, so the IR (and the time to compile it) grows with the number
// of distinct layers, not with the depth of the model.
//
//===----------------------------------------------------------------------===//

#include "tok/Frontend/LlamaModule.h"

#include "HeadsReshape.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "tok/Dialect/Tok/IR/TokDialect.h"
#include "tok/Dialect/Tok/IR/TokOps.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
using namespace mlir::tok;
using llvm::StringRef;

namespace {
/// What a layer weight is for; the layer function finds its arguments by
/// role (layerWeights gives each present role's position).
enum class Role {
  InputNorm,
  Q,
  K,
  V,
  QKV,
  QBias,
  KBias,
  VBias,
  QNorm,
  KNorm,
  O,
  PostAttnNorm,
  FfnNorm,
  PostFfnNorm,
  Gate,
  Up,
  GateUp,
  Down,
  Count
};

struct LayerWeight {
  Role role;
  const char *suffix;
  llvm::SmallVector<int64_t, 2> shape;
};

/// One layer's weights in argument order, as the checkpoint names them
/// after "model.layers.N.".
llvm::SmallVector<LayerWeight> layerWeights(const LlamaConfig &c) {
  int64_t e = c.dim, f = c.hiddenDim, q = c.heads * c.headDim,
          kv = c.kvHeads * c.headDim;
  llvm::SmallVector<LayerWeight> w;
  w.push_back({Role::InputNorm, "input_layernorm.weight", {e}});
  if (c.fusedProjections) {
    w.push_back({Role::QKV, "self_attn.qkv_proj.weight", {q + 2 * kv, e}});
  } else {
    w.push_back({Role::Q, "self_attn.q_proj.weight", {q, e}});
    w.push_back({Role::K, "self_attn.k_proj.weight", {kv, e}});
    w.push_back({Role::V, "self_attn.v_proj.weight", {kv, e}});
  }
  if (c.attentionBias) {
    w.push_back({Role::QBias, "self_attn.q_proj.bias", {q}});
    w.push_back({Role::KBias, "self_attn.k_proj.bias", {kv}});
    w.push_back({Role::VBias, "self_attn.v_proj.bias", {kv}});
  }
  if (c.qkNorm) {
    w.push_back({Role::QNorm, "self_attn.q_norm.weight", {c.headDim}});
    w.push_back({Role::KNorm, "self_attn.k_norm.weight", {c.headDim}});
  }
  w.push_back({Role::O, "self_attn.o_proj.weight", {e, q}});
  // Llama's post_attention_layernorm is the MLP's input norm; Gemma's
  // normalizes the attention output and pre_feedforward_layernorm is the
  // MLP's input norm.
  if (c.sandwichNorms) {
    w.push_back({Role::PostAttnNorm, "post_attention_layernorm.weight", {e}});
    w.push_back({Role::FfnNorm, "pre_feedforward_layernorm.weight", {e}});
    w.push_back({Role::PostFfnNorm, "post_feedforward_layernorm.weight", {e}});
  } else {
    w.push_back({Role::FfnNorm, "post_attention_layernorm.weight", {e}});
  }
  if (c.fusedProjections) {
    w.push_back({Role::GateUp, "mlp.gate_up_proj.weight", {2 * f, e}});
  } else {
    w.push_back({Role::Gate, "mlp.gate_proj.weight", {f, e}});
    w.push_back({Role::Up, "mlp.up_proj.weight", {f, e}});
  }
  w.push_back({Role::Down, "mlp.down_proj.weight", {e, f}});
  return w;
}
} // namespace

std::vector<LlamaWeight> mlir::tok::getLlamaWeights(const LlamaConfig &c) {
  int64_t e = c.dim;
  std::vector<LlamaWeight> w;
  w.push_back({"model.embed_tokens.weight", {c.vocab, e}});
  llvm::SmallVector<LayerWeight> layer = layerWeights(c);
  for (int64_t l = 0; l < c.layers; ++l) {
    std::string p = "model.layers." + std::to_string(l) + ".";
    for (const LayerWeight &lw : layer)
      w.push_back({p + lw.suffix, llvm::SmallVector<int64_t>(lw.shape.begin(),
                                                             lw.shape.end())});
  }
  w.push_back({"model.norm.weight", {e}});
  if (!c.tiedEmbeddings)
    w.push_back({"lm_head.weight", {c.vocab, e}});
  return w;
}

int64_t mlir::tok::getLlamaWeightsPerLayer(const LlamaConfig &c) {
  return static_cast<int64_t>(layerWeights(c).size());
}

std::vector<int64_t> mlir::tok::chooseEos(int64_t requested,
                                          const LlamaConfig &config) {
  if (requested >= 0)
    return {requested};
  if (requested == -2)
    return config.eosTokens;
  return {};
}

std::string mlir::tok::checkDraftSkip(const LlamaConfig &config,
                                      llvm::ArrayRef<int64_t> skip) {
  llvm::SmallVector<bool> seen(config.layers, false);
  for (int64_t l : skip) {
    if (l < 0 || l >= config.layers)
      return llvm::formatv("layer {0} is not in [0, {1})", l, config.layers)
          .str();
    if (seen[l])
      return llvm::formatv("layer {0} is listed twice", l).str();
    seen[l] = true;
  }
  return "";
}

std::string mlir::tok::checkDraftModel(const LlamaConfig &target,
                                       const LlamaConfig &draft) {
  if (draft.vocab != target.vocab)
    return llvm::formatv("the draft model's vocabulary has {0} tokens, the "
                         "target's {1}; speculative decoding needs the same "
                         "tokenizer",
                         draft.vocab, target.vocab)
        .str();
  return "";
}

SamplerAttr mlir::tok::SamplerSettings::getAttr(MLIRContext *ctx) const {
  if (!(temperature > 0.0))
    return SamplerAttr::get(ctx, llvm::APFloat(0.0), 0, llvm::APFloat(1.0), 0);
  return SamplerAttr::get(ctx, llvm::APFloat(temperature), topK,
                          llvm::APFloat(topP), seed);
}

namespace {

constexpr int64_t kDyn = ShapedType::kDynamic;

/// Builds one model's functions: its layer functions and its step (and the
/// draft step of layer-skip self-speculation) into a module.
class ModelBuilder {
public:
  /// `weightPrefix` is put before every checkpoint name in `tok.weight`
  /// (a draft model's weights: "draft."); `symbolPrefix` before the layer
  /// functions' names.
  ModelBuilder(ModuleOp module, const LlamaConfig &c,
               llvm::ArrayRef<std::string> elemTypes, bool interleavedRope,
               int64_t capacity, int64_t positions, StringRef weightPrefix,
               StringRef symbolPrefix)
      : c(c), module(module), ctx(module.getContext()), b(ctx),
        weights(getLlamaWeights(c)), weightPrefix(weightPrefix.str()),
        symbolPrefix(symbolPrefix.str()), e(c.dim), hq(c.heads), hk(c.kvHeads),
        d(c.headDim), f(c.hiddenDim), v(c.vocab),
        ropeContext(positions ? positions : capacity) {
    f32 = b.getF32Type();
    for (auto [i, w] : llvm::enumerate(weights)) {
      Type elem = f32;
      Attribute encoding;
      if (i < elemTypes.size()) {
        if (elemTypes[i] == "f16")
          elem = b.getF16Type();
        else if (elemTypes[i] == "bf16")
          elem = b.getBF16Type();
        else if (std::optional<WeightScheme> scheme =
                     symbolizeWeightScheme(elemTypes[i]))
          encoding = WeightQuantAttr::get(ctx, *scheme);
      }
      weightTypes.push_back(RankedTensorType::get(w.shape, elem, encoding));
    }
    cacheType = KVCacheType::get(hk, capacity, d, f32);
    rows = RankedTensorType::get({kDyn, e}, f32);
    ids = RankedTensorType::get({kDyn}, b.getI32Type());
    logits = RankedTensorType::get({kDyn, v}, f32);
    ropeStyle = RopeStyleAttr::get(ctx, interleavedRope ? RopeStyle::interleaved
                                                        : RopeStyle::half);
  }

  /// The step's weight arguments: `{tok.weight = "<prefix><name>"}` each.
  SmallVector<DictionaryAttr> weightArgAttrs() const {
    SmallVector<DictionaryAttr> attrs;
    for (const LlamaWeight &w : weights)
      attrs.push_back(b.getDictionaryAttr(b.getNamedAttr(
          "tok.weight", b.getStringAttr(weightPrefix + w.name))));
    return attrs;
  }

  /// The step function; with `skip`, the layers it marks are left out (the
  /// residual stream passes them unchanged) and so are their caches: the
  /// draft step of layer-skip self-speculation.
  func::FuncOp buildStep(StringRef name, llvm::ArrayRef<bool> skip) {
    SmallVector<Type> argTypes{ids, ids}, resultTypes{logits};
    llvm::append_range(argTypes, weightTypes);
    for (int64_t l = 0; l < c.layers; ++l)
      if (skip.empty() || !skip[l]) {
        argTypes.push_back(cacheType);
        resultTypes.push_back(cacheType);
      }
    Location loc = NameLoc::get(b.getStringAttr(name));
    b.setInsertionPointToEnd(module.getBody());
    auto fn = func::FuncOp::create(b, loc, name,
                                   b.getFunctionType(argTypes, resultTypes));
    fn.setPrivate();
    currentStep = fn;
    for (auto [i, attrs] : llvm::enumerate(weightArgAttrs()))
      fn.setArgAttrs(2 + i, attrs);
    Block *body = fn.addEntryBlock();
    b.setInsertionPointToStart(body);
    Value tokIds = body->getArgument(0), pos = body->getArgument(1);
    auto weight = [&](size_t i) { return body->getArgument(2 + i); };
    size_t cacheArg = 2 + weights.size();

    Value h = embed(loc, weight(0), tokIds);
    SmallVector<Value> newCaches;
    size_t wi = 1;
    size_t perLayer = getLlamaWeightsPerLayer(c);
    for (int64_t l = 0; l < c.layers; ++l, wi += perLayer) {
      if (!skip.empty() && skip[l])
        continue;
      func::FuncOp layer = getLayerFunction(wi, c.isSlidingLayer(l));
      SmallVector<Value> operands{h, pos};
      for (size_t k = 0; k < perLayer; ++k)
        operands.push_back(weight(wi + k));
      operands.push_back(body->getArgument(cacheArg++));
      Location callLoc =
          NameLoc::get(b.getStringAttr("model.layers." + std::to_string(l)));
      auto call = func::CallOp::create(b, callLoc, layer, operands);
      call->setAttr(TokDialect::getLayerAttrName(), b.getI64IntegerAttr(l));
      h = call.getResult(0);
      newCaches.push_back(call.getResult(1));
    }
    size_t finalNorm = wi;
    size_t head = c.tiedEmbeddings ? 0 : wi + 1;
    Value fin = rmsNorm(loc, h, normWeight(loc, weight(finalNorm)));
    Value out = LinearOp::create(b, loc, fin, weight(head), Value());
    if (c.finalLogitSoftcap)
      out = softcap(loc, out, *c.finalLogitSoftcap);
    SmallVector<Value> results{out};
    llvm::append_range(results, newCaches);
    func::ReturnOp::create(b, loc, results);
    return fn;
  }

  /// The batch step over paged KV memory (LlamaModuleOptions::batch).
  /// The pools are the host's buffers (memref arguments), read as tensors
  /// (`bufferization.to_tensor restrict writable`) and written back in
  /// place (`bufferization.materialize_in_destination`), so that a step
  /// returns only its logits and never copies a pool.
  func::FuncOp buildBatchStep(StringRef name, const LlamaBatchOptions &o) {
    poolType = KVPoolType::get(ctx, hk, o.pages, o.pageSize, d, f32);
    RankedTensorType poolTensor = poolType.getSliceType(poolType.getSlots());
    auto poolMemref = MemRefType::get(poolTensor.getShape(), f32);
    auto tables = RankedTensorType::get({kDyn, kDyn}, b.getI32Type());
    SmallVector<Type> argTypes{ids, ids, ids, ids, tables, ids};
    llvm::append_range(argTypes, weightTypes);
    for (int64_t l = 0; l < c.layers; ++l)
      argTypes.append({poolMemref, poolMemref});
    Location loc = NameLoc::get(b.getStringAttr(name));
    b.setInsertionPointToEnd(module.getBody());
    auto fn = func::FuncOp::create(b, loc, name,
                                   b.getFunctionType(argTypes, {logits}));
    currentStep = fn;
    constexpr unsigned kLeading = 6;
    for (auto [i, attrs] : llvm::enumerate(weightArgAttrs()))
      fn.setArgAttrs(kLeading + i, attrs);
    Block *body = fn.addEntryBlock();
    b.setInsertionPointToStart(body);
    Value tokIds = body->getArgument(0), pos = body->getArgument(1);
    Value slots = body->getArgument(2), rowSeqs = body->getArgument(3);
    Value tableArg = body->getArgument(4), sampleRows = body->getArgument(5);
    auto weight = [&](size_t i) { return body->getArgument(kLeading + i); };
    size_t poolArg = kLeading + weights.size();

    Value h = embed(loc, weight(0), tokIds);
    size_t wi = 1;
    size_t perLayer = getLlamaWeightsPerLayer(c);
    for (int64_t l = 0; l < c.layers; ++l, wi += perLayer) {
      func::FuncOp layer = getLayerFunction(wi, c.isSlidingLayer(l));
      Value buffers[2] = {body->getArgument(poolArg + 2 * l),
                          body->getArgument(poolArg + 2 * l + 1)};
      Value parts[2];
      for (int i = 0; i < 2; ++i)
        parts[i] = bufferization::ToTensorOp::create(
            b, loc, poolTensor, buffers[i], /*restrict=*/true,
            /*writable=*/true);
      Value pool =
          KVPoolFromTensorsOp::create(b, loc, poolType, parts[0], parts[1]);
      SmallVector<Value> operands{h, pos, slots, rowSeqs, tableArg};
      for (size_t k = 0; k < perLayer; ++k)
        operands.push_back(weight(wi + k));
      operands.push_back(pool);
      Location callLoc =
          NameLoc::get(b.getStringAttr("model.layers." + std::to_string(l)));
      auto call = func::CallOp::create(b, callLoc, layer, operands);
      call->setAttr(TokDialect::getLayerAttrName(), b.getI64IntegerAttr(l));
      h = call.getResult(0);
      auto updated = KVPoolToTensorsOp::create(b, loc, poolTensor, poolTensor,
                                               call.getResult(1));
      Value results[2] = {updated.getKeys(), updated.getValues()};
      for (int i = 0; i < 2; ++i)
        bufferization::MaterializeInDestinationOp::create(
            b, loc, TypeRange{}, results[i], buffers[i], /*restrict=*/false,
            /*writable=*/true);
    }
    // Only the rows that sample go through the head.
    Value last = GatherOp::create(b, loc, h, sampleRows, 0);
    size_t head = c.tiedEmbeddings ? 0 : wi + 1;
    Value fin = rmsNorm(loc, last, normWeight(loc, weight(wi)));
    Value out = LinearOp::create(b, loc, fin, weight(head), Value());
    if (c.finalLogitSoftcap)
      out = softcap(loc, out, *c.finalLogitSoftcap);
    func::ReturnOp::create(b, loc, out);
    return fn;
  }

  const LlamaConfig &c;
  SmallVector<Type> weightTypes;
  KVCacheType cacheType;
  RankedTensorType rows, ids, logits;

private:
  ModuleOp module;
  MLIRContext *ctx;
  mutable OpBuilder b;
  std::vector<LlamaWeight> weights;
  std::string weightPrefix, symbolPrefix;
  int64_t e, hq, hk, d, f, v;
  Type f32;
  RopeStyleAttr ropeStyle;
  /// Positions the compiled model reaches (LongRoPE's factor choice).
  int64_t ropeContext;
  /// Layers over a page pool (batch steps) instead of a cache.
  KVPoolType poolType;
  /// Layer functions by the types of their weights.
  llvm::StringMap<func::FuncOp> layerFunctions;

  RankedTensorType tensor(llvm::ArrayRef<int64_t> shape) const {
    return RankedTensorType::get(shape, f32);
  }

  /// `x` as f32 (arith.extf of a narrower float tensor).
  Value widen(Location loc, Value x) {
    auto type = cast<RankedTensorType>(x.getType());
    if (type.getElementType() == f32)
      return x;
    return arith::ExtFOp::create(b, loc, type.clone(f32), x);
  }

  Value rmsNorm(Location loc, Value x, Value w) {
    return RMSNormOp::create(b, loc, x, w,
                             b.getF32FloatAttr(static_cast<float>(c.normEps)));
  }

  /// The rows of `tokIds` from the embedding `table`, as f32 (times
  /// sqrt(hidden) for Gemma).
  Value embed(Location loc, Value table, Value tokIds) {
    Value h = widen(loc, EmbedOp::create(b, loc, table, tokIds));
    if (c.scaleEmbeddings) {
      // Gemma: times sqrt(hidden), rounded to the embedding's element type
      // as transformers multiplies (55.4256 becomes 55.5 in bf16).
      Type elem = cast<RankedTensorType>(table.getType()).getElementType();
      llvm::APFloat factor(std::sqrt(static_cast<double>(e)));
      bool lost = false;
      if (isa<FloatType>(elem) &&
          !cast<RankedTensorType>(table.getType()).getEncoding())
        factor.convert(cast<FloatType>(elem).getFloatSemantics(),
                       llvm::APFloat::rmNearestTiesToEven, &lost);
      factor.convert(llvm::APFloat::IEEEsingle(),
                     llvm::APFloat::rmNearestTiesToEven, &lost);
      h = mapRows(loc, h, [&](OpBuilder &nb, Location l, Value x) -> Value {
        Value s = arith::ConstantOp::create(
            nb, l, nb.getF32FloatAttr(factor.convertToFloat()));
        return arith::MulFOp::create(nb, l, x, s);
      });
    }
    return h;
  }

  /// A norm weight as f32, plus one where the model scales by (1 + w)
  /// (Gemma; transformers adds in f32 as well).
  Value normWeight(Location loc, Value w) {
    w = widen(loc, w);
    if (!c.normPlusOne)
      return w;
    auto type = cast<RankedTensorType>(w.getType());
    Value init = tensor::EmptyOp::create(b, loc, type.getShape(), f32);
    AffineMap id = b.getMultiDimIdentityMap(1);
    return linalg::GenericOp::create(
               b, loc, type, ValueRange{w}, ValueRange{init},
               ArrayRef<AffineMap>{id, id}, {utils::IteratorType::parallel},
               [&](OpBuilder &nb, Location l, ValueRange args) {
                 Value one =
                     arith::ConstantOp::create(nb, l, nb.getF32FloatAttr(1.0f));
                 linalg::YieldOp::create(
                     nb, l,
                     arith::AddFOp::create(nb, l, one, args[0]).getResult());
               })
        .getResult(0);
  }

  /// `fn` applied to every element of the [T, N] f32 tensor `x`.
  Value mapRows(Location loc, Value x,
                llvm::function_ref<Value(OpBuilder &, Location, Value)> fn) {
    auto type = cast<RankedTensorType>(x.getType());
    Value zero = arith::ConstantIndexOp::create(b, loc, 0);
    Value t = tensor::DimOp::create(b, loc, x, zero);
    Value init = tensor::EmptyOp::create(b, loc, type, ValueRange{t});
    AffineMap id = b.getMultiDimIdentityMap(2);
    return linalg::GenericOp::create(
               b, loc, type, ValueRange{x}, ValueRange{init},
               ArrayRef<AffineMap>{id, id},
               {utils::IteratorType::parallel, utils::IteratorType::parallel},
               [&](OpBuilder &nb, Location l, ValueRange args) {
                 linalg::YieldOp::create(nb, l, fn(nb, l, args[0]));
               })
        .getResult(0);
  }

  /// cap * tanh(x / cap) elementwise (Gemma 2's final logit soft-capping).
  Value softcap(Location loc, Value x, double cap) {
    return mapRows(loc, x, [&](OpBuilder &nb, Location l, Value v) -> Value {
      Value cv = arith::ConstantOp::create(
          nb, l, nb.getF32FloatAttr(static_cast<float>(cap)));
      Value t =
          math::TanhOp::create(nb, l, arith::DivFOp::create(nb, l, v, cv));
      return arith::MulFOp::create(nb, l, t, cv);
    });
  }

  /// The columns [offset, offset + n) of the [T, M] tensor `x` (Phi-3's
  /// fused projections).
  Value columns(Location loc, Value x, Value t, int64_t offset, int64_t n) {
    return tensor::ExtractSliceOp::create(
        b, loc, RankedTensorType::get({kDyn, n}, f32), x,
        ArrayRef<OpFoldResult>{b.getIndexAttr(0), b.getIndexAttr(offset)},
        ArrayRef<OpFoldResult>{t, b.getIndexAttr(n)},
        ArrayRef<OpFoldResult>{b.getIndexAttr(1), b.getIndexAttr(1)});
  }

  /// The layer function for the layer whose first weight is `first`: one
  /// per distinct list of weight types and attention kind (Gemma's sliding
  /// and global layers), built on first use.
  func::FuncOp getLayerFunction(size_t first, bool sliding) {
    size_t perLayer = getLlamaWeightsPerLayer(c);
    std::string key = sliding ? "sliding;" : "global;";
    if (poolType)
      key += "paged;";
    llvm::raw_string_ostream os(key);
    for (size_t k = 0; k < perLayer; ++k)
      os << weightTypes[first + k] << ";";
    func::FuncOp &fn = layerFunctions[key];
    if (fn)
      return fn;
    std::string name = symbolPrefix + "layer";
    if (layerFunctions.size() > 1)
      name += "_" + std::to_string(layerFunctions.size() - 1);
    OpBuilder::InsertionGuard guard(b);
    fn = buildLayer(name, llvm::ArrayRef(weightTypes).slice(first, perLayer),
                    sliding);
    return fn;
  }

  /// One decoder layer: `(h, pos, weights..., cache) -> (h', cache')`;
  /// `sliding` says whether it attends within the window.
  func::FuncOp buildLayer(StringRef name, llvm::ArrayRef<Type> wTypes,
                          bool sliding) {
    // Over a page pool (a batch step), the layer also takes each token's
    // slot, each row's sequence and the page tables.
    Type kvType = poolType ? Type(poolType) : Type(cacheType);
    SmallVector<Type> argTypes{rows, ids};
    if (poolType)
      argTypes.append(
          {ids, ids, RankedTensorType::get({kDyn, kDyn}, b.getI32Type())});
    llvm::append_range(argTypes, wTypes);
    argTypes.push_back(kvType);
    Location loc = NameLoc::get(b.getStringAttr(name));
    // Layer functions go just before the step that first calls them.
    b.setInsertionPoint(currentStep);
    auto fn = func::FuncOp::create(
        b, loc, name, b.getFunctionType(argTypes, TypeRange{rows, kvType}));
    fn.setPrivate();
    fn->setAttr(TokDialect::getLayerAttrName(), b.getUnitAttr());
    // One copy however many calls: the lowering inlines the step functions
    // into their callers, never a layer.
    fn.setNoInline(true);
    Block *body = fn.addEntryBlock();
    b.setInsertionPointToStart(body);
    Value h = body->getArgument(0), pos = body->getArgument(1);
    // Each role's argument, or null where this architecture has none.
    unsigned firstWeight = poolType ? 5 : 2;
    SmallVector<Value> arg(static_cast<size_t>(Role::Count));
    for (auto [i, lw] : llvm::enumerate(layerWeights(c)))
      arg[static_cast<size_t>(lw.role)] = body->getArgument(firstWeight + i);
    auto w = [&](Role r) { return arg[static_cast<size_t>(r)]; };
    auto wf = [&](Role r) { return w(r) ? widen(loc, w(r)) : Value(); };
    Value cache = body->getArguments().back();
    Value zero = arith::ConstantIndexOp::create(b, loc, 0);
    Value t = tensor::DimOp::create(b, loc, h, zero);

    auto heads = [&](Value x, int64_t n) -> Value {
      return buildSplitHeads(b, loc, x, n, d, t);
    };
    auto linear = [&](Value x, Value wt, Value bias = Value()) -> Value {
      return LinearOp::create(b, loc, x, wt, bias);
    };
    auto norm = [&](Value x, Role r) {
      return rmsNorm(loc, x, normWeight(loc, w(r)));
    };

    Value x = norm(h, Role::InputNorm);
    Value q, k, vv;
    if (c.fusedProjections) {
      // Phi-3: one projection, its columns q | k | v.
      Value qkv = linear(x, w(Role::QKV));
      q = columns(loc, qkv, t, 0, hq * d);
      k = columns(loc, qkv, t, hq * d, hk * d);
      vv = columns(loc, qkv, t, (hq + hk) * d, hk * d);
    } else {
      q = linear(x, w(Role::Q), wf(Role::QBias));
      k = linear(x, w(Role::K), wf(Role::KBias));
      vv = linear(x, w(Role::V), wf(Role::VBias));
    }
    q = heads(q, hq);
    k = heads(k, hk);
    vv = heads(vv, hk);
    if (c.qkNorm) {
      // Qwen3, Gemma 3: every query and key head normalized on its own.
      q = norm(q, Role::QNorm);
      k = norm(k, Role::KNorm);
    }
    // Gemma 3's sliding layers rotate by their own theta, unscaled.
    bool local = sliding && c.localRopeTheta;
    FloatAttr theta = b.getF32FloatAttr(
        static_cast<float>(local ? *c.localRopeTheta : c.ropeTheta));
    FloatAttr scale =
        b.getF32FloatAttr(static_cast<float>(local ? 1.0 : c.ropeScale));
    std::vector<float> freqs = getRopeFrequencies(c, ropeContext, local);
    DenseF32ArrayAttr freqAttr =
        freqs.empty() ? DenseF32ArrayAttr()
                      : b.getDenseF32ArrayAttr(llvm::ArrayRef<float>(freqs));
    q = RopeOp::create(b, loc, q, pos, theta, scale, ropeStyle, freqAttr);
    k = RopeOp::create(b, loc, k, pos, theta, scale, ropeStyle, freqAttr);
    MaskAttr layerMask =
        sliding
            ? MaskAttr::get(ctx, MaskKind::causal, *c.slidingWindow, 0, false)
            : MaskAttr::get(ctx, MaskKind::causal, 0, 0, false);
    // The default 1 / sqrt(D) stays implicit.
    double attnScale = c.getAttentionScale();
    FloatAttr scaleAttr =
        static_cast<float>(attnScale) ==
                static_cast<float>(1.0 / std::sqrt(static_cast<double>(d)))
            ? FloatAttr()
            : b.getF32FloatAttr(static_cast<float>(attnScale));
    FloatAttr capAttr =
        c.attnLogitSoftcap
            ? b.getF32FloatAttr(static_cast<float>(*c.attnLogitSoftcap))
            : FloatAttr();
    Value appended, a;
    if (poolType) {
      Value slots = body->getArgument(2), rowSeqs = body->getArgument(3);
      Value tables = body->getArgument(4);
      appended = KVPoolWriteOp::create(b, loc, cache, k, vv, slots);
      a = PagedAttentionOp::create(b, loc, q.getType(), q, appended, tables,
                                   rowSeqs, pos, layerMask, scaleAttr, capAttr);
    } else {
      appended = KVAppendOp::create(b, loc, cache, k, vv, pos);
      a = CachedAttentionOp::create(b, loc, q.getType(), Type(), q, appended,
                                    pos, Value(), layerMask, scaleAttr, capAttr,
                                    ScoresAttr(), IntegerAttr())
              .getOutput();
    }
    Value aR = buildMergeHeads(b, loc, a, t);
    Value attnOut = linear(aR, w(Role::O));
    if (c.sandwichNorms)
      attnOut = norm(attnOut, Role::PostAttnNorm);
    Value h2 = arith::AddFOp::create(b, loc, h, attnOut);
    Value y = norm(h2, Role::FfnNorm);
    Value g, u;
    if (c.fusedProjections) {
      // Phi-3: gate | up in one projection.
      Value gu = linear(y, w(Role::GateUp));
      g = columns(loc, gu, t, 0, f);
      u = columns(loc, gu, t, f, f);
    } else {
      g = linear(y, w(Role::Gate));
      u = linear(y, w(Role::Up));
    }
    Value mInit =
        tensor::EmptyOp::create(b, loc, tensor({kDyn, f}), ValueRange{t});
    AffineMap id = b.getMultiDimIdentityMap(2);
    bool gelu = c.activation == LlamaConfig::Activation::GeluTanh;
    Value m =
        linalg::GenericOp::create(
            b, loc, mInit.getType(), ValueRange{g, u}, ValueRange{mInit},
            ArrayRef<AffineMap>{id, id, id},
            {utils::IteratorType::parallel, utils::IteratorType::parallel},
            [&](OpBuilder &nb, Location l, ValueRange args) {
              auto cst = [&](float v) -> Value {
                return arith::ConstantOp::create(nb, l, nb.getF32FloatAttr(v));
              };
              Value x = args[0], act;
              if (gelu) {
                // GeGLU, PyTorch's tanh GELU: 0.5 x (1 + tanh(sqrt(2 / pi)
                // (x + 0.044715 x^3))).
                Value x3 = arith::MulFOp::create(
                    nb, l, arith::MulFOp::create(nb, l, x, x), x);
                Value inner = arith::MulFOp::create(
                    nb, l, cst(0.7978845608028654f),
                    arith::AddFOp::create(
                        nb, l, x,
                        arith::MulFOp::create(nb, l, cst(0.044715f), x3)));
                Value th = math::TanhOp::create(nb, l, inner);
                act = arith::MulFOp::create(
                    nb, l, arith::MulFOp::create(nb, l, cst(0.5f), x),
                    arith::AddFOp::create(nb, l, cst(1.0f), th));
              } else {
                // SwiGLU: silu(g) = g / (1 + exp(-g)).
                Value en =
                    math::ExpOp::create(nb, l, arith::NegFOp::create(nb, l, x));
                act = arith::DivFOp::create(
                    nb, l, x, arith::AddFOp::create(nb, l, cst(1.0f), en));
              }
              linalg::YieldOp::create(
                  nb, l,
                  arith::MulFOp::create(nb, l, act, args[1]).getResult());
            })
            .getResult(0);
    Value mlpOut = linear(m, w(Role::Down));
    if (c.sandwichNorms)
      mlpOut = norm(mlpOut, Role::PostFfnNorm);
    Value out = arith::AddFOp::create(b, loc, h2, mlpOut);
    func::ReturnOp::create(b, loc, ValueRange{out, appended});
    return fn;
  }

  /// The step function being built.
  Operation *currentStep = nullptr;
};

/// Builds the public entry points over @step.
class EntryBuilder {
public:
  EntryBuilder(ModuleOp module, ModelBuilder &target)
      : module(module), b(module.getContext()), t(target) {}

  /// A function taking `(leading..., weights...)` with the weights named.
  func::FuncOp begin(StringRef name, TypeRange leading, TypeRange results,
                     ModelBuilder *draft = nullptr) {
    SmallVector<Type> args(leading.begin(), leading.end());
    llvm::append_range(args, t.weightTypes);
    if (draft)
      llvm::append_range(args, draft->weightTypes);
    b.setInsertionPointToEnd(module.getBody());
    auto fn = func::FuncOp::create(b, NameLoc::get(b.getStringAttr(name)), name,
                                   b.getFunctionType(args, results));
    unsigned i = leading.size();
    for (DictionaryAttr attrs : t.weightArgAttrs())
      fn.setArgAttrs(i++, attrs);
    if (draft)
      for (DictionaryAttr attrs : draft->weightArgAttrs())
        fn.setArgAttrs(i++, attrs);
    Block *body = fn.addEntryBlock();
    b.setInsertionPointToStart(body);
    loc = fn.getLoc();
    weights = body->getArguments().slice(leading.size(), t.weightTypes.size());
    return fn;
  }

  SmallVector<Value> emptyCaches() {
    SmallVector<Value> caches;
    for (int64_t l = 0; l < t.c.layers; ++l)
      caches.push_back(KVEmptyOp::create(b, loc, t.cacheType));
    return caches;
  }

  func::CallOp callStep(Value ids, Value pos, ValueRange caches) {
    SmallVector<Value> operands{ids, pos};
    llvm::append_range(operands, weights);
    llvm::append_range(operands, caches);
    SmallVector<Type> results{t.logits};
    results.append(caches.size(), t.cacheType);
    return func::CallOp::create(b, loc, "step", results, operands);
  }

  ModuleOp module;
  OpBuilder b;
  ModelBuilder &t;
  Location loc = UnknownLoc::get(module.getContext());
  ValueRange weights;
};

} // namespace

OwningOpRef<ModuleOp> mlir::tok::buildLlamaModule(MLIRContext *ctx,
                                                  const LlamaConfig &c,
                                                  const LlamaModuleOptions &o) {
  ctx->loadDialect<TokDialect, bufferization::BufferizationDialect,
                   func::FuncDialect, arith::ArithDialect,
                   linalg::LinalgDialect, math::MathDialect, scf::SCFDialect,
                   tensor::TensorDialect>();
  Location moduleLoc = NameLoc::get(StringAttr::get(ctx, c.modelType));
  OwningOpRef<ModuleOp> owned = ModuleOp::create(moduleLoc);
  ModuleOp module = *owned;
  module->setAttr(
      "tok.model",
      StringAttr::get(
          ctx, llvm::formatv("{0}: {1} layers, dim {2}, {3} query / {4} KV "
                             "heads of {5}, hidden {6}, vocabulary {7}",
                             c.modelType, c.layers, c.dim, c.heads, c.kvHeads,
                             c.headDim, c.hiddenDim, c.vocab)
                   .str()));

  ModelBuilder target(module, c, o.weightElementTypes, o.interleavedRope,
                      o.cacheCapacity, o.positions, "", "");
  target.buildStep("step", {});
  if (!o.draftSkip.empty()) {
    llvm::SmallVector<bool> skip(c.layers, false);
    for (int64_t l : o.draftSkip)
      skip[l] = true;
    target.buildStep("draft_step", skip);
  }
  // A separate draft model: its step over its own weights (named
  // "draft.<checkpoint name>"), taken by @generate after the target's.
  std::optional<ModelBuilder> draft;
  if (o.draftModel) {
    const LlamaDraftModel &dm = *o.draftModel;
    draft.emplace(module, dm.config, dm.weightElementTypes, dm.interleavedRope,
                  o.cacheCapacity, o.positions, "draft.", "draft_");
    draft->buildStep("draft_step", {});
  }

  // The batch step has layer functions of its own (over a page pool).
  if (o.batch) {
    ModelBuilder batch(module, c, o.weightElementTypes, o.interleavedRope,
                       o.cacheCapacity, o.positions, "", "batch_");
    batch.buildBatchStep("batch_step", *o.batch);
  }

  EntryBuilder eb(module, target);
  OpBuilder &b = eb.b;
  RankedTensorType ids = target.ids, logits = target.logits;

  // forward: one step from empty caches.
  if (o.stepEntries) {
    eb.begin("forward", {ids, ids}, {logits});
    Block *body = b.getInsertionBlock();
    func::CallOp r = eb.callStep(body->getArgument(0), body->getArgument(1),
                                 eb.emptyCaches());
    func::ReturnOp::create(b, eb.loc, r.getResult(0));
  }

  // continue: a prefill, then a second step on the caches it filled (a
  // decode step when %ids2 holds one token); returns the second logits.
  if (o.stepEntries) {
    eb.begin("continue", {ids, ids, ids, ids}, {logits});
    Block *body = b.getInsertionBlock();
    func::CallOp r = eb.callStep(body->getArgument(0), body->getArgument(1),
                                 eb.emptyCaches());
    func::CallOp s = eb.callStep(body->getArgument(2), body->getArgument(3),
                                 r.getResults().drop_front());
    func::ReturnOp::create(b, eb.loc, s.getResult(0));
  }

  if (o.teacher) {
    eb.begin("teacher", {ids}, {logits});
    Block *body = b.getInsertionBlock();
    Location loc = eb.loc;
    Value prompt = body->getArgument(0);
    SmallVector<Value> caches = eb.emptyCaches();
    Value zero = arith::ConstantIndexOp::create(b, loc, 0);
    Value one = arith::ConstantIndexOp::create(b, loc, 1);
    Value n = tensor::DimOp::create(b, loc, prompt, zero);
    Value init = tensor::EmptyOp::create(b, loc, logits, ValueRange{n});
    SmallVector<Value> iterArgs{init};
    llvm::append_range(iterArgs, caches);
    auto loop = scf::ForOp::create(
        b, loc, zero, n, one, iterArgs,
        [&](OpBuilder &nb, Location l, Value i, ValueRange its) {
          OpBuilder::InsertionGuard guard(b);
          b.setInsertionPoint(nb.getInsertionBlock(), nb.getInsertionPoint());
          auto idx = [&](int64_t x) -> OpFoldResult {
            return b.getIndexAttr(x);
          };
          Value id1 = tensor::ExtractSliceOp::create(
              b, l, RankedTensorType::get({1}, b.getI32Type()), prompt,
              ArrayRef<OpFoldResult>{i}, ArrayRef<OpFoldResult>{idx(1)},
              ArrayRef<OpFoldResult>{idx(1)});
          Value id = tensor::CastOp::create(b, l, ids, id1);
          Value p32 = arith::IndexCastOp::create(b, l, b.getI32Type(), i);
          Value p1 = tensor::FromElementsOp::create(b, l, ValueRange{p32});
          Value pos = tensor::CastOp::create(b, l, ids, p1);
          func::CallOp s = eb.callStep(id, pos, its.drop_front());
          Value row = tensor::ExtractSliceOp::create(
              b, l, RankedTensorType::get({1, c.vocab}, b.getF32Type()),
              s.getResult(0), ArrayRef<OpFoldResult>{idx(0), idx(0)},
              ArrayRef<OpFoldResult>{idx(1), idx(c.vocab)},
              ArrayRef<OpFoldResult>{idx(1), idx(1)});
          Value acc = tensor::InsertSliceOp::create(
              b, l, row, its[0], ArrayRef<OpFoldResult>{i, idx(0)},
              ArrayRef<OpFoldResult>{idx(1), idx(c.vocab)},
              ArrayRef<OpFoldResult>{idx(1), idx(1)});
          SmallVector<Value> yields{acc};
          llvm::append_range(yields, s.getResults().drop_front());
          scf::YieldOp::create(b, l, yields);
        });
    func::ReturnOp::create(b, loc, loop.getResult(0));
  }

  if (!o.generate)
    return owned;
  const LlamaGenerateOptions &g = *o.generate;
  if (g.stream) {
    b.setInsertionPointToEnd(module.getBody());
    func::FuncOp::create(
        b, eb.loc, "tok_on_token",
        b.getFunctionType({b.getI32Type(), b.getI64Type()}, {}))
        .setPrivate();
    func::FuncOp::create(
        b, eb.loc, "tok_on_round",
        b.getFunctionType({b.getI64Type(), b.getI64Type()}, {}))
        .setPrivate();
  }
  eb.begin("generate", {ids}, {ids}, draft ? &*draft : nullptr);
  Block *body = b.getInsertionBlock();
  SmallVector<Value> caches = eb.emptyCaches();
  ValueRange draftWeights;
  if (draft)
    draftWeights = body->getArguments().take_back(draft->weightTypes.size());
  auto gen = GenerateOp::create(
      b, eb.loc, ids, FlatSymbolRefAttr::get(ctx, "step"), body->getArgument(0),
      eb.weights, caches, draftWeights, b.getI64IntegerAttr(g.maxNewTokens),
      g.sampler.getAttr(ctx),
      g.eos.empty() ? DenseI64ArrayAttr() : b.getDenseI64ArrayAttr(g.eos),
      g.stream ? FlatSymbolRefAttr::get(ctx, "tok_on_token")
               : FlatSymbolRefAttr(),
      g.stream ? FlatSymbolRefAttr::get(ctx, "tok_on_round")
               : FlatSymbolRefAttr(),
      g.prefillChunk > 0 ? b.getI64IntegerAttr(g.prefillChunk) : IntegerAttr());
  func::ReturnOp::create(b, eb.loc, gen.getTokens());
  return owned;
}
