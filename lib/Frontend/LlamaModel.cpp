//===- LlamaModel.cpp - a Llama-family model ready to run -----------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#include "tok/Frontend/LlamaModel.h"

#include "FileError.h"
#include "tok/Frontend/GgmlBlocks.h"
#include "tok/Frontend/GgufLlama.h"
#include "tok/Frontend/Llama2c.h"
#include "tok/Frontend/LlamaModule.h"
#include "tok/Frontend/Safetensors.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <cmath>
#include <cstring>

using namespace mlir::tok;
using llvm::StringRef;
using llvm::Twine;

LlamaModel::~LlamaModel() = default;

void LlamaModel::own(size_t index, std::vector<char> data, StringRef type) {
  ownedBytes += static_cast<int64_t>(data.size());
  owned.push_back(std::move(data));
  weights[index] = owned.back().data();
  types[index] = type.str();
}

LlamaConfig LlamaModel::getBuiltinConfig() {
  LlamaConfig c;
  c.modelType = "llama";
  c.dim = 288;
  c.hiddenDim = 768;
  c.layers = 6;
  c.heads = 6;
  c.kvHeads = 6;
  c.headDim = 48;
  c.vocab = 256;
  c.maxPositions = 512;
  c.tiedEmbeddings = true;
  return c;
}

/// SplitMix64: a counter-based stream, the same on every platform.
static uint64_t splitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

std::vector<float> LlamaModel::readWeightAsF32(size_t index) const {
  std::vector<LlamaWeight> shapes = getLlamaWeights(config);
  llvm::ArrayRef<int64_t> shape = shapes[index].shape;
  int64_t k = shape.back(), rows = 1;
  for (int64_t d : shape.drop_back())
    rows *= d;
  GgmlType type = *parseGgmlTypeName(types[index]);
  int64_t rowBytes = k / getGgmlBlockSize(type) * getGgmlBlockBytes(type);
  std::vector<float> out(rows * k);
  const char *bytes = static_cast<const char *>(weights[index]);
  for (int64_t r = 0; r < rows; ++r)
    dequantizeGgmlRow(type, bytes + r * rowBytes, k, out.data() + r * k);
  return out;
}

std::unique_ptr<LlamaModel> LlamaModel::createBuiltin(uint64_t seed) {
  std::unique_ptr<LlamaModel> m(new LlamaModel);
  m->name = "builtin";
  m->config = getBuiltinConfig();
  m->tokenizer = Tokenizer::createByteTokenizer();
  std::vector<LlamaWeight> shapes = getLlamaWeights(m->config);
  m->weights.resize(shapes.size());
  m->types.resize(shapes.size(), "f32");
  m->owned.reserve(shapes.size());
  uint64_t counter = splitMix64(seed);
  for (auto [i, w] : llvm::enumerate(shapes)) {
    int64_t n = 1;
    for (int64_t d : w.shape)
      n *= d;
    std::vector<char> bytes(n * sizeof(float));
    auto *data = reinterpret_cast<float *>(bytes.data());
    std::fill(data, data + n, 1.0f);
    // Norm weights are vectors and stay 1; matrices are uniform with the
    // variance 1 / fan_in that keeps activations at unit scale.
    if (w.shape.size() == 2) {
      double bound = std::sqrt(3.0 / static_cast<double>(w.shape[1]));
      for (int64_t e = 0; e < n; ++e) {
        double u = static_cast<double>(splitMix64(counter++) >> 11) *
                   (1.0 / 9007199254740992.0);
        data[e] = static_cast<float>((2.0 * u - 1.0) * bound);
      }
    }
    m->own(i, std::move(bytes), "f32");
  }
  return m;
}

