//===- LlamaConfig.cpp - Llama-family model shapes ------------------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#include "tok/Frontend/LlamaConfig.h"
#include "FileError.h"
#include "tok/Frontend/Llama2c.h"
#include "tok/Support/Json.h"

#include "llvm/ADT/StringSet.h"
#include "llvm/ADT/Twine.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include <cmath>
#include <tuple>

using namespace mlir::tok;
using llvm::StringRef;
using llvm::Twine;

llvm::Error LlamaConfig::validate(StringRef name) const {
  auto positive = [&](StringRef field, int64_t value) -> llvm::Error {
    if (value <= 0)
      return fileError(name,
                       "'" + field + "' must be positive, got " + Twine(value));
    return llvm::Error::success();
  };
  for (auto [field, value] : {std::pair<StringRef, int64_t>{"hidden_size", dim},
                              {"intermediate_size", hiddenDim},
                              {"num_hidden_layers", layers},
                              {"num_attention_heads", heads},
                              {"num_key_value_heads", kvHeads},
                              {"vocab_size", vocab},
                              {"max_position_embeddings", maxPositions},
                              {"head_dim", headDim}})
    if (llvm::Error err = positive(field, value))
      return err;
  // Far beyond any published model, and small enough that no size derived
  // from them (a weight's elements, a cache's slots) overflows int64_t:
  // refused here, before anything is built or allocated.
  for (auto [field, value, limit] :
       {std::tuple<StringRef, int64_t, int64_t>{"hidden_size", dim, 1 << 20},
        {"intermediate_size", hiddenDim, 1 << 22},
        {"num_hidden_layers", layers, 4096},
        {"num_attention_heads", heads, 4096},
        {"num_key_value_heads", kvHeads, 4096},
        {"vocab_size", vocab, 1 << 24},
        {"max_position_embeddings", maxPositions, 1 << 24},
        {"head_dim", headDim, 1 << 16}})
    if (value > limit)
      return fileError(name, "'" + field + "' is " + Twine(value) +
                                 "; tok supports at most " + Twine(limit));
  if (heads * headDim > (int64_t{1} << 22))
    return fileError(name, "num_attention_heads x head_dim (" +
                               Twine(heads * headDim) +
                               ") is larger than tok supports (2^22)");
  if (heads % kvHeads != 0)
    return fileError(name, "num_attention_heads (" + Twine(heads) +
                               ") must be a multiple of "
                               "num_key_value_heads (" +
                               Twine(kvHeads) + ")");
  if (headDim % 2 != 0)
    return fileError(name, "the head dimension (" + Twine(headDim) +
                               ") must be even for RoPE");
  if (!(normEps > 0.0))
    return fileError(name, "'rms_norm_eps' must be positive");
  if (!(ropeTheta > 0.0))
    return fileError(name, "'rope_theta' must be positive");
  if (!(ropeScale > 0.0))
    return fileError(name, "the RoPE scaling factor must be positive");
  if (slidingWindow && *slidingWindow <= 0)
    return fileError(name, "'sliding_window' must be positive, got " +
                               Twine(*slidingWindow));
  if (!slidingLayers.empty() &&
      static_cast<int64_t>(slidingLayers.size()) != layers)
    return fileError(name, "the layer kinds must list one kind per layer");
  if (localRopeTheta && !(*localRopeTheta > 0.0))
    return fileError(name, "the local layers' RoPE theta must be positive");
  std::vector<std::pair<StringRef, std::optional<int64_t>>> tokens{
      {"bos_token_id", bosToken}};
  for (int64_t id : eosTokens)
    tokens.push_back({"eos_token_id", id});
  for (auto [field, token] : tokens)
    if (token && (*token < 0 || *token >= vocab))
      return fileError(name, "'" + field + "' " + Twine(*token) +
                                 " is outside the vocabulary of " +
                                 Twine(vocab));
  return llvm::Error::success();
}

