//===- tok-import.cpp - model on disk -> tok module -----------------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// Reads a model's shape (a llama2.c checkpoint, or a Hugging Face directory
// or its config.json), emits the tok module of its decoder, verifies it and
// prints it. Weights stay in their files: the module names them as
// arguments (`tok.weight`). The checkpoint is read in full and validated
// even though only its shape is used, so a bad file fails here.
//
//===----------------------------------------------------------------------===//

#include "tok/Frontend/Llama2c.h"
#include "tok/Frontend/LlamaConfig.h"
#include "tok/Frontend/LlamaModule.h"
#include "tok/Frontend/Safetensors.h"
#include "tok/InitAllTok.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Support/FileUtilities.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/ToolOutputFile.h"

using namespace mlir;
namespace cl = llvm::cl;

static cl::OptionCategory importCategory("tok-import options");
static cl::opt<std::string>
    inputPath(cl::Positional, cl::Required,
              cl::desc("<model: llama2.c .bin, Hugging Face directory or "
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

static int fail(const llvm::Twine &message) {
  llvm::errs() << "tok-import: " << message << "\n";
  return 1;
}

int main(int argc, char **argv) {
  llvm::InitLLVM y(argc, argv);
  cl::HideUnrelatedOptions(importCategory);
  cl::ParseCommandLineOptions(
      argc, argv,
      "tok-import: emit the tok module of a Llama-family decoder\n\n"
      "  tok-import model.bin            llama2.c checkpoint (interleaved "
      "RoPE)\n"
      "  tok-import hf_dir/              config.json (+ safetensors) of a "
      "Llama,\n"
      "                                  Mistral or Qwen2 model (half-split "
      "RoPE)\n");

  tok::LlamaConfig config;
  tok::LlamaModuleOptions options;
  if (!llvm::sys::fs::exists(inputPath))
    return fail(inputPath + ": no such file or directory");
  if (llvm::sys::fs::is_directory(inputPath) ||
      llvm::StringRef(inputPath).ends_with(".json")) {
    llvm::SmallString<256> configPath(inputPath);
    if (llvm::sys::fs::is_directory(inputPath))
      llvm::sys::path::append(configPath, "config.json");
    auto parsed = tok::readLlamaConfig(configPath);
    if (!parsed)
      return fail(llvm::toString(parsed.takeError()));
    config = *parsed;
    // Check the weights when they are there: every tensor the module needs,
    // with its shape and a float dtype.
    llvm::SmallString<256> dir = llvm::sys::path::parent_path(configPath);
    llvm::SmallString<256> single(dir), index(dir);
    llvm::sys::path::append(single, "model.safetensors");
    llvm::sys::path::append(index, "model.safetensors.index.json");
    std::unique_ptr<tok::SafetensorsModel> weights;
    if (llvm::sys::fs::exists(index) || llvm::sys::fs::exists(single)) {
      auto opened = llvm::sys::fs::exists(index)
                        ? tok::SafetensorsModel::openIndex(index)
                        : tok::SafetensorsModel::open(single);
      if (!opened)
        return fail(llvm::toString(opened.takeError()));
      weights = std::move(*opened);
      for (const tok::LlamaWeight &w : tok::getLlamaWeights(config)) {
        const tok::SafetensorsTensor *t = weights->lookup(w.name);
        if (!t)
          return fail(dir + ": no tensor '" + w.name + "'");
        if (t->shape != w.shape || (t->type != tok::SafetensorsDType::F32 &&
                                    t->type != tok::SafetensorsDType::F16 &&
                                    t->type != tok::SafetensorsDType::BF16)) {
          std::string want, got;
          for (int64_t d : w.shape)
            want += std::to_string(d) + " ";
          for (int64_t d : t->shape)
            got += std::to_string(d) + " ";
          return fail(t->file + ": tensor '" + w.name + "' is " +
                      tok::stringifySafetensorsDType(t->type) + " [ " + got +
                      "], config.json needs a float [ " + want + "]");
        }
      }
    }
  } else {
    auto ckpt = tok::Llama2cCheckpoint::open(inputPath);
    if (!ckpt)
      return fail(llvm::toString(ckpt.takeError()));
    config = tok::getLlamaConfig((*ckpt)->getConfig());
    options.interleavedRope = true;
    if (llvm::Error err = config.validate(inputPath))
      return fail(llvm::toString(std::move(err)));
  }
  if (cacheCapacity < 0)
    return fail("--cache-capacity must be positive");
  options.cacheCapacity = cacheCapacity ? cacheCapacity : config.maxPositions;

  DialectRegistry registry;
  registry.insert<arith::ArithDialect, func::FuncDialect, linalg::LinalgDialect,
                  math::MathDialect, tensor::TensorDialect>();
  tok::registerAllTokDialects(registry);
  MLIRContext context(registry);
  std::string text = tok::emitLlamaModule(config, options);
  OwningOpRef<ModuleOp> module =
      parseSourceString<ModuleOp>(text, &context, "tok-import");
  if (!module || failed(verify(*module)))
    return fail("internal error: the emitted module does not verify");

  std::string error;
  auto output = openOutputFile(outputPath, &error);
  if (!output)
    return fail(error);
  module->print(output->os());
  output->keep();
  return 0;
}
