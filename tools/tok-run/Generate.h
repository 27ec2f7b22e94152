//===- Generate.h - tok-run generate --------------------------*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_TOOLS_TOKRUN_GENERATE_H
#define TOK_TOOLS_TOKRUN_GENERATE_H

#include "mlir/IR/MLIRContext.h"

#include "llvm/Support/CommandLine.h"

namespace tokrun {

/// The `generate` subcommand and its option category.
llvm::cl::SubCommand &getGenerateCommand();
llvm::cl::OptionCategory &getGenerateCategory();

/// Runs `tok-run generate` with the parsed options; returns the exit code.
int runGenerate(mlir::MLIRContext &context);

} // namespace tokrun

#endif // TOK_TOOLS_TOKRUN_GENERATE_H
