//===- Jit.cpp - lower a module and JIT-compile it ------------------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#include "tok/Driver/Jit.h"
#include "tok/Driver/JitCache.h"

#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/OperationSupport.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Target/LLVMIR/Export.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/ExecutionEngine/JITEventListener.h"
#include "llvm/ExecutionEngine/Orc/CompileUtils.h"
#include "llvm/ExecutionEngine/Orc/ExecutionUtils.h"
#include "llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h"
#include "llvm/ExecutionEngine/Orc/Mangling.h"
#include "llvm/ExecutionEngine/Orc/RTDyldObjectLinkingLayer.h"
#include "llvm/ExecutionEngine/SectionMemoryManager.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/Module.h"
#include "llvm/Support/DynamicLibrary.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <atomic>
#include <chrono>
#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <mutex>
#include <tuple>

using namespace mlir;

namespace {

/// A guarded run (runGuarded) on this thread: where to jump back to, and
/// how the run ended.
struct Guard {
  std::jmp_buf resume;
  tok::GuardedRun::Outcome outcome = tok::GuardedRun::Completed;
  /// What the code passed to puts: a failed check's message.
  std::string message;
  Guard *outer = nullptr;
};

thread_local Guard *activeGuard = nullptr;
/// Guarded runs in progress on any thread: while there is none, the
/// allocation hooks below only forward.
std::atomic<int> guardsRunning{0};

/// The runtime's allocation functions (BufferCache.cpp) and its parallel
/// region test, looked up once in libtok_parallel_runtime.so.
using AllocFn = void *(*)(size_t);
using AlignedAllocFn = void *(*)(size_t, size_t);
using FreeFn = void (*)(void *);
using InRegionFn = int (*)();
std::atomic<AllocFn> runtimeAlloc{nullptr};
std::atomic<AlignedAllocFn> runtimeAlignedAlloc{nullptr};
std::atomic<FreeFn> runtimeFree{nullptr};
std::atomic<InRegionFn> runtimeInRegion{nullptr};

/// The heap buffers that guarded runs allocated and have not freed, with
/// the run that allocated each.
std::mutex trackedMutex;
llvm::DenseMap<void *, Guard *> &trackedBuffers() {
  static llvm::DenseMap<void *, Guard *> buffers;
  return buffers;
}

/// The guard a failed check or a stop on this thread may jump to, if any.
Guard *leavableGuard() {
  Guard *guard = activeGuard;
  if (!guard)
    return nullptr;
  InRegionFn inRegion = runtimeInRegion.load(std::memory_order_acquire);
  if (!inRegion || inRegion())
    return nullptr;
  return guard;
}

void track(void *p) {
  if (!p || !activeGuard)
    return;
  std::lock_guard<std::mutex> lock(trackedMutex);
  trackedBuffers()[p] = activeGuard;
}

} // namespace

/// The generated code's heap (tok-to-llvm's generic allocation functions),
/// through which guarded runs learn which buffers to free when they are
/// left early; outside guarded runs, the runtime's functions as they are.
extern "C" void *tokGuardAlloc(size_t size) {
  void *p = runtimeAlloc.load(std::memory_order_relaxed)(size);
  track(p);
  return p;
}

extern "C" void *tokGuardAlignedAlloc(size_t alignment, size_t size) {
  void *p =
      runtimeAlignedAlloc.load(std::memory_order_relaxed)(alignment, size);
  track(p);
  return p;
}

extern "C" void tokGuardFree(void *p) {
  if (p && guardsRunning.load(std::memory_order_acquire) > 0) {
    std::lock_guard<std::mutex> lock(trackedMutex);
    trackedBuffers().erase(p);
  }
  runtimeFree.load(std::memory_order_relaxed)(p);
}

/// Failed run-time checks (cf.assert: a token id outside the vocabulary, a
/// full cache, ...) call puts and abort. Within a guarded run the message
/// is kept and the run is left (runGuarded returns it); otherwise tok-run
/// routes them here: the message goes to stderr and tok-run exits with
/// status 1, with no stack dump and nothing lost from stdout.
extern "C" int tokRunCheckMessage(const char *message) {
  if (Guard *guard = leavableGuard()) {
    guard->message += message;
    return 0;
  }
  llvm::outs().flush();
  std::fflush(stdout);
  llvm::errs() << "tok-run: run-time check failed: " << message << "\n";
  return 0;
}

