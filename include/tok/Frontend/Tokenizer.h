//===- Tokenizer.h - text <-> token ids -------------------------*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// Tokenizers turn text into token ids and back:
//  - the built-in byte tokenizer (256 ids, id i = byte i), which the shared
//    pyllama-4m model and the built-in model use;
//  - Hugging Face `tokenizer.json`, run stage by stage as the `tokenizers`
//    library does (docs/tokenizers.md): added tokens split the text; each
//    piece is normalized (NFC / NFD / NFKC / NFKD through ICU, Lowercase:
//    Normalizer.h; Replace, Prepend, Strip, StripAccents), pre-tokenized
//    (ByteLevel, Split with GPT-2's / Llama 3's / Qwen2's pattern:
//    PreTokenizer.h; Metaspace) and tokenized by the model: BPE
//    (byte-level, or SentencePiece style with byte fallback to `<0xXX>`
//    tokens and an unknown token), Unigram (Viterbi over log-probabilities)
//    or WordPiece; the decoder chain (ByteLevel, Replace, ByteFallback,
//    Fuse, Strip, Metaspace) turns ids back into text, or without one the
//    tokens joined by spaces. Components tok does not implement are
//    refused when the file is read;
//  - GGUF vocabularies (GgufTokenizer.h): scored SentencePiece ("llama")
//    and byte-level BPE with merges ("gpt2");
//  - llama2.c `tokenizer.bin` (scored vocabulary: a dummy prefix space,
//    code points with byte fallback to ids 3 + byte, then the highest-scored
//    adjacent merge first, as run.c encodes).
// Merges apply lowest rank first, every occurrence of the winning pair left
// to right, as the reference BPE does.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_FRONTEND_TOKENIZER_H
#define TOK_FRONTEND_TOKENIZER_H

#include "tok/Frontend/PreTokenizer.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace mlir {
namespace tok {

class Tokenizer {
public:
  virtual ~Tokenizer();

  /// The built-in byte tokenizer.
  static std::unique_ptr<Tokenizer> createByteTokenizer();
  /// The tokenizer in the file at `path`, by its kind: a `tokenizer.json`
  /// (with the `tokenizer_config.json` beside it, if any:
  /// applyTokenizerConfig), a GGUF model's vocabulary (`.gguf` or GGUF's
  /// magic), else a llama2.c `tokenizer.bin` of `vocabSize` entries (when
  /// `vocabSize` <= 0, as many as the file holds).
  static llvm::Expected<std::unique_ptr<Tokenizer>> open(llvm::StringRef path,
                                                         int64_t vocabSize = 0);
  /// Reads a Hugging Face `tokenizer.json`.
  static llvm::Expected<std::unique_ptr<Tokenizer>>
  openHuggingFace(llvm::StringRef path);
  /// Parses the text of a `tokenizer.json`; `name` names it in errors.
  static llvm::Expected<std::unique_ptr<Tokenizer>>
  parseHuggingFace(llvm::StringRef json, llvm::StringRef name);

  /// Reads a llama2.c `tokenizer.bin` of `vocabSize` entries (the
  /// checkpoint's vocabulary size).
  static llvm::Expected<std::unique_ptr<Tokenizer>>
  openLlama2c(llvm::StringRef path, int64_t vocabSize);
  /// Parses the bytes of a `tokenizer.bin`; `name` names it in errors.
  static llvm::Expected<std::unique_ptr<Tokenizer>>
  parseLlama2c(llvm::StringRef bytes, int64_t vocabSize, llvm::StringRef name);

  /// A scored SentencePiece vocabulary (GGUF's "llama" tokenizer): spaces
  /// are U+2581, a dummy prefix space when `addSpacePrefix`, code points
  /// with byte fallback to the `<0xXX>` tokens, then the adjacent pair
  /// whose merged token scores highest merges first (leftmost on ties).
  static llvm::Expected<std::unique_ptr<Tokenizer>>
  createSentencePiece(llvm::ArrayRef<llvm::StringRef> tokens,
                      llvm::ArrayRef<double> scores, bool addSpacePrefix,
                      llvm::StringRef name);
  /// A byte-level BPE vocabulary with ranked merges ("left right"), split
  /// first by `pattern` (GGUF's "gpt2" tokenizer); `verbatim` ids are
  /// matched as whole strings before BPE (user-defined tokens).
  static llvm::Expected<std::unique_ptr<Tokenizer>>
  createByteLevelBPE(llvm::ArrayRef<llvm::StringRef> tokens,
                     llvm::ArrayRef<llvm::StringRef> merges,
                     SplitPattern pattern, llvm::ArrayRef<int32_t> verbatim,
                     llvm::StringRef name);

  virtual int64_t getVocabSize() const = 0;
  /// The id of the token whose text is `token` (vocabulary or added
  /// token), where the tokenizer can look one up.
  virtual std::optional<int32_t> getTokenId(llvm::StringRef token) const {
    return std::nullopt;
  }
  /// The ids of `text`.
  virtual llvm::Expected<std::vector<int32_t>>
  encode(llvm::StringRef text) const = 0;
  /// The text of `ids`; an id outside the vocabulary is an error.
  virtual llvm::Expected<std::string>
  decode(llvm::ArrayRef<int32_t> ids) const = 0;

  /// The ids of a prompt: encode(text) between the special tokens the
  /// model's tokenizer puts around a text (what `tokenizers` does with
  /// add_special_tokens): tokenizer.json's post-processor (a
  /// TemplateProcessing's single template, Bert / Roberta's cls and sep),
  /// GGUF's add_bos_token / add_eos_token, and llama2.c's BOS (id 1, as
  /// run.c encodes a prompt).
  llvm::Expected<std::vector<int32_t>> encodePrompt(llvm::StringRef text) const;
  /// Reads a Hugging Face `tokenizer_config.json`: its add_bos_token /
  /// add_eos_token, where present, decide whether a prompt starts with BOS
  /// / ends with EOS, in place of the post-processor's tokens on that side
  /// (transformers 4's LlamaTokenizerFast / GemmaTokenizerFast, which
  /// rebuild the post-processor from the flags; transformers 5 keeps
  /// tokenizer.json's post-processor and ignores them). bos_token /
  /// eos_token (a string, or an AddedToken's "content") name the tokens,
  /// "<s>" / "</s>" by default.
  llvm::Error applyTokenizerConfig(llvm::StringRef path);
  llvm::ArrayRef<int32_t> getPromptPrefix() const { return promptPrefix; }
  llvm::ArrayRef<int32_t> getPromptSuffix() const { return promptSuffix; }
  void setPromptSpecialTokens(std::vector<int32_t> prefix,
                              std::vector<int32_t> suffix) {
    promptPrefix = std::move(prefix);
    promptSuffix = std::move(suffix);
  }

private:
  std::vector<int32_t> promptPrefix, promptSuffix;
};

} // namespace tok
} // namespace mlir

#endif // TOK_FRONTEND_TOKENIZER_H
