//===- Encoder.cpp - an encoder compiled for sentence embeddings ----------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#include "tok/Driver/Encoder.h"

#include "Pipeline.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "tok/Execution/JitCall.h"

#include "llvm/Support/raw_ostream.h"

#include <chrono>

using namespace mlir;
using namespace mlir::tok;

static llvm::Error makeError(const llvm::Twine &message) {
  return makeDriverError(message);
}

Encoder::~Encoder() = default;

llvm::Expected<std::unique_ptr<Encoder>>
Encoder::create(MLIRContext &context, const BertModel &model,
                const EmbedSettings &settings) {
  auto start = std::chrono::steady_clock::now();
  const BertConfig &config = model.getConfig();
  if (settings.costTokens <= 0)
    return makeError("the cost's token count must be positive");
  std::unique_ptr<Encoder> e(new Encoder());
  e->model = &model;
  BertModuleOptions options;
  options.normalize = settings.normalize;
  OwningOpRef<ModuleOp> module = buildBertModule(&context, config, options);
  auto embedFn = module->lookupSymbol<func::FuncOp>("embed");
  FunctionType fnType = embedFn.getFunctionType();
  e->report.asImported = computeFunctionCost(
      module->lookupSymbol<func::FuncOp>("encode"), settings.costTokens);
  if (llvm::Error err = applyUserPipeline(*module, settings.pipeline))
    return std::move(err);
  embedFn = module->lookupSymbol<func::FuncOp>("embed");
  auto encodeFn = module->lookupSymbol<func::FuncOp>("encode");
  if (!embedFn || !encodeFn || embedFn.getFunctionType() != fnType)
    return makeError(
        "--pipeline must keep @encode and the signature of @embed");
  JitOptions jitOptions;
  SmallVector<std::string> libs;
  if (settings.cuda) {
    e->cuda = std::make_unique<CudaRuntime>();
    if (llvm::Error err = e->cuda->load())
      return makeError("--device-cuda: " + llvm::toString(std::move(err)));
    jitOptions.lowering = "tok-to-nvvm{chip=" + e->cuda->chip() +
                          " features=" + e->cuda->ptxFeatures() + "}";
    libs.push_back(e->cuda->path());
  }
  jitOptions.sharedLibs = libs;
  auto compiled = compileEntry(*module, "embed", jitOptions, &e->report.jit);
  if (!compiled)
    return compiled.takeError();
  e->jit = std::move(compiled->jit);
  e->entry = compiled->entry;
  e->entryType = fnType;
  e->report.compileSeconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  return e;
}

llvm::Expected<std::vector<float>> Encoder::embed(llvm::ArrayRef<int32_t> ids) {
  const BertConfig &config = model->getConfig();
  if (llvm::Error err =
          checkTokenIds(ids, "input", config.maxPositions,
                        "the model's positions are", config.vocab))
    return std::move(err);
  SmallVector<NpyArray> args;
  args.push_back(NpyArray::view(
      NpyDType::I32, {static_cast<int64_t>(ids.size())}, ids.data()));
  for (auto [i, w] : llvm::enumerate(getBertWeights(config)))
    args.push_back(
        NpyArray::view(NpyDType::F32, w.shape, model->getWeights()[i]));
  SmallVector<NpyArray> results;
  {
    JitCall call(entryType, args);
    void **packed = call.getPackedArguments().data();
    GuardedRun run = runGuarded([&] { entry(packed); });
    if (run.outcome != GuardedRun::Completed)
      return makeError("run-time check failed: " + run.message);
    if (cuda)
      if (const char *error = cuda->lastError())
        return makeError(llvm::Twine("CUDA: ") + error);
    results = call.takeResults();
  }
  const auto *v = static_cast<const float *>(results.front().data());
  return std::vector<float>(v, v + results.front().getNumElements());
}
