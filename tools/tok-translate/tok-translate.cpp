//===- tok-translate.cpp - translate between MLIR and other formats -------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// mlir-translate with every upstream translation; `--mlir-to-llvmir` turns the
// output of the `tok-to-llvm` pipeline into LLVM IR. Translations take
// lowered IR only: run `tok-opt --tok-to-llvm` first.
//
// `--extract-gpu-object` writes the object of the module's gpu.binary (the
// PTX text or cubin that `tok-to-nvvm` embedded), e.g. to check it with
// ptxas or to load it from another runtime.
//
//===----------------------------------------------------------------------===//

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllTranslations.h"
#include "mlir/Tools/mlir-translate/MlirTranslateMain.h"
#include "mlir/Tools/mlir-translate/Translation.h"

using namespace mlir;

/// Writes the object of the single gpu.binary in `module` to `os`.
static LogicalResult extractGpuObject(Operation *module, raw_ostream &os) {
  SmallVector<gpu::BinaryOp> binaries;
  module->walk([&](gpu::BinaryOp op) { binaries.push_back(op); });
  if (binaries.size() != 1)
    return module->emitError("expected exactly one gpu.binary (the output of "
                             "tok-opt --tok-to-nvvm), found ")
           << binaries.size();
  ArrayAttr objects = binaries.front().getObjects();
  if (objects.size() != 1)
    return binaries.front().emitError("expected one object (one target), "
                                      "found ")
           << objects.size();
  os << cast<gpu::ObjectAttr>(objects[0]).getObject().getValue();
  return success();
}

int main(int argc, char **argv) {
  registerAllTranslations();
  TranslateFromMLIRRegistration extract(
      "extract-gpu-object",
      "Write the PTX / cubin of the module's gpu.binary (tok-to-nvvm output)",
      extractGpuObject, [](DialectRegistry &registry) {
        registry
            .insert<gpu::GPUDialect, LLVM::LLVMDialect, NVVM::NVVMDialect>();
      });
  return failed(mlirTranslateMain(
      argc, argv, "tok translation driver (MLIR <-> LLVM IR and others)\n"));
}
