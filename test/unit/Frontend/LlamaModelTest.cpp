//===- LlamaModelTest.cpp - model loading and the built-in model ----------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#include "tok/Frontend/LlamaModel.h"
#include "tok/Frontend/LlamaModule.h"
#include "tok/Frontend/Safetensors.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include "gtest/gtest.h"

#include <cmath>
#include <cstring>

using namespace mlir::tok;

namespace {

int64_t numElements(const LlamaWeight &w) {
  int64_t n = 1;
  for (int64_t d : w.shape)
    n *= d;
  return n;
}

/// A fresh directory under the system temp dir.
std::string tempDir(const char *name) {
  llvm::SmallString<128> dir;
  EXPECT_FALSE(llvm::sys::fs::createUniqueDirectory(name, dir));
  return std::string(dir);
}

/// Writes the config.json of a one-layer Llama (dim 2, one head of 2,
/// hidden 2, tied embeddings) with `vocab` tokens into `dir`; returns its
/// shape.
LlamaConfig writeTinyConfig(const std::string &dir, int64_t vocab) {
  std::error_code ec;
  llvm::raw_fd_ostream os(dir + "/config.json", ec);
  os << R"({"model_type": "llama", "hidden_size": 2, "intermediate_size": 2,
    "num_hidden_layers": 1, "num_attention_heads": 1, "vocab_size": )"
     << vocab
     << R"(, "max_position_embeddings": 8, "tie_word_embeddings": true})";
  LlamaConfig config;
  config.dim = config.hiddenDim = config.headDim = 2;
  config.layers = config.heads = config.kvHeads = 1;
  config.vocab = vocab;
  config.tiedEmbeddings = true;
  return config;
}

TEST(LlamaModelTest, BuiltinIsSeededAndScaled) {
  std::unique_ptr<LlamaModel> a = LlamaModel::createBuiltin(0);
  std::unique_ptr<LlamaModel> b = LlamaModel::createBuiltin(0);
  std::unique_ptr<LlamaModel> c = LlamaModel::createBuiltin(1);
  const LlamaConfig &config = a->getConfig();
  EXPECT_EQ(config.layers, 6);
  EXPECT_EQ(config.dim, 288);
  EXPECT_EQ(config.heads, 6);
  EXPECT_EQ(config.vocab, 256);
  EXPECT_FALSE(bool(config.validate("builtin")));
  std::vector<LlamaWeight> shapes = getLlamaWeights(config);
  ASSERT_EQ(a->getWeights().size(), shapes.size());
  int64_t total = 0;
  for (auto [i, w] : llvm::enumerate(shapes)) {
    int64_t n = numElements(w);
    total += n;
    EXPECT_EQ(a->getWeightTypes()[i], "f32");
    const auto *x = static_cast<const float *>(a->getWeights()[i]);
    // Same seed, same weights; another seed, other matrices.
    EXPECT_EQ(std::memcmp(x, b->getWeights()[i], n * 4), 0) << w.name;
    if (w.shape.size() == 1) {
      for (int64_t e = 0; e < n; ++e)
        ASSERT_EQ(x[e], 1.0f) << w.name;
      continue;
    }
    EXPECT_NE(std::memcmp(x, c->getWeights()[i], n * 4), 0) << w.name;
    // Uniform in +-sqrt(3 / fan_in): variance 1 / fan_in.
    double bound = std::sqrt(3.0 / w.shape[1]), sumSq = 0;
    for (int64_t e = 0; e < n; ++e) {
      ASSERT_LE(std::abs(x[e]), bound) << w.name;
      sumSq += double(x[e]) * x[e];
    }
    EXPECT_NEAR(sumSq / n * w.shape[1], 1.0, 0.05) << w.name;
  }
  EXPECT_EQ(a->getOwnedBytes(), total * 4);
  EXPECT_EQ(a->getMappedBytes(), 0);
  EXPECT_EQ(a->getTokenizer().getVocabSize(), 256);
}

