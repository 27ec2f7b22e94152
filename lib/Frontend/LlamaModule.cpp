//===- LlamaModule.cpp - tok IR for a Llama-family decoder ----------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// The module is emitted as text and parsed by the caller: every op it uses
// has a stable custom syntax, and the text is what users read and diff.
//
//===----------------------------------------------------------------------===//

#include "tok/Frontend/LlamaModule.h"

#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir::tok;
using llvm::StringRef;

std::vector<LlamaWeight> mlir::tok::getLlamaWeights(const LlamaConfig &c) {
  int64_t e = c.dim, f = c.hiddenDim, q = c.heads * c.headDim,
          kv = c.kvHeads * c.headDim;
  std::vector<LlamaWeight> w;
  w.push_back({"model.embed_tokens.weight", {c.vocab, e}});
  for (int64_t l = 0; l < c.layers; ++l) {
    std::string p = "model.layers." + std::to_string(l) + ".";
    w.push_back({p + "input_layernorm.weight", {e}});
    w.push_back({p + "self_attn.q_proj.weight", {q, e}});
    w.push_back({p + "self_attn.k_proj.weight", {kv, e}});
    w.push_back({p + "self_attn.v_proj.weight", {kv, e}});
    if (c.attentionBias) {
      w.push_back({p + "self_attn.q_proj.bias", {q}});
      w.push_back({p + "self_attn.k_proj.bias", {kv}});
      w.push_back({p + "self_attn.v_proj.bias", {kv}});
    }
    w.push_back({p + "self_attn.o_proj.weight", {e, q}});
    w.push_back({p + "post_attention_layernorm.weight", {e}});
    w.push_back({p + "mlp.gate_proj.weight", {f, e}});
    w.push_back({p + "mlp.up_proj.weight", {f, e}});
    w.push_back({p + "mlp.down_proj.weight", {e, f}});
  }
  w.push_back({"model.norm.weight", {e}});
  if (!c.tiedEmbeddings)
    w.push_back({"lm_head.weight", {c.vocab, e}});
  return w;
}

std::string mlir::tok::formatSampler(double temperature, int64_t topK,
                                     double topP, int64_t seed) {
  if (!(temperature > 0.0))
    return "#tok.sampler<>";
  return llvm::formatv("#tok.sampler<temperature = {0:e}, top_k = {1}, "
                       "top_p = {2:e}, seed = {3}>",
                       temperature, topK, topP, seed)
      .str();
}

std::optional<int64_t> mlir::tok::chooseEos(int64_t requested,
                                            const LlamaConfig &config) {
  if (requested >= 0)
    return requested;
  if (requested == -2)
    return config.eosToken;
  return std::nullopt;
}

