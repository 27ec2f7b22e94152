// 3000 chained tok.linear over one 288 x 288 weight (L2-resident), T = 3
// token rows: the cost of a verification step's linears once the weights
// are cached (docs/codegen.md, "Linear layers"). Other T: replace 3x288.
//   build/bin/tok-run bench/speculative/linear_chain.mlir -e bench \
//       --timing --repeat 7 --print-results=false
func.func @bench(%x: tensor<3x288xf32>, %w: tensor<288x288xf32>) -> tensor<3x288xf32> {
  %lo = arith.constant 0 : index
  %hi = arith.constant 3000 : index
  %one = arith.constant 1 : index
  %xd = tensor.cast %x : tensor<3x288xf32> to tensor<?x288xf32>
  %r = scf.for %i = %lo to %hi step %one iter_args(%a = %xd) -> tensor<?x288xf32> {
    %y = tok.linear %a, %w : tensor<?x288xf32>, tensor<288x288xf32>
    %s = arith.constant dense<0.0625> : tensor<3x288xf32>
    %yc = tensor.cast %y : tensor<?x288xf32> to tensor<3x288xf32>
    %z = arith.mulf %yc, %s : tensor<3x288xf32>
    %zd = tensor.cast %z : tensor<3x288xf32> to tensor<?x288xf32>
    scf.yield %zd : tensor<?x288xf32>
  }
  %rc = tensor.cast %r : tensor<?x288xf32> to tensor<3x288xf32>
  return %rc : tensor<3x288xf32>
}
