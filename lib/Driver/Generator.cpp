//===- Generator.cpp - a decoder compiled for generation ------------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#include "tok/Driver/Generator.h"

#include "Pipeline.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassInstrumentation.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "tok/Dialect/Tok/IR/TokLimits.h"
#include "tok/Dialect/Tok/IR/TokOps.h"
#include "tok/Execution/JitCall.h"
#include "tok/Frontend/GgmlBlocks.h"
#include "tok/Frontend/Gguf.h"

#include "llvm/Support/raw_ostream.h"

#include <chrono>
#include <limits>

using namespace mlir;
using namespace mlir::tok;

namespace {

using Clock = std::chrono::steady_clock;

double secondsBetween(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

llvm::Error makeError(const llvm::Twine &message) {
  return makeDriverError(message);
}

/// The state of one generate() call, which the compiled code's callbacks
/// reach through a thread-local pointer: the callbacks run on the thread
/// that called the entry (the generation loop is sequential code), so
/// generations on different threads never see each other's state.
struct Stream {
  llvm::function_ref<void(int32_t, int64_t)> onToken;
  /// generateWhile's callback: false stops the generation.
  llvm::function_ref<bool(int32_t, int64_t)> keepGoing;
  GenerateResult *result;
  Clock::time_point first, last;
};
thread_local Stream *activeStream = nullptr;

extern "C" void tokDriverOnToken(int32_t token, int64_t index) {
  Stream &s = *activeStream;
  Clock::time_point now = Clock::now();
  if (index == 0)
    s.first = now;
  s.last = now;
  s.result->tokens.push_back(token);
  if (s.onToken)
    s.onToken(token, index);
  // Nothing here has a destructor: stopGuardedRun jumps over this frame.
  if (s.keepGoing && !s.keepGoing(token, index)) {
    s.result->stopped = true;
    stopGuardedRun();
  }
}

extern "C" void tokDriverOnRound(int64_t drafted, int64_t accepted) {
  GenerateResult &r = *activeStream->result;
  ++r.rounds;
  r.drafted += drafted;
  r.accepted += accepted;
}

/// Records the cost of @step after every pass of the pipeline that runs
/// on the module (what each pass changed).
class CostAfterEachPass : public PassInstrumentation {
public:
  explicit CostAfterEachPass(
      std::vector<std::pair<std::string, FunctionCost>> &costs)
      : costs(costs) {}
  void runAfterPass(Pass *pass, Operation *op) override {
    auto module = dyn_cast<ModuleOp>(op);
    if (!module)
      return;
    if (auto step = module.lookupSymbol<func::FuncOp>("step"))
      costs.emplace_back(pass->getArgument().str(),
                         computeFunctionCost(step, 1));
  }

private:
  std::vector<std::pair<std::string, FunctionCost>> &costs;
};

/// Whether the cache `value` is the result of a tok.kv.evict, directly or
/// returned by the function a call (a layer's) calls.
bool comesFromEviction(Value value) {
  for (int depth = 0; depth < 8; ++depth) {
    if (value.getDefiningOp<KVEvictOp>())
      return true;
    auto call = value.getDefiningOp<func::CallOp>();
    if (!call)
      return false;
    auto callee = SymbolTable::lookupNearestSymbolFrom<func::FuncOp>(
        call, call.getCalleeAttr());
    if (!callee || callee.isExternal())
      return false;
    Operation *ret = callee.getBody().back().getTerminator();
    value = ret->getOperand(cast<OpResult>(value).getResultNumber());
  }
  return false;
}

/// The smallest capacity of a cache that @generate's step does not evict
/// from (such a cache must hold the whole sequence); max() if all evict.
int64_t smallestUnevictedCache(ModuleOp module, func::FuncOp generateFn,
                               int64_t minSlots) {
  int64_t smallest = std::numeric_limits<int64_t>::max();
  bool evicts = false;
  module->walk([&](KVEvictOp) { evicts = true; });
  bool sawGenerate = false;
  generateFn.walk([&](GenerateOp gen) {
    sawGenerate = true;
    auto step = module.lookupSymbol<func::FuncOp>(gen.getStepAttr());
    if (!step || step.isExternal())
      return;
    Operation *ret = step.getBody().back().getTerminator();
    for (auto [i, cache] : llvm::enumerate(gen.getCaches()))
      if (!comesFromEviction(ret->getOperand(1 + i)))
        smallest = std::min(smallest,
                            cast<KVCacheType>(cache.getType()).getCapacity());
  });
  // Without a tok.generate (rewritten, e.g. by speculative decoding) every
  // cache counts as unevicted unless the module evicts at all.
  if (!sawGenerate && !evicts)
    smallest = minSlots;
  return smallest;
}

} // namespace

Generator::~Generator() = default;

/// The KV caches are allocated whole when generation starts: a capacity
/// whose caches cannot fit in this machine's memory is refused here, with
/// the arithmetic, instead of failing inside the allocation (or, for sizes
/// past 2^63 bytes, overflowing it).
static llvm::Error checkCacheMemory(const LlamaConfig &config, int64_t capacity,
                                    const LlamaModel *draftModel) {
  if (capacity > kMaxCacheSlots)
    return makeError("a cache capacity of " + llvm::Twine(capacity) +
                     " slots exceeds tok's limit of " +
                     llvm::Twine(kMaxCacheSlots));
  // K and V (f32) and the slot's position, per layer and KV head; the
  // config's limits keep each factor small enough not to overflow.
  auto slotBytes = [](const LlamaConfig &c) {
    return static_cast<uint64_t>(c.layers) * c.kvHeads *
           (2 * static_cast<uint64_t>(c.headDim) * 4 + 4);
  };
  uint64_t perSlot = slotBytes(config);
  if (draftModel)
    perSlot += slotBytes(draftModel->getConfig());
  uint64_t bytes = perSlot * static_cast<uint64_t>(capacity);
  if (std::optional<uint64_t> memoryBytes = getPhysicalMemoryBytes()) {
    uint64_t memory = *memoryBytes;
    if (bytes > memory)
      return makeError(
          "a cache of " + llvm::Twine(capacity) + " slots needs " +
          llvm::Twine(bytes >> 20) + " MiB (" + llvm::Twine(perSlot) +
          " bytes per slot over the layers and KV heads), more than this "
          "machine's " +
          llvm::Twine(memory >> 20) + " MiB of memory; lower --cache-capacity");
  }
  return llvm::Error::success();
}

llvm::Expected<std::unique_ptr<Generator>>
Generator::create(MLIRContext &context, const LlamaModel &model,
                  const GenerateSettings &settings, int64_t maxPromptTokens) {
  Clock::time_point t0 = Clock::now();
  const LlamaConfig &config = model.getConfig();
  if (settings.maxNewTokens <= 0)
    return makeError("the number of new tokens must be positive, got " +
                     llvm::Twine(settings.maxNewTokens));
  if (maxPromptTokens <= 0)
    return makeError("the longest prompt must be positive, got " +
                     llvm::Twine(maxPromptTokens));
  if (settings.cacheCapacity < 0 || settings.prefillChunk < 0)
    return makeError("the cache capacity and the prefill chunk must not be "
                     "negative");
  if (settings.optLevel > 3)
    return makeError("the optimization level must be 0 to 3");
  for (int64_t id : settings.eos)
    if (id < 0 || id >= config.vocab)
      return makeError("--eos " + llvm::Twine(id) +
                       " is outside the vocabulary of " +
                       llvm::Twine(config.vocab));
  int64_t maxNew = settings.maxNewTokens;
  if (maxPromptTokens > std::numeric_limits<int32_t>::max() - maxNew)
    return makeError("the prompt and the new tokens exceed 2^31 positions");

  LlamaModuleOptions options;
  options.interleavedRope = model.hasInterleavedRope();
  options.weightElementTypes.assign(model.getWeightTypes().begin(),
                                    model.getWeightTypes().end());
  options.cacheCapacity = settings.cacheCapacity ? settings.cacheCapacity
                                                 : maxPromptTokens + maxNew;
  options.positions = maxPromptTokens + maxNew;
  if (llvm::Error err =
          checkCacheMemory(config, options.cacheCapacity, settings.draftModel))
    return std::move(err);
  LlamaGenerateOptions gen;
  gen.maxNewTokens = maxNew;
  gen.stream = true;
  gen.prefillChunk = settings.prefillChunk;
  gen.sampler = settings.sampler;
  gen.eos = settings.eos;
  options.generate = gen;
  options.stepEntries = false;
  options.draftSkip = settings.draftSkip;
  if (std::string problem = checkDraftSkip(config, options.draftSkip);
      !problem.empty())
    return makeError("--draft-skip: " + problem);
  if (const LlamaModel *dm = settings.draftModel) {
    if (!options.draftSkip.empty())
      return makeError("--draft-model and --draft-skip are exclusive: one "
                       "draft at a time");
    LlamaDraftModel draft;
    draft.config = dm->getConfig();
    draft.interleavedRope = dm->hasInterleavedRope();
    draft.weightElementTypes.assign(dm->getWeightTypes().begin(),
                                    dm->getWeightTypes().end());
    if (std::string problem = checkDraftModel(config, draft.config);
        !problem.empty())
      return makeError("--draft-model: " + problem);
    options.draftModel = std::move(draft);
  }

  std::unique_ptr<Generator> g(new Generator());
  g->model = &model;
  g->draftModel = settings.draftModel;
  g->maxPromptTokens = maxPromptTokens;
  GeneratorReport &report = g->report;
  report.layers = config.layers;
  OwningOpRef<ModuleOp> module = buildLlamaModule(&context, config, options);
  auto generateFn = module->lookupSymbol<func::FuncOp>("generate");
  FunctionType fnType = generateFn.getFunctionType();
  report.asImported =
      computeFunctionCost(module->lookupSymbol<func::FuncOp>("step"), 1);
  Clock::time_point t1 = Clock::now();

  // The user's passes.
  if (llvm::Error err = applyUserPipeline(
          *module, settings.pipeline,
          std::make_unique<CostAfterEachPass>(report.afterEachPass)))
    return std::move(err);
  auto stepFn = module->lookupSymbol<func::FuncOp>("step");
  generateFn = module->lookupSymbol<func::FuncOp>("generate");
  // The signature of @generate stays, except that weights may have become
  // block-quantized (tok-quantize-weights): those are quantized here, once.
  FunctionType newType = generateFn ? generateFn.getFunctionType() : fnType;
  bool sameShape = stepFn && generateFn &&
                   newType.getNumInputs() == fnType.getNumInputs() &&
                   newType.getResults() == fnType.getResults();
  for (unsigned i = 0; sameShape && i < fnType.getNumInputs(); ++i) {
    Type was = fnType.getInput(i), now = newType.getInput(i);
    if (was == now)
      continue;
    auto wasTensor = dyn_cast<RankedTensorType>(was);
    WeightQuantAttr quant = getWeightQuant(now);
    if (i == 0 || !wasTensor || getWeightQuant(was) || !quant ||
        cast<RankedTensorType>(now).getShape() != wasTensor.getShape()) {
      sameShape = false;
      break;
    }
    g->quantizeArgs.push_back(
        {i, stringifyWeightScheme(quant.getScheme()).str()});
  }
  if (!sameShape)
    return makeError("--pipeline must keep @step and the signature of "
                     "@generate (weights may only become #tok.quant)");
  if (llvm::Error err = g->quantizeWeights())
    return std::move(err);
  // Every cache is allocated once at its capacity: the peak KV bytes are
  // those of the caches @generate creates (the cost model's kv-bytes).
  report.kvBytes = computeFunctionCost(generateFn, 1).kvBytes;
  report.minSlots = std::numeric_limits<int64_t>::max();
  generateFn.walk([&](KVEmptyOp empty) {
    report.minSlots = std::min(report.minSlots, empty.getType().getCapacity());
    report.maxSlots = std::max(report.maxSlots, empty.getType().getCapacity());
  });
  int64_t smallest =
      smallestUnevictedCache(*module, generateFn, report.minSlots);
  if (smallest < maxPromptTokens + maxNew)
    return makeError("a cache of " + llvm::Twine(smallest) +
                     " slots cannot hold the prompt (" +
                     llvm::Twine(maxPromptTokens) + " tokens) and " +
                     llvm::Twine(maxNew) +
                     " new tokens; raise --cache-capacity or evict "
                     "(--pipeline tok-kv-evict...)");
  Clock::time_point t2 = Clock::now();
  report.buildSeconds = secondsBetween(t0, t1);
  report.passSeconds = secondsBetween(t1, t2);

  // Lowering and machine code.
  JitOptions jitOptions;
  jitOptions.optLevel = settings.optLevel;
  std::pair<std::string, void *> callbacks[] = {
      {"tok_on_token", reinterpret_cast<void *>(&tokDriverOnToken)},
      {"tok_on_round", reinterpret_cast<void *>(&tokDriverOnRound)}};
  jitOptions.symbols = callbacks;
  jitOptions.onLowered = settings.onLowered;
  auto compiled = compileEntry(*module, "generate", jitOptions, &report.jit);
  if (!compiled)
    return compiled.takeError();
  report.compileSeconds = secondsBetween(t2, Clock::now());
  g->jit = std::move(compiled->jit);
  g->entry = compiled->entry;
  g->entryType = newType;
  return g;
}

llvm::Error Generator::quantizeWeights() {
  // Argument 1 + i is weight i of the target, then the draft's.
  std::vector<LlamaWeight> shapes = getLlamaWeights(model->getConfig());
  for (auto &[arg, scheme] : quantizeArgs) {
    size_t index = arg - 1;
    if (index >= shapes.size())
      return makeError("tok-quantize-weights: the draft model's weights are "
                       "not quantized by the driver");
    llvm::ArrayRef<int64_t> shape = shapes[index].shape;
    bool perChannel = scheme == "i8_channel";
    std::optional<GgmlType> type = parseGgmlTypeName(scheme);
    if (!perChannel &&
        (!type || (*type != GgmlType::Q8_0 && *type != GgmlType::Q4_0 &&
                   *type != GgmlType::Q4_K && *type != GgmlType::Q6_K)))
      return makeError("tok-quantize-weights: the driver quantizes to q8_0, "
                       "q4_0, q4_k, q6_k and i8_channel, not " +
                       scheme);
    int64_t rows = shape.front(), k = shape.back();
    int64_t rowBytes =
        perChannel ? k + 4
                   : k / getGgmlBlockSize(*type) * getGgmlBlockBytes(*type);
    std::vector<float> values = model->readWeightAsF32(index);
    std::vector<char> bytes(rows * rowBytes);
    for (int64_t r = 0; r < rows; ++r) {
      if (perChannel)
        quantizeChannelInt8Row(values.data() + r * k, k,
                               bytes.data() + r * rowBytes);
      else
        quantizeGgmlRow(*type, values.data() + r * k, k,
                        bytes.data() + r * rowBytes);
    }
    report.quantizedBytes += rows * rowBytes;
    quantized.emplace_back(index, std::move(bytes));
  }
  return llvm::Error::success();
}

llvm::Expected<GenerateResult>
Generator::generate(llvm::ArrayRef<int32_t> prompt,
                    llvm::function_ref<void(int32_t, int64_t)> onToken) {
  return run(prompt, onToken, {});
}

llvm::Expected<GenerateResult>
Generator::generateWhile(llvm::ArrayRef<int32_t> prompt,
                         llvm::function_ref<bool(int32_t, int64_t)> onToken) {
  return run(prompt, {}, onToken);
}

llvm::Expected<GenerateResult>
Generator::run(llvm::ArrayRef<int32_t> prompt,
               llvm::function_ref<void(int32_t, int64_t)> onToken,
               llvm::function_ref<bool(int32_t, int64_t)> keepGoing) {
  const LlamaConfig &config = model->getConfig();
  if (llvm::Error err = checkTokenIds(prompt, "prompt", maxPromptTokens,
                                      "this generator was compiled for at most",
                                      config.vocab))
    return std::move(err);

  // Arguments: the prompt, then every weight in place (bf16 travels as a
  // 2-byte type: only the element size matters here).
  SmallVector<NpyArray> args;
  args.push_back(NpyArray::view(
      NpyDType::I32, {static_cast<int64_t>(prompt.size())}, prompt.data()));
  auto bindWeights = [&](const LlamaModel &m) {
    for (auto [i, w] : llvm::enumerate(getLlamaWeights(m.getConfig())))
      args.push_back(
          bindWeight(m.getWeightTypes()[i], w.shape, m.getWeights()[i]));
  };
  bindWeights(*model);
  if (draftModel)
    bindWeights(*draftModel);
  // Weights the pipeline made #tok.quant, quantized at creation.
  for (auto &[index, bytes] : quantized) {
    NpyArray &a = args[1 + index];
    int64_t rows = a.shape.front();
    a = NpyArray::view(NpyDType::U8,
                       {rows, static_cast<int64_t>(bytes.size()) / rows},
                       bytes.data());
  }

  GenerateResult result;
  Stream stream{onToken, keepGoing, &result, {}, {}};
  Stream *outer = activeStream;
  activeStream = &stream;
  SmallVector<NpyArray> results;
  Clock::time_point start = Clock::now();
  GuardedRun guarded;
  {
    JitCall call(entryType, args);
    void **packed = call.getPackedArguments().data();
    guarded = runGuarded([&] { entry(packed); });
    if (guarded.outcome == GuardedRun::Completed)
      results = call.takeResults();
  }
  Clock::time_point end = Clock::now();
  activeStream = outer;
  if (guarded.outcome == GuardedRun::CheckFailed)
    return makeError("run-time check failed: " + guarded.message);
  // The returned tokens must be the streamed ones.
  if (guarded.outcome == GuardedRun::Completed) {
    const NpyArray &out = results.front();
    auto *ids = static_cast<const int32_t *>(out.data());
    if (std::vector<int32_t>(ids, ids + out.getNumElements()) != result.tokens)
      return makeError("internal error: the returned tokens differ from the "
                       "streamed ones");
  }
  if (!result.tokens.empty()) {
    result.prefillSeconds = secondsBetween(start, stream.first);
    result.decodeSeconds = secondsBetween(stream.first, stream.last);
  }
  result.totalSeconds = secondsBetween(start, end);
  return result;
}
