//===- LlamaConfigTest.cpp - config.json parsing --------------------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#include "tok/Frontend/LlamaConfig.h"
#include "tok/Frontend/Llama2c.h"
#include "tok/Frontend/LlamaModule.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

#include "gtest/gtest.h"

#include <cmath>
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
  EXPECT_EQ(llama->eosTokens, (std::vector<int64_t>{7, 8}));
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
                      "mistral, qwen2, qwen3, gemma2, gemma3_text, phi3)"),
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
                .find("'rope_scaling' type 'yarn' is not supported"),
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

/// transformers 5 writes RoPE settings into rope_parameters (theta and
/// type inside): read, not dropped (theta 10000 was used silently before).
TEST(LlamaConfigTest, ReadsRopeParameters) {
  auto c = parseLlamaConfig(config(R"("model_type": "llama", "rope_parameters":
                {"rope_type": "default", "rope_theta": 500000.0})"),
                            "config.json");
  ASSERT_TRUE(static_cast<bool>(c)) << llvm::toString(c.takeError());
  EXPECT_EQ(c->ropeTheta, 500000.0);
  EXPECT_TRUE(getRopeFrequencies(*c).empty());

  auto linear =
      parseLlamaConfig(config(R"("model_type": "llama", "rope_parameters":
                {"rope_type": "linear", "factor": 2.0, "rope_theta": 1e4})"),
                       "config.json");
  ASSERT_TRUE(static_cast<bool>(linear));
  EXPECT_EQ(linear->ropeScale, 2.0);

  EXPECT_NE(errorOf(config(R"("model_type": "llama", "rope_theta": 10000.0,
                              "rope_parameters": {"rope_theta": 500000.0})"))
                .find("disagree"),
            std::string::npos);
  EXPECT_NE(errorOf(config(R"("model_type": "llama", "rope_parameters":
                              {"rope_type": "default", "beta_fast": 32})"))
                .find("'rope_parameters.beta_fast' is not understood"),
            std::string::npos);
}

/// Llama 3's frequency rule, against values worked by hand: head_dim 16,
/// theta 500000, factor 32, low 1, high 4, original context 64 (the
/// conformance fixture's). Pair i has f = 500000^(-i/8) and wavelength
/// 2 pi / f: pair 0 (6.3 positions, under 64 / 4 = 16) keeps f = 1; pair 1
/// (32.3, between 16 and 64) mixes f / 32 and f with weight
/// s = (64 / 32.3 - 1) / 3; pairs 2.. (over 64) are f / 32.
TEST(LlamaConfigTest, Llama3RopeFrequencies) {
  auto c = parseLlamaConfig(
      config(R"("model_type": "llama", "rope_scaling": {"rope_type": "llama3",
                "factor": 32.0, "low_freq_factor": 1.0,
                "high_freq_factor": 4.0,
                "original_max_position_embeddings": 64},
                "rope_theta": 500000.0)"),
      "config.json");
  ASSERT_TRUE(static_cast<bool>(c)) << llvm::toString(c.takeError());
  std::vector<float> f = getRopeFrequencies(*c);
  ASSERT_EQ(f.size(), 8u);
  EXPECT_FLOAT_EQ(f[0], 1.0f);
  double f1 = std::pow(500000.0, -1.0 / 8.0);
  double s = (64.0 / (2.0 * M_PI / f1) - 1.0) / 3.0;
  EXPECT_FLOAT_EQ(f[1], static_cast<float>((1.0 - s) * f1 / 32.0 + s * f1));
  for (int i = 2; i < 8; ++i)
    EXPECT_FLOAT_EQ(f[i],
                    static_cast<float>(std::pow(500000.0, -i / 8.0) / 32.0));

  EXPECT_NE(errorOf(config(R"("model_type": "llama", "rope_scaling":
                              {"rope_type": "llama3", "factor": 8.0})"))
                .find("needs 'low_freq_factor', 'high_freq_factor' and "
                      "'original_max_position_embeddings'"),
            std::string::npos);
  EXPECT_NE(errorOf(config(R"("model_type": "llama", "rope_scaling":
                              {"rope_type": "llama3", "factor": 8.0,
                               "low_freq_factor": 4.0, "high_freq_factor": 1.0,
                               "original_max_position_embeddings": 8192})"))
                .find("'high_freq_factor' must be larger"),
            std::string::npos);
}

/// A key tok does not read is an error unless it is a documented no-op;
/// keys that would change the math in ways tok does not implement are
/// refused by value.
TEST(LlamaConfigTest, RefusesKeysItDoesNotUnderstand) {
  EXPECT_NE(errorOf(config(R"("model_type": "llama", "logit_scale": 0.5)"))
                .find("config key 'logit_scale' is not understood by tok"),
            std::string::npos);
  EXPECT_NE(errorOf(config(R"("model_type": "llama", "quantization_config":
                              {"bits": 4})"))
                .find("config key 'quantization_config' is not understood"),
            std::string::npos);
  EXPECT_EQ(errorOf(config(R"("model_type": "llama", "torch_dtype": "bf16",
                              "initializer_range": 0.02, "use_cache": true,
                              "attention_dropout": 0.0, "pretraining_tp": 1,
                              "mlp_bias": false, "partial_rotary_factor": 1.0,
                              "transformers_version": "5.0.0")")),
            "");
  EXPECT_NE(errorOf(config(R"("model_type": "llama", "mlp_bias": true)"))
                .find("'mlp_bias' true is not supported"),
            std::string::npos);
  EXPECT_NE(
      errorOf(config(R"("model_type": "llama", "partial_rotary_factor": 0.5)"))
          .find("'partial_rotary_factor' 0.5"),
      std::string::npos);
  EXPECT_NE(errorOf(config(R"("model_type": "qwen2", "num_hidden_layers": 2,
                              "use_sliding_window": true,
                              "sliding_window": 16, "max_window_layers": 1)"))
                .find("a sliding window in some layers only"),
            std::string::npos);
  EXPECT_NE(errorOf(config(R"("model_type": "llama", "layer_types":
                              ["full_attention", "sliding_attention"])"))
                .find("'layer_types' must be 'full_attention' in every layer"),
            std::string::npos);
  EXPECT_NE(errorOf(config(R"("model_type": "llama", "use_sliding_window":
                              true)"))
                .find("are Qwen keys"),
            std::string::npos);
}

/// Qwen3: per-head q/k norms, no biases by default, and their two weights
/// in each layer's list.
TEST(LlamaConfigTest, ReadsQwen3) {
  auto c = parseLlamaConfig(config(R"("model_type": "qwen3", "head_dim": 32,
                "num_key_value_heads": 2, "use_sliding_window": false,
                "max_window_layers": 28,
                "layer_types": ["full_attention", "full_attention"])"),
                            "config.json");
  ASSERT_TRUE(static_cast<bool>(c)) << llvm::toString(c.takeError());
  EXPECT_TRUE(c->qkNorm);
  EXPECT_FALSE(c->attentionBias);
  EXPECT_EQ(c->headDim, 32);
  EXPECT_EQ(getLlamaWeightsPerLayer(*c), 11);
  std::vector<LlamaWeight> w = getLlamaWeights(*c);
  // Embedding, then layer 0: norm, q, k, v, q_norm, k_norm, o, ...
  ASSERT_GT(w.size(), 7u);
  EXPECT_EQ(w[5].name, "model.layers.0.self_attn.q_norm.weight");
  ASSERT_EQ(w[5].shape.size(), 1u);
  EXPECT_EQ(w[5].shape[0], 32);
  EXPECT_EQ(w[6].name, "model.layers.0.self_attn.k_norm.weight");
}

/// Gemma 2: the defaults transformers applies (alternating layers from the
/// first sliding one, query_pre_attn_scalar), the sandwich norms in each
/// layer's list (Gemma's post_attention_layernorm is the attention
/// output's norm, pre_feedforward_layernorm the MLP's input norm).
TEST(LlamaConfigTest, ReadsGemma2) {
  auto c = parseLlamaConfig(config(R"("model_type": "gemma2", "head_dim": 32,
                "sliding_window": 4096, "query_pre_attn_scalar": 144,
                "attn_logit_softcapping": 50.0,
                "final_logit_softcapping": 30.0, "num_hidden_layers": 3,
                "hidden_activation": "gelu_pytorch_tanh",
                "hidden_act": "gelu_pytorch_tanh",
                "cache_implementation": "hybrid")"),
                            "config.json");
  ASSERT_TRUE(static_cast<bool>(c)) << llvm::toString(c.takeError());
  EXPECT_TRUE(c->normPlusOne && c->sandwichNorms && c->scaleEmbeddings);
  EXPECT_EQ(c->activation, LlamaConfig::Activation::GeluTanh);
  EXPECT_EQ(c->attnLogitSoftcap, 50.0);
  EXPECT_EQ(c->finalLogitSoftcap, 30.0);
  EXPECT_TRUE(c->isSlidingLayer(0));
  EXPECT_FALSE(c->isSlidingLayer(1));
  EXPECT_TRUE(c->isSlidingLayer(2));
  EXPECT_DOUBLE_EQ(c->getAttentionScale(), 1.0 / 12.0);
  std::vector<LlamaWeight> w = getLlamaWeights(*c);
  ASSERT_GT(w.size(), 10u);
  EXPECT_EQ(w[6].name, "model.layers.0.post_attention_layernorm.weight");
  EXPECT_EQ(w[7].name, "model.layers.0.pre_feedforward_layernorm.weight");
  EXPECT_EQ(w[8].name, "model.layers.0.post_feedforward_layernorm.weight");
  // norm, q, k, v, o, three norms, gate, up, down.
  EXPECT_EQ(getLlamaWeightsPerLayer(*c), 11);
}

/// Gemma 3: the local theta and the global RoPE from the nested
/// rope_parameters, or from the older rope_local_base_freq and
/// sliding_window_pattern.
TEST(LlamaConfigTest, ReadsGemma3) {
  auto c = parseLlamaConfig(
      config(R"("model_type": "gemma3_text", "sliding_window": 512,
                "num_hidden_layers": 2,
                "layer_types": ["sliding_attention", "full_attention"],
                "rope_parameters": {
                  "full_attention": {"rope_type": "linear", "factor": 8.0,
                                     "rope_theta": 1000000.0},
                  "sliding_attention": {"rope_type": "default",
                                        "rope_theta": 10000.0}})"),
      "config.json");
  ASSERT_TRUE(static_cast<bool>(c)) << llvm::toString(c.takeError());
  EXPECT_TRUE(c->qkNorm);
  EXPECT_EQ(c->localRopeTheta, 10000.0);
  EXPECT_EQ(c->ropeTheta, 1000000.0);
  EXPECT_EQ(c->ropeScale, 8.0);
  EXPECT_TRUE(c->isSlidingLayer(0));
  EXPECT_FALSE(c->isSlidingLayer(1));
  auto old = parseLlamaConfig(
      config(R"("model_type": "gemma3_text", "sliding_window": 512,
                "num_hidden_layers": 7, "sliding_window_pattern": 6,
                "rope_theta": 1000000.0, "rope_local_base_freq": 20000.0)"),
      "config.json");
  ASSERT_TRUE(static_cast<bool>(old)) << llvm::toString(old.takeError());
  EXPECT_EQ(old->localRopeTheta, 20000.0);
  for (int64_t l = 0; l < 7; ++l)
    EXPECT_EQ(old->isSlidingLayer(l), l != 5) << "layer " << l;
}

/// Phi-3's LongRoPE: short factors within the original context, long ones
/// beyond; the attention factor sqrt(1 + ln(max / original) / ln original)
/// squared in the attention scale.
TEST(LlamaConfigTest, ReadsPhi3LongRope) {
  auto c = parseLlamaConfig(
      config(R"("model_type": "phi3", "original_max_position_embeddings": 32,
                "rope_scaling": {"type": "su",
                  "short_factor": [1, 2, 4, 8, 1, 1, 1, 1],
                  "long_factor": [3, 3, 3, 3, 3, 3, 3, 3]})"),
      "config.json");
  ASSERT_TRUE(static_cast<bool>(c)) << llvm::toString(c.takeError());
  ASSERT_TRUE(c->longRope.has_value());
  EXPECT_TRUE(c->fusedProjections);
  // head_dim 16: theta^(-2i/16) / factor[i].
  std::vector<float> shortF = getRopeFrequencies(*c, 32);
  std::vector<float> longF = getRopeFrequencies(*c, 33);
  ASSERT_EQ(shortF.size(), 8u);
  EXPECT_FLOAT_EQ(shortF[0], 1.0f);
  EXPECT_FLOAT_EQ(shortF[1], static_cast<float>(std::pow(1e4, -0.125) / 2));
  EXPECT_FLOAT_EQ(shortF[3], static_cast<float>(std::pow(1e4, -0.375) / 8));
  EXPECT_FLOAT_EQ(longF[0], 1.0f / 3.0f);
  // max 128 over original 32: factor 4.
  double af = std::sqrt(1.0 + std::log(4.0) / std::log(32.0));
  EXPECT_DOUBLE_EQ(c->getAttentionScale(), af * af / 4.0);
  std::vector<LlamaWeight> w = getLlamaWeights(*c);
  EXPECT_EQ(w[2].name, "model.layers.0.self_attn.qkv_proj.weight");
  EXPECT_EQ(w[2].shape[0], 3 * 64);
  EXPECT_EQ(w[5].name, "model.layers.0.mlp.gate_up_proj.weight");
  EXPECT_EQ(w[5].shape[0], 2 * 172);
}

/// Each new field out of range, or where it does not belong, is refused.
TEST(LlamaConfigTest, RefusesGemmaAndPhi3FieldsOutOfRange) {
  struct Case {
    const char *json, *error;
  } cases[] = {
      {R"("model_type": "gemma3")", "a Gemma 3 image-text config"},
      {R"("model_type": "llama", "final_logit_softcapping": 30.0)",
       "config key 'final_logit_softcapping' is not understood"},
      {R"("model_type": "gemma2", "attn_logit_softcapping": -1.0)",
       "'attn_logit_softcapping' must be a positive number"},
      {R"("model_type": "gemma2", "query_pre_attn_scalar": 0)",
       "'query_pre_attn_scalar' must be positive"},
      {R"("model_type": "gemma2", "hidden_activation": "gelu")",
       "'hidden_activation' must be \"gelu_pytorch_tanh\""},
      {R"("model_type": "gemma2", "use_bidirectional_attention": true)",
       "'use_bidirectional_attention' true is not supported"},
      {R"("model_type": "gemma2", "layer_types":
          ["sliding_attention", "full_attention"])",
       "has sliding layers but no 'sliding_window'"},
      {R"("model_type": "gemma2", "sliding_window": 8, "layer_types":
          ["sliding_attention", "chunked_attention"])",
       "'layer_types': a layer of kind 'chunked_attention' is not "
       "supported"},
      {R"("model_type": "gemma3_text", "sliding_window": 8,
          "sliding_window_pattern": 0)",
       "'sliding_window_pattern' must be positive"},
      {R"("model_type": "gemma3_text", "sliding_window": 8,
          "rope_parameters": {"sliding_attention": {"rope_type": "linear",
                                                    "factor": 2.0}})",
       "'rope_parameters.sliding_attention' of type 'linear' is not "
       "supported"},
      {R"("model_type": "gemma3_text", "sliding_window": 8,
          "rope_parameters": {"full_attention": {}, "chunked": {}})",
       "'rope_parameters.chunked' is not a layer kind tok knows"},
      {R"("model_type": "phi3", "rope_scaling": {"type": "longrope",
          "short_factor": [1, 1], "long_factor": [1, 1]})",
       "LongRoPE's factor lists must have head_dim / 2 = 8 entries, got 2"},
      {R"("model_type": "phi3", "rope_scaling": {"type": "longrope",
          "short_factor": [1, 1, 1, 1, 1, 1, 1, 0],
          "long_factor": [1, 1, 1, 1, 1, 1, 1, 1]})",
       "'rope_scaling.short_factor' must hold positive numbers"},
      {R"("model_type": "phi3", "rope_scaling": {"type": "longrope",
          "long_factor": [1, 1, 1, 1, 1, 1, 1, 1]})",
       "needs 'short_factor'"},
      {R"("model_type": "llama", "rope_scaling": {"type": "longrope",
          "short_factor": [1, 1, 1, 1, 1, 1, 1, 1],
          "long_factor": [1, 1, 1, 1, 1, 1, 1, 1]})",
       "'longrope' is supported for phi3 only"},
      {R"("model_type": "phi3", "rope_scaling": {"type": "longrope",
          "short_factor": [1, 1, 1, 1, 1, 1, 1, 1],
          "long_factor": [1, 1, 1, 1, 1, 1, 1, 1],
          "partial_rotary_factor": 0.75})",
       "'rope_scaling.partial_rotary_factor' 0.75 is not supported"},
      {R"("model_type": "llama", "original_max_position_embeddings": 4096)",
       "config key 'original_max_position_embeddings' is not understood"},
  };
  for (const Case &k : cases)
    EXPECT_NE(errorOf(config(k.json)).find(k.error), std::string::npos)
        << k.json << "\n  gave: " << errorOf(config(k.json));
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
  std::string quoted = config(R"("model_type": "llama", "_name_or_path": "\")" +
                              brackets + R"(")");
  EXPECT_EQ(errorOf(quoted), "");
  std::string levels = std::string(255, '[') + std::string(255, ']');
  // (task_specific_params: a documented no-op key that may hold anything.)
  EXPECT_EQ(errorOf(config(
                R"("model_type": "llama", "task_specific_params": )" + levels)),
            "");
  levels = std::string(256, '[') + std::string(256, ']');
  EXPECT_NE(
      errorOf(
          config(R"("model_type": "llama", "task_specific_params": )" + levels))
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
  EXPECT_TRUE(hf->eosTokens.empty());
  llvm::Error valid = fromBin.validate("model.bin");
  EXPECT_FALSE(static_cast<bool>(valid));
  llvm::consumeError(std::move(valid));
}

} // namespace