extern "C" void tokRunCheckAbort() {
  if (Guard *guard = leavableGuard()) {
    guard->outcome = tok::GuardedRun::CheckFailed;
    std::longjmp(guard->resume, 1);
  }
  // A message kept by a guard that cannot be left is said now.
  if (Guard *guard = activeGuard; guard && !guard->message.empty())
    llvm::errs() << "tok-run: run-time check failed: " << guard->message
                 << "\n";
  llvm::errs().flush();
  std::fflush(nullptr);
  std::_Exit(1);
}

mlir::tok::GuardedRun mlir::tok::runGuarded(llvm::function_ref<void()> body) {
  Guard guard;
  guard.outer = activeGuard;
  guardsRunning.fetch_add(1, std::memory_order_acq_rel);
  activeGuard = &guard;
  // The jump back lands here with setjmp returning 1; `guard` lives in
  // memory (its address is published), so its fields are current.
  if (setjmp(guard.resume) == 0)
    body();
  activeGuard = guard.outer;
  // Forget this run's buffers; free them if the run was left early.
  SmallVector<void *> leftBehind;
  {
    std::lock_guard<std::mutex> lock(trackedMutex);
    auto &buffers = trackedBuffers();
    for (auto it = buffers.begin(); it != buffers.end();) {
      auto current = it++;
      if (current->second != &guard)
        continue;
      if (guard.outcome != tok::GuardedRun::Completed)
        leftBehind.push_back(current->first);
      buffers.erase(current);
    }
  }
  if (FreeFn free = runtimeFree.load(std::memory_order_relaxed))
    for (void *p : leftBehind)
      free(p);
  guardsRunning.fetch_sub(1, std::memory_order_acq_rel);
  GuardedRun result;
  result.outcome = guard.outcome;
  if (guard.outcome == tok::GuardedRun::Completed && !guard.message.empty()) {
    // puts from code that went on: what puts would have printed.
    std::fputs(guard.message.c_str(), stdout);
    std::fputc('\n', stdout);
  } else {
    result.message = std::move(guard.message);
  }
  return result;
}

bool mlir::tok::stopGuardedRun() {
  Guard *guard = leavableGuard();
  if (!guard)
    return false;
  guard->outcome = tok::GuardedRun::Stopped;
  std::longjmp(guard->resume, 1);
}

std::string mlir::tok::runtimeLibraryPath(llvm::StringRef name) {
  SmallVector<std::string> dirs;
  if (const char *dir = std::getenv("TOK_RUNTIME_DIR"); dir && *dir)
    dirs.push_back(dir);
  std::string exe = llvm::sys::fs::getMainExecutable(
      nullptr, reinterpret_cast<void *>(&tokRunCheckAbort));
  SmallString<256> besideBin(
      llvm::sys::path::parent_path(llvm::sys::path::parent_path(exe)));
  llvm::sys::path::append(besideBin, "lib");
  dirs.push_back(std::string(besideBin));
  dirs.push_back(TOK_BUILD_LIBRARY_DIR);
  dirs.push_back(TOK_INSTALL_LIBRARY_DIR);
  for (const std::string &dir : dirs) {
    SmallString<256> path(dir);
    llvm::sys::path::append(path, name);
    if (llvm::sys::fs::exists(path))
      return std::string(path);
  }
  // Not found: the loader's error names the first place looked.
  SmallString<256> path(dirs.front());
  llvm::sys::path::append(path, name);
  return std::string(path);
}

