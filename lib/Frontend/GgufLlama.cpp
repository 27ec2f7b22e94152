//===- GgufLlama.cpp - Llama-family decoders stored in GGUF ---------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// The shape of a llama / mistral / qwen2 model from its GGUF metadata, and
// the GGUF names of the weights tok's module takes (docs/gguf.md).
//
//===----------------------------------------------------------------------===//

#include "tok/Frontend/GgufLlama.h"

#include "FileError.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSwitch.h"

#include <tuple>

using namespace mlir::tok;
using llvm::StringRef;
using llvm::Twine;

/// Metadata keys tok reads or knowingly ignores. Any other key under the
/// architecture's prefix might change the math, and is an error.
static bool isKnownArchKey(StringRef suffix) {
  return llvm::StringSwitch<bool>(suffix)
      .Cases({"context_length", "embedding_length", "block_count",
              "feed_forward_length", "attention.head_count",
              "attention.head_count_kv", "attention.layer_norm_rms_epsilon",
              "attention.key_length", "attention.value_length",
              "rope.freq_base", "rope.dimension_count", "vocab_size",
              "attention.sliding_window", "rope.scaling.type",
              "rope.scaling.factor", "expert_count", "expert_used_count"},
             true)
      .Default(false);
}

llvm::Expected<GgufLlama> mlir::tok::readGgufLlama(const GgufFile &f) {
  StringRef name = f.getName();
  auto arch = f.getString("general.architecture");
  if (!arch)
    return arch.takeError();
  GgufLlama out;
  LlamaConfig &c = out.config;
  if (*arch == "llama" || *arch == "mistral") {
    // GGUF's llama layout stores q / k with each head's rotary pairs
    // adjacent (2i, 2i + 1): the converters permute them for ggml's rope.
    out.interleavedRope = true;
  } else if (*arch != "qwen2") {
    return fileError(name, "architecture '" + *arch +
                               "' is not supported (tok reads llama, mistral "
                               "and qwen2 GGUF files)");
  }
  c.modelType = arch->str();
  std::string p = arch->str() + ".";

  for (StringRef key : f.getKeys())
    if (key.starts_with(p) && !isKnownArchKey(key.drop_front(p.size())))
      return fileError(name, "metadata '" + key +
                                 "' is not understood by tok; it may change "
                                 "the model's computation, so the file is "
                                 "refused");

  // Sizes: present, integers, positive, and small enough for LlamaConfig's
  // limits to judge (validate() below) without overflowing first.
  auto size = [&](StringRef key, int64_t &field,
                  std::optional<int64_t> fallback) -> llvm::Error {
    std::string full = p + key.str();
    if (!f.lookup(full) && fallback) {
      field = *fallback;
      return llvm::Error::success();
    }
    auto v = f.getInteger(full);
    if (!v)
      return v.takeError();
    if (*v <= 0 || *v > (int64_t{1} << 40))
      return fileError(name, "metadata '" + full + "' is " + Twine(*v) +
                                 " (must be positive and at most 2^40)");
    field = *v;
    return llvm::Error::success();
  };
  if (llvm::Error e = size("block_count", c.layers, std::nullopt))
    return std::move(e);
  if (llvm::Error e = size("embedding_length", c.dim, std::nullopt))
    return std::move(e);
  if (llvm::Error e = size("feed_forward_length", c.hiddenDim, std::nullopt))
    return std::move(e);
  if (llvm::Error e = size("attention.head_count", c.heads, std::nullopt))
    return std::move(e);
  if (llvm::Error e = size("attention.head_count_kv", c.kvHeads, c.heads))
    return std::move(e);
  if (llvm::Error e = size("context_length", c.maxPositions, int64_t{4096}))
    return std::move(e);
  if (llvm::Error e = size("attention.key_length", c.headDim,
                           c.dim / c.heads ? c.dim / c.heads : 1))
    return std::move(e);
  int64_t valueLength = c.headDim, rotary = c.headDim;
  if (llvm::Error e = size("attention.value_length", valueLength, c.headDim))
    return std::move(e);
  if (valueLength != c.headDim)
    return fileError(name, "metadata '" + p + "attention.value_length' (" +
                               Twine(valueLength) +
                               ") differs from the key "
                               "length (" +
                               Twine(c.headDim) +
                               "); tok supports equal key and value heads");
  if (llvm::Error e = size("rope.dimension_count", rotary, c.headDim))
    return std::move(e);
  if (rotary != c.headDim)
    return fileError(name, "metadata '" + p + "rope.dimension_count' (" +
                               Twine(rotary) + ") is not the head dimension (" +
                               Twine(c.headDim) +
                               "); partial rotary embeddings are not "
                               "supported");
  if (const GgufValue *v = f.lookup(p + "expert_count"); v && v->integer > 0)
    return fileError(name, "metadata '" + p + "expert_count' is " +
                               Twine(v->integer) +
                               ": mixture-of-experts models are not supported");

  if (f.lookup(p + "attention.layer_norm_rms_epsilon")) {
    auto eps = f.getReal(p + "attention.layer_norm_rms_epsilon");
    if (!eps)
      return eps.takeError();
    if (!(*eps > 0.0 && *eps < 1.0))
      return fileError(
          name, "metadata '" + p + "attention.layer_norm_rms_epsilon' is " +
                    Twine(std::to_string(*eps)) + " (must be in (0, 1))");
    c.normEps = *eps;
  }
  if (f.lookup(p + "rope.freq_base")) {
    auto theta = f.getReal(p + "rope.freq_base");
    if (!theta)
      return theta.takeError();
    if (!(*theta > 1.0 && *theta < 1e12))
      return fileError(name, "metadata '" + p + "rope.freq_base' is " +
                                 Twine(std::to_string(*theta)) +
                                 " (must be in (1, 1e12))");
    c.ropeTheta = *theta;
  }
  if (f.lookup(p + "rope.scaling.type")) {
    auto type = f.getString(p + "rope.scaling.type");
    if (!type)
      return type.takeError();
    if (*type == "linear") {
      auto factor = f.getReal(p + "rope.scaling.factor");
      if (!factor)
        return factor.takeError();
      if (!(*factor >= 1.0 && *factor <= 1024.0))
        return fileError(name, "metadata '" + p + "rope.scaling.factor' is " +
                                   Twine(std::to_string(*factor)) +
                                   " (must be in [1, 1024])");
      c.ropeScale = *factor;
    } else if (*type != "none") {
      return fileError(name, "metadata '" + p + "rope.scaling.type' is '" +
                                 *type + "'; tok supports 'none' and 'linear'");
    }
  }
  if (f.lookup(p + "attention.sliding_window")) {
    int64_t window = 0;
    if (llvm::Error e = size("attention.sliding_window", window, std::nullopt))
      return std::move(e);
    c.slidingWindow = window;
  }

  // The vocabulary is the embedding's rows.
  const GgufTensor *embed = f.lookupTensor("token_embd.weight");
  if (!embed)
    return fileError(name, "no tensor 'token_embd.weight'");
  if (embed->shape.size() != 2)
    return fileError(name, "tensor 'token_embd.weight' must be a matrix");
  c.vocab = embed->shape[0];
  if (const GgufValue *v = f.lookup(p + "vocab_size");
      v && v->integer != c.vocab)
    return fileError(name,
                     "metadata '" + p + "vocab_size' (" + Twine(v->integer) +
                         ") differs from the rows of token_embd.weight (" +
                         Twine(c.vocab) + ")");
  c.tiedEmbeddings = !f.lookupTensor("output.weight");
  c.attentionBias = f.lookupTensor("blk.0.attn_q.bias") != nullptr;
  if (c.attentionBias && c.modelType != "qwen2")
    return fileError(name, "tensor 'blk.0.attn_q.bias': attention biases are "
                           "only supported for qwen2");
  std::optional<int64_t> eos;
  for (auto [key, field] : {std::pair<StringRef, std::optional<int64_t> *>{
                                "tokenizer.ggml.bos_token_id", &c.bosToken},
                            {"tokenizer.ggml.eos_token_id", &eos}}) {
    if (!f.lookup(key))
      continue;
    auto id = f.getInteger(key);
    if (!id)
      return id.takeError();
    if (*id < 0 || *id >= c.vocab)
      return fileError(name, "metadata '" + key + "' is " + Twine(*id) +
                                 ", outside the vocabulary of " +
                                 Twine(c.vocab));
    *field = *id;
  }
  if (eos)
    c.eosTokens = {*eos};
  if (llvm::Error e = c.validate(name))
    return std::move(e);
  return out;
}

