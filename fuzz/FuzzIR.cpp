//===- FuzzIR.cpp - IR parse, verify and tok passes under libFuzzer -------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// Each input is MLIR text: parsed, verified, and (when valid) run through
// one of tok's passes or pipelines, chosen by a hash of the input so that
// every input always takes the same one. Diagnostics are the expected
// outcome of bad input and are dropped; a crash, a sanitizer report, a
// hang or an out-of-memory is a finding.
//
//===----------------------------------------------------------------------===//

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "tok/InitAllTok.h"
#include "llvm/ADT/Hashing.h"
#include "llvm/Support/raw_ostream.h"

#include <cstddef>
#include <cstdint>
#include <string>

using namespace mlir;

static const char *const kPipelines[] = {
    "tok-cost-report",
    "tok-kv-evict{policy=window budget=8 sinks=2 recent=6 chunk=4}",
    "tok-kv-evict{policy=h2o budget=8 recent=2}",
    "tok-kv-evict{policy=snapkv budget=8 observe=4 pool=3}",
    "tok-kv-quantize",
    "tok-kv-quantize{bits=4 group=8 residual=16}",
    "tok-kv-select{page=16 budget=32 dense-layers=0}",
    "tok-token-merge{r=2}",
    "tok-token-prune",
    "tok-speculative-decoding{k=4}",
    "tok-speculative-decoding{drafter=layer_skip k=3}",
    "tok-speculative-decoding{drafter=model k=3 branch=2}",
    "tok-quantize-weights{scheme=q8_0}",
    "tok-inline-steps",
    "tok-outline-kernels",
    "canonicalize",
    "convert-tok-to-linalg",
    "tok-to-llvm",
};

static DialectRegistry &registry() {
  static DialectRegistry *r = [] {
    auto *reg = new DialectRegistry;
    registerAllDialects(*reg);
    registerAllExtensions(*reg);
    tok::registerAllTokDialects(*reg);
    tok::registerAllTokPasses();
    return reg;
  }();
  return *r;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  // MLIR's lexer, like tok-opt's file buffers, expects a NUL after the
  // text: the fuzzer's bytes are copied into a string that has one.
  std::string source(reinterpret_cast<const char *>(data), size);
  llvm::StringRef text = source;
  MLIRContext context(registry(), MLIRContext::Threading::DISABLED);
  context.allowUnregisteredDialects(false);
  ScopedDiagnosticHandler quiet(&context,
                                [](Diagnostic &) { return success(); });
  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(text, &context);
  if (!module || failed(verify(*module)))
    return 0;
  size_t pick = static_cast<size_t>(llvm::hash_value(text)) %
                (sizeof(kPipelines) / sizeof(kPipelines[0]));
  PassManager pm(&context);
  std::string error;
  llvm::raw_string_ostream os(error);
  if (failed(parsePassPipeline(kPipelines[pick], pm, os)))
    return 0;
  (void)pm.run(*module);
  return 0;
}
