//===- tok-import.cpp - model on disk -> tok module -----------------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// Reads a model (a GGUF file, a llama2.c checkpoint, a Hugging Face
// directory or its config.json, or the built-in model), emits the tok module of
// its decoder, verifies it and prints it. Weights stay in their files: the
// module names them as arguments (`tok.weight`). The checkpoint is opened and
// every weight checked against the shape even though only the shape is used, so
// a bad file fails here. --export-hf writes the weights in Hugging Face
// layout (how tests and other tools read the built-in model).
//
//===----------------------------------------------------------------------===//

#include "tok/Frontend/BertModel.h"
#include "tok/Frontend/LlamaConfig.h"
#include "tok/Frontend/LlamaModel.h"
#include "tok/Frontend/LlamaModule.h"
#include "tok/InitAllTok.h"
#include "tok/Support/OutputFile.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Support/FileUtilities.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

using namespace mlir;
namespace cl = llvm::cl;

static cl::OptionCategory importCategory("tok-import options");
static cl::opt<std::string>
    inputPath(cl::Positional, cl::Required,
              cl::desc("<model: GGUF file, llama2.c .bin, Hugging Face "
                       "directory or "
                       "config.json>"),
              cl::cat(importCategory));
static cl::opt<std::string> outputPath("o",
                                       cl::desc("Output file (default: "
                                                "stdout)"),
                                       cl::value_desc("file"), cl::init("-"),
                                       cl::cat(importCategory));
static cl::opt<int64_t> cacheCapacity(
    "cache-capacity",
    cl::desc("KV-cache slots per layer (default: the model's maximum "
             "positions)"),
    cl::init(0), cl::cat(importCategory));

static cl::opt<std::string> exportDir(
    "export-hf",
    cl::desc("Also write the model's weights in Hugging Face layout "
             "(config.json, float32 model.safetensors) into this directory, "
             "e.g. to read the built-in model elsewhere"),
    cl::value_desc("dir"), cl::init(""), cl::cat(importCategory));

static cl::opt<bool> f32Weights(
    "f32-weights",
    cl::desc("Declare every weight float32, whatever the checkpoint stores "
             "(for runners that bind widened copies, e.g. tok-run with .npy "
             "inputs); by default f16/bf16 weights keep their type"),
    cl::init(false), cl::cat(importCategory));

static cl::opt<bool> emitTeacher(
    "teacher",
    cl::desc("Also emit @teacher(ids, weights...): the logits after each "
             "token fed one step at a time through the caches"),
    cl::init(false), cl::cat(importCategory));

static cl::opt<int64_t> generateTokens(
    "generate",
    cl::desc("Emit @generate(prompt, weights...) for this many new tokens "
             "(greedy, no end-of-sequence token) instead of @forward and "
             "@continue: the module tok-run generate compiles"),
    cl::value_desc("n"), cl::init(0), cl::cat(importCategory));

static cl::opt<int64_t> batchPages(
    "batch-pages",
    cl::desc("Also emit @batch_step: many sequences' tokens per step over "
             "paged KV memory of this many pages per layer (docs/serving.md)"),
    cl::value_desc("n"), cl::init(0), cl::cat(importCategory));

static cl::opt<int64_t>
    pageSize("page-size",
             cl::desc("Token slots per page of @batch_step (default 16)"),
             cl::value_desc("n"), cl::init(16), cl::cat(importCategory));

static cl::list<int64_t> draftSkip(
    "draft-skip",
    cl::desc("Also emit @draft_step: @step without these layers (comma "
             "separated), the draft of layer-skip self-speculation "
             "(tok-speculative-decoding{drafter=layer_skip})"),
    cl::CommaSeparated, cl::cat(importCategory));

static cl::opt<std::string> draftModelPath(
    "draft-model",
    cl::desc("Also emit @draft_step: the step function of this separate "
             "draft model (builtin, a llama2.c .bin or a Hugging Face "
             "directory with the target's vocabulary), its weights named "
             "draft.<name> (tok-speculative-decoding{drafter=model})"),
    cl::value_desc("model"), cl::cat(importCategory));

