// RUN: tok-opt %s --tok-to-llvm | FileCheck %s --implicit-check-not=tok. --implicit-check-not=linalg. --implicit-check-not=memref. --implicit-check-not=unrealized_conversion_cast
// RUN: tok-opt %s --tok-to-llvm | tok-translate --mlir-to-llvmir | FileCheck %s --check-prefix=LLVMIR

// The pipeline leaves nothing but the LLVM dialect: tok is lowered,
// bufferized (the result is a fresh buffer, the row sums a temporary that is
// freed) and translated.

// CHECK-LABEL: llvm.func @rms_norm
// CHECK:         llvm.call @malloc
// CHECK:         llvm.fmul
// CHECK:         llvm.fadd
// CHECK:         llvm.call @malloc
// CHECK:         llvm.intr.sqrt
// CHECK:         llvm.call @free
// CHECK:         llvm.return

// LLVMIR-LABEL: define { ptr, ptr, i64, [2 x i64], [2 x i64] } @rms_norm(
// LLVMIR:         call float @llvm.sqrt.f32(
// LLVMIR:         call void @free(
func.func @rms_norm(%x: tensor<?x8xf32>, %w: tensor<8xf32>) -> tensor<?x8xf32> {
  %y = tok.rms_norm %x, %w : tensor<?x8xf32>, tensor<8xf32>
  return %y : tensor<?x8xf32>
}
