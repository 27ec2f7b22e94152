// RUN: tok-opt %s --tok-outline-kernels --split-input-file | FileCheck %s

// Loops that differ only in the buffers they read share one function; a
// loop with another bound (an operand) or another type has its own. The
// constant the bodies use is copied into each function, not passed.
// CHECK-LABEL: func.func @layers
// CHECK-SAME:    (%[[A:.*]]: memref<64xf32>, %[[B:.*]]: memref<64xf32>, %[[C:.*]]: memref<32xf32>, %[[N:.*]]: index)
// CHECK-NOT:     scf.forall
// CHECK:         call @layers_kernel_0(%[[A]]) : (memref<64xf32>) -> ()
// CHECK-NEXT:    call @layers_kernel_0(%[[B]]) : (memref<64xf32>) -> ()
// CHECK-NEXT:    call @layers_kernel_1(%[[N]], %[[C]]) : (index, memref<32xf32>) -> ()
// CHECK-NEXT:    return
// CHECK:       func.func private @layers_kernel_0(%[[X:.*]]: memref<64xf32>)
// CHECK-NEXT:    %[[TWO:.*]] = arith.constant 2.0
// CHECK-NEXT:    scf.forall (%[[I:.*]]) in (64)
// CHECK-NEXT:      memref.load %[[X]][%[[I]]]
// CHECK-NEXT:      arith.mulf %{{.*}}, %[[TWO]]
// CHECK:         return
// CHECK:       func.func private @layers_kernel_1(%[[M:.*]]: index, %[[Y:.*]]: memref<32xf32>)
// CHECK:         scf.forall (%{{.*}}) in (%[[M]])
// CHECK-NOT:   func.func private @layers_kernel_2
func.func @layers(%a: memref<64xf32>, %b: memref<64xf32>, %c: memref<32xf32>, %n: index) {
  %two = arith.constant 2.0 : f32
  scf.forall (%i) in (64) {
    %x = memref.load %a[%i] : memref<64xf32>
    %y = arith.mulf %x, %two : f32
    memref.store %y, %a[%i] : memref<64xf32>
  }
  scf.forall (%i) in (64) {
    %x = memref.load %b[%i] : memref<64xf32>
    %y = arith.mulf %x, %two : f32
    memref.store %y, %b[%i] : memref<64xf32>
  }
  scf.forall (%i) in (%n) {
    %x = memref.load %c[%i] : memref<32xf32>
    %y = arith.mulf %x, %two : f32
    memref.store %y, %c[%i] : memref<32xf32>
  }
  return
}

// -----

// Another constant is another loop; a loop in a second function reuses the
// first function's kernel; a loop inside scf.for is outlined with the
// induction variable as an argument, and the loop nested in it stays in
// its function.
// CHECK-LABEL: func.func @first
// CHECK:         call @first_kernel_0(%{{.*}})
// CHECK-NEXT:    call @first_kernel_1(%{{.*}})
// CHECK:       func.func private @first_kernel_0
// CHECK:         arith.constant 2.0
// CHECK:       func.func private @first_kernel_1
// CHECK:         arith.constant 3.0
// CHECK-LABEL: func.func @second
// CHECK:         call @first_kernel_0(%{{.*}}) : (memref<8xf32>) -> ()
// CHECK:         scf.for %[[K:.*]] =
// CHECK-NEXT:      call @second_kernel_0(%[[K]], %{{.*}}) : (index, memref<8xf32>) -> ()
// CHECK:       func.func private @second_kernel_0
// CHECK:         scf.forall
// CHECK:           scf.forall
// CHECK-NOT:   func.func private @second_kernel_1
func.func @first(%a: memref<8xf32>) {
  %two = arith.constant 2.0 : f32
  %three = arith.constant 3.0 : f32
  scf.forall (%i) in (8) {
    memref.store %two, %a[%i] : memref<8xf32>
  }
  scf.forall (%i) in (8) {
    memref.store %three, %a[%i] : memref<8xf32>
  }
  return
}
func.func @second(%a: memref<8xf32>) {
  %two = arith.constant 2.0 : f32
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  scf.forall (%i) in (8) {
    memref.store %two, %a[%i] : memref<8xf32>
  }
  scf.for %k = %c0 to %c4 step %c1 {
    scf.forall (%i) in (2) {
      scf.forall (%j) in (4) {
        %v = arith.index_cast %k : index to i32
        %f = arith.sitofp %v : i32 to f32
        memref.store %f, %a[%j] : memref<8xf32>
      }
    }
  }
  return
}

// -----

// A loop with results (tensor code, before bufferization) is left alone,
// and so is an external function.
// CHECK-LABEL: func.func @tensors
// CHECK:         scf.forall
// CHECK-SAME:      shared_outs
// CHECK-NOT:   func.func private @tensors_kernel_0
func.func private @external(memref<4xf32>)
func.func @tensors(%t: tensor<4xf32>) -> tensor<4xf32> {
  %r = scf.forall (%i) in (4) shared_outs(%o = %t) -> tensor<4xf32> {
    %e = tensor.extract_slice %o[%i] [1] [1] : tensor<4xf32> to tensor<1xf32>
    scf.forall.in_parallel {
      tensor.parallel_insert_slice %e into %o[%i] [1] [1] : tensor<1xf32> into tensor<4xf32>
    }
  }
  return %r : tensor<4xf32>
}
