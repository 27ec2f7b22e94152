// tok-token-merge on an imported two-block BERT encoder (post-LN): the merge
// sits at the attention LayerNorm, before the MLP; the second block attends
// with the merged sizes and merges again with them; the maps compose and the
// returned rows are unmerged. @embed (no attention of its own) is untouched.
// RUN: tok-import %S/Inputs/tiny-bert.json | tok-opt --tok-token-merge="r=4" | FileCheck %s
// RUN: tok-import %S/Inputs/tiny-bert.json | tok-opt --tok-token-merge="r=4 schedule=decreasing" | FileCheck %s --check-prefix=DEC
// RUN: tok-import %S/Inputs/tiny-bert.json | tok-opt --tok-token-merge="r-list=0,3 protect-first=0 prop-attn=0" | FileCheck %s --check-prefix=LIST
// RUN: tok-import %S/Inputs/tiny-bert.json | tok-opt --tok-token-merge="r=0" | FileCheck %s --check-prefix=ZERO
// RUN: tok-import %S/Inputs/tiny-bert.json | tok-opt --tok-token-merge="r=2 method=pitome" | FileCheck %s --check-prefix=PITOME
// RUN: tok-import %S/Inputs/tiny-bert.json | tok-opt --tok-token-merge="r=2 metric=hidden" | FileCheck %s --check-prefix=HIDDEN
// RUN: tok-import %S/Inputs/tiny-bert.json | not tok-opt --tok-token-merge="metric=values" 2>&1 | FileCheck %s --check-prefix=BADMETRIC

// CHECK-LABEL: func.func @encode
// CHECK:       %[[ATT1:.*]] = tok.attention %{{.*}}, %{{.*}}, %[[V1:[^ ]*]] {mask = #tok.mask<full>}
// CHECK:       %[[LN1:.*]] = tok.layer_norm
// The metric: keys averaged over the heads.
// CHECK:       linalg.generic {{.*}}iterator_types = ["reduction", "parallel", "parallel"]
// CHECK:       arith.divf
// CHECK:       %[[X1:.*]], %[[SZ1:.*]], %[[MAP1:.*]] = tok.merge %[[LN1]], %{{.*}} {protect_first = 1 : i64, r = 4 : i64}
// CHECK-NEXT:  tok.linear %[[X1]],
// CHECK:       tok.attention {{.*}} sizes(%[[SZ1]] : tensor<?xf32>) {mask = #tok.mask<full>}
// CHECK:       %[[LN2:.*]] = tok.layer_norm
// CHECK:       %[[X2:.*]], %{{.*}}, %[[MAP2:.*]] = tok.merge %[[LN2]], %{{.*}} sizes(%[[SZ1]] : tensor<?xf32>) {protect_first = 1 : i64, r = 4 : i64}
// Composition: map[i] = map2[map1[i]].
// CHECK:       %[[MAP:.*]] = linalg.generic {{.*}} ins(%[[MAP1]] : tensor<?xi32>)
// CHECK:         tensor.extract %[[MAP2]]
// CHECK:       tok.linear %[[X2]],
// CHECK:       %[[OUT:.*]] = tok.layer_norm
// CHECK:       %[[U:.*]] = tok.unmerge %[[OUT]], %[[MAP]] : tensor<?x8xf32>, tensor<?xi32>
// CHECK-NEXT:  return %[[U]] : tensor<?x8xf32>
// CHECK-LABEL: func.func @embed
// CHECK-NOT:   tok.merge
// CHECK-NOT:   tok.unmerge

// Decreasing over two blocks: 2r then 0 (ToMe's parse_r with inflect -1).
// DEC:         tok.merge {{.*}} {protect_first = 1 : i64, r = 8 : i64}
// DEC-NOT:     tok.merge
// DEC:         tok.unmerge
// DEC-LABEL:   func.func @embed

// An explicit list: nothing merges in block 0; without proportional
// attention no attention takes sizes.
// LIST-NOT:    sizes(
// LIST:        tok.merge {{.*}} {r = 3 : i64}
// LIST-NOT:    sizes(
// LIST:        tok.unmerge

// ZERO-NOT:    tok.merge
// ZERO-NOT:    tok.unmerge

// PiToMe: the margin falls from 0.9 over the blocks (0.9 - 0.8 l / L; the
// second block's 0.5 is the default, not printed).
// PITOME:      tok.merge {{.*}} {margin = 0.899999976 : f32, method = #tok.merge_method<pitome>, protect_first = 1 : i64, r = 2 : i64}
// PITOME:      tok.merge {{.*}} {method = #tok.merge_method<pitome>, protect_first = 1 : i64, r = 2 : i64}

// metric=hidden: the rows being merged are their own metric.
// HIDDEN:      %[[LN:.*]] = tok.layer_norm %{{.*}}, %arg14,
// HIDDEN-NEXT: tok.merge %[[LN]], %[[LN]] {protect_first = 1 : i64, r = 2 : i64} : tensor<?x8xf32>, tensor<?x8xf32>
// BADMETRIC: error: tok-token-merge: unknown metric 'values' (keys, hidden)
