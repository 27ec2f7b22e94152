//===- FuzzLlama2c.cpp - llama2.c checkpoints under libFuzzer -------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// An input is a llama2.c checkpoint (legacy or version-1 layout): parsed,
// then the first and last float of every weight view read.
//
//===----------------------------------------------------------------------===//

#include "tok/Frontend/Llama2c.h"

#include "llvm/Support/MemoryBuffer.h"

#include <cstddef>
#include <cstdint>

using namespace mlir::tok;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  llvm::StringRef bytes(reinterpret_cast<const char *>(data), size);
  // An aligned copy, as a mapped file would be.
  auto model = Llama2cCheckpoint::parse(
      llvm::MemoryBuffer::getMemBufferCopy(bytes, "model.bin"), "model.bin");
  if (!model) {
    llvm::consumeError(model.takeError());
    return 0;
  }
  volatile float sink = 0;
  for (const Llama2cWeight &w : (*model)->getWeights())
    if (!w.data.empty())
      sink = sink + w.data.front() + w.data.back();
  (void)sink;
  return 0;
}
