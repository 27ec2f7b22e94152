//===- main.cpp - an out-of-tree consumer of the tok package --------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// Usage: tok-consumer <input.mlir> [pass-pipeline without module anchor]
//
// Registers the tok dialect (and the upstream dialects its lowering produces),
// parses the input, runs a pipeline (default: the tok-to-linalg conversion)
// and prints the result. This is the smallest program that uses tok as a
// compiler library; the test suite builds it against the installed package.
//
//===----------------------------------------------------------------------===//

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "tok/InitAllTok.h"

#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

int main(int argc, char **argv) {
  if (argc < 2 || argc > 3) {
    llvm::errs() << "usage: " << argv[0] << " <input.mlir> [pass-pipeline]\n";
    return 2;
  }

  mlir::DialectRegistry registry;
  registry.insert<mlir::func::FuncDialect, mlir::linalg::LinalgDialect,
                  mlir::math::MathDialect>();
  mlir::tok::registerAllTokDialects(registry);
  mlir::tok::registerAllTokPasses();
  mlir::MLIRContext context(registry);

  llvm::SourceMgr sourceMgr;
  mlir::SourceMgrDiagnosticHandler diagnostics(sourceMgr, &context);
  mlir::OwningOpRef<mlir::ModuleOp> module =
      mlir::parseSourceFile<mlir::ModuleOp>(argv[1], sourceMgr, &context);
  if (!module)
    return 1;

  // The pipeline nests under the module, so it is written without the
  // builtin.module(...) anchor, e.g. "tok-to-llvm" or "canonicalize,cse".
  const char *pipeline = argc == 3 ? argv[2] : "convert-tok-to-linalg";
  mlir::PassManager pm(&context);
  if (mlir::failed(mlir::parsePassPipeline(pipeline, pm, llvm::errs())))
    return 1;
  if (mlir::failed(pm.run(*module)))
    return 1;

  module->print(llvm::outs());
  llvm::outs() << "\n";
  return 0;
}
