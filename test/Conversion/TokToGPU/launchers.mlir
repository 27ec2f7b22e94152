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
  // expected-error @below {{GPU launcher must take four buffers (query, key, value, output; a key bias before the output with key sizes) and return nothing; got '(memref<8x?x64xf32>) -> ()'}}
  func.func private @launch(memref<8x?x64xf32>) attributes {tok.gpu_kernel = @tok_kernels::@k, tok.gpu_rows_per_block = 128 : i64}
}

// -----

module attributes {gpu.container_module} {
  // expected-error @below {{GPU launcher without its 'tok.gpu_kernel' and 'tok.gpu_rows_per_block' attributes}}
  func.func private @launch(memref<8x?x64xf32>) attributes {tok.gpu_kernel = @tok_kernels::@k}
}

// -----

// With decode kernels the launcher picks at run time: T = 1 runs the
// split-KV partial kernel over (splits, Hk) blocks into an f32 workspace of
// splits x Hq x (D + 2) words, then the combine kernel over Hq blocks of D
// threads; other T run the prefill kernel. Each branch has its own token
// chain, joined inside it.

// CHECK-LABEL: func.func private @launch_or_decode(
// CHECK-NOT: tok.gpu_decode_kernel
// CHECK: gpu.memcpy async {{.*}} %arg2
// CHECK: gpu.alloc async {{.*}} : memref<8x?x64xf32>
// CHECK: %[[LEN:.*]] = memref.dim %arg0, %c1
// CHECK: %[[KLEN:.*]] = memref.dim %arg1, %c1
// CHECK: gpu.wait [%{{.*}}]
// CHECK: %[[ONE:.*]] = arith.cmpi eq, %[[LEN]], %c1
// CHECK: scf.if %[[ONE]] {
// Chunks of at least 32 keys, at most 256 splits (512 blocks over 2 KV heads).
// CHECK: %[[POS:.*]] = arith.maxui %[[KLEN]], %c1
// CHECK: arith.divui %{{.*}}, %c32
// CHECK: arith.minui %c256
// CHECK: %[[WORDS:.*]] = arith.muli %{{.*}}, %c528
// CHECK: %[[T0:.*]] = gpu.wait async
// CHECK: %[[WS:.*]], %[[T1:.*]] = gpu.alloc async [%[[T0]]] (%[[WORDS]]) : memref<?xf32>
// CHECK: %[[T2:.*]] = gpu.launch_func async [%[[T1]]] @tok_kernels::@partial blocks in (%{{.*}}, %c2{{.*}}, %c1{{.*}}) threads in (%c128{{.*}}, %c1{{.*}}, %c1{{.*}}) args({{.*}}, %[[WS]] : memref<?xf32>, %[[KLEN]] : index, %{{.*}} : index)
// CHECK: %[[T3:.*]] = gpu.launch_func async [%[[T2]]] @tok_kernels::@combine blocks in (%c8{{.*}}, %c1{{.*}}, %c1{{.*}}) threads in (%c64{{.*}}, %c1{{.*}}, %c1{{.*}}) args(%[[WS]] : memref<?xf32>, %{{.*}} : memref<?xf32>, %{{.*}} : index)
// CHECK: %[[T4:.*]] = gpu.dealloc async [%[[T3]]] %[[WS]]
// CHECK: gpu.wait [%[[T4]]]
// CHECK: } else {
// CHECK: %[[S0:.*]] = gpu.wait async
// CHECK: %[[S1:.*]] = gpu.launch_func async [%[[S0]]] @tok_kernels::@k
// CHECK: gpu.wait [%[[S1]]]
// CHECK: }
// CHECK: %[[AFTER:.*]] = gpu.wait async
// CHECK: gpu.memcpy async [%[[AFTER]]] %arg3
module attributes {gpu.container_module} {
  gpu.module @tok_kernels {
    gpu.func @k(%q: memref<?xf32>, %k: memref<?xf32>, %v: memref<?xf32>, %o: memref<?xf32>, %t: index, %s: index) kernel attributes {known_block_size = array<i32: 128, 1, 1>} {
      gpu.return
    }
    gpu.func @partial(%q: memref<?xf32>, %k: memref<?xf32>, %v: memref<?xf32>, %ws: memref<?xf32>, %s: index, %chunk: index) kernel attributes {known_block_size = array<i32: 128, 1, 1>} {
      gpu.return
    }
    gpu.func @combine(%ws: memref<?xf32>, %o: memref<?xf32>, %splits: index) kernel attributes {known_block_size = array<i32: 64, 1, 1>} {
      gpu.return
    }
  }
  func.func private @launch_or_decode(memref<8x?x64xf32>, memref<2x?x64xf32>, memref<2x?x64xf32>, memref<8x?x64xf32>) attributes {tok.gpu_kernel = @tok_kernels::@k, tok.gpu_rows_per_block = 128 : i64, tok.gpu_decode_kernel = @tok_kernels::@partial, tok.gpu_combine_kernel = @tok_kernels::@combine}
}

// -----

module attributes {gpu.container_module} {
  gpu.module @tok_kernels {
    gpu.func @k(%q: memref<?xf32>) kernel attributes {known_block_size = array<i32: 128, 1, 1>} {
      gpu.return
    }
  }
  // expected-error @below {{GPU launcher of missing decode kernels @tok_kernels::@gone, @tok_kernels::@gone2}}
  func.func private @launch(memref<8x?x64xf32>, memref<2x?x64xf32>, memref<2x?x64xf32>, memref<8x?x64xf32>) attributes {tok.gpu_kernel = @tok_kernels::@k, tok.gpu_rows_per_block = 128 : i64, tok.gpu_decode_kernel = @tok_kernels::@gone, tok.gpu_combine_kernel = @tok_kernels::@gone2}
}
