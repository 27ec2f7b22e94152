//===- FuzzNpy.cpp - tok-run's .npy reader under libFuzzer ----------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#include "tok/Execution/NpyFile.h"

#include <cstddef>
#include <cstdint>

using namespace mlir::tok;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  llvm::StringRef bytes(reinterpret_cast<const char *>(data), size);
  auto array = parseNpy(bytes, "input.npy");
  if (!array) {
    llvm::consumeError(array.takeError());
    return 0;
  }
  // The element bytes it claims must all be there.
  int64_t n = array->getNumBytes();
  if (n > 0) {
    volatile uint8_t sink = static_cast<const uint8_t *>(array->data())[n - 1];
    (void)sink;
  }
  return 0;
}
