//===- TokModelOps.td - model building blocks --------------*- tablegen -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_DIALECT_TOK_IR_TOKMODELOPS_TD
#define TOK_DIALECT_TOK_IR_TOKMODELOPS_TD

include "tok/Dialect/Tok/IR/TokBase.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

def Tok_EmbedOp : Tok_Op<"embed", [
    NoMemoryEffect,
    DeclareOpInterfaceMethods<InferTypeOpInterface>]> {
  let summary = "Look up token embeddings";
  let description = [{
    Row `ids[t]` of the `V x E` embedding table, for each of the `T` token
    ids. An id outside `[0, V)` is an error at run time (no memory is read
    out of bounds), so the op is not speculatable.

    Example:

    ```mlir
    %h = tok.embed %table[%ids] : tensor<256x288xf32>, tensor<?xi32>
    ```
  }];
  let arguments = (ins Tok_WeightMatrix:$table, Tok_I32Vector:$ids);
  let results = (outs Tok_TokensTensor:$result);
  let assemblyFormat = [{
    $table `[` $ids `]` attr-dict `:` type($table) `,` type($ids)
  }];
}

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
    to 1e-5, the value Llama models use. The sum of squares accumulates in
    f32 for narrower element types.

    Example:

    ```mlir
    %y = tok.rms_norm %x, %w {epsilon = 1.0e-06 : f32}
        : tensor<?x288xf32>, tensor<288xf32>
    ```
  }];

  let arguments = (ins
    Tok_FloatTensor:$input,
    Tok_FloatTensor:$weight,
    DefaultValuedAttr<F32Attr, "1.0e-05">:$epsilon);
  let results = (outs Tok_FloatTensor:$result);

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

def Tok_LayerNormOp : Tok_Op<"layer_norm", [
    Pure,
    AllElementTypesMatch<["input", "weight", "bias", "result"]>,
    DeclareOpInterfaceMethods<InferTypeOpInterface>]> {
  let summary = "Layer normalization over the last dimension";
  let description = [{
    Normalizes every row of `input` along its last dimension to zero mean
    and unit variance, then scales by `weight` and shifts by `bias` (Ba et
    al., 2016; BERT, ViT):

    ```
    mu  = mean_j(input[..., j])
    var = mean_j((input[..., j] - mu)^2)
    result[..., i] = (input[..., i] - mu) / sqrt(var + epsilon) * weight[i]
                     + bias[i]
    ```

    `input` is a ranked float tensor of rank at least 1 whose last dimension
    `D` is static; `weight` and `bias` are 1-D tensors of `D` elements of the
    same element type. The variance is the biased one (divided by `D`), as
    in PyTorch. `epsilon` must be positive and defaults to 1e-12, BERT's
    value. Mean and variance accumulate in f32 for narrower element types.

    Example:

    ```mlir
    %y = tok.layer_norm %x, %w, %b {epsilon = 1.0e-12 : f32}
        : tensor<?x384xf32>, tensor<384xf32>, tensor<384xf32>
    ```
  }];

  let arguments = (ins
    Tok_FloatTensor:$input,
    Tok_FloatTensor:$weight,
    Tok_FloatTensor:$bias,
    DefaultValuedAttr<F32Attr, "1.0e-12">:$epsilon);
  let results = (outs Tok_FloatTensor:$result);

  let assemblyFormat = [{
    $input `,` $weight `,` $bias attr-dict `:` type($input) `,` type($weight)
    `,` type($bias)
  }];
  let hasVerifier = 1;
}

def Tok_RopeOp : Tok_Op<"rope", [
    Pure,
    DeclareOpInterfaceMethods<InferTypeOpInterface>]> {
  let summary = "Rotary position embedding with explicit positions";
  let description = [{
    Rotates each pair of dimensions of every head of `input`
    (`H x T x D`, `D` even) by the angle `positions[t] * theta^(-2i/D)`
    (Su et al., RoFormer). `style` says which dimensions pair up: `half`
    (Hugging Face, `i` with `i + D/2`) or `interleaved` (llama2.c, `2i` with
    `2i + 1`). `scale` divides every position first (linear position
    interpolation; 1.0 leaves them alone).

    `frequencies`, if present, gives the `D/2` angular frequencies
    (`inv_freq[i]`, radians per position) in place of `theta^(-2i/D)`:
    frequency-rescaling variants of RoPE (Llama 3's `rope_type = llama3`
    and others) are computed by the importer into this table, so the op
    and its lowering stay one rule: angle = `positions[t] / scale *
    frequencies[i]`. Every frequency must be positive and finite.

    Positions are an operand, not implied by token order: a key keeps the
    position it was rotated with even after the cache evicts its neighbours,
    and tree drafts share positions between siblings.

    Example:

    ```mlir
    %q = tok.rope %q0, %pos {theta = 1.0e+04 : f32}
        : tensor<8x?x32xf32>, tensor<?xi32>
    %k = tok.rope %k0, %pos {style = #tok.rope_style<interleaved>}
        : tensor<4x?x32xf32>, tensor<?xi32>
    ```
  }];
  let arguments = (ins
    Tok_HeadsTensor:$input,
    Tok_I32Vector:$positions,
    DefaultValuedAttr<F32Attr, "10000.0">:$theta,
    DefaultValuedAttr<F32Attr, "1.0">:$scale,
    DefaultValuedAttr<Tok_RopeStyleAttr, "RopeStyle::half">:$style,
    OptionalAttr<DenseF32ArrayAttr>:$frequencies);
  let results = (outs Tok_HeadsTensor:$result);
  let assemblyFormat = [{
    $input `,` $positions attr-dict `:` type($input) `,` type($positions)
  }];
  let hasVerifier = 1;
}

def Tok_LinearOp : Tok_Op<"linear", [
    Pure,
    AllElementTypesMatch<["input", "result"]>,
    DeclareOpInterfaceMethods<InferTypeOpInterface>]> {
  let summary = "Dense layer: input times transposed weight, plus bias";
  let description = [{
    `result[..., n] = sum_k input[..., k] * weight[n, k] + bias[n]`, with the
    weight stored `N x K` (output features by input features) as Hugging
    Face and llama2.c checkpoints store it. The bias is optional (Qwen2's
    attention projections have one). The weight may be stored in another
    float type than the activations (bf16 or f16 weights of a checkpoint,
    used in place, with f32 activations): its elements are converted as
    they are read and the sum accumulates in f32.

    Example:

    ```mlir
    %y = tok.linear %x, %w : tensor<?x288xf32>, tensor<768x288xf32>
    %b = tok.linear %x, %wb : tensor<?x288xf32>, tensor<768x288xbf16>
    %z = tok.linear %x, %w, %b
        : tensor<?x288xf32>, tensor<768x288xf32>, tensor<768xf32>
    ```
  }];
  let arguments = (ins
    Tok_FloatTensor:$input,
    Tok_WeightMatrix:$weight,
    Optional<Tok_FloatVector>:$bias);
  let results = (outs Tok_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $weight (`,` $bias^)? attr-dict `:` type($input) `,`
    type($weight) (`,` type($bias)^)?
  }];
  let hasVerifier = 1;
}

#endif // TOK_DIALECT_TOK_IR_TOKMODELOPS_TD