llvm::Error LlamaModel::checkEveryTensorRead(llvm::ArrayRef<LlamaWeight> shapes,
                                             StringRef path) const {
  if (!gguf && !safetensors)
    return llvm::Error::success();
  llvm::StringSet<> read;
  for (const LlamaWeight &w : shapes)
    read.insert(gguf ? getGgufTensorName(w.name) : w.name);
  auto check = [&](StringRef tensor) -> llvm::Error {
    if (read.contains(tensor))
      return llvm::Error::success();
    if (gguf && tensor == "rope_freqs.weight")
      return fileError(path, "tensor 'rope_freqs.weight': per-frequency "
                             "RoPE factors (Llama 3.1's scaling as "
                             "llama.cpp stores it) are not supported yet");
    // Derived from the config (older checkpoints saved the buffer), or
    // the head beside tied embeddings (transformers ties it and ignores
    // the copy).
    if (!gguf && (tensor.ends_with(".rotary_emb.inv_freq") ||
                  (tensor == "lm_head.weight" && config.tiedEmbeddings)))
      return llvm::Error::success();
    return fileError(path, "tensor '" + tensor + "' is not a weight this " +
                               config.modelType +
                               " model reads; skipping it could change the "
                               "math");
  };
  if (gguf) {
    for (const GgufTensor &t : gguf->getTensors())
      if (llvm::Error err = check(t.name))
        return err;
  } else {
    for (const SafetensorsTensor &t : safetensors->getTensors())
      if (llvm::Error err = check(t.name))
        return err;
  }
  return llvm::Error::success();
}

/// Whether the file at `path` starts with GGUF's magic.
static bool startsWithGgufMagic(StringRef path) {
  auto head = llvm::MemoryBuffer::getFileSlice(path, 4, 0);
  return head && GgufFile::hasMagic((*head)->getBuffer());
}

llvm::Error LlamaModel::bindGgufWeight(size_t index, const LlamaWeight &w) {
  std::string ggufName = getGgufTensorName(w.name);
  const GgufTensor *t = gguf->lookupTensor(ggufName);
  if (!t)
    return fileError(name, "no tensor '" + ggufName + "' (the model's " +
                               w.name + ")");
  auto shapeText = [](llvm::ArrayRef<int64_t> shape) {
    std::string s = "[";
    for (auto [i, d] : llvm::enumerate(shape))
      s += (i ? " x " : "") + std::to_string(d);
    return s + "]";
  };
  if (llvm::ArrayRef<int64_t>(t->shape) != llvm::ArrayRef<int64_t>(w.shape))
    return fileError(name, "tensor '" + ggufName + "' is " +
                               shapeText(t->shape) + ", the metadata needs " +
                               shapeText(w.shape));
  bool blocks = getGgmlBlockSize(t->type) > 1;
  if (blocks && w.shape.size() != 2)
    return fileError(name, "tensor '" + ggufName + "' is a vector stored as " +
                               getGgmlTypeName(t->type) +
                               "; tok reads vectors as f32, f16 or bf16");
  // Float tensors must be aligned to their element size to be used in
  // place (GGUF aligns tensor data to 32 bytes by default); blocks are
  // read byte by byte.
  int64_t size = blocks ? 1 : getGgmlBlockBytes(t->type);
  const char *bytes = t->bytes.data();
  if (reinterpret_cast<uintptr_t>(bytes) % size == 0) {
    weights[index] = bytes;
    types[index] = getGgmlTypeName(t->type).str();
    mappedBytes += static_cast<int64_t>(t->bytes.size());
    return llvm::Error::success();
  }
  own(index, std::vector<char>(bytes, bytes + t->bytes.size()),
      getGgmlTypeName(t->type));
  return llvm::Error::success();
}