static int fail(const llvm::Twine &message) {
  llvm::errs() << "tok-import: " << message << "\n";
  return 1;
}

static int
printModule(llvm::function_ref<OwningOpRef<ModuleOp>(MLIRContext *)> build) {
  DialectRegistry registry;
  registry.insert<arith::ArithDialect, func::FuncDialect, linalg::LinalgDialect,
                  scf::SCFDialect, math::MathDialect, tensor::TensorDialect>();
  tok::registerAllTokDialects(registry);
  MLIRContext context(registry);
  OwningOpRef<ModuleOp> module = build(&context);
  if (!module || failed(verify(*module)))
    return fail("internal error: the emitted module does not verify");
  // Never over an input (the model, a draft model), and atomically.
  if (llvm::Error err = tok::writeOutputFile(
          outputPath, {inputPath, draftModelPath}, [&](llvm::raw_ostream &os) {
            module->print(os);
            return llvm::Error::success();
          }))
    return fail(llvm::toString(std::move(err)));
  return 0;
}

/// A BERT-family encoder: @encode and @embed (see BertModel.h). With
/// weights beside the config, every tensor is checked against it.
static int importBert(llvm::StringRef input) {
  if (!exportDir.empty())
    return fail("--export-hf applies to decoders only");
  tok::BertConfig config;
  llvm::SmallString<256> configPath(input);
  if (llvm::sys::fs::is_directory(input))
    llvm::sys::path::append(configPath, "config.json");
  llvm::SmallString<256> dir = llvm::sys::path::parent_path(configPath);
  llvm::SmallString<256> single(dir), index(dir);
  llvm::sys::path::append(single, "model.safetensors");
  llvm::sys::path::append(index, "model.safetensors.index.json");
  if (llvm::sys::fs::exists(single) || llvm::sys::fs::exists(index)) {
    auto opened = tok::BertModel::open(input, "", /*withTokenizer=*/false);
    if (!opened)
      return fail(llvm::toString(opened.takeError()));
    config = (*opened)->getConfig();
  } else {
    auto buffer = llvm::MemoryBuffer::getFile(configPath);
    if (!buffer)
      return fail(configPath + ": cannot read");
    auto parsed = tok::parseBertConfig((*buffer)->getBuffer(), configPath);
    if (!parsed)
      return fail(llvm::toString(parsed.takeError()));
    config = *parsed;
  }
  return printModule([&](MLIRContext *context) {
    return tok::buildBertModule(context, config, {});
  });
}

