//===- Jit.cpp - the ExecutionEngine set-up shared by tok-run modes -------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#include "Jit.h"

#include "mlir/ExecutionEngine/OptUtils.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h"
#include "llvm/ExecutionEngine/Orc/Mangling.h"
#include "llvm/Support/DynamicLibrary.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdio>
#include <cstdlib>

using namespace mlir;

/// Failed run-time checks (cf.assert: a token id outside the vocabulary, a
/// full cache, ...) call puts and abort. tok-run routes them here: the
/// message goes to stderr and tok-run exits with status 1, with no stack
/// dump and nothing lost from stdout.
extern "C" int tokRunCheckMessage(const char *message) {
  llvm::outs().flush();
  std::fflush(stdout);
  llvm::errs() << "tok-run: run-time check failed: " << message << "\n";
  return 0;
}

extern "C" void tokRunCheckAbort() {
  llvm::errs().flush();
  std::fflush(nullptr);
  std::_Exit(1);
}

std::string tokrun::runtimeLibraryPath(llvm::StringRef name) {
  std::string exe = llvm::sys::fs::getMainExecutable(
      nullptr, reinterpret_cast<void *>(&tokrun::createJit));
  SmallString<256> path(
      llvm::sys::path::parent_path(llvm::sys::path::parent_path(exe)));
  llvm::sys::path::append(path, "lib", name);
  return std::string(path);
}

llvm::Expected<std::unique_ptr<ExecutionEngine>>
tokrun::createJit(ModuleOp module, unsigned optLevel,
                  llvm::ArrayRef<std::string> sharedLibs,
                  llvm::ArrayRef<std::pair<std::string, void *>> symbols,
                  llvm::ArrayRef<std::string> entries) {
  std::optional<llvm::CodeGenOptLevel> codeGenLevel =
      llvm::CodeGenOpt::getLevel(optLevel);
  if (!codeGenLevel)
    return llvm::createStringError("-O" + std::to_string(optLevel) +
                                   " is not in 0-3");
  SmallVector<std::string> libs(sharedLibs.begin(), sharedLibs.end());
  libs.push_back(TOK_MLIR_RUNNER_UTILS_DIR "/libmlir_c_runner_utils.so");
  libs.push_back(TOK_MLIR_RUNNER_UTILS_DIR "/libmlir_runner_utils.so");
  // The runtime of the parallel loops of tok-to-llvm (__kmpc_*).
  libs.push_back(runtimeLibraryPath("libtok_parallel_runtime.so"));
  SmallVector<StringRef> libRefs(libs.begin(), libs.end());

  // The JIT's target machine (the host's CPU and features) also drives the
  // IR optimizer's cost models; without it they are generic ones (no
  // vector registers) and JIT-compiled models decoded 10-20% slower than
  // the same model compiled by tok-compile.
  auto builder = llvm::orc::JITTargetMachineBuilder::detectHost();
  if (!builder)
    return builder.takeError();
  builder->setCodeGenOptLevel(*codeGenLevel);
  auto machine = builder->createTargetMachine();
  if (!machine)
    return machine.takeError();
  // With `entries`, every other function becomes internal first, so that
  // the optimizer sees all their call sites (IPSCCP folds the constant
  // strides and offsets of the memref descriptors a step receives, unused
  // functions go away), as tok-compile's libraries have it. (The function
  // is kept in a variable: options.transformer is a function_ref and must
  // outlive create.)
  llvm::StringSet<> keep;
  for (const std::string &entry : entries)
    keep.insert("_mlir_" + entry); // ExecutionEngine's packed wrapper
  std::function<llvm::Error(llvm::Module *)> optimize =
      [&keep, optimizeIR = makeOptimizingTransformer(
                  optLevel, /*sizeLevel=*/0, machine->get())](llvm::Module *m) {
        if (!keep.empty())
          for (llvm::Function &f : *m)
            if (!f.isDeclaration() && !keep.contains(f.getName()))
              f.setLinkage(llvm::GlobalValue::InternalLinkage);
        return optimizeIR(m);
      };
  ExecutionEngineOptions options;
  options.transformer = optimize;
  options.jitCodeGenOptLevel = codeGenLevel;
  options.sharedLibPaths = libRefs;
  // Profiling JIT code: TOK_JIT_PERF=1 registers it with perf (jit-PID.dump
  // for `perf inject --jit`, docs/development.md). Off otherwise: MLIR's
  // default (on) wrote half a megabyte under ~/.debug/jit on every run.
  const char *perf = std::getenv("TOK_JIT_PERF");
  options.enablePerfNotificationListener = perf && StringRef(perf) == "1";
  auto engine = ExecutionEngine::create(module, options, std::move(*machine));
  if (!engine)
    return engine.takeError();
  std::vector<std::pair<std::string, void *>> all(symbols.begin(),
                                                  symbols.end());
  all.emplace_back("puts", reinterpret_cast<void *>(&tokRunCheckMessage));
  all.emplace_back("abort", reinterpret_cast<void *>(&tokRunCheckAbort));
  (*engine)->registerSymbols([&](llvm::orc::MangleAndInterner interner) {
    llvm::orc::SymbolMap map;
    for (auto &[name, address] : all)
      map[interner(name)] = {llvm::orc::ExecutorAddr::fromPtr(address),
                             llvm::JITSymbolFlags::Exported};
    return map;
  });
  (*engine)->initialize();
  return engine;
}

llvm::Error tokrun::CudaRuntime::load() {
  libraryPath = runtimeLibraryPath("libtok_cuda_runtime.so");
  std::string error;
  auto lib = llvm::sys::DynamicLibrary::getPermanentLibrary(libraryPath.c_str(),
                                                            &error);
  if (!lib.isValid())
    return llvm::createStringError("cannot load the tok CUDA runtime " +
                                   libraryPath + ": " + error);
  auto init =
      reinterpret_cast<int (*)()>(lib.getAddressOfSymbol("tokCudaInit"));
  computeCapability = reinterpret_cast<int (*)()>(
      lib.getAddressOfSymbol("tokCudaComputeCapability"));
  getLastError = reinterpret_cast<const char *(*)()>(
      lib.getAddressOfSymbol("tokCudaLastError"));
  auto setReporting = reinterpret_cast<void (*)(int)>(
      lib.getAddressOfSymbol("tokCudaSetReporting"));
  if (!init || !computeCapability || !getLastError || !setReporting)
    return llvm::createStringError(libraryPath +
                                   " is not the tok CUDA runtime");
  // tok-run reports the runtime's errors itself, with its own prefix.
  setReporting(0);
  if (init() != 0)
    return llvm::createStringError(getLastError());
  if (computeCapability() < 80)
    return llvm::createStringError(
        "the device's compute capability " +
        std::to_string(computeCapability()) +
        " is below 8.0 (tok-to-nvvm targets sm_80 and later)");
  return llvm::Error::success();
}

std::string tokrun::CudaRuntime::chip() const {
  return "sm_" + std::to_string(computeCapability ? computeCapability() : 80);
}

std::string tokrun::CudaRuntime::ptxFeatures() const {
  // The PTX ISA version each architecture needs (sm_100: 8.6, sm_120: 8.7).
  int cc = computeCapability ? computeCapability() : 80;
  if (cc >= 120)
    return "+ptx87";
  if (cc >= 100)
    return "+ptx86";
  return "+ptx80";
}

const char *tokrun::CudaRuntime::lastError() const {
  return getLastError ? getLastError() : nullptr;
}
