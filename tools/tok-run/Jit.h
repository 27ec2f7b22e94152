//===- Jit.h - the ExecutionEngine set-up shared by tok-run modes -*- C++
//-*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_TOOLS_TOKRUN_JIT_H
#define TOK_TOOLS_TOKRUN_JIT_H

#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/IR/BuiltinOps.h"

#include "llvm/ExecutionEngine/Orc/Core.h"

#include <memory>
#include <string>

namespace tokrun {

/// `name` in the lib/ directory beside the bin/ directory of this
/// executable (the build tree and an installed prefix alike).
std::string runtimeLibraryPath(llvm::StringRef name);

/// JIT-compiles `module` (in the LLVM dialect) at `optLevel` (0-3) with the
/// MLIR runner utilities, tok's parallel runtime and `sharedLibs` loaded.
/// Failed run-time checks (puts + abort in the generated code) print
/// "tok-run: run-time check failed: <message>" and exit with status 1.
/// `symbols` adds host functions the module calls, by name. `entries`,
/// when given, are the only functions looked up later (by
/// lookupPacked(name)); the others are optimized as internal ones.
llvm::Expected<std::unique_ptr<mlir::ExecutionEngine>>
createJit(mlir::ModuleOp module, unsigned optLevel,
          llvm::ArrayRef<std::string> sharedLibs = {},
          llvm::ArrayRef<std::pair<std::string, void *>> symbols = {},
          llvm::ArrayRef<std::string> entries = {});

/// The tok CUDA runtime (libtok_cuda_runtime.so in the lib/ beside the
/// tool's bin/), opened before compiling so that a missing driver or device
/// is reported before any work.
class CudaRuntime {
public:
  /// Opens the library and the device; the error says which is missing.
  llvm::Error load();
  /// The library's path, for the JIT to load.
  const std::string &path() const { return libraryPath; }
  /// The device's chip (sm_80, sm_90, ...).
  std::string chip() const;
  /// The PTX features its chip needs (+ptx80, ...).
  std::string ptxFeatures() const;
  /// The first error a runtime call met, or null (always null if not
  /// loaded).
  const char *lastError() const;

private:
  std::string libraryPath;
  int (*computeCapability)() = nullptr;
  const char *(*getLastError)() = nullptr;
};

} // namespace tokrun

#endif // TOK_TOOLS_TOKRUN_JIT_H
