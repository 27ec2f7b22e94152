// RUN: tok-opt --convert-tok-to-gpu="max-shared-memory=232448" --split-input-file %s | FileCheck %s
// RUN: tok-opt --convert-tok-to-gpu --split-input-file %s | FileCheck %s --check-prefix=SMALLSMEM
// RUN: tok-opt --convert-tok-to-gpu="max-shared-memory=49152" --split-input-file %s | FileCheck %s --check-prefix=TINYSMEM
// RUN: tok-opt --convert-tok-to-gpu="key-tile=16 threads=64" %s --split-input-file | FileCheck %s --check-prefix=OPTS
// RUN: tok-opt --convert-tok-to-gpu="tensor-cores=false" %s --split-input-file | FileCheck %s --check-prefix=SIMT
// RUN: tok-opt --convert-tok-to-gpu="mma-row-tiles=1" %s --split-input-file | FileCheck %s --check-prefix=ONETILE
// RUN: tok-opt --convert-tok-to-gpu="split-decode=false" %s --split-input-file | FileCheck %s --check-prefix=NODECODE

// GQA (8 query heads over 2 KV heads), bf16, D = 128: two threads per row,
// a causal window. The call site hands the operands' buffers and a fresh
// output buffer to a bodiless launcher; the kernel is built once.

