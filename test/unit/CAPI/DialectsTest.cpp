//===- DialectsTest.cpp - C API of the tok dialects -----------------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#include "tok-c/Dialects.h"
#include "mlir-c/IR.h"
#include "mlir-c/Pass.h"
#include "mlir-c/RegisterEverything.h"

#include "gtest/gtest.h"

#include <string>

namespace {

void appendToString(MlirStringRef str, void *userData) {
  static_cast<std::string *>(userData)->append(str.data, str.length);
}

TEST(TokCAPITest, LoadDialectParseAndLower) {
  MlirContext ctx = mlirContextCreate();
  MlirDialectRegistry registry = mlirDialectRegistryCreate();
  mlirRegisterAllDialects(registry);
  mlirDialectHandleInsertDialect(mlirGetDialectHandle__tok__(), registry);
  mlirContextAppendDialectRegistry(ctx, registry);
  mlirDialectRegistryDestroy(registry);

  MlirDialect tok =
      mlirDialectHandleLoadDialect(mlirGetDialectHandle__tok__(), ctx);
  ASSERT_FALSE(mlirDialectIsNull(tok));
  MlirStringRef ns = mlirDialectGetNamespace(tok);
  EXPECT_EQ(std::string(ns.data, ns.length), "tok");

  const char *source = R"mlir(
    func.func @f(%x: tensor<2x4xf32>, %w: tensor<4xf32>) -> tensor<2x4xf32> {
      %y = tok.rms_norm %x, %w : tensor<2x4xf32>, tensor<4xf32>
      return %y : tensor<2x4xf32>
    })mlir";
  MlirModule module =
      mlirModuleCreateParse(ctx, mlirStringRefCreateFromCString(source));
  ASSERT_FALSE(mlirModuleIsNull(module));

  tokRegisterAllPasses();
  MlirPassManager pm = mlirPassManagerCreate(ctx);
  MlirOpPassManager opm = mlirPassManagerGetAsOpPassManager(pm);
  std::string error;
  MlirLogicalResult parsed = mlirParsePassPipeline(
      opm, mlirStringRefCreateFromCString("builtin.module(tok-to-llvm)"),
      appendToString, &error);
  ASSERT_TRUE(mlirLogicalResultIsSuccess(parsed)) << error;
  MlirLogicalResult ran =
      mlirPassManagerRunOnOp(pm, mlirModuleGetOperation(module));
  EXPECT_TRUE(mlirLogicalResultIsSuccess(ran));

  std::string printed;
  mlirOperationPrint(mlirModuleGetOperation(module), appendToString, &printed);
  EXPECT_EQ(printed.find("tok."), std::string::npos) << printed;
  EXPECT_NE(printed.find("llvm.func @f"), std::string::npos) << printed;

  mlirPassManagerDestroy(pm);
  mlirModuleDestroy(module);
  mlirContextDestroy(ctx);
}

} // namespace
