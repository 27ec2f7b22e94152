// RUN: tok-opt %s --tok-quantize-weights="scheme=q4_k" | FileCheck %s --check-prefix=Q4K
// RUN: tok-opt %s --tok-quantize-weights="scheme=q6_k" | FileCheck %s --check-prefix=Q6K

// q4_k and q6_k take rows of whole 256-weight super-blocks: the 256-wide
// weight is retyped, the 320-wide one (not a multiple) stays f32.
// Q4K-LABEL: func.func @kquants(
// Q4K-SAME:    %{{.*}}: tensor<8x256xf32, #tok.quant<q4_k>> {tok.weight = "w"}
// Q4K-SAME:    %{{.*}}: tensor<8x320xf32> {tok.weight = "odd"}
// Q4K:         tok.linear %{{.*}}, %{{.*}} : tensor<?x256xf32>, tensor<8x256xf32, #tok.quant<q4_k>>
// Q6K-LABEL: func.func @kquants(
// Q6K-SAME:    %{{.*}}: tensor<8x256xf32, #tok.quant<q6_k>> {tok.weight = "w"}
// Q6K-SAME:    %{{.*}}: tensor<8x320xf32> {tok.weight = "odd"}
func.func @kquants(%x: tensor<?x256xf32>, %w: tensor<8x256xf32> {tok.weight = "w"},
                   %y: tensor<?x320xf32>, %odd: tensor<8x320xf32> {tok.weight = "odd"})
    -> (tensor<?x8xf32>, tensor<?x8xf32>) {
  %a = tok.linear %x, %w : tensor<?x256xf32>, tensor<8x256xf32>
  %b = tok.linear %y, %odd : tensor<?x320xf32>, tensor<8x320xf32>
  return %a, %b : tensor<?x8xf32>, tensor<?x8xf32>
}
