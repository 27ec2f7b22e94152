//===- LlamaConfig.cpp - Llama-family model shapes ------------------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#include "tok/Frontend/LlamaConfig.h"
#include "FileError.h"
#include "tok/Frontend/Llama2c.h"
#include "tok/Support/Json.h"

#include "llvm/ADT/Twine.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
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
  for (auto [field, token] :
       {std::pair<StringRef, std::optional<int64_t>>{"bos_token_id", bosToken},
        {"eos_token_id", eosToken}})
    if (token && (*token < 0 || *token >= vocab))
      return fileError(name, "'" + field + "' " + Twine(*token) +
                                 " is outside the vocabulary of " +
                                 Twine(vocab));
  return llvm::Error::success();
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
  if (*type != "llama" && *type != "mistral" && *type != "qwen2")
    return fileError(name, "unknown architecture '" + *type +
                               "' (supported: llama, mistral, qwen2)");
  c.modelType = type->str();

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
    // eos_token_id may be a list; the first id stops generation.
    if (const llvm::json::Array *a = v->getAsArray())
      if (!a->empty() && (*a)[0].getAsInteger())
        return std::optional<int64_t>(*(*a)[0].getAsInteger());
    return fileError(name, "'" + field + "' must be an integer");
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
  READ(c.eosToken, optionalInteger("eos_token_id"));
#undef READ
  c.tiedEmbeddings = root->getBoolean("tie_word_embeddings").value_or(false);
  c.attentionBias =
      root->getBoolean("attention_bias").value_or(c.modelType == "qwen2");
  if (c.modelType == "qwen2" &&
      !root->getBoolean("use_sliding_window").value_or(false))
    c.slidingWindow.reset();
  if (c.dim % c.heads != 0 && !root->get("head_dim"))
    return fileError(name, "hidden_size (" + Twine(c.dim) +
                               ") is not a multiple of "
                               "num_attention_heads (" +
                               Twine(c.heads) + ") and no head_dim is given");

  if (const llvm::json::Object *scaling = root->getObject("rope_scaling")) {
    std::optional<StringRef> kind = scaling->getString("rope_type");
    if (!kind)
      kind = scaling->getString("type");
    if (!kind || (*kind != "linear" && *kind != "default"))
      return fileError(name, "rope_scaling type '" +
                                 (kind ? *kind : StringRef("?")) +
                                 "' is not supported (only linear is)");
    if (*kind == "linear") {
      std::optional<double> factor = scaling->getNumber("factor");
      if (!factor || !(*factor > 0.0))
        return fileError(name, "linear rope_scaling needs a positive "
                               "'factor'");
      c.ropeScale = *factor;
    }
  }
  if (const llvm::json::Value *act = root->get("hidden_act"))
    if (act->getAsString() != StringRef("silu"))
      return fileError(name, "hidden_act must be \"silu\" (SwiGLU)");
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
