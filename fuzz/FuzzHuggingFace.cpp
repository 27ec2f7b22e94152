//===- FuzzHuggingFace.cpp - config.json and safetensors under libFuzzer --===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// An input is a config.json and a safetensors file, split at the first NUL
// byte (none: all config): the config parsed as a Llama-family and as a
// BERT config, the safetensors bytes parsed, and every tensor's view taken.
//
//===----------------------------------------------------------------------===//

#include "tok/Frontend/BertModel.h"
#include "tok/Frontend/LlamaConfig.h"
#include "tok/Frontend/Safetensors.h"

#include "llvm/Support/MemoryBuffer.h"

#include <cstddef>
#include <cstdint>

using namespace mlir::tok;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  llvm::StringRef bytes(reinterpret_cast<const char *>(data), size);
  auto [config, weights] = bytes.split('\0');
  llvm::consumeError(parseLlamaConfig(config, "config.json").takeError());
  llvm::consumeError(parseBertConfig(config, "config.json").takeError());
  auto model = SafetensorsModel::parse(
      llvm::MemoryBuffer::getMemBufferCopy(weights, "model.safetensors"),
      "model.safetensors");
  if (!model) {
    llvm::consumeError(model.takeError());
    return 0;
  }
  // Touch every tensor's bytes: an out-of-bounds view is a finding.
  volatile uint8_t sink = 0;
  for (const SafetensorsTensor &t : (*model)->getTensors())
    if (!t.bytes.empty())
      sink = sink + static_cast<uint8_t>(t.bytes.front() + t.bytes.back());
  (void)sink;
  return 0;
}