static std::string tensorType(llvm::ArrayRef<int64_t> shape,
                              llvm::StringRef elem = "f32") {
  std::string s = "tensor<";
  for (int64_t d : shape)
    s += (d < 0 ? std::string("?") : std::to_string(d)) + "x";
  return s + elem.str() + ">";
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

namespace {

/// One model's pieces of the module text: the types and signature strings
/// of its weights and caches, and its step function.
class ModelEmitter {
public:
  /// `weightPrefix` is put before every checkpoint name in `tok.weight`
  /// (a draft model's weights: "draft.").
  ModelEmitter(const LlamaConfig &c, llvm::ArrayRef<std::string> elemTypes,
               bool interleavedRope, int64_t capacity,
               llvm::StringRef weightPrefix)
      : c(c), weights(getLlamaWeights(c)),
        elemTypes(elemTypes.begin(), elemTypes.end()), e(c.dim), hq(c.heads),
        hk(c.kvHeads), d(c.headDim), f(c.hiddenDim), v(c.vocab) {
    cache = llvm::formatv("!tok.kv_cache<{0}x{1}x{2}xf32>", hk, capacity, d);
    rows = tensorType({-1, e});
    mask = c.slidingWindow ? llvm::formatv("#tok.mask<causal, window = {0}>",
                                           *c.slidingWindow)
                                 .str()
                           : std::string("#tok.mask<causal>");
    ropeAttrs = llvm::formatv(
        "{{theta = {0:e} : f32, scale = {1:e} : f32{2}}", c.ropeTheta,
        c.ropeScale,
        interleavedRope ? ", style = #tok.rope_style<interleaved>" : "");
    weightArgs = getWeightArgs("w", weightPrefix);
    weightNames = getWeightNames("w");
    for (size_t i = 0; i < weights.size(); ++i)
      weightTypes += ", " + weightType(i);
    for (int64_t l = 0; l < c.layers; ++l)
      cacheTypes += ", " + cache;
  }

  /// ", %<ssa>0: type {tok.weight = "<prefix>name"}, ...".
  std::string getWeightArgs(llvm::StringRef ssa, llvm::StringRef prefix) const {
    std::string s;
    for (auto [i, w] : llvm::enumerate(weights))
      s += llvm::formatv(", %{0}{1}: {2} {{tok.weight = \"{3}{4}\"}", ssa, i,
                         weightType(i), prefix, w.name);
    return s;
  }
  /// ", %<ssa>0, %<ssa>1, ...".
  std::string getWeightNames(llvm::StringRef ssa) const {
    std::string s;
    for (size_t i = 0; i < weights.size(); ++i)
      s += llvm::formatv(", %{0}{1}", ssa, i);
    return s;
  }

  /// The step function; with `skip`, the layers it marks are left out (the
  /// residual stream passes them unchanged) and so are their caches: the
  /// draft step of layer-skip self-speculation.
  void emitStep(llvm::raw_ostream &os, llvm::StringRef name,
                llvm::ArrayRef<bool> skip) const {
    std::string stepCacheArgs, stepCacheTypes;
    for (int64_t l = 0; l < c.layers; ++l)
      if (skip.empty() || !skip[l]) {
        stepCacheArgs += llvm::formatv(", %c{0}: {1}", l, cache);
        stepCacheTypes += ", " + cache;
      }
    os << "func.func private @" << name
       << "(%ids: tensor<?xi32>, %pos: tensor<?xi32>" << weightArgs
       << stepCacheArgs << ")\n    -> (" << tensorType({-1, v})
       << stepCacheTypes << ") {\n";
    os << "  %zero = arith.constant 0 : index\n";
    os << "  %t = tensor.dim %ids, %zero : tensor<?xi32>\n";
    // 1-D weights (norms, biases) stored narrower than f32 are widened once.
    auto vecWeight = [&](size_t i) {
      return elemOf(i) == "f32" ? "w" + std::to_string(i)
                                : "w" + std::to_string(i) + "_f32";
    };
    for (auto [i, w] : llvm::enumerate(weights))
      if (w.shape.size() == 1 && elemOf(i) != "f32")
        os << llvm::formatv("  %w{0}_f32 = arith.extf %w{0} : {1} to {2}\n", i,
                            weightType(i), tensorType(w.shape));
    if (elemOf(0) == "f32") {
      os << "  %h0 = tok.embed %w0[%ids] : " << weightType(0)
         << ", tensor<?xi32>\n";
    } else {
      os << "  %h0n = tok.embed %w0[%ids] : " << weightType(0)
         << ", tensor<?xi32>\n";
      os << "  %h0 = arith.extf %h0n : " << tensorType({-1, e}, elemOf(0))
         << " to " << rows << "\n";
    }

    // Weight index of each layer's first weight.
    size_t wi = 1;
    auto next = [&]() { return wi++; };
    std::string newCaches;
    std::string h = "h0"; // the residual stream entering layer l
    for (int64_t l = 0; l < c.layers; ++l) {
      auto lin = [&](const std::string &dst, const std::string &src,
                     int64_t inDim, int64_t outDim, size_t wIdx,
                     std::optional<size_t> bIdx) {
        os << llvm::formatv("  %{0} = tok.linear %{1}, %w{2}", dst, src, wIdx);
        if (bIdx)
          os << ", %" << vecWeight(*bIdx);
        os << " : " << tensorType({-1, inDim}) << ", " << weightType(wIdx);
        if (bIdx)
          os << ", " << tensorType({outDim});
        os << "\n";
      };
      // [T, H*D] -> [H, T, D].
      auto heads = [&](const std::string &dst, const std::string &src,
                       int64_t h) {
        os << llvm::formatv("  %{0}_e = tensor.expand_shape %{1} [[0], [1, 2]] "
                            "output_shape [%t, {2}, {3}] : {4} into {5}\n",
                            dst, src, h, d, tensorType({-1, h * d}),
                            tensorType({-1, h, d}));
        os << llvm::formatv("  %{0}_i = tensor.empty(%t) : {1}\n", dst,
                            tensorType({h, -1, d}));
        os << llvm::formatv("  %{0} = linalg.transpose ins(%{0}_e : {1}) "
                            "outs(%{0}_i : {2}) permutation = [1, 0, 2]\n",
                            dst, tensorType({-1, h, d}),
                            tensorType({h, -1, d}));
      };
      std::string L = "l" + std::to_string(l) + "_";
      size_t attnNorm = next(), wq = next(), wk = next(), wv = next();
      std::optional<size_t> bq, bk, bv;
      if (c.attentionBias)
        bq = next(), bk = next(), bv = next();
      size_t wo = next(), ffnNorm = next(), wg = next(), wu = next(),
             wd = next();
      if (!skip.empty() && skip[l])
        continue;
      os << llvm::formatv("  %{0}x = tok.rms_norm %{1}, %{2} {{epsilon = "
                          "{3:e} : f32} : {4}, {5}\n",
                          L, h, vecWeight(attnNorm), c.normEps, rows,
                          tensorType({e}));
      lin(L + "q0", L + "x", e, hq * d, wq, bq);
      lin(L + "k0", L + "x", e, hk * d, wk, bk);
      lin(L + "v0", L + "x", e, hk * d, wv, bv);
      heads(L + "q1", L + "q0", hq);
      heads(L + "k1", L + "k0", hk);
      heads(L + "v", L + "v0", hk);
      os << llvm::formatv("  %{0}q = tok.rope %{0}q1, %pos {1} : {2}, "
                          "tensor<?xi32>\n",
                          L, ropeAttrs, tensorType({hq, -1, d}));
      os << llvm::formatv("  %{0}k = tok.rope %{0}k1, %pos {1} : {2}, "
                          "tensor<?xi32>\n",
                          L, ropeAttrs, tensorType({hk, -1, d}));
      os << llvm::formatv("  %{0}cache = tok.kv.append %c{1}, %{0}k, %{0}v, "
                          "%pos : {2}, {3}, {3}, tensor<?xi32>\n",
                          L, l, cache, tensorType({hk, -1, d}));
      newCaches += ", %" + L + "cache";
      os << llvm::formatv(
          "  %{0}a = tok.cached_attention %{0}q, %{0}cache, "
          "%pos {{mask = {1}} : {2}, {3}, tensor<?xi32> -> {2}\n",
          L, mask, tensorType({hq, -1, d}), cache);
      os << llvm::formatv("  %{0}a_i = tensor.empty(%t) : {1}\n", L,
                          tensorType({-1, hq, d}));
      os << llvm::formatv("  %{0}a_t = linalg.transpose ins(%{0}a : {1}) "
                          "outs(%{0}a_i : {2}) permutation = [1, 0, 2]\n",
                          L, tensorType({hq, -1, d}), tensorType({-1, hq, d}));
      os << llvm::formatv("  %{0}a_r = tensor.collapse_shape %{0}a_t [[0], [1, "
                          "2]] : {1} into {2}\n",
                          L, tensorType({-1, hq, d}), tensorType({-1, hq * d}));
      lin(L + "o", L + "a_r", hq * d, e, wo, std::nullopt);
      os << llvm::formatv("  %{0}h = arith.addf %{1}, %{0}o : {2}\n", L, h,
                          rows);
      os << llvm::formatv("  %{0}y = tok.rms_norm %{0}h, %{1} {{epsilon = "
                          "{2:e} : f32} : {3}, {4}\n",
                          L, vecWeight(ffnNorm), c.normEps, rows,
                          tensorType({e}));
      lin(L + "g", L + "y", e, f, wg, std::nullopt);
      lin(L + "u", L + "y", e, f, wu, std::nullopt);
      // SwiGLU: silu(g) * u = g / (1 + exp(-g)) * u.
      os << llvm::formatv(
          "  %{0}m_i = tensor.empty(%t) : {1}\n"
          "  %{0}m = linalg.generic {{indexing_maps = [affine_map<(i, j) -> "
          "(i, "
          "j)>, affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>], "
          "iterator_types = [\"parallel\", \"parallel\"]} ins(%{0}g, %{0}u : "
          "{1}, {1}) outs(%{0}m_i : {1}) {{\n"
          "  ^bb0(%g: f32, %u: f32, %unused: f32):\n"
          "    %one = arith.constant 1.0 : f32\n"
          "    %ng = arith.negf %g : f32\n"
          "    %en = math.exp %ng : f32\n"
          "    %den = arith.addf %one, %en : f32\n"
          "    %s = arith.divf %g, %den : f32\n"
          "    %r = arith.mulf %s, %u : f32\n"
          "    linalg.yield %r : f32\n"
          "  } -> {1}\n",
          L, tensorType({-1, f}));
      lin(L + "dn", L + "m", f, e, wd, std::nullopt);
      os << llvm::formatv("  %{0}out = arith.addf %{0}h, %{0}dn : {1}\n", L,
                          rows);
      h = L + "out";
    }
    const std::string &last = h;
    size_t finalNorm = next();
    size_t head = c.tiedEmbeddings ? 0 : next();
    os << llvm::formatv("  %fin = tok.rms_norm %{0}, %{1} {{epsilon = {2:e} : "
                        "f32} : {3}, {4}\n",
                        last, vecWeight(finalNorm), c.normEps, rows,
                        tensorType({e}));
    os << llvm::formatv("  %logits = tok.linear %fin, %w{0} : {1}, {2}\n", head,
                        rows, weightType(head));
    os << "  return %logits" << newCaches << " : " << tensorType({-1, v})
       << stepCacheTypes << "\n}\n\n";
  }

  const LlamaConfig &c;
  std::vector<LlamaWeight> weights;
  std::vector<std::string> elemTypes;
  int64_t e, hq, hk, d, f, v;
  std::string cache, rows, mask, ropeAttrs;
  /// Signature pieces: the weights as `%w<i>` and one cache per layer.
  std::string weightArgs, weightTypes, weightNames, cacheTypes;

private:
  /// The element type each weight is stored in (f32 unless the checkpoint
  /// says otherwise); matrices are used as stored (tok.linear widens them),
  /// vectors and the embedding rows are widened to f32 in the IR.
  std::string elemOf(size_t i) const {
    return i < elemTypes.size() ? elemTypes[i] : "f32";
  }
  std::string weightType(size_t i) const {
    return tensorType(weights[i].shape, elemOf(i));
  }
};

} // namespace

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

std::string mlir::tok::emitLlamaModule(const LlamaConfig &c,
                                       const LlamaModuleOptions &o) {
  std::string out;
  llvm::raw_string_ostream os(out);
  ModelEmitter target(c, o.weightElementTypes, o.interleavedRope,
                      o.cacheCapacity, "");
  int64_t e = c.dim, hq = c.heads, hk = c.kvHeads, d = c.headDim,
          f = c.hiddenDim, v = c.vocab;
  const std::vector<LlamaWeight> &weights = target.weights;
  const std::string &cache = target.cache, &weightArgs = target.weightArgs,
                    &weightTypes = target.weightTypes,
                    &weightNames = target.weightNames,
                    &cacheTypes = target.cacheTypes;
  std::string cacheNames;

  os << "// " << c.modelType << ": " << c.layers << " layers, dim " << e << ", "
     << hq << " query / " << hk << " KV heads of " << d << ", hidden " << f
     << ", vocabulary " << v << ".\n";
  target.emitStep(os, "step", {});
  if (!o.draftSkip.empty()) {
    llvm::SmallVector<bool> skip(c.layers, false);
    for (int64_t l : o.draftSkip)
      skip[l] = true;
    target.emitStep(os, "draft_step", skip);
  }
  // A separate draft model: its step over its own weights (named
  // "draft.<checkpoint name>"), taken by @generate after the target's.
  std::optional<ModelEmitter> draft;
  if (o.draftModel) {
    const LlamaDraftModel &dm = *o.draftModel;
    draft.emplace(dm.config, dm.weightElementTypes, dm.interleavedRope,
                  o.cacheCapacity, "draft.");
    os << "// draft model (" << dm.config.modelType << "): " << dm.config.layers
       << " layers, dim " << dm.config.dim << ".\n";
    draft->emitStep(os, "draft_step", {});
  }

  // forward: one step from empty caches.
  os << "func.func @forward(%ids: tensor<?xi32>, %pos: tensor<?xi32>"
     << weightArgs << ") -> " << tensorType({-1, v}) << " {\n";
  for (int64_t l = 0; l < c.layers; ++l) {
    os << llvm::formatv("  %c{0} = tok.kv.empty : {1}\n", l, cache);
    cacheNames += ", %c" + std::to_string(l);
  }
  os << "  %r:" << c.layers + 1 << " = func.call @step(%ids, %pos"
     << weightNames << cacheNames << ") : (tensor<?xi32>, tensor<?xi32>"
     << weightTypes << cacheTypes << ") -> (" << tensorType({-1, v})
     << cacheTypes << ")\n";
  os << "  return %r#0 : " << tensorType({-1, v}) << "\n}\n\n";

  // continue: a prefill, then a second step on the caches it filled (a
  // decode step when %ids2 holds one token); returns the second logits.
  os << "func.func @continue(%ids: tensor<?xi32>, %pos: tensor<?xi32>, "
        "%ids2: tensor<?xi32>, %pos2: tensor<?xi32>"
     << weightArgs << ") -> " << tensorType({-1, v}) << " {\n";
  for (int64_t l = 0; l < c.layers; ++l)
    os << llvm::formatv("  %c{0} = tok.kv.empty : {1}\n", l, cache);
  std::string stepType = "(tensor<?xi32>, tensor<?xi32>" + weightTypes +
                         cacheTypes + ") -> (" + tensorType({-1, v}) +
                         cacheTypes + ")";
  os << "  %r:" << c.layers + 1 << " = func.call @step(%ids, %pos"
     << weightNames << cacheNames << ") : " << stepType << "\n";
  std::string filled;
  for (int64_t l = 0; l < c.layers; ++l)
    filled += ", %r#" + std::to_string(l + 1);
  os << "  %s:" << c.layers + 1 << " = func.call @step(%ids2, %pos2"
     << weightNames << filled << ") : " << stepType << "\n";
  os << "  return %s#0 : " << tensorType({-1, v}) << "\n}\n";

  if (o.teacher) {
    std::string logitsT = tensorType({-1, v});
    os << "\nfunc.func @teacher(%ids: tensor<?xi32>" << weightArgs << ") -> "
       << logitsT << " {\n";
    for (int64_t l = 0; l < c.layers; ++l)
      os << llvm::formatv("  %c{0} = tok.kv.empty : {1}\n", l, cache);
    os << "  %zero = arith.constant 0 : index\n"
          "  %one = arith.constant 1 : index\n"
          "  %n = tensor.dim %ids, %zero : tensor<?xi32>\n"
       << "  %init = tensor.empty(%n) : " << logitsT << "\n";
    std::string iterArgs = "%acc = %init", iterTypes = logitsT, yieldNames;
    for (int64_t l = 0; l < c.layers; ++l) {
      iterArgs += llvm::formatv(", %it{0} = %c{0}", l).str();
      iterTypes += ", " + cache;
    }
    os << "  %r:" << c.layers + 1 << " = scf.for %i = %zero to %n step %one"
       << " iter_args(" << iterArgs << ") -> (" << iterTypes << ") {\n";
    os << "    %id1 = tensor.extract_slice %ids[%i] [1] [1] : tensor<?xi32> to "
          "tensor<1xi32>\n"
          "    %id = tensor.cast %id1 : tensor<1xi32> to tensor<?xi32>\n"
          "    %p32 = arith.index_cast %i : index to i32\n"
          "    %p1 = tensor.from_elements %p32 : tensor<1xi32>\n"
          "    %pos = tensor.cast %p1 : tensor<1xi32> to tensor<?xi32>\n";
    std::string its;
    for (int64_t l = 0; l < c.layers; ++l)
      its += ", %it" + std::to_string(l);
    os << "    %s:" << c.layers + 1 << " = func.call @step(%id, %pos"
       << weightNames << its << ") : " << stepType << "\n";
    os << "    %row = tensor.extract_slice %s#0[0, 0] [1, " << v
       << "] [1, 1] : " << logitsT << " to " << tensorType({1, v}) << "\n";
    os << "    %acc2 = tensor.insert_slice %row into %acc[%i, 0] [1, " << v
       << "] [1, 1] : " << tensorType({1, v}) << " into " << logitsT << "\n";
    std::string yields = "%acc2", yieldTypes = logitsT;
    for (int64_t l = 0; l < c.layers; ++l) {
      yields += ", %s#" + std::to_string(l + 1);
      yieldTypes += ", " + cache;
    }
    os << "    scf.yield " << yields << " : " << yieldTypes << "\n  }\n";
    os << "  return %r#0 : " << logitsT << "\n}\n";
  }

  if (!o.generate)
    return out;
  const LlamaGenerateOptions &g = *o.generate;
  if (g.stream)
    os << "\nfunc.func private @tok_on_token(i32, i64)\n"
       << "func.func private @tok_on_round(i64, i64)\n";
  os << "\nfunc.func @generate(%prompt: tensor<?xi32>" << weightArgs
     << (draft ? draft->getWeightArgs("dw", "draft.") : "")
     << ") -> tensor<?xi32> {\n";
  for (int64_t l = 0; l < c.layers; ++l)
    os << llvm::formatv("  %c{0} = tok.kv.empty : {1}\n", l, cache);
  os << "  %out = tok.generate @step(%prompt)";
  if (!weights.empty())
    os << " params(" << StringRef(weightNames).drop_front(2) << " : "
       << StringRef(weightTypes).drop_front(2) << ")";
  if (c.layers)
    os << " caches(" << StringRef(cacheNames).drop_front(2) << " : "
       << StringRef(cacheTypes).drop_front(2) << ")";
  if (draft && !draft->weights.empty())
    os << " draft_params("
       << StringRef(draft->getWeightNames("dw")).drop_front(2) << " : "
       << StringRef(draft->weightTypes).drop_front(2) << ")";
  os << " {max_new_tokens = " << g.maxNewTokens
     << " : i64, sampler = " << g.sampler;
  if (g.eos)
    os << ", eos = " << *g.eos << " : i64";
  if (g.stream)
    os << ", on_token = @tok_on_token, on_round = @tok_on_round";
  if (g.prefillChunk > 0)
    os << ", prefill_chunk = " << g.prefillChunk << " : i64";
  os << "} : tensor<?xi32> -> tensor<?xi32>\n";
  os << "  return %out : tensor<?xi32>\n}\n";
  return out;
}
