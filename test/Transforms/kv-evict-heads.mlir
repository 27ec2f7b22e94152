// RUN: tok-opt %s --tok-kv-evict="profile=%S/Inputs/kv-profile-heads.json chunk=1" | FileCheck %s

// Per-head budgets: KV head 1 keeps everything, KV heads 0 and 2 stream
// (sinks 1 + recent 3). The layer's cache splits in two along its whole
// thread: the kept head (the original values, 1 head, capacity unchanged)
// and the streamed heads (2 heads, budget + chunk = 5 slots), each appended
// its heads' keys and values; the attention becomes one per part over
// their query-head groups (GQA 2: query heads 2-3 and 0-1, 4-5), whose
// outputs go back in head order; only the streamed part is evicted.
// CHECK-LABEL: func.func private @step(
// CHECK-SAME:    %[[Q:[^:]*]]: tensor<6x?x4xf32>, %[[K:[^:]*]]: tensor<3x?x4xf32>, %[[CK:[^:]*]]: !tok.kv_cache<1x64x4xf32>, %[[CS:[^:]*]]: !tok.kv_cache<2x5x4xf32>)
// CHECK-SAME:    -> (tensor<6x?x4xf32>, !tok.kv_cache<1x64x4xf32>, !tok.kv_cache<2x5x4xf32>)
// CHECK:         %[[KK:.*]] = tensor.extract_slice %[[K]][1, 0, 0] [1, %{{.*}}, 4] [1, 1, 1]
// CHECK:         tensor.empty(%{{.*}}) : tensor<2x?x4xf32>
// CHECK:         tensor.extract_slice %[[K]][0, 0, 0] [1, %{{.*}}, 4]
// CHECK:         tensor.insert_slice
// CHECK:         tensor.extract_slice %[[K]][2, 0, 0] [1, %{{.*}}, 4]
// CHECK:         %[[KS:.*]] = tensor.insert_slice
// CHECK-DAG:     %[[AS:.*]] = tok.kv.append %[[CS]], %[[KS]], %{{.*}} : !tok.kv_cache<2x5x4xf32>, tensor<2x?x4xf32>
// CHECK-DAG:     %[[AK:.*]] = tok.kv.append %[[CK]], %[[KK]], %{{.*}} : !tok.kv_cache<1x64x4xf32>, tensor<1x?x4xf32>
// CHECK:         %[[QK:.*]] = tensor.extract_slice %[[Q]][2, 0, 0] [2, %{{.*}}, 4]
// CHECK:         %[[OK:.*]] = tok.cached_attention %[[QK]], %[[AK]], %{{.*}} {mask = #tok.mask<causal>} : tensor<2x?x4xf32>, !tok.kv_cache<1x64x4xf32>
// CHECK:         %[[OS:.*]] = tok.cached_attention %{{.*}}, %[[AS]], %{{.*}} {mask = #tok.mask<causal>} : tensor<4x?x4xf32>, !tok.kv_cache<2x5x4xf32>
// CHECK:         %[[E:.*]] = tok.kv.evict %[[AS]] {policy = #tok.evict<window, budget = 4, sinks = 1, recent = 3>} : !tok.kv_cache<2x5x4xf32>
// CHECK:         tensor.extract_slice %[[OK]][0, 0, 0] [2, %{{.*}}, 4]
// CHECK:         tensor.insert_slice %{{.*}} into %{{.*}}[2, 0, 0] [2, %{{.*}}, 4]
// CHECK:         tensor.extract_slice %[[OS]][0, 0, 0] [2, %{{.*}}, 4]
// CHECK:         tensor.insert_slice %{{.*}} into %{{.*}}[0, 0, 0] [2, %{{.*}}, 4]
// CHECK:         tensor.extract_slice %[[OS]][2, 0, 0] [2, %{{.*}}, 4]
// CHECK:         %[[O:.*]] = tensor.insert_slice %{{.*}} into %{{.*}}[4, 0, 0] [2, %{{.*}}, 4]
// CHECK:         return %[[O]], %[[AK]], %[[E]]
// Callers pass both parts: the generation loop and a teacher-forcing loop.
// CHECK-LABEL: func.func @main(
// CHECK:         %[[EK:.*]] = tok.kv.empty : !tok.kv_cache<1x64x4xf32>
// CHECK:         %[[ES:.*]] = tok.kv.empty : !tok.kv_cache<2x5x4xf32>
// CHECK:         scf.for {{.*}} iter_args(%[[IK:.*]] = %[[EK]], %[[IS:.*]] = %[[ES]]) -> (!tok.kv_cache<1x64x4xf32>, !tok.kv_cache<2x5x4xf32>)
// CHECK:           call @step(%{{.*}}, %{{.*}}, %[[IK]], %[[IS]])
// CHECK:         tok.kv.length %{{.*}} : !tok.kv_cache<1x64x4xf32>
func.func private @step(%q: tensor<6x?x4xf32>, %k: tensor<3x?x4xf32>, %c: !tok.kv_cache<3x64x4xf32>)
    -> (tensor<6x?x4xf32>, !tok.kv_cache<3x64x4xf32>) {
  %z = arith.constant 0 : index
  %t = tensor.dim %k, %z : tensor<3x?x4xf32>
  %p = tensor.empty(%t) : tensor<?xi32>
  %a = tok.kv.append %c, %k, %k, %p : !tok.kv_cache<3x64x4xf32>, tensor<3x?x4xf32>, tensor<3x?x4xf32>, tensor<?xi32>
  %o = tok.cached_attention %q, %a, %p {mask = #tok.mask<causal>} : tensor<6x?x4xf32>, !tok.kv_cache<3x64x4xf32>, tensor<?xi32> -> tensor<6x?x4xf32>
  return %o, %a : tensor<6x?x4xf32>, !tok.kv_cache<3x64x4xf32>
}
func.func @main(%q: tensor<6x?x4xf32>, %k: tensor<3x?x4xf32>, %n: index) -> index {
  %c = tok.kv.empty : !tok.kv_cache<3x64x4xf32>
  %lb = arith.constant 0 : index
  %one = arith.constant 1 : index
  %r = scf.for %i = %lb to %n step %one iter_args(%a = %c) -> (!tok.kv_cache<3x64x4xf32>) {
    %s:2 = func.call @step(%q, %k, %a) : (tensor<6x?x4xf32>, tensor<3x?x4xf32>, !tok.kv_cache<3x64x4xf32>) -> (tensor<6x?x4xf32>, !tok.kv_cache<3x64x4xf32>)
    scf.yield %s#1 : !tok.kv_cache<3x64x4xf32>
  }
  %len = tok.kv.length %r : !tok.kv_cache<3x64x4xf32>
  return %len : index
}
