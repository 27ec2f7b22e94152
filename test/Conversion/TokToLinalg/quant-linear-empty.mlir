// RUN: tok-opt %s --tok-to-llvm | FileCheck %s

// A quantized linear with no outputs lowers (was: a division by zero in
// the prefill kernel's chunking, which only the decode kernel guarded).
// CHECK: llvm.func @f(
func.func @f(%x: tensor<?x32xf32>, %w: tensor<0x32xf32, #tok.quant<q8_0>>) -> tensor<?x0xf32> {
  %y = tok.linear %x, %w : tensor<?x32xf32>, tensor<0x32xf32, #tok.quant<q8_0>>
  return %y : tensor<?x0xf32>
}
