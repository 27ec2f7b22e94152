//===- Llama2c.h - llama2.c checkpoints -------------------------*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// Reads llama2.c checkpoints (`.bin`): the legacy layout (7 int32
// parameters, then float32 weights; a negative vocabulary size means an
// unshared classifier) and the versioned layout of export.py version 1
// ("ak42" magic, 256-byte header, float32 weights). The file is memory-mapped
// and the weights are views into it, never copied. Every size is checked
// against the file before any weight is exposed; a malformed or truncated
// file is an error that names the file and the problem.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_FRONTEND_LLAMA2C_H
#define TOK_FRONTEND_LLAMA2C_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/MemoryBuffer.h"

#include <memory>
#include <string>
#include <vector>

namespace mlir {
namespace tok {

struct Llama2cConfig {
  int64_t dim = 0, hiddenDim = 0, layers = 0, heads = 0, kvHeads = 0, vocab = 0,
          seqLen = 0;
  bool sharedClassifier = true;
  /// 0 for the legacy layout, else the export.py version.
  int version = 0;

  int64_t headDim() const { return dim / heads; }
};

/// A weight of the checkpoint: a row-major float32 view into the file.
struct Llama2cWeight {
  std::string name;
  llvm::SmallVector<int64_t> shape;
  llvm::ArrayRef<float> data;
};

class Llama2cCheckpoint {
public:
  /// Opens and validates `path`.
  static llvm::Expected<std::unique_ptr<Llama2cCheckpoint>>
  open(llvm::StringRef path);
  /// Validates a checkpoint already in memory; `name` names it in errors.
  static llvm::Expected<std::unique_ptr<Llama2cCheckpoint>>
  parse(std::unique_ptr<llvm::MemoryBuffer> buffer, llvm::StringRef name);

  const Llama2cConfig &getConfig() const { return config; }
  /// Weights in file order, Hugging Face-style names
  /// (`model.layers.0.self_attn.q_proj.weight`, shapes out x in).
  llvm::ArrayRef<Llama2cWeight> getWeights() const { return weights; }
  /// The weight called `name`, or null.
  const Llama2cWeight *lookup(llvm::StringRef name) const;

private:
  std::unique_ptr<llvm::MemoryBuffer> buffer;
  Llama2cConfig config;
  std::vector<Llama2cWeight> weights;
};

} // namespace tok
} // namespace mlir

#endif // TOK_FRONTEND_LLAMA2C_H
