//===- TokOps.td - tok dialect operations ------------------*- tablegen -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_DIALECT_TOK_IR_TOKOPS_TD
#define TOK_DIALECT_TOK_IR_TOKOPS_TD

include "tok/Dialect/Tok/IR/TokDialect.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/IR/CommonAttrConstraints.td"
include "mlir/IR/CommonTypeConstraints.td"

//===----------------------------------------------------------------------===//
// Model building blocks
//===----------------------------------------------------------------------===//

def Tok_RMSNormOp : Tok_Op<"rms_norm", [
    Pure,
    AllElementTypesMatch<["input", "weight", "result"]>,
    DeclareOpInterfaceMethods<InferTypeOpInterface>]> {
  let summary = "Root-mean-square layer normalization over the last dimension";
  let description = [{
    Normalizes every row of `input` along its last dimension by the root mean
    square of that row and scales it by `weight` (Zhang and Sennrich, 2019):

    ```
    result[..., i] = input[..., i] / sqrt(mean_j(input[..., j]^2) + epsilon)
                     * weight[i]
    ```

    `input` is a ranked float tensor of rank at least 1 whose last dimension
    `D` is static; `weight` is a 1-D tensor of `D` elements of the same
    element type. The leading dimensions (tokens, batch) may be dynamic. The
    result has the type of `input`. `epsilon` must be positive and defaults
    to 1e-5, the value Llama models use.

    Example:

    ```mlir
    %y = tok.rms_norm %x, %w {epsilon = 1.0e-06 : f32}
        : tensor<?x288xf32>, tensor<288xf32>
    ```
  }];

  let arguments = (ins
    RankedTensorOf<[AnyFloat]>:$input,
    RankedTensorOf<[AnyFloat]>:$weight,
    DefaultValuedAttr<F32Attr, "1.0e-05">:$epsilon);
  let results = (outs RankedTensorOf<[AnyFloat]>:$result);

  let assemblyFormat = [{
    $input `,` $weight attr-dict `:` type($input) `,` type($weight)
  }];
  let builders = [
    // The common form: the default epsilon, result type of `input`.
    OpBuilder<(ins "Value":$input, "Value":$weight), [{
      build($_builder, $_state, input, weight, FloatAttr());
    }]>
  ];
  let hasVerifier = 1;
}

#endif // TOK_DIALECT_TOK_IR_TOKOPS_TD
