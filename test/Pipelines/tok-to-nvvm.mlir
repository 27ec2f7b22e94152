// RUN: tok-opt --tok-to-nvvm %s | FileCheck %s
// RUN: tok-opt --tok-to-nvvm %s | FileCheck %s --check-prefix=OBJ
// RUN: tok-opt --tok-to-nvvm="chip=sm_90 format=llvm" %s | FileCheck %s --check-prefix=LLVM
// RUN: tok-opt --tok-to-nvvm %s | tok-translate --mlir-to-llvmir | FileCheck %s --check-prefix=HOST
// RUN: tok-opt --tok-to-nvvm %s | tok-translate --extract-gpu-object | FileCheck %s --check-prefix=PTX
// RUN: tok-opt --tok-to-nvvm %s | tok-translate --extract-gpu-object | FileCheck %s --check-prefix=NOPTX

// The whole function lowered for an sm_80 GPU: the host half in the LLVM
// dialect calling the mgpu* runtime, the kernel as PTX in a gpu.binary.

// CHECK-LABEL: llvm.func @attn(
// CHECK: llvm.call @tok_gpu_attention_mma_f16_h4_kv2_d64_causal_t64_r128_n128_sm55296_{{[0-9A-F]+}}_or_decode(
// CHECK-LABEL: llvm.func @tok_gpu_attention_mma_f16_h4_kv2_d64_causal_t64_r128_n128_sm55296_
// CHECK: llvm.call @mgpuStreamCreate()
// CHECK: llvm.call @mgpuMemAlloc(
// CHECK: llvm.call @mgpuMemcpy(
// T = 1: the split-KV kernels, with a workspace.
// CHECK: llvm.icmp "eq"
// CHECK: llvm.call @mgpuMemAlloc(
// CHECK: gpu.launch_func <%{{.*}} : !llvm.ptr> @tok_kernels::@attention_decode_f16_h4_kv2_d64_causal_{{[0-9A-F]+}}_partial
// CHECK: gpu.launch_func <%{{.*}} : !llvm.ptr> @tok_kernels::@attention_decode_f16_h4_kv2_d64_causal_{{[0-9A-F]+}}_combine
// Otherwise the tensor-core kernel.
// CHECK: gpu.launch_func <%{{.*}} : !llvm.ptr> @tok_kernels::@attention_mma_f16_h4_kv2_d64_causal_t64_r128_n128_sm55296_
// CHECK: llvm.call @mgpuMemFree(
// CHECK: llvm.call @mgpuStreamSynchronize(
// CHECK: llvm.call @mgpuStreamDestroy(
// OBJ: gpu.binary @tok_kernels  [#gpu.object<#nvvm.target<O = 3, chip = "sm_80", features = "+ptx80">, properties = {{.*}}, assembly = "{{.*}}.target sm_80
// OBJ-NOT: gpu.module

// LLVM: gpu.binary @tok_kernels  [#gpu.object<#nvvm.target<O = 3, chip = "sm_90", features = "+ptx80">, {{.*}}offload = "

// The host module loads the PTX (JIT) in a global constructor.
// HOST: @llvm.global_ctors = {{.*}} @tok_kernels_load
// HOST: call ptr @mgpuModuleGetFunction(
// 4 query heads, 128 threads, 54 KiB of dynamic shared memory, 22
// parameters (4 memref descriptors, T, S).
// HOST: call void @mgpuLaunchKernel(ptr %{{.*}}, i64 %{{.*}}, i64 4, i64 1, i64 128, i64 1, i64 1, i32 55296, ptr %{{.*}}, ptr %{{.*}}, ptr null, i64 22)
// HOST: define internal void @tok_kernels_load()
// HOST: call ptr @mgpuModuleLoadJIT(ptr @tok_kernels_binary, i32 3)

// PTX: .version 8.0
// PTX: .target sm_80
// PTX: .visible .entry attention_mma_f16_h4_kv2_d64_causal_t64_r128_n128_sm55296_
// PTX: .maxntid 128, 1, 1
// (LLVM rotates the loops, so the body is checked for presence, not order.)
// PTX-DAG: .shared .align 16 .b8 __dynamic_shmem__0;
// PTX-DAG: cp.async.cg.shared.global [{{.*}}], [{{.*}}], 16;
// PTX-DAG: cp.async.commit_group
// PTX-DAG: cp.async.wait_group 1
// PTX-DAG: bar.sync 0
// PTX-DAG: ldmatrix.sync.aligned.m8n8.x4.shared.b16
// PTX-DAG: ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16
// PTX-DAG: mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32
// PTX-DAG: shfl.sync.bfly.b32
// PTX-DAG: ex2.approx.ftz.f32
// PTX-DAG: cvt.rn.f16x2.f32
// PTX-DAG: st.global.b32
// No scalar half loads, and no libdevice call (the toolkit is not needed).
// NOPTX-NOT: ld.global.b16
// NOPTX-NOT: __nv_
func.func @attn(%q: tensor<4x?x64xf16>, %k: tensor<2x?x64xf16>,
                %v: tensor<2x?x64xf16>) -> tensor<4x?x64xf16> {
  %o = tok.attention %q, %k, %v {mask = #tok.mask<causal>}
      : tensor<4x?x64xf16>, tensor<2x?x64xf16>, tensor<2x?x64xf16>
      -> tensor<4x?x64xf16>
  return %o : tensor<4x?x64xf16>
}
