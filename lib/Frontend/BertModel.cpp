//===- BertModel.cpp - BERT-family encoders -------------------------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#include "tok/Frontend/BertModel.h"

#include "FileError.h"
#include "tok/Frontend/Safetensors.h"
#include "tok/Support/Json.h"

#include "llvm/ADT/Twine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <cstring>
#include <tuple>

using namespace mlir::tok;
using llvm::StringRef;
using llvm::Twine;

BertModel::~BertModel() = default;

llvm::Error BertConfig::validate(StringRef name) const {
  for (auto [field, value] : {std::pair<StringRef, int64_t>{"hidden_size", dim},
                              {"intermediate_size", hiddenDim},
                              {"num_hidden_layers", layers},
                              {"num_attention_heads", heads},
                              {"vocab_size", vocab},
                              {"max_position_embeddings", maxPositions},
                              {"type_vocab_size", typeVocab}})
    if (value <= 0)
      return fileError(name,
                       "'" + field + "' must be positive, got " + Twine(value));
  // As for decoders (LlamaConfig::validate): refused before anything is
  // built or allocated.
  for (auto [field, value, limit] :
       {std::tuple<StringRef, int64_t, int64_t>{"hidden_size", dim, 1 << 20},
        {"intermediate_size", hiddenDim, 1 << 22},
        {"num_hidden_layers", layers, 4096},
        {"num_attention_heads", heads, 4096},
        {"vocab_size", vocab, 1 << 24},
        {"max_position_embeddings", maxPositions, 1 << 24},
        {"type_vocab_size", typeVocab, 1 << 16}})
    if (value > limit)
      return fileError(name, "'" + field + "' is " + Twine(value) +
                                 "; tok supports at most " + Twine(limit));
  if (dim % heads != 0)
    return fileError(name, "hidden_size (" + Twine(dim) +
                               ") must be a multiple of num_attention_heads (" +
                               Twine(heads) + ")");
  if (!(normEps > 0.0))
    return fileError(name, "'layer_norm_eps' must be positive");
  if (activation != "gelu")
    return fileError(name, "hidden_act '" + activation +
                               "' is not supported (only 'gelu')");
  return llvm::Error::success();
}

bool mlir::tok::isBertConfig(StringRef json) {
  llvm::Expected<llvm::json::Value> parsed = parseJson(json);
  if (!parsed) {
    llvm::consumeError(parsed.takeError());
    return false;
  }
  const llvm::json::Object *root = parsed->getAsObject();
  std::optional<StringRef> type =
      root ? root->getString("model_type") : std::nullopt;
  return type && *type == "bert";
}

bool mlir::tok::isBertModelPath(StringRef path) {
  llvm::SmallString<256> configPath(path);
  if (llvm::sys::fs::is_directory(path))
    llvm::sys::path::append(configPath, "config.json");
  else if (!path.ends_with(".json"))
    return false;
  auto buffer = llvm::MemoryBuffer::getFile(configPath);
  return buffer && isBertConfig((*buffer)->getBuffer());
}

llvm::Expected<BertConfig> mlir::tok::parseBertConfig(StringRef json,
                                                      StringRef name) {
  llvm::Expected<llvm::json::Value> parsed = parseJson(json);
  if (!parsed)
    return fileError(name,
                     "malformed JSON: " + llvm::toString(parsed.takeError()));
  const llvm::json::Object *root = parsed->getAsObject();
  if (!root)
    return fileError(name, "not a JSON object");
  std::optional<StringRef> type = root->getString("model_type");
  if (!type || *type != "bert")
    return fileError(name, "not a BERT config (model_type '" +
                               type.value_or("?") + "')");
  if (std::optional<StringRef> pos = root->getString("position_embedding_type");
      pos && *pos != "absolute")
    return fileError(name, "position_embedding_type '" + *pos +
                               "' is not supported (only 'absolute')");
  BertConfig c;
  auto integer = [&](StringRef field, int64_t &dst,
                     std::optional<int64_t> fallback) -> llvm::Error {
    const llvm::json::Value *v = root->get(field);
    if (!v || v->kind() == llvm::json::Value::Null) {
      if (!fallback)
        return fileError(name, "missing '" + field + "'");
      dst = *fallback;
      return llvm::Error::success();
    }
    std::optional<int64_t> i = v->getAsInteger();
    if (!i)
      return fileError(name, "'" + field + "' must be an integer");
    dst = *i;
    return llvm::Error::success();
  };
  for (auto [field, dst, fallback] :
       {std::tuple<StringRef, int64_t *, std::optional<int64_t>>{
            "hidden_size", &c.dim, std::nullopt},
        {"intermediate_size", &c.hiddenDim, std::nullopt},
        {"num_hidden_layers", &c.layers, std::nullopt},
        {"num_attention_heads", &c.heads, std::nullopt},
        {"vocab_size", &c.vocab, std::nullopt},
        {"max_position_embeddings", &c.maxPositions, 512},
        {"type_vocab_size", &c.typeVocab, 2}})
    if (llvm::Error err = integer(field, *dst, fallback))
      return std::move(err);
  if (const llvm::json::Value *eps = root->get("layer_norm_eps")) {
    std::optional<double> d = eps->getAsNumber();
    if (!d)
      return fileError(name, "'layer_norm_eps' must be a number");
    c.normEps = *d;
  }
  c.activation = root->getString("hidden_act").value_or("gelu").str();
  if (llvm::Error err = c.validate(name))
    return std::move(err);
  return c;
}

