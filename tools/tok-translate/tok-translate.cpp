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
//===----------------------------------------------------------------------===//

#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllTranslations.h"
#include "mlir/Tools/mlir-translate/MlirTranslateMain.h"
#include "mlir/Tools/mlir-translate/Translation.h"

int main(int argc, char **argv) {
  mlir::registerAllTranslations();
  return mlir::failed(mlir::mlirTranslateMain(
      argc, argv, "tok translation driver (MLIR <-> LLVM IR and others)\n"));
}