TEST(LlamaModelTest, ExportedModelOpensInPlace) {
  std::string dir = tempDir("tok-model");
  std::unique_ptr<LlamaModel> builtin = LlamaModel::createBuiltin();
  ASSERT_FALSE(bool(builtin->exportHuggingFace(dir)));
  auto opened = LlamaModel::open(dir);
  ASSERT_TRUE(bool(opened)) << llvm::toString(opened.takeError());
  LlamaModel &m = **opened;
  EXPECT_EQ(m.getConfig().dim, 288);
  EXPECT_EQ(m.getConfig().headDim, 48);
  EXPECT_TRUE(m.getConfig().tiedEmbeddings);
  EXPECT_FALSE(m.hasInterleavedRope());
  // Every float32 weight is a view into the mapped file, equal to the
  // built-in weight.
  EXPECT_EQ(m.getOwnedBytes(), 0);
  EXPECT_EQ(m.getMappedBytes(), builtin->getOwnedBytes());
  std::vector<LlamaWeight> shapes = getLlamaWeights(m.getConfig());
  for (auto [i, w] : llvm::enumerate(shapes))
    EXPECT_EQ(std::memcmp(m.getWeights()[i], builtin->getWeights()[i],
                          numElements(w) * 4),
              0)
        << w.name;

  // Exporting again does not overwrite anything.
  llvm::Error again = builtin->exportHuggingFace(dir);
  ASSERT_TRUE(bool(again));
  EXPECT_NE(llvm::toString(std::move(again)).find("exists; not overwritten"),
            std::string::npos);
  llvm::sys::fs::remove_directories(dir);
}

TEST(LlamaModelTest, HalfAndBFloat16AreMappedAndReadAsF32) {
  // A one-layer model (dim 2, one head of 2, hidden 2, vocabulary 256) whose
  // embedding is f16 and every other weight bf16.
  std::string dir = tempDir("tok-half");
  LlamaConfig config = writeTinyConfig(dir, 256);
  std::string header = "{", data;
  for (const LlamaWeight &w : getLlamaWeights(config)) {
    bool half = w.name == "model.embed_tokens.weight";
    int64_t n = numElements(w);
    std::string shape;
    for (int64_t d : w.shape)
      shape += (shape.empty() ? "" : ",") + std::to_string(d);
    header += (header.size() > 1 ? "," : "") + ("\"" + w.name + "\":") +
              "{\"dtype\":\"" + (half ? "F16" : "BF16") + "\",\"shape\":[" +
              shape + "],\"data_offsets\":[" + std::to_string(data.size()) +
              "," + std::to_string(data.size() + 2 * n) + "]}";
    for (int64_t e = 0; e < n; ++e) {
      // f16: 1.5 (0x3e00), -2^-24 (0x8001, subnormal), 65504 (0x7bff);
      // bf16: -0.5 (0xbf00).
      uint16_t bits = half ? (e % 3 == 0   ? 0x3e00
                              : e % 3 == 1 ? 0x8001
                                           : 0x7bff)
                           : 0xbf00;
      data.push_back(static_cast<char>(bits & 0xff));
      data.push_back(static_cast<char>(bits >> 8));
    }
  }
  header += "}";
  {
    std::error_code ec;
    llvm::raw_fd_ostream os(dir + "/model.safetensors", ec);
    uint64_t n = header.size();
    for (int i = 0; i < 8; ++i)
      os << static_cast<char>((n >> (8 * i)) & 0xff);
    os << header << data;
  }
  auto opened = LlamaModel::open(dir);
  ASSERT_TRUE(bool(opened)) << llvm::toString(opened.takeError());
  LlamaModel &m = **opened;
  // Used in place in their stored types (the file's data is 2-aligned).
  EXPECT_EQ(m.getOwnedBytes(), 0);
  EXPECT_EQ(m.getWeightTypes()[0], "f16");
  EXPECT_EQ(m.getWeightTypes()[1], "bf16");
  std::vector<float> embed = m.readWeightAsF32(0);
  EXPECT_EQ(embed[0], 1.5f);
  EXPECT_EQ(embed[1], -std::ldexp(1.0f, -24));
  EXPECT_EQ(embed[2], 65504.0f);
  EXPECT_EQ(m.readWeightAsF32(1)[0], -0.5f);
  llvm::sys::fs::remove_directories(dir);
}

TEST(LlamaModelTest, MissingTokenizerIsAnErrorOnlyWhenRequired) {
  std::string dir = tempDir("tok-notok");
  LlamaConfig config = writeTinyConfig(dir, 3);
  std::vector<float> zeros(6, 0.0f);
  std::vector<SafetensorsOutput> tensors;
  for (const LlamaWeight &w : getLlamaWeights(config))
    tensors.push_back({w.name, w.shape, zeros.data()});
  ASSERT_FALSE(bool(writeSafetensors(dir + "/model.safetensors", tensors)));
  auto required = LlamaModel::open(dir);
  ASSERT_FALSE(bool(required));
  EXPECT_NE(llvm::toString(required.takeError()).find("no tokenizer found"),
            std::string::npos);
  auto optional =
      LlamaModel::open(dir, "", LlamaModel::TokenizerPolicy::IfFound);
  ASSERT_TRUE(bool(optional)) << llvm::toString(optional.takeError());
  EXPECT_FALSE((*optional)->hasTokenizer());
  llvm::sys::fs::remove_directories(dir);
}

} // namespace
