//===- tok-run.cpp - JIT-compile and run a tok module ---------------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// Parses a module, lowers it with a named pipeline (tok-to-llvm by default),
// JIT-compiles it (Jit.h; the object kept in the JIT cache, JitCache.h) and
// calls an entry function.
// Tensor and scalar arguments come from .npy files (--input) or are drawn
// from a seeded generator; tensor results are printed and/or written as
// .npy files (--output). A module may also print its own results with the
// MLIR runner utilities, which are loaded. Timings go to stderr with
// --timing; --repeat runs the entry several times and reports the fastest.
//
//===----------------------------------------------------------------------===//

#include "Embed.h"
#include "Generate.h"
#include "Tokenize.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
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
#include "mlir/Target/LLVMIR/Dialect/OpenMP/OpenMPToLLVMIRTranslation.h"
#include "tok/Dialect/Tok/IR/TokAttrs.h"
#include "tok/Driver/Context.h"
#include "tok/Driver/Jit.h"
#include "tok/Execution/JitCall.h"
#include "tok/Execution/NpyFile.h"
#include "tok/InitAllTok.h"
#include "tok/Pipelines/Pipelines.h"

#include "llvm/ADT/APFloat.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/ToolOutputFile.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <optional>
#include <random>

using namespace mlir;

namespace {
namespace cl = llvm::cl;

cl::OptionCategory runCategory("tok-run options");

cl::opt<std::string> inputFile(cl::Positional, cl::desc("<input .mlir file>"),
                               cl::init("-"), cl::cat(runCategory));

cl::opt<std::string> entryName("e", cl::desc("Entry function"),
                               cl::value_desc("name"), cl::init("main"),
                               cl::cat(runCategory));

cl::list<std::string> inputs(
    "input",
    cl::desc("Argument of the entry, in order: a .npy file, or a number for "
             "a scalar argument. Arguments without one are drawn from "
             "--seed (static shapes only)"),
    cl::value_desc("file.npy|number"), cl::cat(runCategory));

cl::opt<uint64_t> seed("seed",
                       cl::desc("Seed of generated arguments: floats are "
                                "N(0, 1), integers uniform in [0, 16)"),
                       cl::init(0), cl::cat(runCategory));

cl::opt<std::string>
    outputPrefix("output",
                 cl::desc("Write result #i to <prefix><i>.npy (existing "
                          "files are not overwritten)"),
                 cl::value_desc("prefix"), cl::init(""), cl::cat(runCategory));

cl::opt<bool> printResults("print-results",
                           cl::desc("Print the entry's results (default "
                                    "on unless --output is given)"),
                           cl::init(true), cl::cat(runCategory));

cl::opt<unsigned> repeat("repeat",
                         cl::desc("Run the entry this many times; --timing "
                                  "reports the fastest and the median"),
                         cl::init(1), cl::cat(runCategory));

cl::opt<std::string> pipeline(
    "pipeline",
    cl::desc("Pass pipeline that lowers the input to the LLVM dialect, in "
             "--pass-pipeline syntax without the anchor, or 'none' if the "
             "input is already lowered (default: tok-to-llvm, or "
             "tok-to-nvvm for the device's chip with --device=cuda)"),
    cl::init("tok-to-llvm"), cl::cat(runCategory));

enum class Device { cpu, cuda };
cl::opt<Device> device(
    "device", cl::desc("Where the compiled attention kernels run"),
    cl::values(clEnumValN(Device::cpu, "cpu", "the host (default)"),
               clEnumValN(Device::cuda, "cuda",
                          "an NVIDIA GPU through the CUDA driver: lowers "
                          "with tok-to-nvvm and loads the tok CUDA runtime "
                          "(lib/libtok_cuda_runtime.so beside bin/); fails "
                          "at once, with the reason, where no driver or "
                          "device is found")),
    cl::init(Device::cpu), cl::cat(runCategory));

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

/// Finds the entry and checks that tok-run can call it. Returns its type
/// (before lowering), or null for an already lowered llvm.func, which must
/// take no arguments.
FailureOr<FunctionType> verifyEntry(ModuleOp module) {
  auto entry = module.lookupSymbol<func::FuncOp>(entryName);
  if (!entry) {
    if (module.lookupSymbol<LLVM::LLVMFuncOp>(entryName))
      return FunctionType();
    return emitError(FileLineColLoc::get(module.getContext(), inputFile, 1, 1))
           << "entry function '@" << entryName << "' not found";
  }
  if (entry.isExternal())
    return entry.emitError()
           << "entry function '@" << entryName << "' has no body";
  FunctionType type = tok::getCallableType(entry.getFunctionType());
  if (llvm::Error err = tok::verifyCallableSignature(type))
    return entry.emitError()
           << "entry function '@" << entryName
           << "' cannot be called: " << llvm::toString(std::move(err));
  if (inputs.size() > type.getNumInputs())
    return entry.emitError() << "entry function '@" << entryName << "' takes "
                             << type.getNumInputs() << " argument(s), but "
                             << inputs.size() << " --input were given";
  // Ask func-to-llvm for the C interface that JitCall marshals into.
  entry->setAttr(LLVM::LLVMDialect::getEmitCWrapperAttrName(),
                 UnitAttr::get(module.getContext()));
  return type;
}

/// The arguments of the entry: from --input, or drawn from --seed.
FailureOr<SmallVector<tok::NpyArray>> makeArguments(FunctionType type) {
  SmallVector<tok::NpyArray> args;
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal;
  std::uniform_int_distribution<int64_t> small(0, 15);
  for (auto [i, argType] : llvm::enumerate(type.getInputs())) {
    auto tensor = dyn_cast<RankedTensorType>(argType);
    Type elem = tensor ? tensor.getElementType() : argType;
    tok::NpyArray array;
    bool quantized = static_cast<bool>(tok::getWeightQuant(argType));
    array.type = quantized ? tok::NpyDType::U8 : *tok::getNpyDType(elem);
    if (quantized && i >= inputs.size()) {
      llvm::errs() << "tok-run: argument #" << i << " has type " << argType
                   << "; a #tok.quant weight needs an --input (its bytes as "
                      "a uint8 .npy)\n";
      return failure();
    }
    if (i < inputs.size()) {
      StringRef text = inputs[i];
      if (!tensor) {
        // A scalar given on the command line.
        double value;
        if (text.getAsDouble(value)) {
          llvm::errs() << "tok-run: argument #" << i
                       << " is a scalar; --input '" << text
                       << "' is not a number\n";
          return failure();
        }
        array.allocate();
        switch (array.type) {
        case tok::NpyDType::F32:
          *static_cast<float *>(array.data()) = static_cast<float>(value);
          break;
        case tok::NpyDType::F64:
          *static_cast<double *>(array.data()) = value;
          break;
        case tok::NpyDType::I32:
          *static_cast<int32_t *>(array.data()) = static_cast<int32_t>(value);
          break;
        case tok::NpyDType::I64:
          *static_cast<int64_t *>(array.data()) = static_cast<int64_t>(value);
          break;
        case tok::NpyDType::F16:
        case tok::NpyDType::U8:
        case tok::NpyDType::U16:
          llvm::errs() << "tok-run: argument #" << i
                       << " has a type that a scalar cannot have\n";
          return failure();
        }
        args.push_back(std::move(array));
        continue;
      }
      llvm::Expected<tok::NpyArray> loaded = tok::readNpyFile(text);
      if (!loaded) {
        llvm::errs() << "tok-run: " << llvm::toString(loaded.takeError())
                     << "\n";
        return failure();
      }
      if (llvm::Error err = tok::checkArgument(*loaded, argType, i)) {
        llvm::errs() << "tok-run: " << text << ": "
                     << llvm::toString(std::move(err)) << "\n";
        return failure();
      }
      args.push_back(std::move(*loaded));
      continue;
    }
    if (tensor && !tensor.hasStaticShape()) {
      llvm::errs() << "tok-run: argument #" << i << " has type " << argType
                   << "; a dynamic shape needs an --input\n";
      return failure();
    }
    if (tensor)
      array.shape.assign(tensor.getShape().begin(), tensor.getShape().end());
    array.allocate();
    int64_t n = array.getNumElements();
    for (int64_t e = 0; e < n; ++e) {
      switch (array.type) {
      case tok::NpyDType::F32:
        static_cast<float *>(array.data())[e] = normal(rng);
        break;
      case tok::NpyDType::F64:
        static_cast<double *>(array.data())[e] = normal(rng);
        break;
      case tok::NpyDType::F16: {
        bool lost;
        llvm::APFloat h(normal(rng));
        h.convert(llvm::APFloat::IEEEhalf(), llvm::APFloat::rmNearestTiesToEven,
                  &lost);
        static_cast<uint16_t *>(array.data())[e] =
            static_cast<uint16_t>(h.bitcastToAPInt().getZExtValue());
        break;
      }
      case tok::NpyDType::I32:
        static_cast<int32_t *>(array.data())[e] =
            static_cast<int32_t>(small(rng));
        break;
      case tok::NpyDType::I64:
        static_cast<int64_t *>(array.data())[e] = small(rng);
        break;
      case tok::NpyDType::U16: {
        // bf16: the top half of the f32 bits, rounded to nearest even.
        float f = normal(rng);
        uint32_t u;
        std::memcpy(&u, &f, 4);
        static_cast<uint16_t *>(array.data())[e] =
            static_cast<uint16_t>((u + 0x7fff + ((u >> 16) & 1)) >> 16);
        break;
      }
      case tok::NpyDType::U8:
        break; // #tok.quant weights are refused above
      }
    }
    args.push_back(std::move(array));
  }
  return args;
}

double elementAsDouble(const tok::NpyArray &array, int64_t e) {
  switch (array.type) {
  case tok::NpyDType::F16: {
    uint16_t bits = static_cast<const uint16_t *>(array.data())[e];
    llvm::APFloat h(llvm::APFloat::IEEEhalf(), llvm::APInt(16, bits));
    return h.convertToFloat();
  }
  case tok::NpyDType::F32:
    return static_cast<const float *>(array.data())[e];
  case tok::NpyDType::F64:
    return static_cast<const double *>(array.data())[e];
  case tok::NpyDType::I32:
    return static_cast<const int32_t *>(array.data())[e];
  case tok::NpyDType::I64:
    return static_cast<double>(static_cast<const int64_t *>(array.data())[e]);
  case tok::NpyDType::U8:
    return static_cast<const uint8_t *>(array.data())[e];
  case tok::NpyDType::U16: {
    uint32_t u =
        static_cast<uint32_t>(static_cast<const uint16_t *>(array.data())[e])
        << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
  }
  return 0;
}

/// Prints `array` in NumPy's nested-list style, 6 significant digits.
void printArray(llvm::raw_ostream &os, const tok::NpyArray &array) {
  int64_t rank = array.shape.size();
  int64_t n = array.getNumElements();
  if (rank == 0) {
    os << llvm::format("%g", elementAsDouble(array, 0)) << "\n";
    return;
  }
  SmallVector<int64_t> index(rank, 0);
  for (int64_t e = 0; e < n; ++e) {
    int64_t opened = 0;
    for (int64_t d = rank - 1; d >= 0 && index[d] == 0; --d)
      ++opened;
    if (e)
      os << (opened ? ",\n" : ", ");
    os.indent(e && opened ? rank - opened : 0);
    for (int64_t k = 0; k < opened; ++k)
      os << '[';
    os << llvm::format("%g", elementAsDouble(array, e));
    int64_t closed = 0;
    for (int64_t d = rank - 1; d >= 0; --d) {
      if (++index[d] < array.shape[d])
        break;
      index[d] = 0;
      ++closed;
    }
    for (int64_t k = 0; k < closed; ++k)
      os << ']';
  }
  if (n == 0)
    os << "[]";
  os << "\n";
}

int run(MLIRContext &context) {
  // Reject bad options before any work is done.
  std::optional<llvm::CodeGenOptLevel> codeGenLevel =
      llvm::CodeGenOpt::getLevel(optLevel);
  if (!codeGenLevel) {
    llvm::errs() << "tok-run: -O" << optLevel << " is not in 0-3\n";
    return 1;
  }
  if (repeat == 0) {
    llvm::errs() << "tok-run: --repeat must be at least 1\n";
    return 1;
  }
  if (StringRef(pipeline).starts_with("builtin.module(")) {
    llvm::errs() << "tok-run: give --pipeline without the builtin.module(...) "
                    "anchor; it runs on the module\n";
    return 1;
  }
  std::string lowering = pipeline;
  SmallVector<std::string> libs(sharedLibs.begin(), sharedLibs.end());
  tok::CudaRuntime cuda;
  if (device == Device::cuda) {
    if (llvm::Error err = cuda.load()) {
      llvm::errs() << "tok-run: --device=cuda: "
                   << llvm::toString(std::move(err)) << "\n";
      return 1;
    }
    if (pipeline.getNumOccurrences() == 0)
      lowering = "tok-to-nvvm{chip=" + cuda.chip() +
                 " features=" + cuda.ptxFeatures() + "}";
    libs.push_back(cuda.path());
  }
  // Parse the pipeline now: a typo is reported before any work.
  PassManager pm(&context);
  if (lowering != "none" &&
      failed(parsePassPipeline(lowering, pm, llvm::errs())))
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
  FailureOr<FunctionType> entryType = verifyEntry(*module);
  if (failed(entryType))
    return 1;
  SmallVector<tok::NpyArray> args;
  if (*entryType) {
    FailureOr<SmallVector<tok::NpyArray>> made = makeArguments(*entryType);
    if (failed(made))
      return 1;
    args = std::move(*made);
  }
  // Refuse to overwrite results of an earlier run before doing any work.
  if (!outputPrefix.empty() && *entryType) {
    for (unsigned i = 0; i < entryType->getNumResults(); ++i) {
      std::string path = outputPrefix + std::to_string(i) + ".npy";
      if (llvm::sys::fs::exists(path)) {
        llvm::errs() << "tok-run: " << path
                     << " exists; remove it or choose another --output\n";
        return 1;
      }
    }
  }
  double parseMs = millisSince(start);

  start = Clock::now();
  tok::JitOptions jitOptions;
  jitOptions.lowering = lowering;
  jitOptions.optLevel = optLevel;
  jitOptions.sharedLibs = libs;
  tok::JitTimes jitTimes;
  auto engine = tok::Jit::create(*module, jitOptions, &jitTimes);
  if (!engine) {
    llvm::errs() << "tok-run: failed to compile the module: "
                 << llvm::toString(engine.takeError()) << "\n";
    return 1;
  }
  double lowerMs = jitTimes.lowerSeconds * 1e3;
  double compileMs = millisSince(start) - lowerMs;
  SmallVector<double> runMs;
  SmallVector<tok::NpyArray> results;
  for (unsigned r = 0; r < repeat; ++r) {
    // The entry may update its arguments in place (a KV cache does): each
    // repetition gets pristine inputs, copied before the clock starts.
    SmallVector<tok::NpyArray> runArgs;
    if (repeat > 1)
      runArgs.assign(args.begin(), args.end());
    SmallVectorImpl<tok::NpyArray> &callArgs = repeat > 1 ? runArgs : args;
    start = Clock::now();
    if (*entryType) {
      tok::JitCall call(*entryType, callArgs);
      if (llvm::Error err = (*engine)->invokePacked(
              "_mlir_ciface_" + entryName, call.getPackedArguments())) {
        llvm::errs() << "tok-run: cannot run '@" << entryName
                     << "': " << llvm::toString(std::move(err)) << "\n";
        return 1;
      }
      runMs.push_back(millisSince(start));
      if (const char *error = cuda.lastError()) {
        llvm::errs() << "tok-run: CUDA: " << error << "\n";
        return 1;
      }
      results = call.takeResults();
    } else {
      if (llvm::Error err = (*engine)->invokePacked(entryName)) {
        llvm::errs() << "tok-run: cannot run '@" << entryName
                     << "': " << llvm::toString(std::move(err)) << "\n";
        return 1;
      }
      runMs.push_back(millisSince(start));
      if (const char *error = cuda.lastError()) {
        llvm::errs() << "tok-run: CUDA: " << error << "\n";
        return 1;
      }
    }
  }

  bool print = printResults &&
               (outputPrefix.empty() || printResults.getNumOccurrences() > 0);
  for (auto [i, result] : llvm::enumerate(results)) {
    if (print) {
      llvm::outs() << "result #" << i << ": " << entryType->getResult(i)
                   << " = ";
      printArray(llvm::outs(), result);
    }
    if (!outputPrefix.empty()) {
      std::string path = outputPrefix + std::to_string(i) + ".npy";
      if (llvm::Error err = tok::writeNpyFile(path, result)) {
        llvm::errs() << "tok-run: " << llvm::toString(std::move(err)) << "\n";
        return 1;
      }
    }
  }

  if (printTiming) {
    llvm::sort(runMs);
    llvm::errs() << llvm::format("tok-run: parse %.1f ms, lower %.1f ms, "
                                 "jit %.1f ms%s, run %.3f ms",
                                 parseMs, lowerMs, compileMs,
                                 jitTimes.cached ? " (from the JIT cache)" : "",
                                 runMs.front());
    if (runMs.size() > 1)
      llvm::errs() << llvm::format(" (fastest of %u; median %.3f ms)",
                                   static_cast<unsigned>(runMs.size()),
                                   runMs[runMs.size() / 2]);
    llvm::errs() << "\n";
  }
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM y(argc, argv);
  tok::initializeDriver();
  DialectRegistry registry;
  tok::registerDriverDialects(registry);

  cl::HideUnrelatedOptions(runCategory);
  cl::HideUnrelatedOptions(tokrun::getGenerateCategory(),
                           tokrun::getGenerateCommand());
  cl::HideUnrelatedOptions(tokrun::getEmbedCategory(),
                           tokrun::getEmbedCommand());
  cl::HideUnrelatedOptions(tokrun::getTokenizeCategory(),
                           tokrun::getTokenizeCommand());
  cl::ParseCommandLineOptions(
      argc, argv,
      "tok-run: lower a tok module, JIT-compile it and run an entry "
      "function\n\n"
      "  tok-run [options] <file.mlir>    run an entry function\n"
      "  tok-run generate [options]       generate text with a model "
      "(tok-run generate --help)\n"
      "  tok-run embed [options]          sentence embeddings with a BERT "
      "encoder (tok-run embed --help)\n"
      "  tok-run tokenize [options] <in>  token ids of JSON-lines text "
      "(tok-run tokenize --help)\n\n"
      "Environment:\n"
      "  TOK_NUM_THREADS (else OMP_NUM_THREADS)  threads of the parallel "
      "loops (default: the CPUs this process may use)\n"
      "  TOK_BUFFER_CACHE_MB   megabytes of freed buffers kept for reuse "
      "(default 1024; 0: plain malloc / free)\n"
      "  TOK_JIT_PERF=1        make JIT code visible to perf (perf record "
      "-k 1, perf inject --jit)\n"
      "  TOK_JIT_CACHE_DIR     where compiled modules are kept for the next "
      "run (default $XDG_CACHE_HOME/tok/jit, else ~/.cache/tok/jit; empty: "
      "no cache)\n"
      "  TOK_JIT_CACHE_MB      size cap of that cache, least recently used "
      "entries go first (default 1024; 0: no cache)\n");

  MLIRContext context(registry);
  context.printOpOnDiagnostic(false);
  if (tokrun::getGenerateCommand())
    return tokrun::runGenerate(context);
  if (tokrun::getEmbedCommand())
    return tokrun::runEmbed(context);
  if (tokrun::getTokenizeCommand())
    return tokrun::runTokenize();
  return run(context);
}
