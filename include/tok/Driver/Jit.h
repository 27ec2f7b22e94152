//===- Jit.h - lower a module and JIT-compile it ----------------*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_DRIVER_JIT_H
#define TOK_DRIVER_JIT_H

#include "mlir/IR/BuiltinOps.h"

#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/ExecutionEngine/Orc/LLJIT.h"

#include <functional>
#include <memory>
#include <string>

namespace mlir {
namespace tok {

/// The runtime library `name` (libtok_parallel_runtime.so, ...): the first
/// that exists of $TOK_RUNTIME_DIR/name, lib/name beside the bin/ directory
/// of this executable (the tools, in the build tree and an installed
/// prefix alike), the build tree's lib/ and the install prefix's lib/.
std::string runtimeLibraryPath(llvm::StringRef name);

/// How Jit::create turns a module into machine code.
struct JitOptions {
  /// The pass pipeline that lowers the module to the LLVM dialect
  /// ("tok-to-llvm", ...), or "none" for a module already there.
  std::string lowering = "tok-to-llvm";
  /// LLVM's optimization level, 0-3, for the IR optimizer and the code
  /// generator.
  unsigned optLevel = 3;
  /// Libraries the code calls into, besides the MLIR runner utilities and
  /// tok's parallel runtime (always loaded).
  llvm::ArrayRef<std::string> sharedLibs;
  /// Host functions the module calls, by name.
  llvm::ArrayRef<std::pair<std::string, void *>> symbols;
  /// When given, the only functions looked up later (by lookupPacked);
  /// the others are optimized as internal ones.
  llvm::ArrayRef<std::string> entries;
  /// Called after lowering, with its duration in seconds, before code
  /// generation starts (not called when the object comes from the cache).
  std::function<void(double)> onLowered;
};

/// Where the time of Jit::create went.
struct JitTimes {
  double lowerSeconds = 0;
  double codegenSeconds = 0;
  /// The object came from the JIT cache (JitCache.h): no lowering, no
  /// code generation.
  bool cached = false;
};

/// A module compiled to machine code and loaded into this process, with
/// MLIR's packed calling convention (`_mlir_<name>(void **args)`, the
/// arguments' addresses followed by the result's).
///
/// create() lowers `module` with `options.lowering` (in place), translates
/// it to LLVM IR, optimizes and compiles it to an object file, and links
/// that object into the process; the object is stored in the JIT cache
/// (JitCache.h) under a key of everything it depends on, and a later
/// create() with the same key loads it from there and skips lowering and
/// code generation (the module is then left as it was).
///
/// Failed run-time checks (puts + abort in the generated code) print
/// "tok-run: run-time check failed: <message>" and exit with status 1,
/// unless they happen within runGuarded.
class Jit {
public:
  static llvm::Expected<std::unique_ptr<Jit>> create(mlir::ModuleOp module,
                                                     const JitOptions &options,
                                                     JitTimes *times = nullptr);
  ~Jit();

  /// The packed wrapper of function `name`.
  llvm::Expected<void (*)(void **)> lookupPacked(llvm::StringRef name);
  /// Calls the packed wrapper of `name` with `args`.
  llvm::Error invokePacked(llvm::StringRef name,
                           llvm::MutableArrayRef<void *> args = {});

private:
  Jit() = default;
  std::unique_ptr<llvm::orc::LLJIT> jit;
  /// The destroy hooks of libraries that registered their symbols through
  /// MLIR's ExecutionEngine protocol (__mlir_execution_engine_init).
  llvm::SmallVector<void (*)()> destroyHooks;
};

/// How a run of compiled code under runGuarded ended.
struct GuardedRun {
  enum Outcome {
    /// The code returned.
    Completed,
    /// A run-time check failed (cf.assert); `message` is its message.
    CheckFailed,
    /// A callback of the code asked to stop (stopGuardedRun).
    Stopped,
  };
  Outcome outcome = Completed;
  std::string message;
};

/// Runs `body`, which calls code compiled by Jit, so that a run-time check
/// failing in that code ends the run instead of the process: the compiled
/// frames are left (longjmp back to here) and the heap buffers the code
/// allocated during the run on this thread, and had not freed, are freed.
/// `body` must hold no object with a destructor across its call into the
/// compiled code (the jump skips it); the compiled code itself has none.
/// A check that fails inside a parallel region (on a worker, or on this
/// thread while it runs one) cannot be left safely and still ends the
/// process, as does one on a thread with no guarded run. Runs nest; one
/// per thread at a time is the innermost.
GuardedRun runGuarded(llvm::function_ref<void()> body);

/// From a callback that compiled code calls on this thread (a streamed
/// token): leaves the compiled code at once, and the innermost runGuarded
/// returns Stopped (its buffers freed as for a failed check). Returns false,
/// having done nothing, where there is no guarded run on this thread or the
/// callback runs inside a parallel region.
bool stopGuardedRun();

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

} // namespace tok
} // namespace mlir

#endif // TOK_DRIVER_JIT_H
