//===- Embed.h - tok-run embed ----------------------------------*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_TOOLS_TOKRUN_EMBED_H
#define TOK_TOOLS_TOKRUN_EMBED_H

#include "mlir/IR/MLIRContext.h"

#include "llvm/Support/CommandLine.h"

namespace tokrun {

llvm::cl::SubCommand &getEmbedCommand();
llvm::cl::OptionCategory &getEmbedCategory();

int runEmbed(mlir::MLIRContext &context);

} // namespace tokrun

#endif // TOK_TOOLS_TOKRUN_EMBED_H