// CHECK: module attributes {gpu.container_module}
// CHECK-LABEL: func.func @gqa
// T and S are dynamic: the run-time check that T <= S.
// CHECK: %[[T:.*]] = tensor.dim %arg0, %c1
// CHECK: %[[S:.*]] = tensor.dim %arg1, %c1
// CHECK: %[[FITS:.*]] = arith.cmpi ule, %[[T]], %[[S]]
// CHECK: cf.assert %[[FITS]], "tok.attention: without positions the queries are the last of the keys, but there are more queries than keys"
// CHECK: %[[OUT:.*]] = memref.alloc(%{{.*}}) : memref<8x?x128xbf16>
// CHECK: %[[Q:.*]] = bufferization.to_buffer %arg0 read_only
// CHECK: %[[K:.*]] = bufferization.to_buffer %arg1 read_only
// CHECK: %[[V:.*]] = bufferization.to_buffer %arg2 read_only
// CHECK: call @[[LAUNCHER:tok_gpu_attention_simt_bf16_h8_kv2_d128_causal_w16_t32_r64_n128_[0-9A-F]+_or_decode]](%[[Q]], %[[K]], %[[V]], %[[OUT]])
// CHECK: %[[R:.*]] = bufferization.to_tensor %[[OUT]] restrict writable
// The second op of the same shape reuses the launcher.
// CHECK: call @[[LAUNCHER]](
// CHECK-NOT: tok.attention
// CHECK: gpu.module @tok_kernels
// CHECK: gpu.func @[[KERNEL:attention_simt_bf16_h8_kv2_d128_causal_w16_t32_r64_n128_[0-9A-F]+]](%{{.*}}: memref<?xbf16>, %{{.*}}: memref<?xbf16>, %{{.*}}: memref<?xbf16>, %{{.*}}: memref<?xbf16>, %[[T:.*]]: index, %[[S:.*]]: index)
// CHECK-SAME: workgroup(%[[KT:.*]] : memref<4096xf32, #gpu.address_space<workgroup>>, %[[VT:.*]] : memref<4096xf32, #gpu.address_space<workgroup>>)
// CHECK-SAME: kernel attributes {known_block_size = array<i32: 128, 1, 1>}
// The KV head of query head h is h / 4.
// CHECK: %[[H:.*]] = gpu.block_id  y
// CHECK: arith.divui %[[H]], %c4
// Two threads per row: row = tid / 2, part = tid % 2; 64 rows a block.
// CHECK: arith.divui %{{.*}}, %c2
// CHECK: arith.remui %{{.*}}, %c2
// The query row (64 columns), widened and scaled by log2(e) / sqrt(128).
// CHECK: vector.load %arg0[%{{.*}}] {alignment = 16 : i64} : memref<?xbf16>, vector<64xbf16>
// CHECK: arith.extf %{{.*}} : vector<64xbf16> to vector<64xf32>
// CHECK: arith.mulf %{{.*}}, %cst{{.*}} : vector<64xf32>
// The window (16, no sinks) starts the key loop at the first row's window.
// CHECK: arith.subi %{{.*}}, %c15
// CHECK: %[[LO:.*]] = arith.maxsi
// CHECK: scf.for %[[T0:.*]] = %[[LO]] to %{{.*}} step %c32 iter_args(
// Staging: 8-element chunks of K and V into shared memory as f32.
// CHECK: scf.for
// CHECK: vector.load %arg1[{{.*}}] {alignment = 16 : i64} : memref<?xbf16>, vector<8xbf16>
// CHECK: vector.store %{{.*}}, %[[KT]][{{.*}}] {alignment = 16 : i64} : memref<4096xf32, #gpu.address_space<workgroup>>, vector<8xf32>
// CHECK: vector.load %arg2[{{.*}}] {alignment = 16 : i64} : memref<?xbf16>, vector<8xbf16>
// CHECK: vector.store %{{.*}}, %[[VT]][{{.*}}]
// CHECK: gpu.barrier
// CHECK: scf.for
// CHECK: vector.load %[[KT]][{{.*}}] {alignment = 16 : i64} : memref<4096xf32, #gpu.address_space<workgroup>>, vector<64xf32>
// CHECK: vector.reduction <add>
// The two halves of the dot product meet through a shuffle.
// CHECK: gpu.shuffle  xor %{{.*}}, %c1_i32, %c32_i32 : f32
// Visibility: key <= query position and within the window.
// CHECK: arith.cmpi sle
// CHECK: arith.cmpi slt
// CHECK: arith.andi
// CHECK: arith.maximumf
// CHECK: llvm.call_intrinsic "llvm.nvvm.ex2.approx.ftz.f32"
// CHECK: llvm.call_intrinsic "llvm.nvvm.ex2.approx.ftz.f32"
// CHECK: vector.fma
// CHECK: gpu.barrier
// The output: acc / l (zeros where l = 0), narrowed, stored by live rows.
// CHECK: arith.cmpf ogt
// CHECK: arith.truncf %{{.*}} : vector<64xf32> to vector<64xbf16>
// CHECK: scf.if
// CHECK: vector.store %{{.*}}, %arg3[%{{.*}}] {alignment = 16 : i64} : memref<?xbf16>, vector<64xbf16>
// T is dynamic, so the split-KV decode kernels come too: the partial
// kernel (4 warps, the 4 query heads of a KV head per block; each lane 4 of
// the 128 columns)...
// CHECK: gpu.func @[[PARTIAL:attention_decode_bf16_h8_kv2_d128_causal_w16_[0-9A-F]+_partial]](%{{.*}}: memref<?xbf16>, %{{.*}}: memref<?xbf16>, %{{.*}}: memref<?xbf16>, %{{.*}}: memref<?xf32>, %{{.*}}: index, %{{.*}}: index)
// CHECK-SAME: workgroup(%{{.*}} : memref<16xf32, #gpu.address_space<workgroup>>, %{{.*}} : memref<16xf32, #gpu.address_space<workgroup>>, %{{.*}} : memref<2048xf32, #gpu.address_space<workgroup>>)
// CHECK-SAME: known_block_size = array<i32: 128, 1, 1>
// CHECK: vector.load %arg1[%{{.*}}] {alignment = 8 : i64} : memref<?xbf16>, vector<4xbf16>
// CHECK: gpu.shuffle  xor %{{.*}}, %c16_i32, %c32_i32
// CHECK: gpu.barrier
// ... and the combine kernel (one thread per column).
// CHECK: gpu.func @[[COMBINE:attention_decode_bf16_h8_kv2_d128_causal_w16_[0-9A-F]+_combine]](%{{.*}}: memref<?xf32>, %{{.*}}: memref<?xbf16>, %{{.*}}: index)
// CHECK-SAME: known_block_size = array<i32: 128, 1, 1>
// CHECK-NOT: gpu.func
// CHECK: func.func private @[[LAUNCHER]](memref<8x?x128xbf16>, memref<2x?x128xbf16>, memref<2x?x128xbf16>, memref<8x?x128xbf16>)
// CHECK-SAME: tok.gpu_combine_kernel = @tok_kernels::@[[COMBINE]]
// CHECK-SAME: tok.gpu_decode_kernel = @tok_kernels::@[[PARTIAL]]
// CHECK-SAME: tok.gpu_kernel = @tok_kernels::@[[KERNEL]]
// CHECK-SAME: tok.gpu_rows_per_block = 64 : i64

