//===- GenerateBatch.h - tok-run generate --prompts -----------*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_TOOLS_TOKRUN_GENERATEBATCH_H
#define TOK_TOOLS_TOKRUN_GENERATEBATCH_H

#include "mlir/IR/MLIRContext.h"

#include <cstdint>
#include <string>

namespace tokrun {

/// The options of `tok-run generate` the batch path shares.
struct BatchArgs {
  std::string modelPath, tokenizerPath;
  /// --pipeline: tok passes applied to the batch step.
  std::string pipeline;
  int64_t maxNewTokens = 64, eos = -2;
  double temperature = 0.0;
  bool printIds = false, quiet = false;
  unsigned optLevel = 3;
};

/// Whether --prompts was given (generate runs the batch path then).
bool hasBatchPrompts();

/// Runs every prompt of --prompts as one batch (BatchGenerator); returns
/// the exit code.
int runGenerateBatch(mlir::MLIRContext &context, const BatchArgs &args);

} // namespace tokrun

#endif // TOK_TOOLS_TOKRUN_GENERATEBATCH_H
