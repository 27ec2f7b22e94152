//===- ObjectCode.cpp - ahead-of-time machine code for a module -----------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#include "tok/Driver/ObjectCode.h"

#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/Target/LLVMIR/Export.h"

#include "llvm/ADT/StringSet.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/Target/TargetOptions.h"
#include "llvm/TargetParser/Host.h"

using namespace mlir;

static llvm::Error makeError(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

llvm::Expected<std::string>
mlir::tok::compileToObject(ModuleOp module, llvm::StringRef name,
                           llvm::ArrayRef<std::string> exported,
                           unsigned optLevel) {
  if (optLevel > 3)
    return makeError("the optimization level must be 0 to 3");
  llvm::LLVMContext llvmContext;
  std::unique_ptr<llvm::Module> llvmModule =
      translateModuleToLLVMIR(module, llvmContext, name);
  if (!llvmModule)
    return makeError("translation to LLVM IR failed");
  std::string triple = llvm::sys::getProcessTriple(), error;
  const llvm::Target *target =
      llvm::TargetRegistry::lookupTarget(llvm::Triple(triple), error);
  if (!target)
    return makeError("no target for " + triple + ": " + error);
  std::string features;
  for (auto &f : llvm::sys::getHostCPUFeatures())
    features += (f.second ? "+" : "-") + f.first().str() + ",";
  llvm::TargetOptions targetOptions;
  llvm::CodeGenOptLevel level = optLevel == 0   ? llvm::CodeGenOptLevel::None
                                : optLevel == 1 ? llvm::CodeGenOptLevel::Less
                                : optLevel == 2
                                    ? llvm::CodeGenOptLevel::Default
                                    : llvm::CodeGenOptLevel::Aggressive;
  std::unique_ptr<llvm::TargetMachine> machine(target->createTargetMachine(
      llvm::Triple(triple), llvm::sys::getHostCPUName(), features,
      targetOptions, llvm::Reloc::PIC_, std::nullopt, level));
  llvm::StringSet<> keep;
  for (const std::string &f : exported)
    keep.insert(f);
  for (llvm::Function &f : *llvmModule) {
    if (f.isDeclaration())
      continue;
    if (keep.contains(f.getName()))
      f.setVisibility(llvm::GlobalValue::HiddenVisibility);
    else
      f.setLinkage(llvm::GlobalValue::InternalLinkage);
  }
  llvmModule->setTargetTriple(llvm::Triple(triple));
  llvmModule->setDataLayout(machine->createDataLayout());
  if (llvm::Error err = makeOptimizingTransformer(
          optLevel, /*sizeLevel=*/0, machine.get())(llvmModule.get()))
    return makeError("LLVM optimization failed: " +
                     llvm::toString(std::move(err)));
  llvm::SmallVector<char, 0> object;
  llvm::raw_svector_ostream os(object);
  llvm::legacy::PassManager codegen;
  if (machine->addPassesToEmitFile(codegen, os, nullptr,
                                   llvm::CodeGenFileType::ObjectFile))
    return makeError("the target cannot emit object files");
  codegen.run(*llvmModule);
  return std::string(object.begin(), object.end());
}
