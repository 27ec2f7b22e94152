//===- ObjectCode.h - ahead-of-time machine code for a module ---*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// What tok-compile links into a shared library: a module lowered to the LLVM
// dialect, translated to LLVM IR, every function but the exported ones made
// internal (so the optimizer sees all their call sites and drops what is
// unused), optimized and compiled for this host as position-independent
// code.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_DRIVER_OBJECTCODE_H
#define TOK_DRIVER_OBJECTCODE_H

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/Error.h"

#include <string>

namespace mlir {
namespace tok {

/// The bytes of a relocatable object file for `module` (already in the
/// LLVM dialect). `exported` functions keep external linkage with hidden
/// visibility (for glue code linked into the same library); `optLevel` is
/// LLVM's, 0-3.
llvm::Expected<std::string>
compileToObject(ModuleOp module, llvm::StringRef name,
                llvm::ArrayRef<std::string> exported, unsigned optLevel = 3);

} // namespace tok
} // namespace mlir

#endif // TOK_DRIVER_OBJECTCODE_H
