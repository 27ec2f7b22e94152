// examples/consumer, built by scripts/test.sh against the installed package,
// registers the tok dialect, parses a module and runs the tok-to-linalg pass.
// REQUIRES: tok-consumer
// RUN: %tok_consumer %s | FileCheck %s
// RUN: %tok_consumer %s tok-to-llvm | FileCheck %s --check-prefix=LLVM
// RUN: not %tok_consumer %t.missing 2>&1 | FileCheck %s --check-prefix=MISSING
// RUN: not %tok_consumer 2>&1 | FileCheck %s --check-prefix=USAGE

// CHECK-LABEL: func.func @f
// CHECK-NOT: tok.rms_norm
// CHECK: linalg.generic
// CHECK: math.rsqrt
// LLVM: llvm.func @f(
// LLVM: llvm.intr.sqrt
// MISSING: error: could not open input file
// USAGE: usage: {{.*}}tok-consumer <input.mlir> [pass-pipeline]

func.func @f(%x: tensor<2x4xf32>, %w: tensor<4xf32>) -> tensor<2x4xf32> {
  %y = tok.rms_norm %x, %w : tensor<2x4xf32>, tensor<4xf32>
  return %y : tensor<2x4xf32>
}
