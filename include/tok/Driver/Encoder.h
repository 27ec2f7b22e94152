//===- Encoder.h - an encoder compiled for sentence embeddings --*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// The driver library's encoder path (BERT-family models): the module of
// buildBertModule, the user's passes (tok-token-merge, tok-token-prune,
// ...), tok-to-llvm (or tok-to-nvvm for a CUDA device), the JIT with its
// disk cache, the weights bound in place; embed() returns one sentence's
// vector (mean-pooled, L2-normalized unless asked not to). As with
// Generator.h: errors as values, nothing global, the model and the context
// must outlive the encoder.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_DRIVER_ENCODER_H
#define TOK_DRIVER_ENCODER_H

#include "tok/Driver/Jit.h"
#include "tok/Frontend/BertModel.h"
#include "tok/Transforms/CostModel.h"

#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/Error.h"

#include <memory>
#include <string>
#include <vector>

namespace mlir {
namespace tok {

struct EmbedSettings {
  /// L2-normalize the pooled vector.
  bool normalize = true;
  /// Passes applied before the lowering (no builtin.module(...) anchor).
  std::string pipeline;
  /// Attention on the CUDA device (tok-to-nvvm), the rest on the host.
  bool cuda = false;
  /// The token count at which the imported cost is reported.
  int64_t costTokens = 1;
};

struct EncoderReport {
  /// The cost of @encode on costTokens tokens, as imported.
  FunctionCost asImported;
  double compileSeconds = 0;
  JitTimes jit;
};

class Encoder {
public:
  static llvm::Expected<std::unique_ptr<Encoder>>
  create(MLIRContext &context, const BertModel &model,
         const EmbedSettings &settings);
  ~Encoder();

  /// The embedding of one input: `ids` (1 to max_position_embeddings ids
  /// in the vocabulary, [CLS] ... [SEP] as the tokenizer makes them).
  llvm::Expected<std::vector<float>> embed(llvm::ArrayRef<int32_t> ids);

  const EncoderReport &getReport() const { return report; }

private:
  Encoder() = default;
  const BertModel *model = nullptr;
  std::unique_ptr<CudaRuntime> cuda;
  std::unique_ptr<Jit> jit;
  void (*entry)(void **) = nullptr;
  FunctionType entryType;
  EncoderReport report;
};

} // namespace tok
} // namespace mlir

#endif // TOK_DRIVER_ENCODER_H
