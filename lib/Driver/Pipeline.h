//===- Pipeline.h - pieces the driver's compiled models share ---*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// Private to lib/Driver: the steps Generator and Encoder take alike.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_LIB_DRIVER_PIPELINE_H
#define TOK_LIB_DRIVER_PIPELINE_H

#include "tok/Driver/Jit.h"
#include "tok/Execution/NpyFile.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/PassInstrumentation.h"
#include "llvm/Support/Error.h"

#include <memory>
#include <optional>

namespace mlir {
namespace tok {

/// An llvm::Error carrying `message`.
llvm::Error makeDriverError(const llvm::Twine &message);

/// The machine's physical memory in bytes, if the system says.
std::optional<uint64_t> getPhysicalMemoryBytes();

/// A weight as the compiled code takes it: float arrays by element size
/// (bf16 travels as a 2-byte type), block-quantized ones as their bytes,
/// one row of blocks per output feature.
NpyArray bindWeight(llvm::StringRef type, llvm::ArrayRef<int64_t> shape,
                    const void *data);

/// Runs the user's pipeline (tok-opt syntax without the builtin.module
/// anchor) on `module`, with `instrumentation` if given; empty: nothing.
llvm::Error applyUserPipeline(
    ModuleOp module, StringRef pipeline,
    std::unique_ptr<PassInstrumentation> instrumentation = nullptr);

/// Checks token ids before the compiled code sees them (its own checks end
/// the process): at least one, at most `maxTokens` (`limitWhy` says where
/// the limit comes from), each in [0, vocab).
llvm::Error checkTokenIds(llvm::ArrayRef<int32_t> ids, StringRef what,
                          int64_t maxTokens, StringRef limitWhy, int64_t vocab);

/// A JIT-compiled module and the packed wrapper of its one entry.
struct CompiledEntry {
  std::unique_ptr<Jit> jit;
  void (*entry)(void **) = nullptr;
};

/// Marks `entryFunction` for a C wrapper, lowers and compiles `module`
/// with `options` (its `entries` are set here) and looks the wrapper up.
llvm::Expected<CompiledEntry> compileEntry(ModuleOp module,
                                           StringRef entryFunction,
                                           JitOptions options, JitTimes *times);

} // namespace tok
} // namespace mlir

#endif // TOK_LIB_DRIVER_PIPELINE_H
