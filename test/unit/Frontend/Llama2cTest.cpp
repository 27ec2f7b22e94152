//===- Llama2cTest.cpp - llama2.c checkpoint reader -----------------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#include "tok/Frontend/Llama2c.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

#include "gtest/gtest.h"

#include <cstring>
#include <vector>

using namespace mlir::tok;

namespace {

struct Params {
  int32_t dim = 8, hidden = 12, layers = 2, heads = 2, kvHeads = 1, vocab = 5,
          seqLen = 4;
};

/// Floats in a legacy checkpoint with `p` (classifier shared if vocab > 0).
int64_t legacyFloats(const Params &p) {
  int64_t v = p.vocab < 0 ? -p.vocab : p.vocab, hd = p.dim / p.heads;
  int64_t n = v * p.dim + p.layers * p.dim * 2 +
              p.layers * (p.dim * p.dim * 2 + p.dim * p.kvHeads * hd * 2) +
              p.layers * p.dim * p.hidden * 3 + p.dim + p.seqLen * hd;
  if (p.vocab < 0)
    n += v * p.dim;
  return n;
}

/// A legacy checkpoint whose float i holds the value i.
std::string legacy(const Params &p, int64_t extraFloats = 0) {
  int32_t header[7] = {p.dim,     p.hidden, p.layers, p.heads,
                       p.kvHeads, p.vocab,  p.seqLen};
  std::string bytes(reinterpret_cast<char *>(header), sizeof(header));
  int64_t n = legacyFloats(p) + extraFloats;
  for (int64_t i = 0; i < n; ++i) {
    float f = static_cast<float>(i);
    bytes.append(reinterpret_cast<char *>(&f), 4);
  }
  return bytes;
}

llvm::Expected<std::unique_ptr<Llama2cCheckpoint>>
parse(const std::string &bytes) {
  return Llama2cCheckpoint::parse(
      llvm::MemoryBuffer::getMemBufferCopy(bytes, "m.bin"), "m.bin");
}

std::string errorOf(const std::string &bytes) {
  auto result = parse(bytes);
  if (result)
    return "";
  return llvm::toString(result.takeError());
}

TEST(Llama2cTest, ReadsLegacySharedClassifier) {
  Params p;
  auto ckpt = parse(legacy(p));
  ASSERT_TRUE(static_cast<bool>(ckpt)) << llvm::toString(ckpt.takeError());
  const Llama2cConfig &c = (*ckpt)->getConfig();
  EXPECT_EQ(c.dim, 8);
  EXPECT_EQ(c.kvHeads, 1);
  EXPECT_TRUE(c.sharedClassifier);
  EXPECT_EQ((*ckpt)->lookup("lm_head.weight"), nullptr);
  const Llama2cWeight *emb = (*ckpt)->lookup("model.embed_tokens.weight");
  ASSERT_NE(emb, nullptr);
  EXPECT_EQ(emb->shape, (llvm::SmallVector<int64_t>{5, 8}));
  EXPECT_EQ(emb->data[0], 0.0f);
  // Layer 1's q_proj follows the embedding (40 floats), the attention
  // norms (16) and layer 0's q_proj (64).
  const Llama2cWeight *q1 =
      (*ckpt)->lookup("model.layers.1.self_attn.q_proj.weight");
  ASSERT_NE(q1, nullptr);
  EXPECT_EQ(q1->shape, (llvm::SmallVector<int64_t>{8, 8}));
  EXPECT_EQ(q1->data[0], 40.0f + 16.0f + 64.0f);
  const Llama2cWeight *k0 =
      (*ckpt)->lookup("model.layers.0.self_attn.k_proj.weight");
  ASSERT_NE(k0, nullptr);
  EXPECT_EQ(k0->shape, (llvm::SmallVector<int64_t>{4, 8}));
}

TEST(Llama2cTest, NegativeVocabularyMeansOwnClassifier) {
  Params p;
  p.vocab = -5;
  auto ckpt = parse(legacy(p));
  ASSERT_TRUE(static_cast<bool>(ckpt)) << llvm::toString(ckpt.takeError());
  EXPECT_EQ((*ckpt)->getConfig().vocab, 5);
  EXPECT_FALSE((*ckpt)->getConfig().sharedClassifier);
  const Llama2cWeight *head = (*ckpt)->lookup("lm_head.weight");
  ASSERT_NE(head, nullptr);
  EXPECT_EQ(head->data.back(), static_cast<float>(legacyFloats(p) - 1));
}

TEST(Llama2cTest, ReadsVersionOne) {
  Params p;
  std::string bytes(256, '\0');
  uint32_t magic = 0x616b3432;
  int32_t fields[9] = {1,       p.dim,     p.hidden, p.layers,
                       p.heads, p.kvHeads, p.vocab,  p.seqLen};
  std::memcpy(&bytes[0], &magic, 4);
  std::memcpy(&bytes[4], fields, 32);
  bytes[36] = 1; // shared classifier
  // Version 1 has no RoPE tables.
  int64_t hd = p.dim / p.heads;
  int64_t n = legacyFloats(p) - p.seqLen * hd;
  for (int64_t i = 0; i < n; ++i) {
    float f = static_cast<float>(i);
    bytes.append(reinterpret_cast<char *>(&f), 4);
  }
  auto ckpt = parse(bytes);
  ASSERT_TRUE(static_cast<bool>(ckpt)) << llvm::toString(ckpt.takeError());
  EXPECT_EQ((*ckpt)->getConfig().version, 1);
  // Version 1 stores the norms first.
  const Llama2cWeight *norm0 =
      (*ckpt)->lookup("model.layers.0.input_layernorm.weight");
  ASSERT_NE(norm0, nullptr);
  EXPECT_EQ(norm0->data[0], 0.0f);
}

TEST(Llama2cTest, RejectsMalformedFiles) {
  Params p;
  EXPECT_EQ(errorOf("abc"),
            "m.bin: truncated header (3 bytes, the legacy header has 28)");
  std::string full = legacy(p);
  EXPECT_EQ(errorOf(full.substr(0, full.size() - 4)),
            "m.bin: expected " + std::to_string(full.size()) +
                " bytes for these parameters (dim 8, 2 layers, vocab 5), "
                "the file has " +
                std::to_string(full.size() - 4));
  EXPECT_NE(errorOf(legacy(p, 1)).find("bytes for these parameters"),
            std::string::npos);
  Params zero = p;
  zero.layers = 0;
  EXPECT_EQ(errorOf(legacy(zero)), "m.bin: n_layers must be positive, got 0");
  Params odd = p;
  odd.heads = 3;
  EXPECT_EQ(errorOf(legacy(odd)),
            "m.bin: dim 8 is not a multiple of n_heads 3");
  Params gqa = p;
  gqa.kvHeads = 3;
  gqa.heads = 2;
  EXPECT_EQ(errorOf(legacy(gqa)),
            "m.bin: n_heads 2 is not a multiple of n_kv_heads 3");
  // Huge parameters must not overflow into a small expected size.
  int32_t header[7] = {1 << 30, 1 << 30, 1 << 30, 2, 1, 5, 4};
  std::string hostile(reinterpret_cast<char *>(header), sizeof(header));
  EXPECT_EQ(errorOf(hostile),
            "m.bin: the parameters describe an impossibly large model");
  std::string v2(256, '\0');
  uint32_t magic = 0x616b3432;
  int32_t version = 2;
  std::memcpy(&v2[0], &magic, 4);
  std::memcpy(&v2[4], &version, 4);
  EXPECT_EQ(errorOf(v2), "m.bin: checkpoint version 2 is not supported "
                         "(only version 1, float32, and the legacy layout "
                         "are)");
  auto missing = Llama2cCheckpoint::open("/nonexistent/model.bin");
  ASSERT_FALSE(static_cast<bool>(missing));
  EXPECT_NE(llvm::toString(missing.takeError())
                .find("/nonexistent/model.bin: cannot read"),
            std::string::npos);
}

/// The shared trained model, when the checkout sits beside shared/.
TEST(Llama2cTest, ReadsSharedPyllama) {
  llvm::SmallString<256> path(TOK_SOURCE_DIR);
  for (const char *part : {"..", "shared", "models", "pyllama-4m", "model.bin"})
    llvm::sys::path::append(path, part);
  if (!llvm::sys::fs::exists(path))
    GTEST_SKIP() << "no " << path.str().str();
  auto ckpt = Llama2cCheckpoint::open(path);
  ASSERT_TRUE(static_cast<bool>(ckpt)) << llvm::toString(ckpt.takeError());
  const Llama2cConfig &c = (*ckpt)->getConfig();
  EXPECT_EQ(c.dim, 256);
  EXPECT_EQ(c.hiddenDim, 688);
  EXPECT_EQ(c.layers, 6);
  EXPECT_EQ(c.heads, 8);
  EXPECT_EQ(c.kvHeads, 4);
  EXPECT_EQ(c.vocab, 256);
  EXPECT_TRUE(c.sharedClassifier);
  EXPECT_NE((*ckpt)->lookup("model.layers.5.mlp.down_proj.weight"), nullptr);
}

} // namespace
