// RUN: tok-opt --convert-tok-gpu-launchers --split-input-file --verify-diagnostics %s | FileCheck %s

// A launcher gets its body: device buffers and copies in, the launch over
// ceil(T / rows) x Hq blocks, the copy back and the frees, each chained on
// the previous op's token, joined before returning.

// CHECK-LABEL: func.func private @launch(
// CHECK-SAME: %[[Q:.*]]: memref<8x?x64xf32>, %[[K:.*]]: memref<2x?x64xf32>, %[[V:.*]]: memref<2x?x64xf32>, %[[O:.*]]: memref<8x?x64xf32>)
// CHECK-NOT: tok.gpu_kernel
// CHECK: %[[T0:.*]] = gpu.wait async
// CHECK: %[[DQ:.*]], %[[T1:.*]] = gpu.alloc async [%[[T0]]] (%{{.*}}) : memref<8x?x64xf32>
// CHECK: %[[T2:.*]] = gpu.memcpy async [%[[T1]]] %[[DQ]], %[[Q]]
// CHECK: %[[DK:.*]], %[[T3:.*]] = gpu.alloc async [%[[T2]]]
// CHECK: %[[T4:.*]] = gpu.memcpy async [%[[T3]]] %[[DK]], %[[K]]
// CHECK: %[[DV:.*]], %[[T5:.*]] = gpu.alloc async [%[[T4]]]
// CHECK: %[[T6:.*]] = gpu.memcpy async [%[[T5]]] %[[DV]], %[[V]]
// CHECK: %[[DO:.*]], %[[T7:.*]] = gpu.alloc async [%[[T6]]]
// CHECK: %[[LEN:.*]] = memref.dim %[[Q]], %c1
// CHECK: %[[KLEN:.*]] = memref.dim %[[K]], %c1
// CHECK: %[[UP:.*]] = arith.addi %[[LEN]], %c127
// CHECK: %[[BLOCKS:.*]] = arith.divui %[[UP]], %c128
// CHECK: %[[GRID:.*]] = arith.maxui %[[BLOCKS]], %c1
// CHECK: memref.collapse_shape %[[DQ]] {{\[\[}}0, 1, 2]] : memref<8x?x64xf32> into memref<?xf32>
// CHECK: %[[T8:.*]] = gpu.launch_func async [%[[T7]]] @tok_kernels::@k blocks in (%[[GRID]], %c8, %c1{{.*}}) threads in (%c128{{.*}}, %c1{{.*}}, %c1{{.*}}) args({{.*}}, %[[LEN]] : index, %[[KLEN]] : index)
// CHECK: %[[T9:.*]] = gpu.memcpy async [%[[T8]]] %[[O]], %[[DO]]
// CHECK: gpu.dealloc async [%[[T9]]] %[[DQ]]
// CHECK: gpu.dealloc async
// CHECK: gpu.dealloc async
// CHECK: %[[LAST:.*]] = gpu.dealloc async {{.*}} %[[DO]]
// CHECK: gpu.wait [%[[LAST]]]
// CHECK: return
module attributes {gpu.container_module} {
  gpu.module @tok_kernels {
    gpu.func @k(%q: memref<?xf32>, %k: memref<?xf32>, %v: memref<?xf32>, %o: memref<?xf32>, %t: index, %s: index) kernel attributes {known_block_size = array<i32: 128, 1, 1>} {
      gpu.return
    }
  }
  func.func private @launch(memref<8x?x64xf32>, memref<2x?x64xf32>, memref<2x?x64xf32>, memref<8x?x64xf32>) attributes {tok.gpu_kernel = @tok_kernels::@k, tok.gpu_rows_per_block = 128 : i64}
}

// -----

module attributes {gpu.container_module} {
  // expected-error @below {{GPU launcher of a missing kernel @tok_kernels::@gone}}
  func.func private @launch(memref<8x?x64xf32>, memref<2x?x64xf32>, memref<2x?x64xf32>, memref<8x?x64xf32>) attributes {tok.gpu_kernel = @tok_kernels::@gone, tok.gpu_rows_per_block = 128 : i64}
}

// -----

module attributes {gpu.container_module} {
  gpu.module @tok_kernels {
    gpu.func @k(%q: memref<?xf32>) kernel attributes {known_block_size = array<i32: 128, 1, 1>} {
      gpu.return
    }
  }
  // expected-error @below {{GPU launcher must take four buffers (query, key, value, output) and return nothing; got '(memref<8x?x64xf32>) -> ()'}}
  func.func private @launch(memref<8x?x64xf32>) attributes {tok.gpu_kernel = @tok_kernels::@k, tok.gpu_rows_per_block = 128 : i64}
}

// -----

module attributes {gpu.container_module} {
  // expected-error @below {{GPU launcher without its 'tok.gpu_kernel' and 'tok.gpu_rows_per_block' attributes}}
  func.func private @launch(memref<8x?x64xf32>) attributes {tok.gpu_kernel = @tok_kernels::@k}
}
