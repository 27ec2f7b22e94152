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
  /// "llama", "mistral", "qwen2" or "qwen3".
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
  /// Qwen3: RMSNorm of each query and key head (q_norm, k_norm) before
  /// RoPE.
  bool qkNorm = false;
  bool tiedEmbeddings = false;
  /// Qwen2: q/k/v projections carry a bias.
  bool attentionBias = false;
  /// Attention window (Mistral's sliding_window), if any.
  std::optional<int64_t> slidingWindow;
  std::optional<int64_t> bosToken;
  /// End-of-sequence ids (config.json's eos_token_id: one or a list; any
  /// of them stops generation).
  std::vector<int64_t> eosTokens;

  /// Checks the shape's invariants; `name` names the source in errors.
  llvm::Error validate(llvm::StringRef name) const;
};

/// Parses the text of a Hugging Face `config.json`.
llvm::Expected<LlamaConfig> parseLlamaConfig(llvm::StringRef json,
                                             llvm::StringRef name);
/// RoPE's per-pair angular frequencies for a config with a frequency
/// rescaling (llama3Rope): D/2 values for tok.rope's `frequencies`; empty
/// where theta^(-2i/D) applies unchanged.
std::vector<float> getRopeFrequencies(const LlamaConfig &c);

/// Reads a Hugging Face `config.json`.
llvm::Expected<LlamaConfig> readLlamaConfig(llvm::StringRef path);
/// The shape of a llama2.c checkpoint (RoPE theta 10000, eps 1e-5).
LlamaConfig getLlamaConfig(const Llama2cConfig &config);

} // namespace tok
} // namespace mlir

#endif // TOK_FRONTEND_LLAMACONFIG_H
