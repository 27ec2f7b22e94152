//===- FuzzTokenizer.cpp - tokenizer readers and encoding under libFuzzer -===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// An input is a tokenizer file and a text, split at the first NUL byte:
// the file read as a Hugging Face tokenizer.json and as a llama2.c
// tokenizer.bin; each tokenizer that reads encodes the text (and a fixed
// multilingual one) and decodes its ids.
//
//===----------------------------------------------------------------------===//

#include "tok/Frontend/Tokenizer.h"

#include <cstddef>
#include <cstdint>

using namespace mlir::tok;

static void exercise(llvm::Expected<std::unique_ptr<Tokenizer>> tokenizer,
                     llvm::StringRef text) {
  if (!tokenizer) {
    llvm::consumeError(tokenizer.takeError());
    return;
  }
  for (llvm::StringRef t :
       {text, llvm::StringRef("Hello, wörld! \xe4\xbd\xa0\xe5\xa5\xbd  \t\n"
                              "x = f(1)  # \xf0\x9f\x98\x80")}) {
    auto ids = (*tokenizer)->encode(t);
    if (!ids) {
      llvm::consumeError(ids.takeError());
      continue;
    }
    auto back = (*tokenizer)->decode(*ids);
    if (!back)
      llvm::consumeError(back.takeError());
  }
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  llvm::StringRef bytes(reinterpret_cast<const char *>(data), size);
  auto [file, text] = bytes.split('\0');
  exercise(Tokenizer::parseHuggingFace(file, "tokenizer.json"), text);
  exercise(Tokenizer::parseLlama2c(file, 512, "tokenizer.bin"), text);
  return 0;
}
