//===- TokTokenOps.td - token merging, pruning, gathering --*- tablegen -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_DIALECT_TOK_IR_TOKTOKENOPS_TD
#define TOK_DIALECT_TOK_IR_TOKTOKENOPS_TD

include "tok/Dialect/Tok/IR/TokBase.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

def Tok_MergeOp : Tok_Op<"merge", [Pure]> {
  let summary = "Merge similar tokens (ToMe bipartite soft matching)";
  let description = [{
    Merges `r` of the `T` tokens of `input` (`T x E`) into their most
    similar partners, judged by `metric` (`T x M`, e.g. the layer's keys
    averaged over heads). The first `protect_first` tokens (CLS) never merge;
    `r` is clamped to `(T - protect_first) / 2`. With `method = tome` the
    candidates alternate by index parity (ToMe: the even indices merge into
    their most similar odd one, the `r` most similar pairs are taken); with
    `pitome` they are ranked by PiToMe's energy score
    `E_i = mean_j ELU(cos(m_i, m_j) - margin)` over the unprotected tokens:
    the `2r` highest alternate into sources and destinations, and every
    source merges into its most similar destination. Merged tokens are
    size-weighted averages.

    Results: the `T - r` remaining tokens in input order (a source leaves,
    its destination stays where it was), their sizes (`sizes(...)` gives
    the input sizes, default 1), and the map from each input token to its
    output row (for `tok.unmerge` and for composing maps across layers).
    `r = 0` folds away.

    Example:

    ```mlir
    %y, %sz, %map = tok.merge %x, %keys {r = 16, protect_first = 1}
        : tensor<197x384xf32>, tensor<197x64xf32>
        -> tensor<181x384xf32>, tensor<181xf32>, tensor<197xi32>
    ```
  }];
  let arguments = (ins
    Tok_TokensTensor:$input,
    Tok_TokensTensor:$metric,
    Optional<Tok_F32Vector>:$sizes,
    I64Attr:$r,
    DefaultValuedAttr<I64Attr, "0">:$protect_first,
    DefaultValuedAttr<Tok_MergeMethodAttr, "MergeMethod::tome">:$method,
    DefaultValuedAttr<F32Attr, "0.5">:$margin);
  let results = (outs
    Tok_TokensTensor:$output,
    Tok_F32Vector:$output_sizes,
    Tok_I32Vector:$map);
  let assemblyFormat = [{
    $input `,` $metric (`sizes` `(` $sizes^ `:` type($sizes) `)`)? attr-dict
    `:` type($input) `,` type($metric) `->` type($output) `,`
    type($output_sizes) `,` type($map)
  }];
  let hasVerifier = 1;
  let hasCanonicalizer = 1;
}

def Tok_UnmergeOp : Tok_Op<"unmerge", [
    NoMemoryEffect,
    DeclareOpInterfaceMethods<InferTypeOpInterface>]> {
  let summary = "Expand merged tokens back to the original token count";
  let description = [{
    `result[o] = input[map[o]]`: every original token gets the row of the
    token it was merged into, for outputs that need one row per input token.

    Example:

    ```mlir
    %x = tok.unmerge %y, %map : tensor<181x384xf32>, tensor<197xi32>
    ```
  }];
  let arguments = (ins Tok_TokensTensor:$input, Tok_I32Vector:$map);
  let results = (outs Tok_TokensTensor:$result);
  let assemblyFormat = "$input `,` $map attr-dict `:` type($input) `,` type($map)";
}

def Tok_PruneOp : Tok_Op<"prune", [Pure]> {
  let summary = "Keep the highest-scoring tokens";
  let description = [{
    Keeps `n = max(ceil(keep * T), protect_first + protect_last)` (at most
    `T`) of the `T` rows of `input`: the first `protect_first` and the last
    `protect_last` rows always, the rest by descending `scores` (ties to the
    smaller index). Kept rows and their indices come out in ascending index
    order, so token order is preserved. `keep = 1.0` folds away.

    Example:

    ```mlir
    %kept, %idx = tok.prune %x, %s {keep = 5.0e-01 : f32, protect_first = 1}
        : tensor<128x384xf32>, tensor<128xf32>
        -> tensor<64x384xf32>, tensor<64xi32>
    ```
  }];
  let arguments = (ins
    Tok_TokensTensor:$input,
    Tok_F32Vector:$scores,
    F32Attr:$keep,
    DefaultValuedAttr<I64Attr, "0">:$protect_first,
    DefaultValuedAttr<I64Attr, "0">:$protect_last);
  let results = (outs Tok_TokensTensor:$output, Tok_I32Vector:$indices);
  let assemblyFormat = [{
    $input `,` $scores attr-dict `:` type($input) `,` type($scores) `->`
    type($output) `,` type($indices)
  }];
  let hasVerifier = 1;
  let hasCanonicalizer = 1;
  let extraClassDeclaration = [{
    /// The number of kept rows for `tokens` input rows.
    int64_t getKeptCount(int64_t tokens);
  }];
}

def Tok_GatherOp : Tok_Op<"gather", [
    NoMemoryEffect,
    DeclareOpInterfaceMethods<InferTypeOpInterface>]> {
  let summary = "Select slices along one dimension";
  let description = [{
    `result` is `input` with dimension `dim` replaced by the slices at
    `indices` (in that order). An index out of range is a run-time error.

    Example:

    ```mlir
    %y = tok.gather %x[%idx] : tensor<?x384xf32>, tensor<?xi32>
    %k2 = tok.gather %k[%idx] {dim = 1 : i64}
        : tensor<4x?x32xf32>, tensor<?xi32>
    ```
  }];
  let arguments = (ins
    Tok_FloatTensor:$input,
    Tok_I32Vector:$indices,
    DefaultValuedAttr<I64Attr, "0">:$dim);
  let results = (outs Tok_FloatTensor:$result);
  let assemblyFormat = [{
    $input `[` $indices `]` attr-dict `:` type($input) `,` type($indices)
  }];
  let hasVerifier = 1;
}

def Tok_ScatterOp : Tok_Op<"scatter", [
    NoMemoryEffect,
    AllTypesMatch<["dest", "result"]>]> {
  let summary = "Write slices back along one dimension";
  let description = [{
    `result` is `dest` with its slices at `indices` along dimension `dim`
    replaced by the slices of `source`: how pruned or merged tokens are put
    back in place. `scatter(gather(d, i), d, i)` folds to `d`.

    Example:

    ```mlir
    %y = tok.scatter %kept into %x[%idx]
        : tensor<64x384xf32> into tensor<128x384xf32>, tensor<64xi32>
    ```
  }];
  let arguments = (ins
    Tok_FloatTensor:$source,
    Tok_FloatTensor:$dest,
    Tok_I32Vector:$indices,
    DefaultValuedAttr<I64Attr, "0">:$dim);
  let results = (outs Tok_FloatTensor:$result);
  let assemblyFormat = [{
    $source `into` $dest `[` $indices `]` attr-dict `:` type($source) `into`
    type($dest) `,` type($indices)
  }];
  let hasVerifier = 1;
  let hasFolder = 1;
}

#endif // TOK_DIALECT_TOK_IR_TOKTOKENOPS_TD
