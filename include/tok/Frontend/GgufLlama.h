//===- GgufLlama.h - Llama-family decoders stored in GGUF -------*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// What a GGUF file's metadata says about a llama / mistral / qwen2 model:
// its LlamaConfig (from `<arch>.block_count`, `<arch>.embedding_length`,
// ... and the embedding's rows), its RoPE pairing, and where each weight
// of getLlamaWeights lives (`blk.<i>.attn_q.weight`, ...). Metadata under
// the architecture's prefix that tok does not understand is an error, not
// ignored (it may change the math).
//
//===----------------------------------------------------------------------===//

#ifndef TOK_FRONTEND_GGUFLLAMA_H
#define TOK_FRONTEND_GGUFLLAMA_H

#include "tok/Frontend/Gguf.h"
#include "tok/Frontend/LlamaConfig.h"
#include "tok/Frontend/Tokenizer.h"

namespace mlir {
namespace tok {

struct GgufLlama {
  LlamaConfig config;
  /// llama / mistral: q and k are stored for adjacent rotary pairs.
  bool interleavedRope = false;
};

llvm::Expected<GgufLlama> readGgufLlama(const GgufFile &file);

/// Whether the file describes a tokenizer: `tokenizer.ggml.model` is
/// present and not "none" / "no_vocab" (llama.cpp's names for a model
/// without one).
bool hasGgufTokenizer(const GgufFile &file);

/// The file's tokenizer (`tokenizer.ggml.*`): "llama" (scored
/// SentencePiece) or "gpt2" (byte-level BPE with merges, split by the
/// pattern `tokenizer.ggml.pre` names: default / gpt-2, llama-bpe, qwen2).
llvm::Expected<std::unique_ptr<Tokenizer>>
readGgufTokenizer(const GgufFile &file);

/// The GGUF name of a weight named as getLlamaWeights names it (Hugging
/// Face's names): "model.layers.3.self_attn.q_proj.weight" is
/// "blk.3.attn_q.weight".
std::string getGgufTensorName(llvm::StringRef hfName);

} // namespace tok
} // namespace mlir

#endif // TOK_FRONTEND_GGUFLLAMA_H