namespace {

/// MLIR's packed calling convention: for each function `f` defined in the
/// module, `void _mlir_f(void **args)` loads f's arguments through
/// args[0 .. n) and stores its result (if any) through args[n]. (The same
/// wrappers MLIR's ExecutionEngine adds, so that JitCall's argument packing
/// serves both.)
llvm::Error addPackedWrappers(llvm::Module &module) {
  llvm::LLVMContext &ctx = module.getContext();
  llvm::IRBuilder<> builder(ctx);
  SmallVector<llvm::Function *> defined;
  for (llvm::Function &f : module)
    if (!f.isDeclaration() && !f.hasLocalLinkage())
      defined.push_back(&f);
  auto *wrapperType = llvm::FunctionType::get(
      builder.getVoidTy(), builder.getPtrTy(), /*isVarArg=*/false);
  for (llvm::Function *f : defined) {
    std::string name = ("_mlir_" + f->getName()).str();
    if (module.getNamedValue(name))
      return llvm::createStringError("the module defines " + name +
                                     ", the name of the packed wrapper of " +
                                     f->getName().str());
    auto *wrapper = llvm::Function::Create(
        wrapperType, llvm::GlobalValue::ExternalLinkage, name, module);
    builder.SetInsertPoint(llvm::BasicBlock::Create(ctx, "entry", wrapper));
    llvm::Value *argList = wrapper->getArg(0);
    SmallVector<llvm::Value *> args;
    for (llvm::Argument &arg : f->args()) {
      llvm::Value *slot = builder.CreateConstGEP1_64(builder.getPtrTy(),
                                                     argList, arg.getArgNo());
      llvm::Value *address = builder.CreateLoad(builder.getPtrTy(), slot);
      args.push_back(builder.CreateLoad(arg.getType(), address));
    }
    llvm::Value *result = builder.CreateCall(f, args);
    if (!result->getType()->isVoidTy()) {
      llvm::Value *slot = builder.CreateConstGEP1_64(builder.getPtrTy(),
                                                     argList, f->arg_size());
      builder.CreateStore(result, builder.CreateLoad(builder.getPtrTy(), slot));
    }
    builder.CreateRetVoid();
  }
  return llvm::Error::success();
}

constexpr llvm::StringLiteral kInitName = "__tok_jit_run_ctors";
constexpr llvm::StringLiteral kDeinitName = "__tok_jit_run_dtors";

/// Replaces llvm.global_ctors / llvm.global_dtors (the GPU lowering loads
/// its kernels' binaries from a constructor) by two functions that call
/// them in their order, kInitName and kDeinitName, which Jit::create and
/// ~Jit call: an object file linked by RTDyld has no one to run its
/// .init_array, and a cached object must run them too.
void lowerGlobalCtors(llvm::Module &module) {
  for (auto [global, name, reverse] :
       {std::tuple{"llvm.global_ctors", kInitName, false},
        std::tuple{"llvm.global_dtors", kDeinitName, true}}) {
    llvm::GlobalVariable *list = module.getGlobalVariable(global);
    if (!list)
      continue;
    SmallVector<std::pair<uint64_t, llvm::Function *>> calls;
    if (auto *array =
            llvm::dyn_cast_or_null<llvm::ConstantArray>(list->getInitializer()))
      for (llvm::Value *element : array->operands()) {
        auto *entry = llvm::cast<llvm::ConstantStruct>(element);
        auto *fn = llvm::dyn_cast<llvm::Function>(
            entry->getOperand(1)->stripPointerCasts());
        if (!fn)
          continue;
        uint64_t priority =
            llvm::cast<llvm::ConstantInt>(entry->getOperand(0))->getZExtValue();
        calls.push_back({priority, fn});
      }
    // Constructors by ascending priority, destructors descending; equal
    // priorities in list order (as they would run on a target).
    llvm::stable_sort(calls, [&](auto &a, auto &b) {
      return reverse ? a.first > b.first : a.first < b.first;
    });
    list->eraseFromParent();
    llvm::IRBuilder<> builder(module.getContext());
    auto *runner = llvm::Function::Create(
        llvm::FunctionType::get(builder.getVoidTy(), /*isVarArg=*/false),
        llvm::GlobalValue::ExternalLinkage, name, module);
    builder.SetInsertPoint(
        llvm::BasicBlock::Create(module.getContext(), "entry", runner));
    for (auto &[priority, fn] : calls)
      builder.CreateCall(fn);
    builder.CreateRetVoid();
  }
}

/// Calls the function `name` of `jit` if the object defines it.
void runIfDefined(llvm::orc::LLJIT &jit, llvm::StringRef name) {
  auto symbol = jit.lookup(name);
  if (!symbol) {
    llvm::consumeError(symbol.takeError());
    return;
  }
  symbol->toPtr<void (*)()>()();
}

/// `module` printed with everything that decides its code: generic form,
/// every constant in full, no locations.
std::string printForKey(ModuleOp module) {
  std::string text;
  llvm::raw_string_ostream os(text);
  OpPrintingFlags flags;
  flags.printGenericOpForm()
      .enableDebugInfo(false)
      .skipRegions(false)
      .elideLargeElementsAttrs(std::numeric_limits<int64_t>::max())
      .elideLargeResourceString(std::numeric_limits<int64_t>::max());
  module->print(os, flags);
  return text;
}

double secondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
      .count();
}

} // namespace

