//===- FuzzGguf.cpp - the GGUF reader under libFuzzer ---------------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// An input is a GGUF file: header, metadata and tensor infos parsed, the
// llama-family config and the tokenizer read from the metadata, and every
// tensor's first and last byte read.
//
//===----------------------------------------------------------------------===//

#include "tok/Frontend/Gguf.h"
#include "tok/Frontend/GgufLlama.h"
#include "tok/Frontend/Tokenizer.h"

#include "llvm/Support/MemoryBuffer.h"

#include <cstddef>
#include <cstdint>

using namespace mlir::tok;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  llvm::StringRef bytes(reinterpret_cast<const char *>(data), size);
  auto file = GgufFile::parse(
      llvm::MemoryBuffer::getMemBufferCopy(bytes, "model.gguf"), "model.gguf");
  if (!file) {
    llvm::consumeError(file.takeError());
    return 0;
  }
  volatile uint8_t sink = 0;
  for (const GgufTensor &t : (*file)->getTensors())
    if (!t.bytes.empty())
      sink = sink + static_cast<uint8_t>(t.bytes.front() + t.bytes.back());
  (void)sink;
  if (auto llama = readGgufLlama(**file); !llama)
    llvm::consumeError(llama.takeError());
  if (hasGgufTokenizer(**file)) {
    auto tokenizer = readGgufTokenizer(**file);
    if (!tokenizer) {
      llvm::consumeError(tokenizer.takeError());
      return 0;
    }
    auto ids = (*tokenizer)->encode("Hello, w\xc3\xb6rld!  12 \xe4\xbd\xa0");
    if (!ids)
      llvm::consumeError(ids.takeError());
  }
  return 0;
}
