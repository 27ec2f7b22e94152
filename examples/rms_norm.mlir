// The quick-start demo: one tok op, compiled to native code and run.
//
//   build/bin/tok-run examples/rms_norm.mlir --timing
//
// tok-run lowers the module with the `tok-to-llvm` pipeline (tok -> linalg ->
// bufferized loops -> LLVM), JIT-compiles it and calls @main, which prints
// the normalized rows with the MLIR runner utilities. Expected output (row r
// is x[r] / sqrt(mean(x[r]^2) + 1e-5) * w):
//   [[0.365148,   0.365148,   2.19089,   -1.46059],
//    [-0.124696,  0.031174,   3.99027,   -0]]

func.func private @printMemrefF32(tensor<*xf32>)

func.func @main() {
  %x = arith.constant dense<[[1.0, 2.0, 3.0, 4.0],
                             [-0.5, 0.25, 8.0, 0.0]]> : tensor<2x4xf32>
  %w = arith.constant dense<[1.0, 0.5, 2.0, -1.0]> : tensor<4xf32>
  %y = tok.rms_norm %x, %w {epsilon = 1.0e-5 : f32}
      : tensor<2x4xf32>, tensor<4xf32>
  %printable = tensor.cast %y : tensor<2x4xf32> to tensor<*xf32>
  call @printMemrefF32(%printable) : (tensor<*xf32>) -> ()
  return
}