llvm::Expected<std::unique_ptr<mlir::tok::Jit>>
mlir::tok::Jit::create(ModuleOp module, const JitOptions &options,
                       JitTimes *times) {
  JitTimes ignored;
  JitTimes &time = times ? *times : ignored;
  time = JitTimes();
  unsigned optLevel = options.optLevel;
  std::optional<llvm::CodeGenOptLevel> codeGenLevel =
      llvm::CodeGenOpt::getLevel(optLevel);
  if (!codeGenLevel)
    return llvm::createStringError("-O" + std::to_string(optLevel) +
                                   " is not in 0-3");
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

  // The cache key: the module before lowering and every option that
  // changes its code (JitCache.h).
  JitCache cache = JitCache::fromEnvironment();
  std::string key;
  if (cache.isEnabled()) {
    SmallVector<std::string> parts = {
        "lowering=" + options.lowering, "O" + std::to_string(optLevel),
        "cpu=" + builder->getCPU(),
        "features=" + builder->getFeatures().getString(),
        "triple=" + builder->getTargetTriple().str()};
    for (const std::string &entry : options.entries)
      parts.push_back("entry=" + entry);
    key = JitCache::makeKey(printForKey(module), parts);
  }

  std::unique_ptr<llvm::MemoryBuffer> object = cache.load(key);
  time.cached = object != nullptr;
  if (!object) {
    auto start = std::chrono::steady_clock::now();
    if (options.lowering != "none") {
      PassManager lower(module->getContext());
      if (failed(parsePassPipeline(options.lowering, lower, llvm::errs())))
        return llvm::createStringError("cannot parse the pipeline '" +
                                       options.lowering + "'");
      if (failed(lower.run(module)))
        return llvm::createStringError("lowering with '" + options.lowering +
                                       "' failed");
    }
    time.lowerSeconds = secondsSince(start);
    if (options.onLowered)
      options.onLowered(time.lowerSeconds);

    start = std::chrono::steady_clock::now();
    llvm::LLVMContext context;
    std::unique_ptr<llvm::Module> llvmModule =
        translateModuleToLLVMIR(module, context);
    if (!llvmModule)
      return llvm::createStringError("cannot translate the module to LLVM IR");
    llvmModule->setDataLayout((*machine)->createDataLayout());
    llvmModule->setTargetTriple((*machine)->getTargetTriple());
    lowerGlobalCtors(*llvmModule);
    if (llvm::Error err = addPackedWrappers(*llvmModule))
      return std::move(err);
    // With `entries`, every other function becomes internal first, so that
    // the optimizer sees all their call sites (IPSCCP folds the constant
    // strides and offsets of the memref descriptors a step receives, unused
    // functions go away), as tok-compile's libraries have it.
    if (!options.entries.empty()) {
      llvm::StringSet<> keep;
      for (const std::string &entry : options.entries)
        keep.insert("_mlir_" + entry);
      keep.insert(kInitName);
      keep.insert(kDeinitName);
      for (llvm::Function &f : *llvmModule)
        if (!f.isDeclaration() && !keep.contains(f.getName()))
          f.setLinkage(llvm::GlobalValue::InternalLinkage);
    }
    if (llvm::Error err = makeOptimizingTransformer(
            optLevel, /*sizeLevel=*/0, machine->get())(llvmModule.get()))
      return std::move(err);
    llvm::orc::SimpleCompiler compile(**machine);
    auto compiled = compile(*llvmModule);
    if (!compiled)
      return compiled.takeError();
    object = std::move(*compiled);
    time.codegenSeconds = secondsSince(start);
    cache.store(key, object->getBuffer());
  }

  // Link the object into this process.
  std::unique_ptr<Jit> result(new Jit());
  SmallVector<std::string> libs(options.sharedLibs.begin(),
                                options.sharedLibs.end());
  libs.push_back(TOK_MLIR_RUNNER_UTILS_DIR "/libmlir_c_runner_utils.so");
  libs.push_back(TOK_MLIR_RUNNER_UTILS_DIR "/libmlir_runner_utils.so");
  // The runtime of the parallel loops of tok-to-llvm (__kmpc_*).
  std::string parallelRuntime =
      runtimeLibraryPath("libtok_parallel_runtime.so");
  libs.push_back(parallelRuntime);
  // Profiling JIT code: TOK_JIT_PERF=1 registers it with perf (jit-PID.dump
  // for `perf inject --jit`, docs/development.md). Off otherwise: it wrote
  // half a megabyte under ~/.debug/jit on every run.
  const char *perf = std::getenv("TOK_JIT_PERF");
  llvm::JITEventListener *perfListener =
      perf && StringRef(perf) == "1"
          ? llvm::JITEventListener::createPerfJITEventListener()
          : nullptr;
  auto jit =
      llvm::orc::LLJITBuilder()
          .setJITTargetMachineBuilder(*builder)
          .setObjectLinkingLayerCreator(
              [perfListener](llvm::orc::ExecutionSession &session)
                  -> llvm::Expected<std::unique_ptr<llvm::orc::ObjectLayer>> {
                auto layer =
                    std::make_unique<llvm::orc::RTDyldObjectLinkingLayer>(
                        session, [](const llvm::MemoryBuffer &) {
                          return std::make_unique<llvm::SectionMemoryManager>();
                        });
                // gdb sees JIT code, as with MLIR's ExecutionEngine.
                layer->registerJITEventListener(
                    *llvm::JITEventListener::createGDBRegistrationListener());
                if (perfListener)
                  layer->registerJITEventListener(*perfListener);
                return layer;
              })
          .create();
  if (!jit)
    return jit.takeError();
  result->jit = std::move(*jit);
  llvm::orc::JITDylib &main = result->jit->getMainJITDylib();
  char prefix = result->jit->getDataLayout().getGlobalPrefix();

  // Host functions: definitions in the JITDylib win over the generators
  // below (puts and abort of the run-time checks are tok-run's).
  std::vector<std::pair<std::string, void *>> all(options.symbols.begin(),
                                                  options.symbols.end());
  all.emplace_back("puts", reinterpret_cast<void *>(&tokRunCheckMessage));
  all.emplace_back("abort", reinterpret_cast<void *>(&tokRunCheckAbort));
  // The heap of the generated code through the guard's hooks (runGuarded
  // frees what a run left early had allocated), where the runtime has it.
  {
    std::string error;
    auto runtime = llvm::sys::DynamicLibrary::getPermanentLibrary(
        parallelRuntime.c_str(), &error);
    if (!runtime.isValid())
      return llvm::createStringError("cannot load " + parallelRuntime + ": " +
                                     error);
    auto alloc = reinterpret_cast<AllocFn>(
        runtime.getAddressOfSymbol("_mlir_memref_to_llvm_alloc"));
    auto alignedAlloc = reinterpret_cast<AlignedAllocFn>(
        runtime.getAddressOfSymbol("_mlir_memref_to_llvm_aligned_alloc"));
    auto free = reinterpret_cast<FreeFn>(
        runtime.getAddressOfSymbol("_mlir_memref_to_llvm_free"));
    auto inRegion = reinterpret_cast<InRegionFn>(
        runtime.getAddressOfSymbol("tok_parallel_in_region"));
    if (alloc && alignedAlloc && free && inRegion) {
      runtimeAlloc.store(alloc);
      runtimeAlignedAlloc.store(alignedAlloc);
      runtimeFree.store(free);
      runtimeInRegion.store(inRegion, std::memory_order_release);
      all.emplace_back("_mlir_memref_to_llvm_alloc",
                       reinterpret_cast<void *>(&tokGuardAlloc));
      all.emplace_back("_mlir_memref_to_llvm_aligned_alloc",
                       reinterpret_cast<void *>(&tokGuardAlignedAlloc));
      all.emplace_back("_mlir_memref_to_llvm_free",
                       reinterpret_cast<void *>(&tokGuardFree));
    }
  }
  llvm::StringMap<void *> exported;
  for (const std::string &path : libs) {
    std::string error;
    auto lib =
        llvm::sys::DynamicLibrary::getPermanentLibrary(path.c_str(), &error);
    if (!lib.isValid())
      return llvm::createStringError("cannot load " + path + ": " + error);
    // Libraries written for MLIR's ExecutionEngine may hand over their
    // symbols through an init function (and want a destroy call).
    void *init = lib.getAddressOfSymbol("__mlir_execution_engine_init");
    void *destroy = lib.getAddressOfSymbol("__mlir_execution_engine_destroy");
    if (init && destroy) {
      reinterpret_cast<void (*)(llvm::StringMap<void *> &)>(init)(exported);
      result->destroyHooks.push_back(reinterpret_cast<void (*)()>(destroy));
      continue;
    }
    auto generator =
        llvm::orc::DynamicLibrarySearchGenerator::Load(path.c_str(), prefix);
    if (!generator)
      return generator.takeError();
    main.addGenerator(std::move(*generator));
  }
  for (auto &entry : exported)
    all.emplace_back(entry.getKey().str(), entry.getValue());
  auto process =
      llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(prefix);
  if (!process)
    return process.takeError();
  main.addGenerator(std::move(*process));
  llvm::orc::MangleAndInterner interner(result->jit->getExecutionSession(),
                                        result->jit->getDataLayout());
  llvm::orc::SymbolMap map;
  // The first definition of a name wins: the caller's, then tok-run's
  // puts / abort, then the libraries' exported ones.
  for (auto &[name, address] : all)
    map.try_emplace(interner(name), llvm::orc::ExecutorAddr::fromPtr(address),
                    llvm::JITSymbolFlags::Exported);
  if (llvm::Error err = main.define(llvm::orc::absoluteSymbols(map)))
    return std::move(err);

  if (llvm::Error err = result->jit->addObjectFile(std::move(object)))
    return std::move(err);
  if (llvm::Error err = result->jit->initialize(main))
    return std::move(err);
  runIfDefined(*result->jit, kInitName);
  return result;
}

