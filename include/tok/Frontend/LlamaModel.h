//===- LlamaModel.h - a Llama-family model ready to run ---------*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// A decoder model as the drivers (tok-run generate, tok-compile) need it:
// its shape, its weights as float32 arrays in getLlamaWeights order, and its
// tokenizer. Weights stay in the memory-mapped files, in their stored type
// (f32, f16 or bf16), when they are aligned to their element size there
// (the usual case); misaligned ones are copied, and the model says how many
// bytes it copied.
//
// Sources: a GGUF file (`.gguf`: llama, mistral, qwen2; f32 / f16 / bf16 and
// q8_0 / q4_0 / q4_k / q6_k tensors, used in place), a llama2.c checkpoint
// (`.bin`), a Hugging Face directory (or its config.json: llama, mistral,
// qwen2, qwen3, gemma2, gemma3_text, phi3) with model.safetensors or a
// sharded index, or "builtin": a
// small seeded Llama (6 layers, dim 288, 6 heads, byte vocabulary) that
// needs no files.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_FRONTEND_LLAMAMODEL_H
#define TOK_FRONTEND_LLAMAMODEL_H

#include "tok/Frontend/LlamaConfig.h"
#include "tok/Frontend/Tokenizer.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cassert>
#include <memory>
#include <string>
#include <vector>

namespace mlir {
namespace tok {

class GgufFile;
class Llama2cCheckpoint;
class SafetensorsModel;
struct LlamaWeight;

class LlamaModel {
public:
  ~LlamaModel();

  /// Opens `path`: "builtin", a GGUF file, a llama2.c `.bin`, or a Hugging
  /// Face directory / config.json. `tokenizerPath` overrides the tokenizer
  /// (tokenizer.json or llama2.c tokenizer.bin); by default a Hugging Face
  /// directory's tokenizer.json is used, a tokenizer.bin beside a llama2.c
  /// checkpoint, and the byte tokenizer for 256-token vocabularies.
  /// `tokenizer` says whether a missing one is an error, or whether to skip
  /// it (importers need only the weights).
  enum class TokenizerPolicy { Require, IfFound, Skip };
  static llvm::Expected<std::unique_ptr<LlamaModel>>
  open(llvm::StringRef path, llvm::StringRef tokenizerPath = "",
       TokenizerPolicy tokenizer = TokenizerPolicy::Require);

  /// The built-in model: weights uniform in +-sqrt(3 / fan_in) (norm
  /// weights 1) from a SplitMix64 stream keyed by `seed`.
  static std::unique_ptr<LlamaModel> createBuiltin(uint64_t seed = 0);
  static LlamaConfig getBuiltinConfig();

  const LlamaConfig &getConfig() const { return config; }
  /// llama2.c checkpoints rotate pairs (2i, 2i+1); the others (i, i + D/2).
  bool hasInterleavedRope() const { return interleavedRope; }
  /// The data of every weight, in getLlamaWeights(getConfig()) order, and
  /// its element type ("f32", "f16" or "bf16"), or for a GGUF file's
  /// block-quantized matrices its GGML block format ("q8_0", "q4_0",
  /// "q4_k", "q6_k": the #tok.quant schemes), read in place.
  llvm::ArrayRef<const void *> getWeights() const { return weights; }
  llvm::ArrayRef<std::string> getWeightTypes() const { return types; }
  /// Weight `index` converted to float32.
  std::vector<float> readWeightAsF32(size_t index) const;
  bool hasTokenizer() const { return tokenizer != nullptr; }
  const Tokenizer &getTokenizer() const {
    assert(tokenizer && "opened without a tokenizer");
    return *tokenizer;
  }
  /// Where the model came from ("builtin" or the path).
  llvm::StringRef getName() const { return name; }
  /// Bytes of weights used in place in mapped files, and bytes copied
  /// (widened, realigned or generated).
  int64_t getMappedBytes() const { return mappedBytes; }
  int64_t getOwnedBytes() const { return ownedBytes; }

  /// Writes the model in Hugging Face layout (config.json and a float32
  /// model.safetensors) into `dir`, which is created; existing files are
  /// not overwritten.
  llvm::Error exportHuggingFace(llvm::StringRef dir) const;

private:
  LlamaModel() = default;
  /// Takes ownership of `data` (of element type `type`) as weight `index`.
  void own(size_t index, std::vector<char> data, llvm::StringRef type);
  /// Binds weight `index` to its tensor in the GGUF file.
  llvm::Error bindGgufWeight(size_t index, const LlamaWeight &w);

  std::string name;
  LlamaConfig config;
  bool interleavedRope = false;
  std::vector<const void *> weights;
  std::vector<std::string> types;
  std::vector<std::vector<char>> owned;
  std::unique_ptr<Llama2cCheckpoint> llama2c;
  std::unique_ptr<SafetensorsModel> safetensors;
  /// Refuses a checkpoint (GGUF or safetensors) with a tensor that is none
  /// of `shapes` (the weights bound): skipping it could change the math.
  llvm::Error checkEveryTensorRead(llvm::ArrayRef<LlamaWeight> shapes,
                                   llvm::StringRef path) const;
  std::unique_ptr<GgufFile> gguf;
  std::unique_ptr<Tokenizer> tokenizer;
  int64_t mappedBytes = 0, ownedBytes = 0;
};

} // namespace tok
} // namespace mlir

#endif // TOK_FRONTEND_LLAMAMODEL_H
