//===- Context.h - what a program using the driver sets up once -*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// Before the first Generator or Jit: initializeDriver() (once per process;
// safe to call again and from several threads), and an MLIRContext whose
// registry has registerDriverDialects():
//
//   mlir::tok::initializeDriver();
//   mlir::DialectRegistry registry;
//   mlir::tok::registerDriverDialects(registry);
//   mlir::MLIRContext context(registry);
//
//===----------------------------------------------------------------------===//

#ifndef TOK_DRIVER_CONTEXT_H
#define TOK_DRIVER_CONTEXT_H

namespace mlir {
class DialectRegistry;
namespace tok {

/// The host's code generator, and MLIR's and tok's passes and pipelines by
/// name (for --pipeline strings and the lowering).
void initializeDriver();

/// Every dialect, interface extension and LLVM IR translation the driver's
/// modules use, tok's included.
void registerDriverDialects(DialectRegistry &registry);

} // namespace tok
} // namespace mlir

#endif // TOK_DRIVER_CONTEXT_H
