//===- InitAllTok.h - register every tok dialect and pass -------*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// The one entry point a tool or an embedding compiler calls to make tok
// available: dialects go into a DialectRegistry, passes and pipelines into the
// global pass registry (what `--help` and `--pass-pipeline` read).
//
//===----------------------------------------------------------------------===//

#ifndef TOK_INITALLTOK_H
#define TOK_INITALLTOK_H

namespace mlir {
class DialectRegistry;

namespace tok {

/// Inserts every tok dialect into `registry`, with the upstream dialects and
/// interface models (bufferization, convert-to-llvm) that tok's pipelines need.
void registerAllTokDialects(DialectRegistry &registry);

/// Registers every tok pass and named pipeline. Safe to call more than once.
void registerAllTokPasses();

} // namespace tok
} // namespace mlir

#endif // TOK_INITALLTOK_H
