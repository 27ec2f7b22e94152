//===- RMSNormOpTest.cpp - C++ API of tok.rms_norm ------------------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "tok/Conversion/Passes.h"
#include "tok/Dialect/Tok/IR/TokOps.h"

#include "gtest/gtest.h"

using namespace mlir;

namespace {

class RMSNormOpTest : public ::testing::Test {
protected:
  RMSNormOpTest() {
    context.loadDialect<tok::TokDialect, func::FuncDialect,
                        linalg::LinalgDialect>();
  }

  MLIRContext context;
};

TEST_F(RMSNormOpTest, BuilderInfersResultTypeAndDefaultEpsilon) {
  OpBuilder b(&context);
  Location loc = b.getUnknownLoc();
  auto module = ModuleOp::create(loc);
  b.setInsertionPointToEnd(module.getBody());
  auto xType =
      RankedTensorType::get({ShapedType::kDynamic, 16}, b.getF32Type());
  auto wType = RankedTensorType::get({16}, b.getF32Type());
  auto fn = func::FuncOp::create(b, loc, "f",
                                 b.getFunctionType({xType, wType}, {xType}));
  Block *entry = fn.addEntryBlock();
  b.setInsertionPointToStart(entry);

  auto norm = tok::RMSNormOp::create(b, loc, entry->getArgument(0),
                                     entry->getArgument(1));
  func::ReturnOp::create(b, loc, norm.getResult());

  EXPECT_EQ(norm.getType(), xType);
  EXPECT_FLOAT_EQ(norm.getEpsilon().convertToFloat(), 1.0e-5f);
  EXPECT_TRUE(succeeded(verify(module)));
  module->erase();
}

TEST_F(RMSNormOpTest, VerifierNamesOperandAndShapes) {
  std::string message;
  ScopedDiagnosticHandler handler(&context, [&](Diagnostic &diag) {
    message = diag.str();
    return success();
  });
  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(R"mlir(
    func.func @f(%x: tensor<4x16xf32>, %w: tensor<8xf32>) -> tensor<4x16xf32> {
      %y = tok.rms_norm %x, %w : tensor<4x16xf32>, tensor<8xf32>
      return %y : tensor<4x16xf32>
    })mlir",
                                                             &context);
  EXPECT_FALSE(module);
  EXPECT_NE(message.find("'weight' of 16 elements"), std::string::npos)
      << message;
  EXPECT_NE(message.find("tensor<8xf32>"), std::string::npos) << message;
}

TEST_F(RMSNormOpTest, LoweringLeavesNoTokOps) {
  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(R"mlir(
    func.func @f(%x: tensor<?x16xbf16>, %w: tensor<16xbf16>) -> tensor<?x16xbf16> {
      %y = tok.rms_norm %x, %w {epsilon = 1.0e-6 : f32} : tensor<?x16xbf16>, tensor<16xbf16>
      return %y : tensor<?x16xbf16>
    })mlir",
                                                             &context);
  ASSERT_TRUE(module);
  PassManager pm(&context);
  pm.addPass(tok::createConvertTokToLinalgPass());
  ASSERT_TRUE(succeeded(pm.run(*module)));

  int tokOps = 0, generics = 0;
  module->walk([&](Operation *op) {
    if (isa<tok::TokDialect>(op->getDialect()))
      ++tokOps;
    if (isa<linalg::GenericOp>(op))
      ++generics;
  });
  EXPECT_EQ(tokOps, 0);
  EXPECT_EQ(generics, 2);
}

} // namespace