std::vector<BertWeight> mlir::tok::getBertWeights(const BertConfig &c) {
  int64_t e = c.dim, f = c.hiddenDim;
  std::vector<BertWeight> w;
  w.push_back({"embeddings.word_embeddings.weight", {c.vocab, e}});
  w.push_back({"embeddings.position_embeddings.weight", {c.maxPositions, e}});
  w.push_back({"embeddings.token_type_embeddings.weight", {c.typeVocab, e}});
  w.push_back({"embeddings.LayerNorm.weight", {e}});
  w.push_back({"embeddings.LayerNorm.bias", {e}});
  for (int64_t l = 0; l < c.layers; ++l) {
    std::string p = "encoder.layer." + std::to_string(l) + ".";
    for (StringRef proj : {"query", "key", "value"}) {
      w.push_back({p + "attention.self." + proj.str() + ".weight", {e, e}});
      w.push_back({p + "attention.self." + proj.str() + ".bias", {e}});
    }
    w.push_back({p + "attention.output.dense.weight", {e, e}});
    w.push_back({p + "attention.output.dense.bias", {e}});
    w.push_back({p + "attention.output.LayerNorm.weight", {e}});
    w.push_back({p + "attention.output.LayerNorm.bias", {e}});
    w.push_back({p + "intermediate.dense.weight", {f, e}});
    w.push_back({p + "intermediate.dense.bias", {f}});
    w.push_back({p + "output.dense.weight", {e, f}});
    w.push_back({p + "output.dense.bias", {e}});
    w.push_back({p + "output.LayerNorm.weight", {e}});
    w.push_back({p + "output.LayerNorm.bias", {e}});
  }
  return w;
}

llvm::Expected<std::unique_ptr<BertModel>>
BertModel::open(StringRef path, StringRef tokenizerPath, bool withTokenizer) {
  if (!llvm::sys::fs::exists(path))
    return fileError(path, "no such file or directory");
  llvm::SmallString<256> configPath(path);
  if (llvm::sys::fs::is_directory(path))
    llvm::sys::path::append(configPath, "config.json");
  auto configText = mapFile(configPath);
  if (!configText)
    return configText.takeError();
  auto config = parseBertConfig((*configText)->getBuffer(), configPath);
  if (!config)
    return config.takeError();

  std::unique_ptr<BertModel> m(new BertModel);
  m->config = *config;
  llvm::SmallString<256> dir = llvm::sys::path::parent_path(configPath);
  auto opened = SafetensorsModel::openDirectory(dir);
  if (!opened)
    return opened.takeError();
  m->safetensors = std::move(*opened);

  for (const BertWeight &w : getBertWeights(m->config)) {
    const SafetensorsTensor *t = m->safetensors->lookup(w.name);
    if (!t)
      t = m->safetensors->lookup("bert." + w.name);
    if (!t)
      return fileError(dir, "no tensor '" + w.name + "'");
    if (t->shape != w.shape || t->type != SafetensorsDType::F32) {
      std::string want, got;
      for (int64_t d : w.shape)
        want += std::to_string(d) + " ";
      for (int64_t d : t->shape)
        got += std::to_string(d) + " ";
      return fileError(t->file, "tensor '" + t->name + "' is " +
                                    stringifySafetensorsDType(t->type) + " [ " +
                                    got + "], config.json needs F32 [ " + want +
                                    "]");
    }
    if (reinterpret_cast<uintptr_t>(t->bytes.data()) % alignof(float) == 0) {
      m->weights.push_back(t->bytes.data());
      continue;
    }
    // Misaligned in the file (the format promises no alignment): copy.
    std::vector<float> copy(t->getNumElements());
    std::memcpy(copy.data(), t->bytes.data(), t->bytes.size());
    m->weights.push_back(copy.data());
    m->owned.push_back(std::move(copy));
  }

  if (!withTokenizer)
    return m;
  llvm::SmallString<256> tp(tokenizerPath);
  if (tp.empty()) {
    tp = dir;
    llvm::sys::path::append(tp, "tokenizer.json");
  }
  auto tok = Tokenizer::openHuggingFace(tp);
  if (!tok)
    return tok.takeError();
  if ((*tok)->getVocabSize() > m->config.vocab)
    return fileError(tp, "the tokenizer has " + Twine((*tok)->getVocabSize()) +
                             " tokens, the model " + Twine(m->config.vocab));
  m->tokenizer = std::move(*tok);
  return m;
}
