//===- tok-opt.cpp - the tok optimizer driver -----------------------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// mlir-opt with every upstream dialect, extension and pass plus tok's. Used by
// the lit suite and by anyone who wants to run one tok pass on a file.
//
//===----------------------------------------------------------------------===//

#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "tok/InitAllTok.h"
#include "tok/Support/OutputFile.h"

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  mlir::registerAllPasses();
  mlir::tok::registerAllTokDialects(registry);
  mlir::tok::registerAllTokPasses();
  auto [input, output] = mlir::registerAndParseCLIOptions(
      argc, argv,
      "tok optimizer driver: every upstream MLIR dialect and pass, plus the "
      "tok dialect, its passes and its pipelines (see 'tok-to-llvm')\n",
      registry);
  // The output never replaces the input (`tok-opt f.mlir -o f.mlir`): the
  // input stays as the user wrote it if a pass fails halfway.
  if (llvm::Error err = mlir::tok::checkOutputIsNotAnInput(output, {input})) {
    llvm::errs() << "tok-opt: " << llvm::toString(std::move(err)) << "\n";
    return 1;
  }
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, input, output, registry));
}