/// Keys of a config.json that change nothing tok computes: the generic
/// fields every Hugging Face config may carry (bookkeeping, training-only
/// dropout and initialization, generation defaults that tok's own options
/// replace). Any key neither here nor read below is refused: it may change
/// the model's math (docs/models.md, "Config keys").
static bool isNoOpConfigKey(StringRef key) {
  static const llvm::StringSet<> keys = {
      // Bookkeeping.
      "architectures", "_name_or_path", "transformers_version", "torch_dtype",
      "dtype", "auto_map", "tokenizer_class", "id2label", "label2id",
      "problem_type", "finetuning_task", "task_specific_params", "prefix",
      "torchscript", "use_bfloat16", "tf_legacy_loss", "return_dict",
      "output_attentions", "output_hidden_states", "pruned_heads",
      "chunk_size_feed_forward", "is_decoder", "is_encoder_decoder",
      "add_cross_attention", "cross_attention_hidden_size",
      "tie_encoder_decoder", "use_cache", "pad_token_id", "sep_token_id",
      "decoder_start_token_id",
      // Which cache class transformers' generate() builds (Gemma 2's
      // "hybrid"): the same attention, tok's caches are its own.
      "cache_implementation",
      // Training only (and training scripts' bookkeeping).
      "training_steps", "initializer_range", "attention_dropout",
      "hidden_dropout", "embd_pdrop", "resid_pdrop", "mlp_dropout",
      // Tensor-parallel slicing of a pretraining run: the same products.
      "pretraining_tp",
      // Generation defaults (tok-run's options decide these).
      "bad_words_ids", "begin_suppress_tokens", "diversity_penalty",
      "do_sample", "early_stopping", "encoder_no_repeat_ngram_size",
      "exponential_decay_length_penalty", "forced_bos_token_id",
      "forced_eos_token_id", "length_penalty", "max_length", "min_length",
      "no_repeat_ngram_size", "num_beam_groups", "num_beams",
      "num_return_sequences", "output_scores", "remove_invalid_values",
      "repetition_penalty", "return_dict_in_generate", "suppress_tokens",
      "temperature", "top_k", "top_p", "typical_p"};
  return keys.contains(key);
}

namespace {
/// A RoPE variant as rope_scaling / rope_parameters state it.
struct RopeSpec {
  std::string type = "default";
  std::optional<double> theta;
  double factor = 1.0;
  std::optional<LlamaConfig::Llama3Rope> llama3;
  /// LongRoPE: the factor lists; `factor`, `attention_factor` and the
  /// original context if the object gives them (else from the config).
  std::vector<double> shortFactor, longFactor;
  std::optional<double> longFactorRatio, attentionFactor, originalContext;
};
} // namespace