// OPTS: gpu.func @attention_simt_bf16_h8_kv2_d128_causal_w16_t16_r32_n64_
// OPTS-SAME: workgroup(%{{.*}} : memref<2048xf32, #gpu.address_space<workgroup>>
// OPTS-SAME: known_block_size = array<i32: 64, 1, 1>
// OPTS: tok.gpu_rows_per_block = 32 : i64
// NODECODE-NOT: attention_decode
// NODECODE-NOT: _or_decode
func.func @gqa(%q: tensor<8x?x128xbf16>, %k: tensor<2x?x128xbf16>,
               %v: tensor<2x?x128xbf16>) -> (tensor<8x?x128xbf16>, tensor<8x?x128xbf16>) {
  %o = tok.attention %q, %k, %v {mask = #tok.mask<causal, window = 16>}
      : tensor<8x?x128xbf16>, tensor<2x?x128xbf16>, tensor<2x?x128xbf16>
      -> tensor<8x?x128xbf16>
  %o2 = tok.attention %q, %k, %v {mask = #tok.mask<causal, window = 16>}
      : tensor<8x?x128xbf16>, tensor<2x?x128xbf16>, tensor<2x?x128xbf16>
      -> tensor<8x?x128xbf16>
  return %o, %o2 : tensor<8x?x128xbf16>, tensor<8x?x128xbf16>
}

// -----

// f32, D = 64 (one thread per row, no shuffle), a full mask over every key
// (no causal bound, no visibility test), an explicit scale. Static lengths
// are fine: the kernel reads T and S from its arguments; with T = 100 there
// is no decode path.

// CHECK-LABEL: func.func @encoder
// CHECK-NOT: cf.assert
// CHECK: call @tok_gpu_attention_simt_f32_h4_kv4_d64_full_t32_r128_n128_3E800000(
// CHECK: gpu.func @attention_simt_f32_h4_kv4_d64_full_t32_r128_n128_3E800000
// CHECK-SAME: workgroup(%{{.*}} : memref<2048xf32, #gpu.address_space<workgroup>>
// CHECK-NOT: arith.extf
// CHECK-NOT: gpu.shuffle
// CHECK-NOT: arith.cmpi sle
// CHECK: gpu.return
// CHECK-NOT: attention_decode
// CHECK: func.func private @tok_gpu_attention_simt_f32_h4_kv4_d64_full_t32_r128_n128_3E800000(
// CHECK-NOT: tok.gpu_decode_kernel
// CHECK-SAME: tok.gpu_rows_per_block = 128 : i64
func.func @encoder(%q: tensor<4x100x64xf32>, %k: tensor<4x100x64xf32>,
                   %v: tensor<4x100x64xf32>) -> tensor<4x100x64xf32> {
  %o = tok.attention %q, %k, %v {mask = #tok.mask<full>, scale = 0.25 : f32}
      : tensor<4x100x64xf32>, tensor<4x100x64xf32>, tensor<4x100x64xf32>
      -> tensor<4x100x64xf32>
  return %o : tensor<4x100x64xf32>
}

// -----

// The tensor-core kernel (bf16, D = 128, causal): two 16-row tiles per
// warp, 128 rows a block; Q and two buffers of the K and V tiles in dynamic
// shared memory, filled by cp.async, read by ldmatrix.

// CHECK-LABEL: func.func @mma_causal
// CHECK: call @tok_gpu_attention_mma_bf16_h32_kv8_d128_causal_t64_r128_n128_sm104448_3DB504F3_or_decode(
// CHECK: gpu.func @attention_mma_bf16_h32_kv8_d128_causal_t64_r128_n128_sm104448_3DB504F3(
// CHECK-NOT: workgroup(
// CHECK-SAME: known_block_size = array<i32: 128, 1, 1>
// CHECK: %[[SMEM:.*]] = gpu.dynamic_shared_memory : memref<?xi8, #gpu.address_space<workgroup>>
// Rows padded from 128 to 136 elements (distinct banks for ldmatrix).
// CHECK: %[[Q:.*]] = memref.view %[[SMEM]][%c0{{.*}}][] : memref<?xi8, #gpu.address_space<workgroup>> to memref<128x136xbf16, #gpu.address_space<workgroup>>
// CHECK: %[[K:.*]] = memref.view %[[SMEM]][%c34816{{.*}}][] : {{.*}} to memref<2x64x136xbf16, #gpu.address_space<workgroup>>
// CHECK: %[[V:.*]] = memref.view %[[SMEM]][%c69632{{.*}}][] : {{.*}} to memref<2x64x136xbf16, #gpu.address_space<workgroup>>
// Causal blocks run heaviest first.
// CHECK: gpu.grid_dim  x
// CHECK: nvgpu.device_async_copy %arg0[%{{.*}}], %[[Q]][%{{.*}}, %{{.*}}], 8 {bypassL1}
// The first tile, then in the loop the next one into the other buffer.
// CHECK: nvgpu.device_async_copy %arg1[%{{.*}}], %[[K]][%c0{{.*}}, %{{.*}}, %{{.*}}], 8 {bypassL1}
// CHECK: nvgpu.device_async_copy %arg2[%{{.*}}], %[[V]][%c0{{.*}}, %{{.*}}, %{{.*}}], 8 {bypassL1}
// CHECK: nvvm.cp.async.commit.group
// CHECK: scf.for
// CHECK: nvgpu.device_async_copy %arg1
// CHECK: nvvm.cp.async.commit.group
// CHECK: nvvm.cp.async.wait.group 1
// CHECK: gpu.barrier
// CHECK: nvgpu.ldmatrix %[[Q]][%{{.*}}, %{{.*}}] {numTiles = 4 : i32, transpose = false} : memref<128x136xbf16, #gpu.address_space<workgroup>> -> vector<4x2xbf16>
// CHECK: llvm.bitcast %{{.*}} : vector<2xbf16> to i32
// CHECK: nvgpu.ldmatrix %[[K]][%{{.*}}, %{{.*}}, %{{.*}}] {numTiles = 4 : i32, transpose = false}
// CHECK: nvvm.mma.sync A[{{.*}}]{{ +}}B[{{.*}}]{{ +}}C[{{.*}}]{{ +}}{layoutA = #nvvm.mma_layout<row>, layoutB = #nvvm.mma_layout<col>, multiplicandAPtxType = #nvvm.mma_type<bf16>, multiplicandBPtxType = #nvvm.mma_type<bf16>, shape = #nvvm.shape<m = 16, n = 8, k = 16>} : (i32, i32, f32) -> !llvm.struct<(f32, f32, f32, f32)>
// The masked branch only in tiles that need it.
// CHECK: scf.if %{{.*}} -> (f32, f32,
// CHECK: gpu.shuffle  xor
// CHECK: llvm.intr.fma
// CHECK: llvm.call_intrinsic "llvm.nvvm.ex2.approx.ftz.f32"
// P rounded to bf16 pairs for the P V products; V's fragments transposed
// by ldmatrix.
// CHECK: arith.truncf %{{.*}} : vector<2xf32> to vector<2xbf16>
// CHECK: nvgpu.ldmatrix %[[V]][%{{.*}}, %{{.*}}, %{{.*}}] {numTiles = 4 : i32, transpose = true}
// CHECK: nvvm.mma.sync
// CHECK: gpu.barrier
// CHECK: nvvm.cp.async.wait.group 0
// CHECK: func.func private @tok_gpu_attention_mma_bf16_h32_kv8_d128_causal_t64_r128_n128_sm104448_3DB504F3_or_decode
// CHECK-SAME: tok.gpu_dynamic_shared = 104448 : i64
// CHECK-SAME: tok.gpu_rows_per_block = 128 : i64

// SIMT: gpu.func @attention_simt_bf16_h32_kv8_d128_causal_t32_r64_n128_
// SIMT-NOT: nvvm.mma.sync
// ONETILE: gpu.func @attention_mma_bf16_h32_kv8_d128_causal_t64_r64_n128_sm87040_
// Two row tiles (102 KiB) do not fit the default 99 KiB a block (sm_86,
// sm_89): one tile; in 48 KiB not even that: CUDA cores.
// SMALLSMEM: gpu.func @attention_mma_bf16_h32_kv8_d128_causal_t64_r64_n128_sm87040_
// TINYSMEM: gpu.func @attention_simt_bf16_h32_kv8_d128_causal_t32_r64_n128_
func.func @mma_causal(%q: tensor<32x?x128xbf16>, %k: tensor<8x?x128xbf16>,
                      %v: tensor<8x?x128xbf16>) -> tensor<32x?x128xbf16> {
  %o = tok.attention %q, %k, %v {mask = #tok.mask<causal>}
      : tensor<32x?x128xbf16>, tensor<8x?x128xbf16>, tensor<8x?x128xbf16>
      -> tensor<32x?x128xbf16>
  return %o : tensor<32x?x128xbf16>
}

// -----

// f16 operands go to the MMA as f16x2 vectors; no grid reversal without a
// causal mask.

// CHECK-LABEL: func.func @mma_full_f16
// CHECK: gpu.func @attention_mma_f16_h4_kv4_d64_full_t64_r128_n128_sm55296_
// CHECK-NOT: gpu.grid_dim
// CHECK: nvvm.mma.sync {{.*}}shape = #nvvm.shape<m = 16, n = 8, k = 16>} : (vector<2xf16>, vector<2xf16>, f32) -> !llvm.struct<(f32, f32, f32, f32)>
func.func @mma_full_f16(%q: tensor<4x?x64xf16>, %k: tensor<4x?x64xf16>,
                        %v: tensor<4x?x64xf16>) -> tensor<4x?x64xf16> {
  %o = tok.attention %q, %k, %v {mask = #tok.mask<full>}
      : tensor<4x?x64xf16>, tensor<4x?x64xf16>, tensor<4x?x64xf16>
      -> tensor<4x?x64xf16>
  return %o : tensor<4x?x64xf16>
}

// -----

// Two lengths, one kernel and one launcher: the launcher takes the token
// dimension dynamic and the call sites cast.

// CHECK-LABEL: func.func @two_lengths
// CHECK: %[[A:.*]] = memref.cast %{{.*}} : memref<4x128x64xf16> to memref<4x?x64xf16>
// CHECK: call @[[L:tok_gpu_attention_mma_f16_h4_kv4_d64_full_[A-Za-z0-9_]+]](%[[A]],
// CHECK: memref.cast %{{.*}} : memref<4x256x64xf16> to memref<4x?x64xf16>
// CHECK: call @[[L]](
// CHECK-COUNT-1: gpu.func @attention_mma
// CHECK: func.func private @[[L]](memref<4x?x64xf16>, memref<4x?x64xf16>, memref<4x?x64xf16>, memref<4x?x64xf16>)
func.func @two_lengths(%q: tensor<4x128x64xf16>, %q2: tensor<4x256x64xf16>)
    -> (tensor<4x128x64xf16>, tensor<4x256x64xf16>) {
  %o = tok.attention %q, %q, %q {mask = #tok.mask<full>}
      : tensor<4x128x64xf16>, tensor<4x128x64xf16>, tensor<4x128x64xf16>
      -> tensor<4x128x64xf16>
  %o2 = tok.attention %q2, %q2, %q2 {mask = #tok.mask<full>}
      : tensor<4x256x64xf16>, tensor<4x256x64xf16>, tensor<4x256x64xf16>
      -> tensor<4x256x64xf16>
  return %o, %o2 : tensor<4x128x64xf16>, tensor<4x256x64xf16>
}

// -----

// ToMe key sizes: log2(size) computed on the host (log2 for the kernel's
// log2-domain logits), passed to the SIMT kernel (also for f16, and
// without decode kernels) and added to every key's logit.

// CHECK-LABEL: func.func @sizes
// Into a fresh tensor, never in place over the caller's sizes.
// CHECK: %[[EMPTY:.*]] = tensor.empty(%{{.*}}) : tensor<?xf32>
// CHECK: %[[BIAS:.*]] = linalg.generic {{.*}} ins(%arg3 : tensor<?xf32>) outs(%[[EMPTY]] : tensor<?xf32>)
// CHECK: math.log2
// CHECK: %[[B:.*]] = bufferization.to_buffer %[[BIAS]] read_only : tensor<?xf32> to memref<?xf32>
// CHECK: call @tok_gpu_attention_simt_f16_h4_kv4_d64_full_sizes_t32_r128_n128_3E000000(%{{.*}}, %{{.*}}, %{{.*}}, %[[B]], %{{.*}})
// CHECK-NOT: attention_decode
// CHECK: gpu.func @attention_simt_f16_h4_kv4_d64_full_sizes_t32_r128_n128_3E000000({{.*}}, %{{.*}}: index, %{{.*}}: index, %[[ARG:.*]]: memref<?xf32>)
// CHECK: vector.reduction <add>
// CHECK: %[[S:.*]] = memref.load %[[ARG]][%{{.*}}] : memref<?xf32>
// CHECK: arith.addf %{{.*}}, %[[S]] : f32
// CHECK: func.func private @tok_gpu_attention_simt_f16_h4_kv4_d64_full_sizes_t32_r128_n128_3E000000(memref<4x?x64xf16>, memref<4x?x64xf16>, memref<4x?x64xf16>, memref<?xf32>, memref<4x?x64xf16>)
func.func @sizes(%q: tensor<4x?x64xf16>, %k: tensor<4x?x64xf16>,
                 %v: tensor<4x?x64xf16>, %sz: tensor<?xf32>)
    -> tensor<4x?x64xf16> {
  %o = tok.attention %q, %k, %v sizes(%sz : tensor<?xf32>) {mask = #tok.mask<full>}
      : tensor<4x?x64xf16>, tensor<4x?x64xf16>, tensor<4x?x64xf16>
      -> tensor<4x?x64xf16>
  return %o : tensor<4x?x64xf16>
}
