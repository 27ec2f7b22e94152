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

#include "tok/Frontend/Gguf.h"
#include "tok/Frontend/GgufLlama.h"
#include "tok/Frontend/Tokenizer.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <cstring>

namespace cl = llvm::cl;
using llvm::StringRef;

cl::SubCommand &tokrun::getTokenizeCommand() {
  static cl::SubCommand command(
      "tokenize",
      "Token ids of text with a model's tokenizer. Input: JSON lines, each "
      "a JSON string (\"Hello, world\\n\"). Output: one JSON object per "
      "input line, {\"ids\": [...]}, with --decode also \"text\": the "
      "decoded ids");
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

/// The number of entries of a llama2.c tokenizer.bin (the format does not
/// store it): records of (score, length, bytes) after the maximum length.
llvm::Expected<int64_t> countLlama2cTokens(StringRef path) {
  auto buffer = llvm::MemoryBuffer::getFile(path);
  if (!buffer)
    return llvm::createStringError(buffer.getError(),
                                   path + ": " + buffer.getError().message());
  StringRef bytes = (*buffer)->getBuffer();
  size_t offset = 4;
  int64_t count = 0;
  while (offset + 8 <= bytes.size()) {
    int32_t length;
    std::memcpy(&length, bytes.data() + offset + 4, 4);
    if (length < 0 || offset + 8 + static_cast<size_t>(length) > bytes.size())
      break;
    offset += 8 + static_cast<size_t>(length);
    ++count;
  }
  return count;
}

llvm::Expected<std::unique_ptr<mlir::tok::Tokenizer>> openTokenizer() {
  using mlir::tok::Tokenizer;
  std::string path = tokenizerPath;
  if (path.empty()) {
    if (modelDir.empty())
      return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                     "give --tokenizer or --model");
    llvm::SmallString<256> json(modelDir);
    llvm::sys::path::append(json, "tokenizer.json");
    path = json.str().str();
  }
  if (!llvm::sys::fs::exists(path))
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   path + ": no such file");
  StringRef p(path);
  auto head = llvm::MemoryBuffer::getFileSlice(p, 4, 0);
  if (p.ends_with(".gguf") ||
      (head && mlir::tok::GgufFile::hasMagic((*head)->getBuffer()))) {
    auto file = mlir::tok::GgufFile::open(p);
    if (!file)
      return file.takeError();
    if (!mlir::tok::hasGgufTokenizer(**file))
      return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                     path + ": the GGUF file has no "
                                            "tokenizer");
    return mlir::tok::readGgufTokenizer(**file);
  }
  if (p.ends_with(".json")) {
    auto tok = Tokenizer::openHuggingFace(p);
    if (!tok)
      return tok.takeError();
    llvm::SmallString<256> config = llvm::sys::path::parent_path(p);
    llvm::sys::path::append(config, "tokenizer_config.json");
    if (llvm::sys::fs::exists(config))
      if (llvm::Error err = (*tok)->applyTokenizerConfig(config))
        return std::move(err);
    return tok;
  }
  auto count = countLlama2cTokens(p);
  if (!count)
    return count.takeError();
  return Tokenizer::openLlama2c(p, *count);
}

} // namespace

int tokrun::runTokenize() {
  auto tokenizer = openTokenizer();
  if (!tokenizer)
    return fail(llvm::toString(tokenizer.takeError()));
  auto input = llvm::MemoryBuffer::getFileOrSTDIN(inputPath, /*IsText=*/false);
  if (!input)
    return fail(inputPath + ": " + input.getError().message());

  StringRef rest = (*input)->getBuffer();
  for (int64_t line = 1; !rest.empty(); ++line) {
    auto [text, next] = rest.split('\n');
    rest = next;
    text = text.rtrim('\r');
    if (text.trim().empty())
      continue;
    llvm::Expected<llvm::json::Value> value = llvm::json::parse(text);
    if (!value)
      return fail(inputPath + ":" + llvm::Twine(line) +
                  ": not JSON: " + llvm::toString(value.takeError()));
    std::optional<StringRef> str = value->getAsString();
    if (!str)
      return fail(inputPath + ":" + llvm::Twine(line) +
                  ": expected a JSON string");
    auto ids =
        special ? (*tokenizer)->encodePrompt(*str) : (*tokenizer)->encode(*str);
    if (!ids)
      return fail(inputPath + ":" + llvm::Twine(line) + ": " +
                  llvm::toString(ids.takeError()));
    llvm::json::OStream out(llvm::outs());
    out.object([&] {
      out.attributeArray("ids", [&] {
        for (int32_t id : *ids)
          out.value(static_cast<int64_t>(id));
      });
      if (decode) {
        auto decoded = (*tokenizer)->decode(*ids);
        if (!decoded) {
          out.attribute("error", llvm::toString(decoded.takeError()));
          return;
        }
        // JSON holds UTF-8 only: bytes that are not (a token that ends
        // inside a character) are written as U+FFFD.
        out.attribute("text", llvm::json::fixUTF8(*decoded));
      }
    });
    llvm::outs() << "\n";
  }
  return 0;
}