std::string mlir::tok::getGgufTensorName(StringRef hfName) {
  if (hfName == "model.embed_tokens.weight")
    return "token_embd.weight";
  if (hfName == "model.norm.weight")
    return "output_norm.weight";
  if (hfName == "lm_head.weight")
    return "output.weight";
  StringRef rest = hfName;
  if (!rest.consume_front("model.layers."))
    return hfName.str();
  auto [layer, tail] = rest.split('.');
  StringRef mapped =
      llvm::StringSwitch<StringRef>(tail)
          .Case("input_layernorm.weight", "attn_norm.weight")
          .Case("self_attn.q_proj.weight", "attn_q.weight")
          .Case("self_attn.k_proj.weight", "attn_k.weight")
          .Case("self_attn.v_proj.weight", "attn_v.weight")
          .Case("self_attn.q_proj.bias", "attn_q.bias")
          .Case("self_attn.k_proj.bias", "attn_k.bias")
          .Case("self_attn.v_proj.bias", "attn_v.bias")
          .Case("self_attn.o_proj.weight", "attn_output.weight")
          .Case("post_attention_layernorm.weight", "ffn_norm.weight")
          .Case("mlp.gate_proj.weight", "ffn_gate.weight")
          .Case("mlp.up_proj.weight", "ffn_up.weight")
          .Case("mlp.down_proj.weight", "ffn_down.weight")
          .Default("");
  if (mapped.empty())
    return hfName.str();
  return ("blk." + layer + "." + mapped).str();
}