/// Parses a rope_scaling or rope_parameters object (`field` names it).
static llvm::Expected<RopeSpec>
parseRopeObject(const llvm::json::Object &o, StringRef field, StringRef name) {
  RopeSpec spec;
  std::optional<StringRef> kind = o.getString("rope_type");
  if (!kind)
    kind = o.getString("type");
  if (kind)
    spec.type = kind->str();
  auto number = [&](StringRef key) -> llvm::Expected<std::optional<double>> {
    const llvm::json::Value *v = o.get(key);
    if (!v || v->kind() == llvm::json::Value::Null)
      return std::optional<double>();
    std::optional<double> d = v->getAsNumber();
    if (!d || !std::isfinite(*d) || !(*d > 0.0))
      return fileError(name,
                       "'" + field + "." + key + "' must be a positive number");
    return d;
  };
  // Phi-3's first long-context configs call LongRoPE "su".
  if (spec.type == "su")
    spec.type = "longrope";
  llvm::StringSet<> allowed = {"rope_type", "type", "rope_theta",
                               "partial_rotary_factor"};
  if (spec.type == "linear") {
    allowed.insert("factor");
  } else if (spec.type == "llama3") {
    for (StringRef k : {"factor", "low_freq_factor", "high_freq_factor",
                        "original_max_position_embeddings"})
      allowed.insert(k);
  } else if (spec.type == "longrope") {
    for (StringRef k : {"short_factor", "long_factor", "factor",
                        "attention_factor", "original_max_position_embeddings"})
      allowed.insert(k);
  } else if (spec.type != "default") {
    return fileError(name, "'" + field + "' type '" + spec.type +
                               "' is not supported (supported: default, "
                               "linear, llama3, longrope)");
  }
  for (const auto &kv : o)
    if (!allowed.contains(kv.first.str()))
      return fileError(name, "'" + field + "." + kv.first.str() +
                                 "' is not understood for rope type '" +
                                 spec.type + "'");
  auto theta = number("rope_theta");
  if (!theta)
    return theta.takeError();
  spec.theta = *theta;
  auto rotary = number("partial_rotary_factor");
  if (!rotary)
    return rotary.takeError();
  if (*rotary && **rotary != 1.0)
    return fileError(name, "'" + field + ".partial_rotary_factor' " +
                               llvm::formatv("{0}", **rotary) +
                               " is not supported (tok rotates the whole "
                               "head)");
  if (spec.type == "default")
    return spec;
  if (spec.type == "longrope") {
    for (auto [key, dst] : {std::pair<StringRef, std::vector<double> *>{
                                "short_factor", &spec.shortFactor},
                            {"long_factor", &spec.longFactor}}) {
      const llvm::json::Array *a = o.getArray(key);
      if (!a)
        return fileError(name, "'" + field + "' of type 'longrope' needs '" +
                                   key + "' (a list of numbers)");
      for (const llvm::json::Value &v : *a) {
        std::optional<double> d = v.getAsNumber();
        if (!d || !std::isfinite(*d) || !(*d > 0.0))
          return fileError(name, "'" + field + "." + key +
                                     "' must hold positive numbers");
        dst->push_back(*d);
      }
    }
    for (auto [key, dst] :
         {std::pair<StringRef, std::optional<double> *>{"factor",
                                                        &spec.longFactorRatio},
          {"attention_factor", &spec.attentionFactor},
          {"original_max_position_embeddings", &spec.originalContext}}) {
      auto value = number(key);
      if (!value)
        return value.takeError();
      *dst = *value;
    }
    return spec;
  }
  auto factor = number("factor");
  if (!factor)
    return factor.takeError();
  if (!*factor)
    return fileError(name, "'" + field + "' of type '" + spec.type +
                               "' needs a positive 'factor'");
  spec.factor = **factor;
  if (spec.type == "llama3") {
    LlamaConfig::Llama3Rope r;
    r.factor = spec.factor;
    auto low = number("low_freq_factor");
    auto high = number("high_freq_factor");
    auto original = number("original_max_position_embeddings");
    for (auto *e : {&low, &high, &original})
      if (!*e)
        return e->takeError();
    if (!*low || !*high || !*original)
      return fileError(name, "'" + field +
                                 "' of type 'llama3' needs "
                                 "'low_freq_factor', 'high_freq_factor' and "
                                 "'original_max_position_embeddings'");
    if (!(**high > **low))
      return fileError(name, "'" + field +
                                 "': 'high_freq_factor' must be "
                                 "larger than 'low_freq_factor'");
    r.lowFreqFactor = **low;
    r.highFreqFactor = **high;
    r.originalMaxPositions = static_cast<int64_t>(**original);
    spec.llama3 = r;
  }
  return spec;
}

double LlamaConfig::getAttentionScale() const {
  double scale =
      1.0 / std::sqrt(queryPreAttnScalar ? *queryPreAttnScalar
                                         : static_cast<double>(headDim));
  if (longRope)
    scale *= longRope->attentionFactor * longRope->attentionFactor;
  return scale;
}

