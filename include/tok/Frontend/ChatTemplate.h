//===- ChatTemplate.h - chat templates of Hugging Face models ---*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// Chat models format a conversation with a Jinja2 template that ships with
// the model (tokenizer_config.json's `chat_template`, a chat_template.jinja
// beside it, GGUF's `tokenizer.chat_template`). ChatTemplate is a small
// interpreter of the Jinja subset such templates use, rendering the way
// transformers' apply_chat_template does: a sandboxed environment with
// trim_blocks and lstrip_blocks, the loop controls (break / continue),
// raise_exception(), namespace(), and a tojson filter that leaves
// non-ASCII text and HTML characters as they are.
//
// Supported: text, {{ }}, {% if / elif / else %}, {% for %} (tuple targets,
// `if` filters, `else`, loop.index0 / index / first / last / length /
// revindex / revindex0 / previtem / nextitem), {% set %} (names, namespace
// attributes, {% set x %}...{% endset %}), {% macro %}, {% raw %},
// {% generation %}, comments and whitespace control ('-' and '+'); Python's
// expressions with Jinja's precedences, the tests and filters of real
// templates and the common methods of strings, lists and dicts (see
// docs/models.md). Values are Python's: str() and repr() of lists, dicts,
// floats and None match Python's text. Unknown names are Jinja's default
// Undefined: falsy and empty when printed or iterated, an error when an
// attribute or item of them is read or they take part in arithmetic.
//
// Limits keep hostile templates from crashing or hanging the caller:
// nesting depth, output and string sizes, loop iterations and evaluation
// steps are bounded; going past one is an error, as is anything outside
// the subset.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_FRONTEND_CHATTEMPLATE_H
#define TOK_FRONTEND_CHATTEMPLATE_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/JSON.h"

#include <cstdint>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace mlir {
namespace tok {

class Tokenizer;

/// One turn of a conversation.
struct ChatMessage {
  std::string role, content;
};

namespace chat_template_detail {
struct Program;
} // namespace chat_template_detail

class ChatTemplate {
public:
  /// The largest text a render produces (and the largest string value).
  static constexpr size_t kMaxOutputBytes = size_t{16} << 20;

  /// Parses `source`; `name` names it in errors, which read
  /// "<name>:<line>:<column>: <problem>".
  static llvm::Expected<ChatTemplate> parse(llvm::StringRef source,
                                            llvm::StringRef name);

  /// Renders a conversation as transformers' apply_chat_template does:
  /// the template sees `messages` (a list of {role, content} dicts),
  /// `add_generation_prompt`, `tools` and `documents` (None), and the
  /// entries of `extra` (bos_token, eos_token, ...; they override the
  /// others). A template's raise_exception(message) is an error whose
  /// text ends with the message.
  llvm::Expected<std::string>
  render(llvm::ArrayRef<ChatMessage> messages, bool addGenerationPrompt,
         const llvm::json::Object &extra = {}) const;
  /// The same with `messages` any JSON array (messages with tool_calls,
  /// ...). JSON objects keep no order: a template that iterates over a
  /// dict sees its keys sorted.
  llvm::Expected<std::string> render(const llvm::json::Array &messages,
                                     bool addGenerationPrompt,
                                     const llvm::json::Object &extra) const;
  /// Renders with exactly `variables` as the template's variables.
  llvm::Expected<std::string>
  renderVariables(const llvm::json::Object &variables) const;

  /// strftime_now(format) formats this time (transformers: the local time
  /// now). Without it, strftime_now is undefined: templates that test
  /// `strftime_now is defined` take their fixed date, a call is an error.
  void setNow(const std::tm &time) { now = time; }

  llvm::StringRef getName() const;

private:
  std::shared_ptr<const chat_template_detail::Program> program;
  std::optional<std::tm> now;
};

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
  /// ids, which the rendered text names as text (GGUF vocabularies are
  /// matched here, as llama.cpp's parse_special does).
  std::vector<std::pair<std::string, int32_t>> controlTokens;
};

/// The chat template of the model at `path`:
///  - a Hugging Face directory (or a file in it, such as config.json):
///    chat_template.jinja if present (it takes precedence, as in
///    transformers), else tokenizer_config.json's `chat_template`, a string
///    or a list of {name, template} of which "default" is used; the special
///    tokens come from tokenizer_config.json (strings or {content: ...});
///  - a GGUF file: `tokenizer.chat_template`, with BOS and EOS from
///    `tokenizer.ggml.bos_token_id` / `eos_token_id`.
/// An error says so when the model has no template.
llvm::Expected<ModelChatTemplate> findChatTemplate(llvm::StringRef path);

/// The ids of a rendered chat text: the text as it is, without the special
/// tokens a tokenizer puts around a prompt (the template wrote them, BOS
/// included: transformers encodes with add_special_tokens=False). Added
/// tokens map to their ids (the tokenizer matches tokenizer.json's); the
/// text is first split at each of `controlTokens` (leftmost, longest
/// first), whose ids go in as they are.
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

#endif // TOK_FRONTEND_CHATTEMPLATE_H
