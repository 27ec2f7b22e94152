//===- LlamaConfigTest.cpp - config.json parsing --------------------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#include "tok/Frontend/LlamaConfig.h"
#include "tok/Frontend/Llama2c.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

#include "gtest/gtest.h"

#include <string>

using namespace mlir::tok;

namespace {

const char *kBase = R"("hidden_size": 64, "intermediate_size": 172,
  "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 100,
  "max_position_embeddings": 128)";

std::string config(const std::string &extra) {
  return "{" + std::string(kBase) + ", " + extra + "}";
}

std::string errorOf(const std::string &json) {
  auto c = parseLlamaConfig(json, "config.json");
  return c ? std::string() : llvm::toString(c.takeError());
}

TEST(LlamaConfigTest, ReadsLlamaMistralAndQwen2) {
  auto llama = parseLlamaConfig(
      config(R"("model_type": "llama", "num_key_value_heads": 2,
                "rope_theta": 500000.0, "rms_norm_eps": 1e-5,
                "tie_word_embeddings": true, "eos_token_id": [7, 8],
                "rope_scaling": {"type": "linear", "factor": 4.0})"),
      "config.json");
  ASSERT_TRUE(static_cast<bool>(llama)) << llvm::toString(llama.takeError());
  EXPECT_EQ(llama->dim, 64);
  EXPECT_EQ(llama->heads, 4);
  EXPECT_EQ(llama->kvHeads, 2);
  EXPECT_EQ(llama->headDim, 16);
  EXPECT_EQ(llama->ropeTheta, 500000.0);
  EXPECT_EQ(llama->ropeScale, 4.0);
  EXPECT_TRUE(llama->tiedEmbeddings);
  EXPECT_FALSE(llama->attentionBias);
  EXPECT_EQ(llama->eosToken, 7);
  EXPECT_FALSE(llama->bosToken.has_value());

  auto mistral = parseLlamaConfig(
      config(R"("model_type": "mistral", "sliding_window": 32)"),
      "config.json");
  ASSERT_TRUE(static_cast<bool>(mistral));
  EXPECT_EQ(mistral->kvHeads, 4); // defaults to the query heads
  EXPECT_EQ(mistral->slidingWindow, 32);
  EXPECT_EQ(mistral->normEps, 1e-6);

  // Qwen2 has q/k/v biases by default and ignores sliding_window unless
  // use_sliding_window says otherwise.
  auto qwen = parseLlamaConfig(
      config(R"("model_type": "qwen2", "sliding_window": 32)"), "config.json");
  ASSERT_TRUE(static_cast<bool>(qwen));
  EXPECT_TRUE(qwen->attentionBias);
  EXPECT_FALSE(qwen->slidingWindow.has_value());
}

TEST(LlamaConfigTest, RejectsBadConfigs) {
  EXPECT_NE(errorOf("{").find("config.json: malformed JSON"),
            std::string::npos);
  EXPECT_NE(errorOf(config(R"("model_type": "gpt2")"))
                .find("unknown architecture 'gpt2' (supported: llama, "
                      "mistral, qwen2)"),
            std::string::npos);
  EXPECT_NE(errorOf(R"({"model_type": "llama"})").find("missing 'hidden_size'"),
            std::string::npos);
  EXPECT_NE(
      errorOf(config(R"("model_type": "llama", "num_key_value_heads": 3)"))
          .find("num_attention_heads (4) must be a multiple of "
                "num_key_value_heads (3)"),
      std::string::npos);
  EXPECT_NE(errorOf(config(R"("model_type": "llama", "eos_token_id": 100)"))
                .find("'eos_token_id' 100 is outside the vocabulary of 100"),
            std::string::npos);
  EXPECT_NE(errorOf(config(R"("model_type": "llama",
                              "rope_scaling": {"type": "yarn", "factor": 2})"))
                .find("rope_scaling type 'yarn' is not supported"),
            std::string::npos);
  EXPECT_NE(errorOf(config(R"("model_type": "llama", "hidden_act": "gelu")"))
                .find("hidden_act must be \"silu\""),
            std::string::npos);
  EXPECT_NE(errorOf(config(R"("model_type": "llama", "vocab_size": "many")"))
                .find("'vocab_size' must be an integer"),
            std::string::npos);
  EXPECT_NE(errorOf(config(R"("model_type": "llama", "head_dim": 15)"))
                .find("the head dimension (15) must be even"),
            std::string::npos);
}

/// JSON nesting: refused past 256 levels before the recursive parser runs
/// (50,000 levels overflowed its stack); brackets inside strings and
/// escaped quotes do not count, and 256 levels still parse.
TEST(LlamaConfigTest, LimitsJsonNesting) {
  std::string deep(50000, '[');
  deep += std::string(50000, ']');
  EXPECT_NE(errorOf(deep).find("config.json: malformed JSON: arrays and "
                               "objects nested deeper than 256 levels (at "
                               "byte 256)"),
            std::string::npos);
  std::string brackets(5000, '[');
  std::string quoted =
      config(R"("model_type": "llama", "note": "\")" + brackets + R"(")");
  EXPECT_EQ(errorOf(quoted), "");
  std::string levels = std::string(255, '[') + std::string(255, ']');
  EXPECT_EQ(errorOf(config(R"("model_type": "llama", "x": )" + levels)), "");
  levels = std::string(256, '[') + std::string(256, ']');
  EXPECT_NE(errorOf(config(R"("model_type": "llama", "x": )" + levels))
                .find("nested deeper than 256"),
            std::string::npos);
}

/// The shared model's config.json and its llama2.c header agree.
TEST(LlamaConfigTest, SharedPyllamaConfigsAgree) {
  llvm::SmallString<256> dir(TOK_SOURCE_DIR);
  for (const char *part : {"..", "shared", "models", "pyllama-4m"})
    llvm::sys::path::append(dir, part);
  llvm::SmallString<256> json(dir), bin(dir);
  llvm::sys::path::append(json, "config.json");
  llvm::sys::path::append(bin, "model.bin");
  if (!llvm::sys::fs::exists(json) || !llvm::sys::fs::exists(bin))
    GTEST_SKIP() << "no " << dir.str().str();
  auto hf = readLlamaConfig(json);
  ASSERT_TRUE(static_cast<bool>(hf)) << llvm::toString(hf.takeError());
  auto ckpt = Llama2cCheckpoint::open(bin);
  ASSERT_TRUE(static_cast<bool>(ckpt)) << llvm::toString(ckpt.takeError());
  LlamaConfig fromBin = getLlamaConfig((*ckpt)->getConfig());
  EXPECT_EQ(hf->dim, fromBin.dim);
  EXPECT_EQ(hf->hiddenDim, fromBin.hiddenDim);
  EXPECT_EQ(hf->layers, fromBin.layers);
  EXPECT_EQ(hf->heads, fromBin.heads);
  EXPECT_EQ(hf->kvHeads, fromBin.kvHeads);
  EXPECT_EQ(hf->headDim, fromBin.headDim);
  EXPECT_EQ(hf->vocab, fromBin.vocab);
  EXPECT_EQ(hf->maxPositions, fromBin.maxPositions);
  EXPECT_EQ(hf->tiedEmbeddings, fromBin.tiedEmbeddings);
  EXPECT_EQ(hf->normEps, fromBin.normEps);
  EXPECT_EQ(hf->ropeTheta, fromBin.ropeTheta);
  EXPECT_FALSE(hf->eosToken.has_value());
  llvm::Error valid = fromBin.validate("model.bin");
  EXPECT_FALSE(static_cast<bool>(valid));
  llvm::consumeError(std::move(valid));
}

} // namespace
