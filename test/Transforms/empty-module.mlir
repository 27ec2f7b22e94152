// Every tok pass on a module without tok content: a clean result or a
// clear error, never a crash (was: tok-speculative-decoding created a tok
// attribute without declaring the dialect, and segfaulted).
// RUN: tok-opt %s --tok-speculative-decoding | FileCheck %s
// RUN: tok-opt %s --tok-speculative-decoding="drafter=layer_skip" | FileCheck %s
// RUN: tok-opt %s --tok-approximate-math --tok-cost-report --tok-inline-steps --tok-outline-kernels | FileCheck %s
// RUN: tok-opt %s --tok-quantize-weights --tok-token-merge --tok-token-prune | FileCheck %s
// RUN: tok-opt %s --convert-tok-to-linalg --tok-x86-bf16-dot --tok-x86-int8-dot | FileCheck %s
// RUN: tok-opt %s --convert-tok-to-gpu --convert-tok-gpu-launchers | FileCheck %s
// RUN: tok-opt %s --tok-to-llvm | FileCheck %s --check-prefix=LLVM
// RUN: tok-opt %s --tok-to-nvvm | FileCheck %s --check-prefix=LLVM
// RUN: not tok-opt %s --tok-kv-evict 2>&1 | FileCheck %s --check-prefix=EVICT
// RUN: not tok-opt %s --tok-kv-quantize 2>&1 | FileCheck %s --check-prefix=QUANT
// RUN: not tok-opt %s --tok-kv-select 2>&1 | FileCheck %s --check-prefix=SELECT
// CHECK: module {
// CHECK-NEXT: func.func @f(%{{.*}}: i32) -> i32 {
// LLVM: llvm.func @f(%{{.*}}: i32) -> i32
// EVICT: error: tok-kv-evict: budget must be positive, got 0
// QUANT: error: tok-kv-quantize: the module has no KV cache to quantize
// SELECT: error: tok-kv-select: the module has no KV cache to select from
func.func @f(%x: i32) -> i32 {
  return %x : i32
}
