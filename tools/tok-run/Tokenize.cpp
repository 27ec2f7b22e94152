//===- Tokenize.cpp - tok-run tokenize: text to token ids -----------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// Encodes JSON-lines text with a model's tokenizer (tokenizer.json, a
// llama2.c tokenizer.bin, or the vocabulary of a GGUF file) and prints the
// ids, and with --decode the text of those ids, one JSON object a line: the
// command-line face of Tokenizer, which the conformance test
// (test/Integration/tokenizer_conformance.test) holds against Hugging
// Face's `tokenizers`.
//
//===----------------------------------------------------------------------===//

#include "Tokenize.h"

#include "tok/Frontend/Tokenizer.h"
#include "tok/Support/Json.h"

#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <optional>

namespace cl = llvm::cl;
using llvm::StringRef;

cl::SubCommand &tokrun::getTokenizeCommand() {
  static cl::SubCommand command(
      "tokenize",
      "Token ids of text with a model's tokenizer. Input: JSON lines, each "
      "a JSON string (\"Hello, world\\n\"). Output: one JSON object per "
      "input line, {\"ids\": [...]}, with --decode also \"text\": the "
      "decoded ids; a line that fails is {\"error\": ...} (also on stderr, "
      "and the exit status is 1)");
  return command;
}

cl::OptionCategory &tokrun::getTokenizeCategory() {
  static cl::OptionCategory category("tok-run tokenize options");
  return category;
}

namespace {

cl::opt<std::string> tokenizerPath(
    "tokenizer",
    cl::desc("The tokenizer: a Hugging Face tokenizer.json, a llama2.c "
             "tokenizer.bin, or a .gguf model (its vocabulary). A "
             "tokenizer_config.json beside a tokenizer.json is read too "
             "(add_bos_token / add_eos_token for --special)"),
    cl::value_desc("path"), cl::init(""), cl::sub(tokrun::getTokenizeCommand()),
    cl::cat(tokrun::getTokenizeCategory()));

cl::opt<std::string>
    modelDir("model",
             cl::desc("A Hugging Face model directory: its tokenizer.json and "
                      "tokenizer_config.json (when --tokenizer is not given)"),
             cl::value_desc("dir"), cl::init(""),
             cl::sub(tokrun::getTokenizeCommand()),
             cl::cat(tokrun::getTokenizeCategory()));

cl::opt<bool> special(
    "special",
    cl::desc("Add the tokenizer's prompt special tokens (BOS / EOS of its "
             "post-processor or tokenizer_config.json; what `tokenizers` "
             "does with add_special_tokens=True), as tok-run generate does "
             "with a prompt"),
    cl::init(false), cl::sub(tokrun::getTokenizeCommand()),
    cl::cat(tokrun::getTokenizeCategory()));

cl::opt<bool> decode("decode",
                     cl::desc("Also print the decoded text of the ids "
                              "(\"text\")"),
                     cl::init(false), cl::sub(tokrun::getTokenizeCommand()),
                     cl::cat(tokrun::getTokenizeCategory()));

cl::opt<std::string> inputPath(cl::Positional,
                               cl::desc("<input.jsonl: a JSON string a line; "
                                        "'-' or none for stdin>"),
                               cl::init("-"),
                               cl::sub(tokrun::getTokenizeCommand()),
                               cl::cat(tokrun::getTokenizeCategory()));

int fail(const llvm::Twine &message) {
  llvm::outs().flush();
  llvm::errs() << "tok-run tokenize: " << message << "\n";
  return 1;
}

/// The tokenizer of --tokenizer, or of --model's tokenizer.json.
llvm::Expected<std::unique_ptr<mlir::tok::Tokenizer>> openTokenizer() {
  std::string path = tokenizerPath;
  if (path.empty()) {
    if (modelDir.empty())
      return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                     "give --tokenizer or --model");
    llvm::SmallString<256> json(modelDir);
    llvm::sys::path::append(json, "tokenizer.json");
    path = json.str().str();
  }
  return mlir::tok::Tokenizer::open(path);
}

} // namespace

int tokrun::runTokenize() {
  auto tokenizer = openTokenizer();
  if (!tokenizer)
    return fail(llvm::toString(tokenizer.takeError()));
  auto input = llvm::MemoryBuffer::getFileOrSTDIN(inputPath, /*IsText=*/false);
  if (!input)
    return fail(inputPath + ": " + input.getError().message());

  // A line that fails (not a JSON string, a text the tokenizer cannot
  // encode, ids it cannot decode) is reported on stderr with its file and
  // line and as {"error": ...} in its output line; the others go on, and
  // the exit status is 1 if any failed.
  int64_t failed = 0;
  auto lineError = [&](int64_t line, const llvm::Twine &message) {
    std::string text = message.str();
    llvm::outs().flush();
    llvm::errs() << "tok-run tokenize: " << inputPath << ":" << line << ": "
                 << text << "\n";
    llvm::json::OStream out(llvm::outs());
    out.object([&] { out.attribute("error", llvm::json::fixUTF8(text)); });
    llvm::outs() << "\n";
    ++failed;
  };
  StringRef rest = (*input)->getBuffer();
  for (int64_t line = 1; !rest.empty(); ++line) {
    auto [text, next] = rest.split('\n');
    rest = next;
    text = text.rtrim('\r');
    if (text.trim().empty())
      continue;
    // parseJson: a line of a million '[' must not recurse that deep.
    llvm::Expected<llvm::json::Value> value = mlir::tok::parseJson(text);
    if (!value) {
      lineError(line, "not JSON: " + llvm::toString(value.takeError()));
      continue;
    }
    std::optional<StringRef> str = value->getAsString();
    if (!str) {
      lineError(line, "expected a JSON string");
      continue;
    }
    auto ids =
        special ? (*tokenizer)->encodePrompt(*str) : (*tokenizer)->encode(*str);
    if (!ids) {
      lineError(line, llvm::toString(ids.takeError()));
      continue;
    }
    std::optional<std::string> decoded;
    if (decode) {
      auto text = (*tokenizer)->decode(*ids);
      if (!text) {
        lineError(line, "decoding: " + llvm::toString(text.takeError()));
        continue;
      }
      decoded = std::move(*text);
    }
    llvm::json::OStream out(llvm::outs());
    out.object([&] {
      out.attributeArray("ids", [&] {
        for (int32_t id : *ids)
          out.value(static_cast<int64_t>(id));
      });
      // JSON holds UTF-8 only: bytes that are not (a token that ends
      // inside a character) are written as U+FFFD.
      if (decoded)
        out.attribute("text", llvm::json::fixUTF8(*decoded));
    });
    llvm::outs() << "\n";
  }
  if (failed)
    return fail(llvm::Twine(failed) + " line" + (failed == 1 ? "" : "s") +
                " of " + inputPath + " failed");
  return 0;
}