mlir::tok::Jit::~Jit() {
  if (jit) {
    runIfDefined(*jit, kDeinitName);
    llvm::consumeError(jit->deinitialize(jit->getMainJITDylib()));
  }
  for (void (*destroy)() : destroyHooks)
    destroy();
}

llvm::Expected<void (*)(void **)>
mlir::tok::Jit::lookupPacked(llvm::StringRef name) {
  auto symbol = jit->lookup(("_mlir_" + name).str());
  if (!symbol)
    return symbol.takeError();
  return symbol->toPtr<void (*)(void **)>();
}

llvm::Error mlir::tok::Jit::invokePacked(llvm::StringRef name,
                                         llvm::MutableArrayRef<void *> args) {
  auto function = lookupPacked(name);
  if (!function)
    return function.takeError();
  (*function)(args.data());
  return llvm::Error::success();
}

llvm::Error mlir::tok::CudaRuntime::load() {
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

std::string mlir::tok::CudaRuntime::chip() const {
  return "sm_" + std::to_string(computeCapability ? computeCapability() : 80);
}

std::string mlir::tok::CudaRuntime::ptxFeatures() const {
  // The PTX ISA version each architecture needs (sm_100: 8.6, sm_120: 8.7).
  int cc = computeCapability ? computeCapability() : 80;
  if (cc >= 120)
    return "+ptx87";
  if (cc >= 100)
    return "+ptx86";
  return "+ptx80";
}

const char *mlir::tok::CudaRuntime::lastError() const {
  return getLastError ? getLastError() : nullptr;
}