bool mlir::tok::hasGgufTokenizer(const GgufFile &f) {
  const GgufValue *v = f.lookup("tokenizer.ggml.model");
  return v && !(v->type == GgufValueType::String &&
                (v->string == "none" || v->string == "no_vocab"));
}

static llvm::Expected<std::unique_ptr<Tokenizer>>
readGgufVocabulary(const GgufFile &f);

llvm::Expected<std::unique_ptr<Tokenizer>>
mlir::tok::readGgufTokenizer(const GgufFile &f) {
  auto tokenizer = readGgufVocabulary(f);
  if (!tokenizer)
    return tokenizer.takeError();
  // BOS / EOS around a prompt: the metadata's add_bos_token /
  // add_eos_token, by default BOS for SentencePiece vocabularies only (as
  // llama.cpp does).
  std::vector<int32_t> prefix, suffix;
  for (auto [flag, idKey, byDefault, into] :
       {std::tuple<StringRef, StringRef, bool, std::vector<int32_t> *>{
            "tokenizer.ggml.add_bos_token", "tokenizer.ggml.bos_token_id",
            f.lookup("tokenizer.ggml.model") &&
                f.lookup("tokenizer.ggml.model")->string == "llama",
            &prefix},
        {"tokenizer.ggml.add_eos_token", "tokenizer.ggml.eos_token_id", false,
         &suffix}}) {
    bool add = byDefault;
    if (const GgufValue *v = f.lookup(flag))
      add = v->integer != 0;
    if (!add || !f.lookup(idKey))
      continue;
    // (In range: readGgufLlama checked the ids against the vocabulary.)
    auto id = f.getInteger(idKey);
    if (!id)
      return id.takeError();
    into->push_back(static_cast<int32_t>(*id));
  }
  (*tokenizer)->setPromptSpecialTokens(std::move(prefix), std::move(suffix));
  return tokenizer;
}

/// The vocabulary of a GGUF file as a tokenizer (no special tokens yet).
static llvm::Expected<std::unique_ptr<Tokenizer>>
readGgufVocabulary(const GgufFile &f) {
  StringRef name = f.getName();
  auto model = f.getString("tokenizer.ggml.model");
  if (!model)
    return model.takeError();
  auto tokens = f.getStringArray("tokenizer.ggml.tokens");
  if (!tokens)
    return tokens.takeError();
  if (*model == "llama") {
    auto scores = f.getRealArray("tokenizer.ggml.scores");
    if (!scores)
      return scores.takeError();
    bool addSpacePrefix = true;
    if (const GgufValue *v = f.lookup("tokenizer.ggml.add_space_prefix"))
      addSpacePrefix = v->integer != 0;
    return Tokenizer::createSentencePiece(*tokens, *scores, addSpacePrefix,
                                          name);
  }
  if (*model == "gpt2") {
    auto merges = f.getStringArray("tokenizer.ggml.merges");
    if (!merges)
      return merges.takeError();
    StringRef pre = "default";
    if (f.lookup("tokenizer.ggml.pre")) {
      auto p = f.getString("tokenizer.ggml.pre");
      if (!p)
        return p.takeError();
      pre = *p;
    }
    std::optional<SplitPattern> pattern =
        llvm::StringSwitch<std::optional<SplitPattern>>(pre)
            .Cases({"default", "gpt-2", "gpt2"}, SplitPattern::GPT2)
            .Cases({"llama-bpe", "llama3"}, SplitPattern::Llama3)
            .Case("qwen2", SplitPattern::Qwen2)
            .Default(std::nullopt);
    if (!pattern)
      return fileError(name, "metadata 'tokenizer.ggml.pre' is '" + pre +
                                 "'; tok splits text as default / gpt-2, "
                                 "llama-bpe and qwen2 do");
    // User-defined tokens (type 4) are matched as whole strings.
    std::vector<int32_t> verbatim;
    if (f.lookup("tokenizer.ggml.token_type")) {
      auto types = f.getIntegerArray("tokenizer.ggml.token_type");
      if (!types)
        return types.takeError();
      for (auto [i, t] : llvm::enumerate(*types))
        if (t == 4 && i < tokens->size())
          verbatim.push_back(static_cast<int32_t>(i));
    }
    return Tokenizer::createByteLevelBPE(*tokens, *merges, *pattern, verbatim,
                                         name);
  }
  return fileError(name, "metadata 'tokenizer.ggml.model' is '" + *model +
                             "'; tok reads 'llama' and 'gpt2' vocabularies");
}
