//===- FuzzTokenizer.cpp - tokenizer readers and encoding under libFuzzer -===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// An input is a tokenizer file and a text: a little-endian u32 length, then
// that many bytes of file, then the text (binary tokenizer.bin files hold
// NUL bytes, so no separator would do):
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
  if (size < 4)
    return 0;
  uint32_t length = uint32_t(data[0]) | uint32_t(data[1]) << 8 |
                    uint32_t(data[2]) << 16 | uint32_t(data[3]) << 24;
  llvm::StringRef bytes(reinterpret_cast<const char *>(data) + 4, size - 4);
  llvm::StringRef file = bytes.take_front(length);
  llvm::StringRef text = bytes.drop_front(file.size());
  exercise(Tokenizer::parseHuggingFace(file, "tokenizer.json"), text);
  exercise(Tokenizer::parseLlama2c(file, 512, "tokenizer.bin"), text);
  return 0;
}