int main(int argc, char **argv) {
  llvm::InitLLVM y(argc, argv);
  cl::HideUnrelatedOptions(importCategory);
  cl::ParseCommandLineOptions(
      argc, argv,
      "tok-import: emit the tok module of a Llama-family decoder or a "
      "BERT-family encoder\n\n"
      "  tok-import builtin              the built-in seeded model\n"
      "  tok-import model.bin            llama2.c checkpoint (interleaved "
      "RoPE)\n"
      "  tok-import hf_dir/              config.json (+ safetensors) of a "
      "Llama,\n"
      "                                  Mistral or Qwen2 model (half-split "
      "RoPE),\n"
      "                                  or of a BERT encoder (@encode, "
      "@embed)\n");

  tok::LlamaConfig config;
  tok::LlamaModuleOptions options;
  llvm::StringRef input = inputPath;
  if (input != "builtin" && !llvm::sys::fs::exists(input))
    return fail(input + ": no such file or directory");
  if (input != "builtin" && tok::isBertModelPath(input))
    return importBert(input);
  // A Hugging Face config.json alone gives the shape; with weights (or a
  // llama2.c checkpoint, or the built-in model) the whole model is opened
  // and every tensor checked against the shape.
  llvm::SmallString<256> configPath(input);
  if (llvm::sys::fs::is_directory(input))
    llvm::sys::path::append(configPath, "config.json");
  llvm::SmallString<256> dir = llvm::sys::path::parent_path(configPath);
  llvm::SmallString<256> single(dir), index(dir);
  llvm::sys::path::append(single, "model.safetensors");
  llvm::sys::path::append(index, "model.safetensors.index.json");
  bool configOnly =
      input != "builtin" &&
      (llvm::sys::fs::is_directory(input) || input.ends_with(".json")) &&
      !llvm::sys::fs::exists(single) && !llvm::sys::fs::exists(index);
  std::unique_ptr<tok::LlamaModel> model;
  if (configOnly) {
    auto parsed = tok::readLlamaConfig(configPath);
    if (!parsed)
      return fail(llvm::toString(parsed.takeError()));
    config = *parsed;
    if (!exportDir.empty())
      return fail(input + ": no weights to export");
  } else {
    auto opened = tok::LlamaModel::open(input, "",
                                        tok::LlamaModel::TokenizerPolicy::Skip);
    if (!opened)
      return fail(llvm::toString(opened.takeError()));
    model = std::move(*opened);
    config = model->getConfig();
    options.interleavedRope = model->hasInterleavedRope();
    if (!f32Weights)
      options.weightElementTypes.assign(model->getWeightTypes().begin(),
                                        model->getWeightTypes().end());
  }
  if (cacheCapacity < 0)
    return fail("--cache-capacity must be positive");
  options.cacheCapacity = cacheCapacity ? cacheCapacity : config.maxPositions;
  options.teacher = emitTeacher;
  if (batchPages < 0 || pageSize <= 0)
    return fail("--batch-pages must not be negative and --page-size must be "
                "positive");
  if (batchPages > 0) {
    if (pageSize > (int64_t{1} << 24) / batchPages)
      return fail("--batch-pages x --page-size exceeds tok's 2^24 slots");
    options.batch = tok::LlamaBatchOptions{batchPages, pageSize};
  }
  if (generateTokens < 0)
    return fail("--generate must be positive");
  if (generateTokens > 0) {
    tok::LlamaGenerateOptions gen;
    gen.maxNewTokens = generateTokens;
    options.generate = gen;
    options.stepEntries = false;
  }
  if (draftSkip.getNumOccurrences()) {
    options.draftSkip.assign(draftSkip.begin(), draftSkip.end());
    if (std::string problem = tok::checkDraftSkip(config, options.draftSkip);
        !problem.empty())
      return fail("--draft-skip: " + problem);
  }
  if (!draftModelPath.empty()) {
    if (!options.draftSkip.empty())
      return fail("--draft-model and --draft-skip are exclusive: one draft "
                  "per module");
    auto opened = tok::LlamaModel::open(draftModelPath, "",
                                        tok::LlamaModel::TokenizerPolicy::Skip);
    if (!opened)
      return fail("--draft-model: " + llvm::toString(opened.takeError()));
    tok::LlamaDraftModel draft;
    draft.config = (*opened)->getConfig();
    draft.interleavedRope = (*opened)->hasInterleavedRope();
    if (!f32Weights)
      draft.weightElementTypes.assign((*opened)->getWeightTypes().begin(),
                                      (*opened)->getWeightTypes().end());
    if (std::string problem = tok::checkDraftModel(config, draft.config);
        !problem.empty())
      return fail("--draft-model: " + problem);
    options.draftModel = std::move(draft);
  }

  if (!exportDir.empty()) {
    if (options.interleavedRope)
      return fail("--export-hf: a llama2.c checkpoint rotates interleaved "
                  "pairs, which the Hugging Face layout cannot express; "
                  "export its Hugging Face copy instead");
    // The export writes config.json and model.safetensors: never into the
    // directory the model came from.
    llvm::StringRef inputDir = llvm::sys::fs::is_directory(input)
                                   ? input
                                   : llvm::sys::path::parent_path(input);
    if (llvm::sys::fs::exists(input) &&
        llvm::sys::fs::equivalent(exportDir, inputDir.empty() ? "." : inputDir))
      return fail("--export-hf '" + exportDir +
                  "' is the model's own directory; tok never writes over an "
                  "input");
    if (llvm::Error err = model->exportHuggingFace(exportDir))
      return fail(llvm::toString(std::move(err)));
  }
  return printModule([&](MLIRContext *context) {
    return tok::buildLlamaModule(context, config, options);
  });
}
