//===- ChatPrompt.h - a model's chat template and its prompt ----*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// The glue between a model and ChatTemplate (ChatTemplate.h): finding the
// template a model ships with (chat_template.jinja, tokenizer_config.json,
// GGUF's tokenizer.chat_template) and its special tokens, and encoding the
// rendered text as transformers' apply_chat_template(tokenize=True) and
// llama.cpp do.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_FRONTEND_CHATPROMPT_H
#define TOK_FRONTEND_CHATPROMPT_H

#include "tok/Frontend/ChatTemplate.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/JSON.h"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace mlir {
namespace tok {

class Tokenizer;

/// A model's chat template and the special-token strings its template
/// reads (transformers' special_tokens_map: bos_token, eos_token,
/// unk_token, pad_token, ... as strings).
struct ModelChatTemplate {
  std::string source;
  /// Where the template came from (a file, or
  /// "<gguf>:tokenizer.chat_template").
  std::string name;
  llvm::json::Object specialTokens;
  /// GGUF: the tokens of types unknown, control and user-defined with their
  /// ids, which the rendered text names as text (encodeChatText matches
  /// them as llama.cpp's tokenizer_st_partition does).
  std::vector<std::pair<std::string, int32_t>> controlTokens;
};

/// The chat template of the model at `path`:
///  - a Hugging Face directory (or a file in it, such as config.json):
///    chat_template.jinja if present (it takes precedence, as in
///    transformers), else tokenizer_config.json's `chat_template`, a string
///    or a list of {name, template} of which "default" is used; the special
///    tokens (bos_token, eos_token, unk_token, sep_token, pad_token,
///    cls_token, mask_token; strings or {content: ...}) come from
///    tokenizer_config.json, then special_tokens_map.json for those it
///    lacks;
///  - a GGUF file: `tokenizer.chat_template`, with the texts of
///    `tokenizer.ggml.bos_token_id` / `eos_token_id` / `unknown_token_id` /
///    `padding_token_id` and the control tokens of its vocabulary.
/// An error says so when the model has no template.
llvm::Expected<ModelChatTemplate> findChatTemplate(llvm::StringRef path);

/// The ids of a rendered chat text: the text as it is, without the special
/// tokens a tokenizer puts around a prompt (the template wrote them, BOS
/// included: transformers encodes with add_special_tokens=False). Added
/// tokens map to their ids (the tokenizer matches tokenizer.json's). The
/// text is first partitioned by `controlTokens` as llama.cpp's
/// tokenizer_st_partition does: the longest token first (equal lengths:
/// the lower id), each splitting every occurrence, left to right, that
/// lies within the text no longer token took; their ids go in as they are
/// and the pieces between them are encoded.
llvm::Expected<std::vector<int32_t>> encodeChatText(
    const Tokenizer &tokenizer, llvm::StringRef text,
    llvm::ArrayRef<std::pair<std::string, int32_t>> controlTokens = {});

/// A conversation as the model at `modelPath` takes it.
struct ChatPrompt {
  std::string text;
  std::vector<int32_t> ids;
};

/// Renders `messages` with the model's template (findChatTemplate) as
/// transformers' apply_chat_template does (the generation prompt when
/// `addGenerationPrompt`, the model's special tokens, strftime_now the
/// local time now), and encodes the text with `tokenizer`
/// (encodeChatText).
llvm::Expected<ChatPrompt>
applyChatTemplate(llvm::StringRef modelPath, const Tokenizer &tokenizer,
                  llvm::ArrayRef<ChatMessage> messages,
                  bool addGenerationPrompt = true);

} // namespace tok
} // namespace mlir

#endif // TOK_FRONTEND_CHATPROMPT_H
