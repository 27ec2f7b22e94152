// RUN: tok-opt %s --tok-to-llvm | FileCheck %s --implicit-check-not=tok. --implicit-check-not=linalg. --implicit-check-not=memref. --implicit-check-not=unrealized_conversion_cast
// RUN: tok-opt %s --tok-to-llvm | tok-translate --mlir-to-llvmir | FileCheck %s --check-prefix=LLVMIR

// The pipeline leaves nothing but the LLVM dialect: tok is lowered,
// bufferized (the result is a fresh buffer, the row sums a temporary that is
// freed) and translated. Heap buffers go through MLIR's generic allocation
// functions, which tok's runtime implements (lib/Runtime/BufferCache.cpp),
// never straight to malloc / free.

// CHECK-LABEL: llvm.func @rms_norm
// CHECK:         llvm.call @_mlir_memref_to_llvm_alloc
// CHECK:         llvm.fmul
// CHECK:         llvm.fadd
// CHECK:         llvm.call @_mlir_memref_to_llvm_alloc
// CHECK:         llvm.intr.sqrt
// CHECK:         llvm.call @_mlir_memref_to_llvm_free
// CHECK:         llvm.return
// CHECK-NOT:     @malloc
// CHECK-NOT:     @free

// LLVMIR-LABEL: define { ptr, ptr, i64, [2 x i64], [2 x i64] } @rms_norm(
// LLVMIR:         call float @llvm.sqrt.f32(
// LLVMIR:         call void @_mlir_memref_to_llvm_free(
func.func @rms_norm(%x: tensor<?x8xf32>, %w: tensor<8xf32>) -> tensor<?x8xf32> {
  %y = tok.rms_norm %x, %w : tensor<?x8xf32>, tensor<8xf32>
  return %y : tensor<?x8xf32>
}