llvm::Expected<std::unique_ptr<LlamaModel>>
LlamaModel::open(StringRef path, StringRef tokenizerPath,
                 TokenizerPolicy policy) {
  if (path == "builtin") {
    std::unique_ptr<LlamaModel> m = createBuiltin();
    if (!tokenizerPath.empty()) {
      auto tok = Tokenizer::open(tokenizerPath, m->config.vocab);
      if (!tok)
        return tok.takeError();
      m->tokenizer = std::move(*tok);
    }
    return m;
  }
  if (!llvm::sys::fs::exists(path))
    return fileError(path, "no such file or directory");

  std::unique_ptr<LlamaModel> m(new LlamaModel);
  m->name = path.str();
  llvm::SmallString<256> defaultTokenizer;
  bool isHuggingFace =
      llvm::sys::fs::is_directory(path) || path.ends_with(".json");
  if (isHuggingFace) {
    llvm::SmallString<256> configPath(path);
    if (llvm::sys::fs::is_directory(path))
      llvm::sys::path::append(configPath, "config.json");
    auto config = readLlamaConfig(configPath);
    if (!config)
      return config.takeError();
    m->config = *config;
    llvm::SmallString<256> dir = llvm::sys::path::parent_path(configPath);
    auto opened = SafetensorsModel::openDirectory(dir);
    if (!opened)
      return opened.takeError();
    m->safetensors = std::move(*opened);
    defaultTokenizer = dir;
    llvm::sys::path::append(defaultTokenizer, "tokenizer.json");
  } else if (path.ends_with(".gguf") || startsWithGgufMagic(path)) {
    auto opened = GgufFile::open(path);
    if (!opened)
      return opened.takeError();
    auto llama = readGgufLlama(**opened);
    if (!llama)
      return llama.takeError();
    m->gguf = std::move(*opened);
    m->config = llama->config;
    m->interleavedRope = llama->interleavedRope;
  } else {
    auto ckpt = Llama2cCheckpoint::open(path);
    if (!ckpt)
      return ckpt.takeError();
    m->llama2c = std::move(*ckpt);
    m->config = getLlamaConfig(m->llama2c->getConfig());
    m->interleavedRope = true;
    if (llvm::Error err = m->config.validate(path))
      return std::move(err);
    defaultTokenizer = llvm::sys::path::parent_path(path);
    llvm::sys::path::append(defaultTokenizer, "tokenizer.bin");
  }

  // Bind every weight the module takes.
  std::vector<LlamaWeight> shapes = getLlamaWeights(m->config);
  m->weights.resize(shapes.size());
  m->types.resize(shapes.size(), "f32");
  for (auto [i, w] : llvm::enumerate(shapes)) {
    int64_t n = 1;
    for (int64_t d : w.shape)
      n *= d;
    if (m->gguf) {
      if (llvm::Error err = m->bindGgufWeight(i, w))
        return std::move(err);
      continue;
    }
    if (m->llama2c) {
      const Llama2cWeight *t = m->llama2c->lookup(w.name);
      if (!t)
        return fileError(path, "no weight '" + w.name + "'");
      m->weights[i] = t->data.data();
      m->mappedBytes += n * 4;
      continue;
    }
    const SafetensorsTensor *t = m->safetensors->lookup(w.name);
    if (!t)
      return fileError(path, "no tensor '" + w.name + "'");
    if (t->shape != w.shape ||
        (t->type != SafetensorsDType::F32 && t->type != SafetensorsDType::F16 &&
         t->type != SafetensorsDType::BF16)) {
      std::string want, got;
      for (int64_t d : w.shape)
        want += std::to_string(d) + " ";
      for (int64_t d : t->shape)
        got += std::to_string(d) + " ";
      return fileError(t->file, "tensor '" + w.name + "' is " +
                                    stringifySafetensorsDType(t->type) + " [ " +
                                    got + "], config.json needs a float [ " +
                                    want + "]");
    }
    StringRef type = t->type == SafetensorsDType::F32   ? "f32"
                     : t->type == SafetensorsDType::F16 ? "f16"
                                                        : "bf16";
    size_t size = getSafetensorsElementSize(t->type);
    const char *bytes = t->bytes.data();
    if (reinterpret_cast<uintptr_t>(bytes) % size == 0) {
      m->weights[i] = bytes;
      m->types[i] = type.str();
      m->mappedBytes += n * size;
      continue;
    }
    // Misaligned in the file (the format promises no alignment): copy.
    m->own(i, std::vector<char>(bytes, bytes + n * size), type);
  }
  if (llvm::Error err = m->checkEveryTensorRead(shapes, path))
    return std::move(err);

  // The tokenizer.
  if (policy == TokenizerPolicy::Skip)
    return m;
  if (tokenizerPath.empty() && m->gguf && hasGgufTokenizer(*m->gguf)) {
    auto tok = readGgufTokenizer(*m->gguf);
    if (!tok)
      return tok.takeError();
    m->tokenizer = std::move(*tok);
  } else if (!tokenizerPath.empty() ||
             llvm::sys::fs::exists(defaultTokenizer)) {
    StringRef tp =
        tokenizerPath.empty() ? StringRef(defaultTokenizer) : tokenizerPath;
    auto tok = Tokenizer::open(tp, m->config.vocab);
    if (!tok)
      return tok.takeError();
    m->tokenizer = std::move(*tok);
  } else if (m->config.vocab == 256) {
    m->tokenizer = Tokenizer::createByteTokenizer();
  } else if (policy == TokenizerPolicy::IfFound) {
    return m;
  } else {
    return fileError(path, "no tokenizer found (looked for " +
                               defaultTokenizer +
                               "); give one with --tokenizer");
  }
  if (m->tokenizer->getVocabSize() > m->config.vocab)
    return fileError(path, "the tokenizer has " +
                               Twine(m->tokenizer->getVocabSize()) +
                               " tokens, more than the model's vocabulary of " +
                               Twine(m->config.vocab));
  return m;
}

