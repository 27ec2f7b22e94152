//===- Tokenize.h - tok-run tokenize ----------------------------*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_TOOLS_TOKRUN_TOKENIZE_H
#define TOK_TOOLS_TOKRUN_TOKENIZE_H

#include "llvm/Support/CommandLine.h"

namespace tokrun {

llvm::cl::SubCommand &getTokenizeCommand();
llvm::cl::OptionCategory &getTokenizeCategory();

int runTokenize();

} // namespace tokrun

#endif // TOK_TOOLS_TOKRUN_TOKENIZE_H
