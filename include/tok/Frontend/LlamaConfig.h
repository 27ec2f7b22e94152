//===- LlamaConfig.h - Llama-family model shapes ----------------*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// The shape of a Llama-family decoder (Llama, Mistral, Qwen2), read from a
// Hugging Face `config.json` or a llama2.c checkpoint header, validated once
// so that model builders can trust it.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_FRONTEND_LLAMACONFIG_H
#define TOK_FRONTEND_LLAMACONFIG_H

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mlir {
namespace tok {

struct Llama2cConfig;

struct LlamaConfig {
  /// "llama", "mistral", "qwen2", "qwen3", "gemma2", "gemma3_text" or
  /// "phi3".
  std::string modelType = "llama";
  int64_t dim = 0, hiddenDim = 0, layers = 0, heads = 0, kvHeads = 0, vocab = 0,
          maxPositions = 0;
  /// Per-head dimension (dim / heads unless config.json says otherwise).
  int64_t headDim = 0;
  double normEps = 1e-5, ropeTheta = 10000.0;
  /// Linear RoPE position scaling (`rope_scaling.type = linear`): positions
  /// are divided by this factor (tok.rope's `scale`); 1 if none.
  double ropeScale = 1.0;
  /// Llama 3's frequency rescaling (`rope_type = llama3`): frequencies
  /// whose wavelength exceeds original / lowFreqFactor are divided by
  /// factor, those below original / highFreqFactor kept, and the band
  /// between interpolated (getRopeFrequencies).
  struct Llama3Rope {
    double factor = 8.0, lowFreqFactor = 1.0, highFreqFactor = 4.0;
    int64_t originalMaxPositions = 8192;
  };
  std::optional<Llama3Rope> llama3Rope;
  /// Phi-3's LongRoPE (`rope_type = longrope`, formerly `su`): each pair's
  /// frequency theta^(-2i/D) divided by short_factor[i], or by
  /// long_factor[i] where the compiled context exceeds the original one;
  /// cos and sin scaled by attentionFactor (in tok: the logits by its
  /// square).
  struct LongRope {
    std::vector<double> shortFactor, longFactor;
    int64_t originalMaxPositions = 0;
    double attentionFactor = 1.0;
  };
  std::optional<LongRope> longRope;
  /// Gemma 3: the sliding-window layers rotate with their own theta (and
  /// no scaling); the global layers with ropeTheta and the scaling above.
  std::optional<double> localRopeTheta;
  /// Qwen3, Gemma 3: RMSNorm of each query and key head (q_norm, k_norm)
  /// before RoPE.
  bool qkNorm = false;
  /// Gemma: every RMSNorm scales by (1 + weight), not weight.
  bool normPlusOne = false;
  /// Gemma 2 / 3: the attention and MLP outputs are normalized too before
  /// the residual add (post_attention_layernorm, post_feedforward_layernorm;
  /// the MLP's input norm is pre_feedforward_layernorm).
  bool sandwichNorms = false;
  /// Gemma: the embeddings are multiplied by sqrt(hidden_size), rounded to
  /// the embedding's element type.
  bool scaleEmbeddings = false;
  /// The MLP's gate activation: SiLU (SwiGLU) or tanh-approximated GELU
  /// (GeGLU, Gemma's gelu_pytorch_tanh).
  enum class Activation { SiLU, GeluTanh };
  Activation activation = Activation::SiLU;
  /// Phi-3: q/k/v in one qkv_proj and gate/up in one gate_up_proj.
  bool fusedProjections = false;
  /// Gemma 2: logits of attention (before the mask) and of the output
  /// become cap * tanh(logit / cap).
  std::optional<double> attnLogitSoftcap, finalLogitSoftcap;
  /// Gemma: attention scaled by query_pre_attn_scalar^-0.5, not
  /// head_dim^-0.5.
  std::optional<double> queryPreAttnScalar;
  bool tiedEmbeddings = false;
  /// Qwen2: q/k/v projections carry a bias.
  bool attentionBias = false;
  /// Attention window (Mistral's sliding_window), if any: in every layer,
  /// or with slidingLayers (Gemma's layer_types) in the layers it marks.
  std::optional<int64_t> slidingWindow;
  std::vector<bool> slidingLayers;
  std::optional<int64_t> bosToken;
  /// End-of-sequence ids (config.json's eos_token_id: one or a list; any
  /// of them stops generation).
  std::vector<int64_t> eosTokens;

  /// Checks the shape's invariants; `name` names the source in errors.
  llvm::Error validate(llvm::StringRef name) const;

  /// Whether layer `l` attends within slidingWindow.
  bool isSlidingLayer(int64_t l) const {
    return slidingWindow &&
           (slidingLayers.empty() || slidingLayers[static_cast<size_t>(l)]);
  }
  /// Whether the architecture is one of the Llama layouts (llama, mistral,
  /// qwen2, qwen3) that export and GGUF write and read.
  bool isLlamaLayout() const {
    return modelType == "llama" || modelType == "mistral" ||
           modelType == "qwen2" || modelType == "qwen3";
  }
  /// The attention's logit scale: head_dim^-0.5 or query_pre_attn_scalar^-0.5,
  /// times LongRoPE's attention factor squared.
  double getAttentionScale() const;
};

/// Parses the text of a Hugging Face `config.json`.
llvm::Expected<LlamaConfig> parseLlamaConfig(llvm::StringRef json,
                                             llvm::StringRef name);
/// RoPE's per-pair angular frequencies for a config with a frequency
/// rescaling (llama3Rope, longRope): D/2 values for tok.rope's
/// `frequencies`; empty where theta^(-2i/D) applies unchanged. `context` is
/// the positions the compiled model reaches (LongRoPE's long factors apply
/// beyond the original context); `local` asks for Gemma 3's sliding layers.
std::vector<float> getRopeFrequencies(const LlamaConfig &c, int64_t context = 0,
                                      bool local = false);

/// Reads a Hugging Face `config.json`.
llvm::Expected<LlamaConfig> readLlamaConfig(llvm::StringRef path);
/// The shape of a llama2.c checkpoint (RoPE theta 10000, eps 1e-5).
LlamaConfig getLlamaConfig(const Llama2cConfig &config);

} // namespace tok
} // namespace mlir

#endif // TOK_FRONTEND_LLAMACONFIG_H
