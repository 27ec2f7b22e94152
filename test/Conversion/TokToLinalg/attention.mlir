// RUN: tok-opt %s --convert-tok-to-linalg="query-tile=16 key-tile=32 vector-attention=0" --split-input-file | FileCheck %s --implicit-check-not='tensor<128x128xf32>'
// RUN: not tok-opt %s --convert-tok-to-linalg="key-tile=0" 2>&1 | FileCheck %s --check-prefix=BAD-TILE

// BAD-TILE: error: convert-tok-to-linalg: query-tile and key-tile must be positive, got 32 and 0

// A parallel loop over KV heads (one task per group of query heads that
// share it), then loops over those query heads, query tiles and key tiles
// carry the running max, running sum and unnormalized output; only
// tile-sized logits exist (the implicit check rejects any 128 x 128
// tensor).
// CHECK-LABEL: func.func @causal
// CHECK:       %[[GROUP:.*]] = arith.divui
// CHECK:       scf.forall (%[[G:.*]]) in (%{{.*}}) shared_outs(%[[SHARED:.*]] = %{{.*}}) -> (tensor<8x128x32xf32>)
// CHECK:         %[[FIRST:.*]] = arith.muli %[[G]], %[[GROUP]]
// CHECK:         %[[MINE:.*]] = tensor.extract_slice %[[SHARED]][%[[FIRST]], 0, 0] [%[[GROUP]], {{.*}}] [1, 1, 1]
// CHECK:         %[[HEADS:.*]] = scf.for %[[HH:.*]] = {{.*}} to %[[GROUP]] {{.*}} iter_args(%{{.*}} = %[[MINE]])
// CHECK:           %[[H:.*]] = arith.addi %[[FIRST]], %[[HH]]
// CHECK:           scf.for %[[I0:.*]] = {{.*}} step %c16 iter_args
// CHECK:             %[[BQ:.*]] = arith.minsi %c16
// CHECK:             tensor.extract_slice %{{.*}}[%[[H]], %[[I0]], 0] [1, %[[BQ]], {{.*}}] [1, 1, 1] : tensor<8x128x32xf32> to tensor<?x?xf32>
// CHECK:             %[[LOOP:.*]]:3 = scf.for %[[J0:.*]] = {{.*}} step %c32 iter_args(%[[M:.*]] = %{{.*}}, %[[L:.*]] = %{{.*}}, %[[ACC:.*]] = %{{.*}}) -> (tensor<?xf32>, tensor<?xf32>, tensor<?x?xf32>)
// CHECK:               tensor.extract_slice %{{.*}}[%[[G]], %[[J0]], 0]
// QK^T, contracting the head dimension:
// CHECK:               linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction"]
// CHECK:                 arith.mulf {{.*}} fastmath<contract>
// Causal mask on positions, scale, -inf where hidden:
// CHECK:               linalg.generic
// CHECK:                 arith.cmpi sle
// CHECK:                 arith.select
// Running max, updated in place in the loop-carried tensor:
// CHECK:               arith.maxnumf
// CHECK:               linalg.generic {{.*}} outs(%[[M]], %{{.*}} : tensor<?xf32>, tensor<?xf32>)
// CHECK:                 math.exp
// CHECK:               linalg.generic {{.*}} outs(%[[L]] : tensor<?xf32>)
// P V with the value dimension innermost:
// CHECK:               linalg.generic {{.*}} iterator_types = ["parallel", "reduction", "parallel"]{{.*}} outs(%{{.*}} : tensor<?x?xf32>)
// CHECK:               scf.yield
// The final normalization guards empty rows (l = 0).
// CHECK:             linalg.generic
// CHECK:               arith.divf
// CHECK:               arith.select
// CHECK:             tensor.insert_slice {{.*}} into %{{.*}}[%[[HH]], %[[I0]], 0]
// CHECK:         scf.forall.in_parallel
// CHECK:           tensor.parallel_insert_slice %[[HEADS]] into %[[SHARED]][%[[FIRST]], 0, 0]
func.func @causal(%q: tensor<8x128x32xf32>, %k: tensor<2x128x32xf32>, %v: tensor<2x128x32xf32>) -> tensor<8x128x32xf32> {
  %o = tok.attention %q, %k, %v {mask = #tok.mask<causal>}
      : tensor<8x128x32xf32>, tensor<2x128x32xf32>, tensor<2x128x32xf32> -> tensor<8x128x32xf32>
  return %o : tensor<8x128x32xf32>
}

// -----

// Received scores: a second loop over the key tiles with the rows' final
// log-sum-exp accumulates into the KV head's row of the scores.
// The task of KV head g owns row g of the scores.
// CHECK-LABEL: func.func @scores
// CHECK:       linalg.fill {{.*}} -> tensor<2x128xf32>
// CHECK:       scf.forall (%[[G:.*]]) in {{.*}} shared_outs(%{{.*}} = %{{.*}}, %[[RECV:.*]] = %{{.*}})
// CHECK:         tensor.extract_slice %[[RECV]][%[[G]], 0] [1, {{.*}}] [1, 1] : tensor<2x128xf32> to tensor<1x?xf32>
// CHECK:         scf.for
// CHECK:           scf.for
// CHECK:             scf.for
// CHECK:             math.log
// CHECK:             scf.for
// CHECK:               tensor.extract_slice %{{.*}} : tensor<1x?xf32> to tensor<?xf32>
// CHECK:               linalg.generic {{.*}} iterator_types = ["parallel", "reduction"]
// CHECK:               tensor.insert_slice %{{.*}} : tensor<?xf32> into tensor<1x?xf32>
// CHECK:         scf.forall.in_parallel
// CHECK:           tensor.parallel_insert_slice %{{.*}} into %[[RECV]][%[[G]], 0]
func.func @scores(%q: tensor<8x128x32xf32>, %k: tensor<2x128x32xf32>, %v: tensor<2x128x32xf32>) -> tensor<2x128xf32> {
  %o, %s = tok.attention %q, %k, %v {mask = #tok.mask<causal>, scores = #tok.scores<rows = 4>}
      : tensor<8x128x32xf32>, tensor<2x128x32xf32>, tensor<2x128x32xf32> -> tensor<8x128x32xf32>, tensor<2x128xf32>
  return %s : tensor<2x128xf32>
}

// -----

// Tree masks walk parent pointers; a pointer that does not point backwards
// ends the walk (no infinite loop on malformed trees).
// CHECK-LABEL: func.func @tree
// CHECK:       scf.if
// CHECK:         scf.while
// CHECK:           arith.cmpi sgt
// CHECK:           tensor.extract
// CHECK:           arith.cmpi slt
// CHECK:           arith.select
func.func @tree(%q: tensor<4x6x8xf32>, %k: tensor<2x14x8xf32>, %v: tensor<2x14x8xf32>, %p: tensor<6xi32>) -> tensor<4x6x8xf32> {
  %o = tok.attention %q, %k, %v tree(%p : tensor<6xi32>) {mask = #tok.mask<causal>}
      : tensor<4x6x8xf32>, tensor<2x14x8xf32>, tensor<2x14x8xf32> -> tensor<4x6x8xf32>
  return %o : tensor<4x6x8xf32>
}

// -----

// With implicit positions, a causal mask ends the key loop after the tile's
// last row and a window without sinks starts it at the first row's window
// (W - 1 = 7 keys back): hidden key tiles are never visited.
// CHECK-LABEL: func.func @window_bounds
// CHECK:       scf.for %[[I0:[a-z0-9]+]] = {{.*}} step %c16
// CHECK:         %[[BQ:.*]] = arith.minsi %c16
// CHECK:         %[[OFF:.*]] = arith.subi %[[S:.*]], %[[T:.*]] : index
// CHECK:         %[[FIRST:.*]] = arith.addi %[[OFF]], %[[I0]]
// CHECK:         %[[END:.*]] = arith.addi %[[FIRST]], %[[BQ]]
// CHECK:         %[[HI:.*]] = arith.minsi %[[S]], %[[END]]
// CHECK:         %[[START:.*]] = arith.subi %[[FIRST]], %c7
// CHECK:         %[[LO:.*]] = arith.maxsi %{{.*}}, %[[START]]
// CHECK:         scf.for %{{.*}} = %[[LO]] to %[[HI]] step %c32
func.func @window_bounds(%q: tensor<2x128x32xf32>, %k: tensor<1x128x32xf32>, %v: tensor<1x128x32xf32>) -> tensor<2x128x32xf32> {
  %o = tok.attention %q, %k, %v {mask = #tok.mask<causal, window = 8>}
      : tensor<2x128x32xf32>, tensor<1x128x32xf32>, tensor<1x128x32xf32> -> tensor<2x128x32xf32>
  return %o : tensor<2x128x32xf32>
}