llvm::Error LlamaModel::exportHuggingFace(StringRef dir) const {
  if (!config.isLlamaLayout())
    return fileError(dir, "exporting a '" + config.modelType +
                              "' model is not supported (tok writes the "
                              "llama, mistral, qwen2 and qwen3 layouts)");
  llvm::SmallString<256> configPath(dir), weightsPath(dir);
  llvm::sys::path::append(configPath, "config.json");
  llvm::sys::path::append(weightsPath, "model.safetensors");
  for (StringRef p : {StringRef(configPath), StringRef(weightsPath)})
    if (llvm::sys::fs::exists(p))
      return fileError(p, "exists; not overwritten");
  if (std::error_code ec = llvm::sys::fs::create_directories(dir))
    return fileError(dir, "cannot create: " + ec.message());

  const LlamaConfig &c = config;
  llvm::json::Object json{
      {"architectures", llvm::json::Array{"LlamaForCausalLM"}},
      {"model_type", c.modelType},
      {"hidden_size", c.dim},
      {"intermediate_size", c.hiddenDim},
      {"num_hidden_layers", c.layers},
      {"num_attention_heads", c.heads},
      {"num_key_value_heads", c.kvHeads},
      {"head_dim", c.headDim},
      {"vocab_size", c.vocab},
      {"max_position_embeddings", c.maxPositions},
      {"rms_norm_eps", c.normEps},
      {"rope_theta", c.ropeTheta},
      {"tie_word_embeddings", c.tiedEmbeddings},
      {"torch_dtype", "float32"}};
  if (c.llama3Rope)
    json["rope_scaling"] =
        llvm::json::Object{{"rope_type", "llama3"},
                           {"factor", c.llama3Rope->factor},
                           {"low_freq_factor", c.llama3Rope->lowFreqFactor},
                           {"high_freq_factor", c.llama3Rope->highFreqFactor},
                           {"original_max_position_embeddings",
                            c.llama3Rope->originalMaxPositions}};
  else if (c.ropeScale != 1.0)
    json["rope_scaling"] =
        llvm::json::Object{{"rope_type", "linear"}, {"factor", c.ropeScale}};
  if (c.attentionBias != (c.modelType == "qwen2"))
    json["attention_bias"] = c.attentionBias;
  if (c.slidingWindow) {
    json["sliding_window"] = *c.slidingWindow;
    if (c.modelType == "qwen2" || c.modelType == "qwen3")
      json["use_sliding_window"] = true;
  }
  {
    std::error_code ec;
    llvm::raw_fd_ostream os(configPath, ec);
    if (ec)
      return fileError(configPath, "cannot write: " + ec.message());
    os << llvm::formatv("{0:2}", llvm::json::Value(std::move(json))) << "\n";
  }

  std::vector<LlamaWeight> shapes = getLlamaWeights(c);
  std::vector<std::vector<float>> widened(shapes.size());
  std::vector<SafetensorsOutput> tensors;
  for (auto [i, w] : llvm::enumerate(shapes)) {
    widened[i] = readWeightAsF32(i);
    tensors.push_back({w.name, w.shape, widened[i].data()});
  }
  return writeSafetensors(weightsPath, tensors);
}
