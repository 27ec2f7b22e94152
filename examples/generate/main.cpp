//===- main.cpp - text generation through tok's driver library ------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// Usage: tok-generate <model> <prompt> [new tokens] [pass pipeline]
//
// Opens a model (builtin, a llama2.c checkpoint or a Hugging Face
// directory), compiles it for generation with the driver library's
// Generator (optionally after a pipeline of tok passes, e.g.
// "tok-kv-evict{policy=window budget=64 sinks=4 recent=60}"), and streams
// the continuation of the prompt to stdout as each token is chosen, then
// the ids of the new tokens. Built against the installed package by
// scripts/test.sh (examples/consumer/CMakeLists.txt).
//
//===----------------------------------------------------------------------===//

#include "tok/Driver/Context.h"
#include "tok/Driver/Generator.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdlib>
#include <string>

int main(int argc, char **argv) {
  if (argc < 3 || argc > 5) {
    llvm::errs() << "usage: " << argv[0]
                 << " <model> <prompt> [new tokens] [pass pipeline]\n";
    return 2;
  }
  mlir::tok::initializeDriver();
  mlir::DialectRegistry registry;
  mlir::tok::registerDriverDialects(registry);
  mlir::MLIRContext context(registry);

  auto model = mlir::tok::LlamaModel::open(
      argv[1], "", mlir::tok::LlamaModel::TokenizerPolicy::Require);
  if (!model) {
    llvm::errs() << "error: " << llvm::toString(model.takeError()) << "\n";
    return 1;
  }
  const mlir::tok::Tokenizer &tokenizer = (*model)->getTokenizer();
  auto prompt = tokenizer.encodePrompt(argv[2]);
  if (!prompt) {
    llvm::errs() << "error: " << llvm::toString(prompt.takeError()) << "\n";
    return 1;
  }

  mlir::tok::GenerateSettings settings;
  settings.maxNewTokens = argc > 3 ? std::atoi(argv[3]) : 32;
  settings.eos = (*model)->getConfig().eosTokens;
  if (argc > 4)
    settings.pipeline = argv[4];
  auto generator = mlir::tok::Generator::create(
      context, **model, settings, static_cast<int64_t>(prompt->size()));
  if (!generator) {
    llvm::errs() << "error: " << llvm::toString(generator.takeError()) << "\n";
    return 1;
  }

  // Each token is decoded with everything before it, and only the new bytes
  // are written (a piece decoded alone could lose its leading space).
  std::vector<int32_t> context_ids = *prompt;
  size_t written = 0;
  if (auto text = tokenizer.decode(context_ids)) {
    llvm::outs() << *text;
    written = text->size();
  } else {
    llvm::consumeError(text.takeError());
  }
  auto result = (*generator)->generate(*prompt, [&](int32_t token, int64_t) {
    context_ids.push_back(token);
    auto text = tokenizer.decode(context_ids);
    if (!text) {
      llvm::consumeError(text.takeError());
      return;
    }
    if (text->size() > written)
      llvm::outs() << llvm::StringRef(*text).drop_front(written);
    written = text->size();
    llvm::outs().flush();
  });
  if (!result) {
    llvm::errs() << "error: " << llvm::toString(result.takeError()) << "\n";
    return 1;
  }
  llvm::outs() << "\nids:";
  for (int32_t id : result->tokens)
    llvm::outs() << " " << id;
  llvm::outs() << "\n";
  llvm::errs() << llvm::format(
      "%zu tokens, decode %.1f tokens/s\n", result->tokens.size(),
      result->tokens.size() > 1
          ? (result->tokens.size() - 1) / result->decodeSeconds
          : 0.0);
  return 0;
}
