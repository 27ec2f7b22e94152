//===- Pipeline.cpp - pieces the driver's compiled models share -----------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#include "Pipeline.h"

#include "tok/Frontend/GgmlBlocks.h"
#include "tok/Frontend/Gguf.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/Support/raw_ostream.h"

#include <unistd.h>

using namespace mlir;

llvm::Error mlir::tok::makeDriverError(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

llvm::Error mlir::tok::applyUserPipeline(
    ModuleOp module, StringRef pipeline,
    std::unique_ptr<PassInstrumentation> instrumentation) {
  if (pipeline.empty())
    return llvm::Error::success();
  if (pipeline.starts_with("builtin.module("))
    return makeDriverError("give --pipeline without the builtin.module(...) "
                           "anchor");
  PassManager pm(module.getContext());
  std::string parseErrors;
  llvm::raw_string_ostream errorStream(parseErrors);
  if (failed(parsePassPipeline(pipeline, pm, errorStream)))
    return makeDriverError(StringRef(parseErrors).rtrim());
  if (instrumentation)
    pm.addInstrumentation(std::move(instrumentation));
  if (failed(pm.run(module)))
    return makeDriverError("--pipeline '" + pipeline + "' failed");
  return llvm::Error::success();
}

llvm::Error mlir::tok::checkTokenIds(llvm::ArrayRef<int32_t> ids,
                                     StringRef what, int64_t maxTokens,
                                     StringRef limitWhy, int64_t vocab) {
  if (ids.empty())
    return makeDriverError("the " + what + " has no tokens");
  if (static_cast<int64_t>(ids.size()) > maxTokens)
    return makeDriverError("the " + what + " has " + llvm::Twine(ids.size()) +
                           " tokens; " + limitWhy + " " +
                           llvm::Twine(maxTokens));
  for (int32_t id : ids)
    if (id < 0 || id >= vocab)
      return makeDriverError("token id " + llvm::Twine(id) +
                             " is outside the vocabulary of " +
                             llvm::Twine(vocab));
  return llvm::Error::success();
}

llvm::Expected<mlir::tok::CompiledEntry>
mlir::tok::compileEntry(ModuleOp module, StringRef entryFunction,
                        JitOptions options, JitTimes *times) {
  module.lookupSymbol<func::FuncOp>(entryFunction)
      ->setAttr(LLVM::LLVMDialect::getEmitCWrapperAttrName(),
                UnitAttr::get(module.getContext()));
  std::string entryName = ("_mlir_ciface_" + entryFunction).str();
  options.entries = entryName;
  auto jit = Jit::create(module, options, times);
  if (!jit)
    return makeDriverError("failed to compile the model: " +
                           llvm::toString(jit.takeError()));
  auto entry = (*jit)->lookupPacked(entryName);
  if (!entry)
    return makeDriverError("failed to compile the model: " +
                           llvm::toString(entry.takeError()));
  return CompiledEntry{std::move(*jit), *entry};
}

mlir::tok::NpyArray mlir::tok::bindWeight(llvm::StringRef type,
                                          llvm::ArrayRef<int64_t> shape,
                                          const void *data) {
  std::optional<GgmlType> ggml = parseGgmlTypeName(type);
  if (ggml && getGgmlBlockSize(*ggml) > 1) {
    int64_t rowBytes =
        shape.back() / getGgmlBlockSize(*ggml) * getGgmlBlockBytes(*ggml);
    return NpyArray::view(NpyDType::U8, {shape.front(), rowBytes}, data);
  }
  return NpyArray::view(type == "f32" ? NpyDType::F32 : NpyDType::F16, shape,
                        data);
}

std::optional<uint64_t> mlir::tok::getPhysicalMemoryBytes() {
  long pages = sysconf(_SC_PHYS_PAGES), pageSize = sysconf(_SC_PAGESIZE);
  if (pages <= 0 || pageSize <= 0)
    return std::nullopt;
  return static_cast<uint64_t>(pages) * static_cast<uint64_t>(pageSize);
}
