//===- tok-run.cpp - JIT-compile and run a tok module ---------------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// Parses a module, lowers it with a named pipeline (tok-to-llvm by default),
// JIT-compiles it with MLIR's ExecutionEngine and calls an entry function
// that takes no arguments and returns nothing. The module prints its own
// results (e.g. with printMemrefF32 from the MLIR runner utilities, which
// are loaded by default). Timings go to stderr with --timing.
//
//===----------------------------------------------------------------------===//

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "tok/InitAllTok.h"
#include "tok/Pipelines/Pipelines.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/ToolOutputFile.h"

#include <chrono>
#include <functional>
#include <optional>

using namespace mlir;

namespace {
namespace cl = llvm::cl;

cl::OptionCategory runCategory("tok-run options");

cl::opt<std::string> inputFile(cl::Positional, cl::desc("<input .mlir file>"),
                               cl::init("-"), cl::cat(runCategory));

cl::opt<std::string> entryName("e", cl::desc("Entry function (type () -> ())"),
                               cl::value_desc("name"), cl::init("main"),
                               cl::cat(runCategory));

cl::opt<std::string> pipeline(
    "pipeline",
    cl::desc("Pass pipeline that lowers the input to the LLVM dialect, in "
             "--pass-pipeline syntax without the anchor, or 'none' if the "
             "input is already lowered"),
    cl::init("tok-to-llvm"), cl::cat(runCategory));

cl::list<std::string>
    sharedLibs("shared-libs",
               cl::desc("Libraries to load into the JIT (comma separated); "
                        "the MLIR runner utilities are always loaded"),
               cl::CommaSeparated, cl::cat(runCategory));

cl::opt<unsigned> optLevel("O", cl::desc("LLVM optimization level (0-3)"),
                           cl::init(3), cl::Prefix, cl::cat(runCategory));

cl::opt<bool> printTiming("timing",
                          cl::desc("Print parse, compile and run times to "
                                   "stderr"),
                          cl::init(false), cl::cat(runCategory));

using Clock = std::chrono::steady_clock;

double millisSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start)
      .count();
}

/// Checks that the entry exists and has the only signature tok-run can call.
LogicalResult verifyEntry(ModuleOp module) {
  auto entry = module.lookupSymbol<func::FuncOp>(entryName);
  if (!entry) {
    if (module.lookupSymbol<LLVM::LLVMFuncOp>(entryName))
      return success();
    return emitError(FileLineColLoc::get(module.getContext(), inputFile, 1, 1))
           << "entry function '@" << entryName << "' not found";
  }
  if (entry.isExternal())
    return entry.emitError()
           << "entry function '@" << entryName << "' has no body";
  FunctionType type = entry.getFunctionType();
  if (type.getNumInputs() != 0 || type.getNumResults() != 0)
    return entry.emitError() << "entry function '@" << entryName
                             << "' must have type () -> (), got " << type;
  return success();
}

int run(MLIRContext &context) {
  // Reject bad options before any work is done.
  std::optional<llvm::CodeGenOptLevel> codeGenLevel =
      llvm::CodeGenOpt::getLevel(optLevel);
  if (!codeGenLevel) {
    llvm::errs() << "tok-run: -O" << optLevel << " is not in 0-3\n";
    return 1;
  }
  if (StringRef(pipeline).starts_with("builtin.module(")) {
    llvm::errs() << "tok-run: give --pipeline without the builtin.module(...) "
                    "anchor; it runs on the module\n";
    return 1;
  }
  PassManager pm(&context);
  if (pipeline != "none" &&
      failed(parsePassPipeline(pipeline, pm, llvm::errs())))
    return 1;

  auto start = Clock::now();
  std::string errorMessage;
  std::unique_ptr<llvm::MemoryBuffer> file =
      openInputFile(inputFile, &errorMessage);
  if (!file) {
    llvm::errs() << "tok-run: " << errorMessage << "\n";
    return 1;
  }
  llvm::SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(std::move(file), llvm::SMLoc());
  SourceMgrDiagnosticHandler diagHandler(sourceMgr, &context);

  OwningOpRef<ModuleOp> module = parseSourceFile<ModuleOp>(sourceMgr, &context);
  if (!module)
    return 1;
  if (failed(verifyEntry(*module)))
    return 1;
  double parseMs = millisSince(start);

  start = Clock::now();
  if (pipeline != "none" && failed(pm.run(*module)))
    return 1;
  double lowerMs = millisSince(start);

  start = Clock::now();
  SmallVector<std::string> libs(sharedLibs.begin(), sharedLibs.end());
  libs.push_back(TOK_MLIR_RUNNER_UTILS_DIR "/libmlir_c_runner_utils.so");
  libs.push_back(TOK_MLIR_RUNNER_UTILS_DIR "/libmlir_runner_utils.so");
  SmallVector<StringRef> libRefs(libs.begin(), libs.end());

  std::function<llvm::Error(llvm::Module *)> optimize =
      makeOptimizingTransformer(optLevel, /*sizeLevel=*/0,
                                /*targetMachine=*/nullptr);
  ExecutionEngineOptions options;
  options.transformer = optimize;
  options.jitCodeGenOptLevel = codeGenLevel;
  options.sharedLibPaths = libRefs;
  auto engine = ExecutionEngine::create(*module, options);
  if (!engine) {
    llvm::errs() << "tok-run: failed to JIT-compile the module: "
                 << llvm::toString(engine.takeError()) << "\n";
    return 1;
  }
  (*engine)->initialize();
  double compileMs = millisSince(start);

  start = Clock::now();
  if (llvm::Error err = (*engine)->invokePacked(entryName)) {
    llvm::errs() << "tok-run: cannot run '@" << entryName
                 << "': " << llvm::toString(std::move(err)) << "\n";
    return 1;
  }
  double runMs = millisSince(start);

  if (printTiming)
    llvm::errs() << llvm::format("tok-run: parse %.1f ms, lower %.1f ms, "
                                 "jit %.1f ms, run %.3f ms\n",
                                 parseMs, lowerMs, compileMs, runMs);
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM y(argc, argv);
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();

  DialectRegistry registry;
  registerAllDialects(registry);
  registerAllExtensions(registry);
  registerBuiltinDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
  tok::registerAllTokDialects(registry);
  registerAllPasses();
  tok::registerAllTokPasses();

  cl::HideUnrelatedOptions(runCategory);
  cl::ParseCommandLineOptions(
      argc, argv,
      "tok-run: lower a tok module, JIT-compile it and run an entry "
      "function\n");

  MLIRContext context(registry);
  context.printOpOnDiagnostic(false);
  return run(context);
}
