//===- ApproximateMath.cpp - polynomial exp for the CPU kernels -----------===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// Rewrites f32 `math.exp` (scalar and vector) into MLIR's polynomial
// approximation (Cephes-style range reduction, ~1 ulp on the range softmax
// uses; docs/algorithms.md, "exp approximation"). Without it LLVM turns an
// exp on a vector<16xf32> into 16 calls of the C library's expf. f32
// `math.erf` (GELU) has no LLVM lowering at all and takes the same route,
// and so does `math.tanh` (Gemma's tanh GELU and logit soft-capping).
//
//===----------------------------------------------------------------------===//

#include "tok/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir {
namespace tok {
#define GEN_PASS_DEF_TOKAPPROXIMATEMATHPASS
#include "tok/Transforms/Passes.h.inc"
} // namespace tok
} // namespace mlir

using namespace mlir;

namespace {
struct TokApproximateMathPass
    : tok::impl::TokApproximateMathPassBase<TokApproximateMathPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateMathPolynomialApproximationPatterns(patterns, [](StringRef name) {
      return name == "math.exp" || name == "math.erf" || name == "math.tanh";
    });
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};
} // namespace