std::vector<float> mlir::tok::getRopeFrequencies(const LlamaConfig &c,
                                                 int64_t context, bool local) {
  if (local && c.localRopeTheta)
    return {};
  if (c.longRope) {
    // theta^(-2i/D) / factor[i], the long factors where the positions go
    // beyond the original context (transformers switches on the same
    // condition, the largest position + 1).
    const LlamaConfig::LongRope &r = *c.longRope;
    const std::vector<double> &factors =
        context > r.originalMaxPositions ? r.longFactor : r.shortFactor;
    std::vector<float> out;
    for (int64_t i = 0; i < c.headDim / 2; ++i)
      out.push_back(static_cast<float>(
          std::pow(c.ropeTheta, -2.0 * static_cast<double>(i) /
                                    static_cast<double>(c.headDim)) /
          factors[static_cast<size_t>(i)]));
    return out;
  }
  if (!c.llama3Rope)
    return {};
  // theta^(-2i/D) per pair, then Llama 3's rule by wavelength 2 pi / f:
  // above original / low the frequency is divided by factor, below
  // original / high kept, between the two interpolated with weight
  // s = (original / wavelength - low) / (high - low) on the kept one.
  const LlamaConfig::Llama3Rope &r = *c.llama3Rope;
  double original = static_cast<double>(r.originalMaxPositions);
  double lowWavelength = original / r.lowFreqFactor;
  double highWavelength = original / r.highFreqFactor;
  std::vector<float> out;
  for (int64_t i = 0; i < c.headDim / 2; ++i) {
    double f = std::pow(c.ropeTheta, -2.0 * static_cast<double>(i) /
                                         static_cast<double>(c.headDim));
    double wavelength = 2.0 * M_PI / f;
    double g = f;
    if (wavelength > lowWavelength) {
      g = f / r.factor;
    } else if (wavelength >= highWavelength) {
      double s = (original / wavelength - r.lowFreqFactor) /
                 (r.highFreqFactor - r.lowFreqFactor);
      g = (1.0 - s) * f / r.factor + s * f;
    }
    out.push_back(static_cast<float>(g));
  }
  return out;
}

