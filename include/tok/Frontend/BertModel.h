//===- BertModel.h - BERT-family encoders -----------------------*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// A Hugging Face BERT-family encoder (config.json with model_type "bert",
// model.safetensors, tokenizer.json): absolute position embeddings,
// post-LayerNorm blocks, GELU MLPs. The weights are bound in place from the
// mapped file; the module is emitted as tok IR text:
//
//   @encode(%ids: tensor<?xi32>, weights...) -> tensor<?xExf32>
//       the last hidden states, one row per token (what token merging and
//       pruning rewrite; they restore one row per input token at the end)
//   @embed(%ids: tensor<?xi32>, weights...) -> tensor<Exf32>
//       mean pooling of @encode, L2-normalized if asked (sentence
//       embeddings, sentence-transformers style)
//
//===----------------------------------------------------------------------===//

#ifndef TOK_FRONTEND_BERTMODEL_H
#define TOK_FRONTEND_BERTMODEL_H

#include "tok/Frontend/Tokenizer.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cassert>
#include <memory>
#include <string>
#include <vector>

namespace mlir {
namespace tok {

class SafetensorsModel;

struct BertConfig {
  int64_t dim = 0, hiddenDim = 0, layers = 0, heads = 0, vocab = 0,
          maxPositions = 0, typeVocab = 0;
  double normEps = 1e-12;
  /// hidden_act; only "gelu" (the erf form) is supported.
  std::string activation = "gelu";

  int64_t getHeadDim() const { return dim / heads; }
  llvm::Error validate(llvm::StringRef name) const;
};

/// Whether the config.json text names a BERT-family encoder.
bool isBertConfig(llvm::StringRef json);
/// Whether `path` (a directory or a .json file) holds a BERT config.json.
bool isBertModelPath(llvm::StringRef path);
llvm::Expected<BertConfig> parseBertConfig(llvm::StringRef json,
                                           llvm::StringRef name);

struct BertWeight {
  std::string name;
  llvm::SmallVector<int64_t> shape;
};

/// The weights the module takes, in argument order (Hugging Face names
/// without the optional "bert." prefix).
std::vector<BertWeight> getBertWeights(const BertConfig &config);

struct BertModuleOptions {
  /// L2-normalize @embed's result.
  bool normalize = true;
};

/// The encoder's module, built in `context` (which gets the tok, func,
/// arith, linalg, math and tensor dialects loaded):
///   func.func private @layer(%x: tensor<?xExf32>, <16 block weights>...)
///       -> tensor<?xExf32>
///   func.func @encode(%ids: tensor<?xi32>, <weights>...) -> tensor<?xExf32>
///   func.func @embed(%ids: tensor<?xi32>, <weights>...) -> tensor<Exf32>
/// @encode calls @layer once per block; @embed mean-pools @encode's rows.
OwningOpRef<ModuleOp> buildBertModule(MLIRContext *context,
                                      const BertConfig &config,
                                      const BertModuleOptions &options);

class BertModel {
public:
  ~BertModel();

  /// Opens a Hugging Face directory (or its config.json); `tokenizerPath`
  /// overrides its tokenizer.json. Without `withTokenizer` (importers need
  /// only the weights) no tokenizer is read.
  static llvm::Expected<std::unique_ptr<BertModel>>
  open(llvm::StringRef path, llvm::StringRef tokenizerPath = "",
       bool withTokenizer = true);

  const BertConfig &getConfig() const { return config; }
  /// The data of every weight (f32), in getBertWeights order.
  llvm::ArrayRef<const void *> getWeights() const { return weights; }
  const Tokenizer &getTokenizer() const {
    assert(tokenizer && "opened without a tokenizer");
    return *tokenizer;
  }

private:
  BertModel() = default;
  BertConfig config;
  std::vector<const void *> weights;
  std::vector<std::vector<float>> owned;
  std::unique_ptr<SafetensorsModel> safetensors;
  std::unique_ptr<Tokenizer> tokenizer;
};

} // namespace tok
} // namespace mlir

#endif // TOK_FRONTEND_BERTMODEL_H
