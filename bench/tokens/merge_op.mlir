// One tok.merge on 512 tokens of width 384 with a 32-wide metric (an
// encoder block's keys averaged over heads), r = 32, CLS protected: the
// cost of the matching alone. Inputs are drawn by tok-run from --seed.
//   build/bin/tok-run bench/tokens/merge_op.mlir -e tome --timing --repeat 5 --print-results=0
//   build/bin/tok-run bench/tokens/merge_op.mlir -e pitome --timing --repeat 5 --print-results=0
// @tome_hidden: metric=hidden's merge, the 384-wide rows themselves as the
// metric, r = 64:
//   build/bin/tok-run bench/tokens/merge_op.mlir -e tome_hidden --timing --repeat 9 --print-results=0
func.func @tome(%x: tensor<512x384xf32>, %m: tensor<512x32xf32>)
    -> (tensor<480x384xf32>, tensor<480xf32>, tensor<512xi32>) {
  %y, %sz, %map = tok.merge %x, %m {r = 32 : i64, protect_first = 1 : i64}
      : tensor<512x384xf32>, tensor<512x32xf32>
      -> tensor<480x384xf32>, tensor<480xf32>, tensor<512xi32>
  return %y, %sz, %map : tensor<480x384xf32>, tensor<480xf32>, tensor<512xi32>
}

func.func @pitome(%x: tensor<512x384xf32>, %m: tensor<512x32xf32>)
    -> (tensor<480x384xf32>, tensor<480xf32>, tensor<512xi32>) {
  %y, %sz, %map = tok.merge %x, %m {r = 32 : i64, protect_first = 1 : i64,
      method = #tok.merge_method<pitome>}
      : tensor<512x384xf32>, tensor<512x32xf32>
      -> tensor<480x384xf32>, tensor<480xf32>, tensor<512xi32>
  return %y, %sz, %map : tensor<480x384xf32>, tensor<480xf32>, tensor<512xi32>
}

func.func @tome_hidden(%x: tensor<512x384xf32>)
    -> (tensor<448x384xf32>, tensor<448xf32>, tensor<512xi32>) {
  %y, %sz, %map = tok.merge %x, %x {r = 64 : i64, protect_first = 1 : i64}
      : tensor<512x384xf32>, tensor<512x384xf32>
      -> tensor<448x384xf32>, tensor<448xf32>, tensor<512xi32>
  return %y, %sz, %map : tensor<448x384xf32>, tensor<448xf32>, tensor<512xi32>
}
