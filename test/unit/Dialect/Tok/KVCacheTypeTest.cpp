//===- KVCacheTypeTest.cpp - C++ API of !tok.kv_cache ---------------------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#include "mlir/IR/Builders.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "tok/Dialect/Tok/IR/TokOps.h"

#include "gtest/gtest.h"

using namespace mlir;
using namespace mlir::tok;

namespace {

class KVCacheTypeTest : public ::testing::Test {
protected:
  KVCacheTypeTest() { context.loadDialect<TokDialect>(); }
  MLIRContext context;
};

TEST_F(KVCacheTypeTest, SliceScoresAndCapacityHelpers) {
  Builder b(&context);
  auto cache = KVCacheType::get(4, 1024, 32, b.getBF16Type(), /*scores=*/true);
  EXPECT_EQ(cache.getSliceType(7),
            RankedTensorType::get({4, 7, 32}, b.getBF16Type()));
  EXPECT_EQ(cache.getScoresType(),
            RankedTensorType::get({4, 1024}, b.getF32Type()));

  KVCacheType smaller = cache.withCapacity(256);
  EXPECT_EQ(smaller.getCapacity(), 256);
  EXPECT_TRUE(smaller.getScores());
  EXPECT_EQ(smaller.getElementType(), cache.getElementType());
  EXPECT_NE(smaller, cache);
  // Types are uniqued: the same parameters give the same type.
  EXPECT_EQ(smaller.withCapacity(1024), cache);
}

TEST_F(KVCacheTypeTest, GetCheckedReportsBadParameters) {
  Builder b(&context);
  std::string message;
  ScopedDiagnosticHandler handler(&context, [&](Diagnostic &diag) {
    message = diag.str();
    return success();
  });
  auto loc = b.getUnknownLoc();
  auto quant = KVQuantAttr::get(&context, 4, 32, 128);
  Type f32 = b.getF32Type(), f16 = b.getF16Type();
  auto emit = [&] { return emitError(loc); };
  // Explicit int64_t arguments select the generated, verifying getChecked.
  int64_t four = 4, zero = 0, d = 32, c64 = 64, c256 = 256;

  EXPECT_FALSE(KVCacheType::getChecked(emit, &context, four, zero, d, f32,
                                       false, KVQuantAttr(), zero));
  EXPECT_EQ(message, "kv_cache dimensions must be positive, got 4x0x32");

  EXPECT_FALSE(KVCacheType::getChecked(emit, &context, four, c64, d, f32, false,
                                       quant, zero));
  EXPECT_EQ(message,
            "kv_cache quantization residual 128 exceeds the capacity 64");

  EXPECT_TRUE(KVCacheType::getChecked(emit, &context, four, c256, d, f16, false,
                                      quant, zero));

  // Page bounds: positive pages, never with quantized storage.
  int64_t minus16 = -16, p16 = 16;
  EXPECT_FALSE(KVCacheType::getChecked(emit, &context, four, c256, d, f32,
                                       false, KVQuantAttr(), minus16));
  EXPECT_EQ(message, "kv_cache pages (the page size; 0: no page bounds) must "
                     "be in [0, capacity = 256], got -16");
  EXPECT_FALSE(KVCacheType::getChecked(emit, &context, four, c256, d, f32,
                                       false, quant, p16));
  EXPECT_EQ(message, "kv_cache page bounds over quantized storage are not "
                     "supported: use 'pages' or 'quant'");
  auto paged = KVCacheType::getChecked(emit, &context, four, c256, d, f32,
                                       false, KVQuantAttr(), p16);
  ASSERT_TRUE(paged);
  EXPECT_EQ(paged.getPages(), 16);
  EXPECT_EQ(paged.withCapacity(c64).getPages(), 16);
}

} // namespace