llvm::Expected<LlamaConfig> mlir::tok::parseLlamaConfig(StringRef json,
                                                        StringRef name) {
  llvm::Expected<llvm::json::Value> parsed = parseJson(json);
  if (!parsed)
    return fileError(name,
                     "malformed JSON: " + llvm::toString(parsed.takeError()));
  const llvm::json::Object *root = parsed->getAsObject();
  if (!root)
    return fileError(name, "not a JSON object");

  LlamaConfig c;
  std::optional<StringRef> type = root->getString("model_type");
  if (!type)
    return fileError(name, "missing 'model_type'");
  if (*type == "gemma3")
    return fileError(name, "a Gemma 3 image-text config ('gemma3'); tok "
                           "reads the text model ('gemma3_text', as Gemma 3 "
                           "1B ships)");
  if (!llvm::is_contained({"llama", "mistral", "qwen2", "qwen3", "gemma2",
                           "gemma3_text", "phi3"},
                          *type))
    return fileError(name, "unknown architecture '" + *type +
                               "' (supported: llama, mistral, qwen2, qwen3, "
                               "gemma2, gemma3_text, phi3)");
  c.modelType = type->str();
  bool gemma = c.modelType == "gemma2" || c.modelType == "gemma3_text";
  bool phi3 = c.modelType == "phi3";

  // Every key is read below or a documented no-op; the rest are refused
  // before anything else is reported.
  static const llvm::StringSet<> readKeys = {"model_type",
                                             "hidden_size",
                                             "intermediate_size",
                                             "num_hidden_layers",
                                             "num_attention_heads",
                                             "num_key_value_heads",
                                             "vocab_size",
                                             "max_position_embeddings",
                                             "head_dim",
                                             "rms_norm_eps",
                                             "rope_theta",
                                             "rope_scaling",
                                             "rope_parameters",
                                             "sliding_window",
                                             "use_sliding_window",
                                             "max_window_layers",
                                             "layer_types",
                                             "bos_token_id",
                                             "eos_token_id",
                                             "tie_word_embeddings",
                                             "attention_bias",
                                             "mlp_bias",
                                             "hidden_act",
                                             "partial_rotary_factor"};
  // Keys only some architectures have; elsewhere they are not understood.
  static const llvm::StringSet<> gemmaKeys = {
      "hidden_activation",           "query_pre_attn_scalar",
      "final_logit_softcapping",     "attn_logit_softcapping",
      "use_bidirectional_attention", "rope_local_base_freq",
      "sliding_window_pattern",      "_sliding_window_pattern"};
  static const llvm::StringSet<> phi3Keys = {
      "original_max_position_embeddings"};
  for (const auto &kv : *root) {
    StringRef key = kv.first;
    if (!readKeys.contains(key) && !isNoOpConfigKey(key) &&
        !(gemma && gemmaKeys.contains(key)) &&
        !(phi3 && phi3Keys.contains(key)))
      return fileError(name, "config key '" + key +
                                 "' is not understood by tok and may change "
                                 "the model's math; refusing to guess "
                                 "(docs/models.md lists the keys tok reads "
                                 "and those it ignores)");
  }

  auto integer =
      [&](StringRef field,
          std::optional<int64_t> fallback) -> llvm::Expected<int64_t> {
    const llvm::json::Value *v = root->get(field);
    if (!v || v->kind() == llvm::json::Value::Null) {
      if (fallback)
        return *fallback;
      return fileError(name, "missing '" + field + "'");
    }
    std::optional<int64_t> i = v->getAsInteger();
    if (!i)
      return fileError(name, "'" + field + "' must be an integer");
    return *i;
  };
  auto number = [&](StringRef field,
                    double fallback) -> llvm::Expected<double> {
    const llvm::json::Value *v = root->get(field);
    if (!v || v->kind() == llvm::json::Value::Null)
      return fallback;
    std::optional<double> d = v->getAsNumber();
    if (!d)
      return fileError(name, "'" + field + "' must be a number");
    return *d;
  };
  auto optionalInteger =
      [&](StringRef field) -> llvm::Expected<std::optional<int64_t>> {
    const llvm::json::Value *v = root->get(field);
    if (!v || v->kind() == llvm::json::Value::Null)
      return std::optional<int64_t>();
    if (std::optional<int64_t> i = v->getAsInteger())
      return std::optional<int64_t>(*i);
    return fileError(name, "'" + field + "' must be an integer");
  };
  // eos_token_id: one id or a list of them (Llama 3 ends a turn with any).
  auto integerList =
      [&](StringRef field) -> llvm::Expected<std::vector<int64_t>> {
    const llvm::json::Value *v = root->get(field);
    if (!v || v->kind() == llvm::json::Value::Null)
      return std::vector<int64_t>();
    if (std::optional<int64_t> i = v->getAsInteger())
      return std::vector<int64_t>{*i};
    std::vector<int64_t> ids;
    const llvm::json::Array *a = v->getAsArray();
    for (const llvm::json::Value &e : a ? *a : llvm::json::Array()) {
      std::optional<int64_t> i = e.getAsInteger();
      if (!i)
        break;
      ids.push_back(*i);
    }
    if (!a || ids.size() != a->size())
      return fileError(name,
                       "'" + field + "' must be an integer or a list of them");
    return ids;
  };
  auto boolean = [&](StringRef field, bool fallback) -> llvm::Expected<bool> {
    const llvm::json::Value *v = root->get(field);
    if (!v || v->kind() == llvm::json::Value::Null)
      return fallback;
    std::optional<bool> x = v->getAsBoolean();
    if (!x)
      return fileError(name, "'" + field + "' must be true or false");
    return *x;
  };

#define READ(dst, expr)                                                        \
  do {                                                                         \
    auto value = (expr);                                                       \
    if (!value)                                                                \
      return value.takeError();                                                \
    dst = *value;                                                              \
  } while (false)
  READ(c.dim, integer("hidden_size", std::nullopt));
  READ(c.hiddenDim, integer("intermediate_size", std::nullopt));
  READ(c.layers, integer("num_hidden_layers", std::nullopt));
  READ(c.heads, integer("num_attention_heads", std::nullopt));
  READ(c.kvHeads, integer("num_key_value_heads", c.heads));
  READ(c.vocab, integer("vocab_size", std::nullopt));
  READ(c.maxPositions, integer("max_position_embeddings", std::nullopt));
  if (c.heads <= 0)
    return fileError(name, "'num_attention_heads' must be positive, got " +
                               Twine(c.heads));
  READ(c.headDim, integer("head_dim", c.dim / c.heads));
  READ(c.normEps, number("rms_norm_eps", 1e-6));
  READ(c.ropeTheta, number("rope_theta", 10000.0));
  READ(c.slidingWindow, optionalInteger("sliding_window"));
  READ(c.bosToken, optionalInteger("bos_token_id"));
  READ(c.eosTokens, integerList("eos_token_id"));
  READ(c.tiedEmbeddings, boolean("tie_word_embeddings", false));
  READ(c.attentionBias, boolean("attention_bias", c.modelType == "qwen2"));
  bool mlpBias = false, useSlidingWindow = false;
  READ(mlpBias, boolean("mlp_bias", false));
  bool qwen = c.modelType == "qwen2" || c.modelType == "qwen3";
  READ(useSlidingWindow, boolean("use_sliding_window", false));
  int64_t maxWindowLayers = 0;
  READ(maxWindowLayers, integer("max_window_layers", int64_t{0}));
  double rotary = 1.0;
  READ(rotary, number("partial_rotary_factor", 1.0));
  if (mlpBias)
    return fileError(name, "'mlp_bias' true is not supported (the MLP "
                           "projections carry no bias in tok)");
  if (rotary != 1.0)
    return fileError(name, "'partial_rotary_factor' " +
                               llvm::formatv("{0}", rotary) +
                               " is not supported (tok rotates the whole "
                               "head)");
  c.qkNorm = c.modelType == "qwen3" || c.modelType == "gemma3_text";
  c.fusedProjections = phi3;
  if (gemma) {
    c.normPlusOne = c.sandwichNorms = c.scaleEmbeddings = true;
    c.activation = LlamaConfig::Activation::GeluTanh;
    bool bidirectional = false;
    double capAttn = 0.0, capFinal = 0.0;
    READ(bidirectional, boolean("use_bidirectional_attention", false));
    if (bidirectional)
      return fileError(name, "'use_bidirectional_attention' true is not "
                             "supported (tok's decoders are causal)");
    // transformers' Gemma reads hidden_activation; hidden_act, which some
    // published configs carry beside it, is unused there.
    if (const llvm::json::Value *act = root->get("hidden_activation");
        act && act->kind() != llvm::json::Value::Null &&
        act->getAsString() != StringRef("gelu_pytorch_tanh"))
      return fileError(name, "'hidden_activation' must be "
                             "\"gelu_pytorch_tanh\" (GeGLU with the tanh "
                             "GELU)");
    READ(capAttn, number("attn_logit_softcapping", 0.0));
    READ(capFinal, number("final_logit_softcapping", 0.0));
    for (auto [key, value, dst] :
         {std::tuple<StringRef, double, std::optional<double> *>{
              "attn_logit_softcapping", capAttn, &c.attnLogitSoftcap},
          {"final_logit_softcapping", capFinal, &c.finalLogitSoftcap}}) {
      if (!std::isfinite(value) || value < 0.0)
        return fileError(name, "'" + key + "' must be a positive number");
      if (value > 0.0)
        *dst = value;
    }
    double scalar = 0.0;
    READ(scalar,
         number("query_pre_attn_scalar", static_cast<double>(c.headDim)));
    if (!std::isfinite(scalar) || !(scalar > 0.0))
      return fileError(name, "'query_pre_attn_scalar' must be positive");
    c.queryPreAttnScalar = scalar;
  }
  if (qwen) {
    // Qwen's window slides only when use_sliding_window is set, and then
    // only in layers from max_window_layers on.
    if (!useSlidingWindow)
      c.slidingWindow.reset();
    else if (maxWindowLayers > 0 && maxWindowLayers < c.layers)
      return fileError(name, "'max_window_layers' " + Twine(maxWindowLayers) +
                                 ": a sliding window in some layers only is "
                                 "not supported");
    else if (maxWindowLayers >= c.layers)
      c.slidingWindow.reset();
  } else if (root->get("use_sliding_window") ||
             root->get("max_window_layers")) {
    return fileError(name, "'use_sliding_window' / 'max_window_layers' are "
                           "Qwen keys, not understood for '" +
                               c.modelType + "'");
  }
  // layer_types (newer transformers): one kind for every layer, except in
  // Gemma, whose sliding and global layers alternate (older Gemma 3
  // configs give the period instead: every sliding_window_pattern-th layer
  // global; Gemma 2's default: every second).
  if (const llvm::json::Value *v = root->get("layer_types");
      v && v->kind() != llvm::json::Value::Null) {
    const llvm::json::Array *a = v->getAsArray();
    if (!a || static_cast<int64_t>(a->size()) != c.layers)
      return fileError(name, "'layer_types' must list one kind per layer");
    std::string want = c.slidingWindow ? "sliding_attention" : "full_attention";
    for (const llvm::json::Value &kind : *a) {
      std::optional<StringRef> k = kind.getAsString();
      if (gemma) {
        if (!k || (*k != "sliding_attention" && *k != "full_attention"))
          return fileError(name, "'layer_types': a layer of kind '" +
                                     k.value_or("?") +
                                     "' is not supported (sliding_attention, "
                                     "full_attention)");
        c.slidingLayers.push_back(*k == "sliding_attention");
        continue;
      }
      if (k != StringRef(want))
        return fileError(name, "'layer_types' must be '" + want +
                                   "' in every layer here (layers of "
                                   "different kinds are not supported)");
    }
  } else if (gemma) {
    int64_t period = 2;
    if (c.modelType == "gemma3_text")
      READ(period, integer("sliding_window_pattern", int64_t{6}));
    if (period <= 0)
      return fileError(name, "'sliding_window_pattern' must be positive");
    for (int64_t l = 0; l < c.layers; ++l)
      c.slidingLayers.push_back((l + 1) % period != 0);
  }
  if (!c.slidingLayers.empty() && !c.slidingWindow &&
      llvm::is_contained(c.slidingLayers, true))
    return fileError(name, "'layer_types' has sliding layers but no "
                           "'sliding_window' is given");
  if (c.dim % c.heads != 0 && !root->get("head_dim"))
    return fileError(name, "hidden_size (" + Twine(c.dim) +
                               ") is not a multiple of "
                               "num_attention_heads (" +
                               Twine(c.heads) + ") and no head_dim is given");

  // RoPE: rope_scaling (with rope_theta beside it) or, as transformers 5
  // writes it, rope_parameters holding both. Given twice, they must agree.
  // Gemma 3's rope_parameters has one object per layer kind; its older
  // configs give the local layers' theta as rope_local_base_freq.
  std::optional<RopeSpec> rope;
  if (c.modelType == "gemma3_text") {
    double local = 10000.0;
    READ(local, number("rope_local_base_freq", 10000.0));
    c.localRopeTheta = local;
    if (c.ropeTheta == 10000.0 && !root->get("rope_theta"))
      c.ropeTheta = 1000000.0; // transformers' default for the global layers
  }
  for (StringRef field : {"rope_scaling", "rope_parameters"}) {
    const llvm::json::Value *v = root->get(field);
    if (!v || v->kind() == llvm::json::Value::Null)
      continue;
    const llvm::json::Object *o = v->getAsObject();
    if (!o)
      return fileError(name, "'" + field + "' must be an object");
    if (c.modelType == "gemma3_text" && field == "rope_parameters" &&
        (o->get("full_attention") || o->get("sliding_attention"))) {
      for (const auto &kv : *o)
        if (kv.first != "full_attention" && kv.first != "sliding_attention")
          return fileError(name, "'rope_parameters." + kv.first.str() +
                                     "' is not a layer kind tok knows");
      if (const llvm::json::Object *localObj =
              o->getObject("sliding_attention")) {
        auto local = parseRopeObject(*localObj,
                                     "rope_parameters.sliding_attention", name);
        if (!local)
          return local.takeError();
        if (local->type != "default")
          return fileError(name, "'rope_parameters.sliding_attention' of "
                                 "type '" +
                                     local->type +
                                     "' is not supported (the local layers "
                                     "rotate by the default rule)");
        if (local->theta) {
          if (root->get("rope_local_base_freq") &&
              *local->theta != *c.localRopeTheta)
            return fileError(name, "'rope_local_base_freq' and "
                                   "'rope_parameters.sliding_attention' "
                                   "disagree");
          c.localRopeTheta = *local->theta;
        }
      }
      const llvm::json::Object *global = o->getObject("full_attention");
      if (!global)
        continue;
      o = global;
      field = "rope_parameters.full_attention";
    }
    auto spec = parseRopeObject(*o, field, name);
    if (!spec)
      return spec.takeError();
    if (rope && (rope->type != spec->type || rope->factor != spec->factor))
      return fileError(name, "'rope_scaling' and 'rope_parameters' "
                             "disagree");
    if (rope && rope->theta && spec->theta && *rope->theta != *spec->theta)
      return fileError(name, "'rope_scaling' and 'rope_parameters' "
                             "disagree on rope_theta");
    if (!rope || spec->theta)
      rope = *spec;
  }
  if (rope) {
    if (rope->theta) {
      if (root->get("rope_theta") && *rope->theta != c.ropeTheta)
        return fileError(name,
                         "'rope_theta' (" + llvm::formatv("{0}", c.ropeTheta) +
                             ") and 'rope_parameters.rope_theta' (" +
                             llvm::formatv("{0}", *rope->theta) + ") disagree");
      c.ropeTheta = *rope->theta;
    }
    if (rope->type == "linear")
      c.ropeScale = rope->factor;
    c.llama3Rope = rope->llama3;
    if (rope->type == "longrope") {
      if (!phi3)
        return fileError(name, "RoPE type 'longrope' is supported for phi3 "
                               "only");
      LlamaConfig::LongRope r;
      r.shortFactor = rope->shortFactor;
      r.longFactor = rope->longFactor;
      for (const std::vector<double> *f : {&r.shortFactor, &r.longFactor})
        if (static_cast<int64_t>(f->size()) != c.headDim / 2)
          return fileError(name, "LongRoPE's factor lists must have head_dim "
                                 "/ 2 = " +
                                     Twine(c.headDim / 2) + " entries, got " +
                                     Twine(f->size()));
      // The original context: the RoPE object's, else the config's, else
      // max_position_embeddings (transformers' order).
      int64_t original = c.maxPositions;
      READ(original, integer("original_max_position_embeddings", original));
      if (rope->originalContext)
        original = static_cast<int64_t>(*rope->originalContext);
      if (original <= 0)
        return fileError(name, "'original_max_position_embeddings' must be "
                               "positive");
      r.originalMaxPositions = original;
      double factor = rope->longFactorRatio
                          ? *rope->longFactorRatio
                          : static_cast<double>(c.maxPositions) /
                                static_cast<double>(original);
      r.attentionFactor =
          rope->attentionFactor ? *rope->attentionFactor
          : factor <= 1.0
              ? 1.0
              : std::sqrt(1.0 + std::log(factor) /
                                    std::log(static_cast<double>(original)));
      c.longRope = r;
    }
  }
  if (const llvm::json::Value *act = root->get("hidden_act");
      act && !gemma && act->kind() != llvm::json::Value::Null)
    if (act->getAsString() != StringRef("silu"))
      return fileError(name, "hidden_act must be \"silu\" (SwiGLU)");
#undef READ
  if (llvm::Error err = c.validate(name))
    return std::move(err);
  return c;
}

llvm::Expected<LlamaConfig> mlir::tok::readLlamaConfig(StringRef path) {
  auto buffer = mapFile(path);
  if (!buffer)
    return buffer.takeError();
  return parseLlamaConfig((*buffer)->getBuffer(), path);
}

LlamaConfig mlir::tok::getLlamaConfig(const Llama2cConfig &config) {
  LlamaConfig c;
  c.dim = config.dim;
  c.hiddenDim = config.hiddenDim;
  c.layers = config.layers;
  c.heads = config.heads;
  c.kvHeads = config.kvHeads;
  c.vocab = config.vocab;
  c.maxPositions = config.seqLen;
  c.headDim = config.headDim();
  c.tiedEmbeddings = config.sharedClassifier;
  return c;
}
