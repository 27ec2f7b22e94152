// tok-token-prune on an imported two-block BERT encoder: CLS scoring with a
// one-row attention on the block's keys, the prune at the attention
// LayerNorm, restoration of one row per token by scatters (innermost
// first); received scoring marks the block's own attention and
// accumulates over blocks; `layers` picks the blocks.
// RUN: tok-import %S/Inputs/tiny-bert.json | tok-opt --tok-token-prune="keep=0.5" | FileCheck %s
// RUN: tok-import %S/Inputs/tiny-bert.json | tok-opt --tok-token-prune="keep=0.7 score=received protect-last=1" | FileCheck %s --check-prefix=RECV
// RUN: tok-import %S/Inputs/tiny-bert.json | tok-opt --tok-token-prune="layers=1" | FileCheck %s --check-prefix=LAYER
// RUN: tok-import %S/Inputs/tiny-bert.json | tok-opt --tok-token-prune="keep-list=1,0.4 restore=none" | FileCheck %s --check-prefix=SCHED
// RUN: tok-import %S/Inputs/tiny-bert.json | not tok-opt --tok-token-prune="keep-list=0.5 layers=1" 2>&1 | FileCheck %s --check-prefix=BOTH
// RUN: tok-import %S/Inputs/tiny-bert.json | not tok-opt --tok-token-prune="restore=zero" 2>&1 | FileCheck %s --check-prefix=RESTORE
// RUN: tok-import %S/Inputs/tiny-bert.json | not tok-opt --tok-token-prune="layers=2" 2>&1 | FileCheck %s --check-prefix=RANGE
// RUN: tok-import %S/Inputs/tiny-bert.json | not tok-opt --tok-token-prune="keep=0" 2>&1 | FileCheck %s --check-prefix=KEEP
// RUN: tok-import %S/Inputs/tiny-bert.json | not tok-opt --tok-token-prune="score=random" 2>&1 | FileCheck %s --check-prefix=SCORE
// RUN: tok-import %S/Inputs/tiny-bert.json | not tok-opt --tok-token-prune="protect-first=0" 2>&1 | FileCheck %s --check-prefix=CLS

// CHECK-LABEL: func.func @encode
// CHECK:       tok.attention %[[Q:[^ ,]*]], %[[K:[^ ,]*]], %[[V:[^ ,]*]] {mask = #tok.mask<full>}
// CHECK:       %[[ROW:.*]] = tensor.extract_slice %[[Q]][0, 0, 0] [2, 1, 4] [1, 1, 1]
// CHECK:       %{{.*}}, %[[REC:.*]] = tok.attention %[[ROW]], %[[K]], %[[V]] {mask = #tok.mask<full>, scores = #tok.scores<>} : tensor<2x1x4xf32>, tensor<2x?x4xf32>, tensor<2x?x4xf32> -> tensor<2x1x4xf32>, tensor<2x?xf32>
// CHECK:       %[[S:.*]] = linalg.generic {{.*}} ins(%[[REC]] : tensor<2x?xf32>)
// CHECK:       %[[LN1:.*]] = tok.layer_norm
// CHECK:       %[[X1:.*]], %[[I1:.*]] = tok.prune %[[LN1]], %[[S]] {keep = 5.000000e-01 : f32, protect_first = 1 : i64}
// CHECK-NEXT:  tok.linear %[[X1]],
// CHECK:       tok.attention {{.*}} scores = #tok.scores<>
// CHECK:       %[[LN2:.*]] = tok.layer_norm
// CHECK:       %[[X2:.*]], %[[I2:.*]] = tok.prune %[[LN2]]
// CHECK:       %[[OUT:.*]] = tok.layer_norm
// CHECK-NEXT:  %[[R2:.*]] = tok.scatter %[[OUT]] into %[[LN2]][%[[I2]]]
// CHECK-NEXT:  %[[R1:.*]] = tok.scatter %[[R2]] into %[[LN1]][%[[I1]]]
// CHECK-NEXT:  return %[[R1]]
// CHECK-LABEL: func.func @embed
// CHECK-NOT:   tok.prune

// RECV:        %{{.*}}, %[[R1:.*]] = tok.attention {{.*}} {mask = #tok.mask<full>, scores = #tok.scores<>} : tensor<2x?x4xf32>, tensor<2x?x4xf32>, tensor<2x?x4xf32> -> tensor<2x?x4xf32>, tensor<2x?xf32>
// RECV:        %[[S1:.*]] = linalg.generic {{.*}} ins(%[[R1]] : tensor<2x?xf32>)
// RECV:        %{{.*}}, %[[I1:.*]] = tok.prune %{{.*}}, %[[S1]] {keep = 0.699999988 : f32, protect_first = 1 : i64, protect_last = 1 : i64}
// RECV:        %{{.*}}, %[[R2:.*]] = tok.attention {{.*}} scores = #tok.scores<>
// RECV:        %[[S2:.*]] = linalg.generic {{.*}} ins(%[[R2]] : tensor<2x?xf32>)
// RECV:        %[[C:.*]] = tok.gather %[[S1]][%[[I1]]] : tensor<?xf32>, tensor<?xi32>
// RECV:        %[[ACC:.*]] = arith.addf %[[S2]], %[[C]] : tensor<?xf32>
// RECV:        tok.prune %{{.*}}, %[[ACC]]

// LAYER-COUNT-1: tok.prune
// LAYER-NOT:     tok.prune
// LAYER:         tok.scatter
// LAYER-NOT:     tok.scatter

// A keep schedule: block 0 keeps everything, block 1 keeps 40%; with
// restore=none the survivors are returned as they are.
// SCHED-COUNT-1: tok.prune
// SCHED-SAME:    keep = 4.000000e-01 : f32
// SCHED-NOT:     tok.scatter
// SCHED:         %[[Y:.*]] = tok.layer_norm
// SCHED-NEXT:    return %[[Y]]

// BOTH: error: tok-token-prune: give keep-list (a ratio per block) or layers, not both
// RESTORE: error: tok-token-prune: unknown restore 'zero' (scatter, none)
// RANGE: error: tok-token-prune: layer 2 does not exist (2 encoder blocks)
// KEEP: error: tok-token-prune: keep must be in (0, 1], got 0
// SCORE: error: tok-token-prune: unknown score 'random' (cls, received)
// CLS: error: tok-token-prune: score=cls ranks tokens by the first token's attention; protect it (protect-first >= 1)

// The two token passes do not stack (each restores rows at the returns).
// RUN: tok-import %S/Inputs/tiny-bert.json | tok-opt --tok-token-merge="r=2" | not tok-opt --tok-token-prune 2>&1 | FileCheck %s --check-prefix=STACK1
// RUN: tok-import %S/Inputs/tiny-bert.json | tok-opt --tok-token-prune | not tok-opt --tok-token-merge 2>&1 | FileCheck %s --check-prefix=STACK2
// STACK1: error: tok-token-prune: the function already has token reduction (tok-token-merge); apply one of the two passes
// STACK2: error: tok-token-merge: the function already has token reduction (tok-token-prune); apply one of the two passes
