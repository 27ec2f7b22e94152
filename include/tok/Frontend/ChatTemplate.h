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
// nesting depth, output and string sizes, loop iterations, evaluation
// steps and the bytes a render builds or scans are bounded, so that every
// render ends in bounded time; going past one is an error, as is anything
// outside the subset. Errors are ChatTemplateError, whose category names
// the exception jinja2 raises in their place.
//
// Finding a model's template and encoding the rendered text:
// tok/Frontend/ChatPrompt.h.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_FRONTEND_CHATTEMPLATE_H
#define TOK_FRONTEND_CHATTEMPLATE_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdint>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace mlir {
namespace tok {

/// One turn of a conversation.
struct ChatMessage {
  std::string role, content;
};

/// What went wrong in a template, in the terms of the Python exception
/// jinja2 raises for it (where it raises one).
enum class ChatTemplateErrc {
  Syntax,       ///< the template does not parse (TemplateSyntaxError)
  Unsupported,  ///< valid Jinja outside tok's subset
  Raise,        ///< raise_exception(message) (TemplateError)
  Undefined,    ///< an Undefined used as a value (UndefinedError)
  Runtime,      ///< TemplateRuntimeError (assigning to a non-namespace, ...)
  Type,         ///< TypeError
  Value,        ///< ValueError
  ZeroDivision, ///< ZeroDivisionError
  Overflow,     ///< OverflowError (range() too big, ...)
  Limit,        ///< past one of tok's bounds (depth, work, sizes, int64)
  Input,        ///< the variables given to a render are malformed
};

/// "syntax", "unsupported", "raise", "undefined", "runtime", "type",
/// "value", "zero-division", "overflow", "limit", "input".
llvm::StringRef chatTemplateErrcName(ChatTemplateErrc errc);

/// The error of a template that does not parse or render: its message
/// reads "<name>:<line>:<column>: <problem>".
class ChatTemplateError : public llvm::ErrorInfo<ChatTemplateError> {
public:
  static char ID;
  ChatTemplateError(ChatTemplateErrc errc, std::string message)
      : errc(errc), message(std::move(message)) {}
  ChatTemplateErrc getErrc() const { return errc; }
  const std::string &getMessage() const { return message; }
  void log(llvm::raw_ostream &os) const override;
  std::error_code convertToErrorCode() const override;

private:
  ChatTemplateErrc errc;
  std::string message;
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
  /// ...). llvm::json objects keep no order: a message's dict has "role"
  /// and "content" first, then its other keys sorted, as are the keys of
  /// every other dict; renderJson keeps the order of a JSON text.
  llvm::Expected<std::string> render(const llvm::json::Array &messages,
                                     bool addGenerationPrompt,
                                     const llvm::json::Object &extra) const;
  /// The same with `messagesJson` the text of a JSON array and `extraJson`
  /// that of a JSON object, read as Python's json.loads reads them: dicts
  /// keep their keys in the order of the text (what transformers' caller
  /// passes and `tojson`, `items()` and iteration show).
  llvm::Expected<std::string>
  renderJson(llvm::StringRef messagesJson, bool addGenerationPrompt,
             llvm::StringRef extraJson = "{}") const;
  /// Renders with exactly `variables` as the template's variables (dict
  /// keys sorted).
  llvm::Expected<std::string>
  renderVariables(const llvm::json::Object &variables) const;
  /// Renders with exactly the variables of `variablesJson`, the text of a
  /// JSON object (dicts in the order of the text).
  llvm::Expected<std::string>
  renderVariablesJson(llvm::StringRef variablesJson) const;

  /// strftime_now(format) formats this time (transformers: the local time
  /// now). Without it, strftime_now is undefined: templates that test
  /// `strftime_now is defined` take their fixed date, a call is an error.
  void setNow(const std::tm &time) { now = time; }

  llvm::StringRef getName() const;

private:
  std::shared_ptr<const chat_template_detail::Program> program;
  std::optional<std::tm> now;
};

} // namespace tok
} // namespace mlir

#endif // TOK_FRONTEND_CHATTEMPLATE_H
