//===- TokBase.td - shared ODS pieces of the tok dialect ---*- tablegen -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_DIALECT_TOK_IR_TOKBASE_TD
#define TOK_DIALECT_TOK_IR_TOKBASE_TD

include "tok/Dialect/Tok/IR/TokTypes.td"
include "mlir/IR/CommonAttrConstraints.td"
include "mlir/IR/CommonTypeConstraints.td"
include "mlir/IR/OpBase.td"

// The activation element types tok computes in: the same set a
// !tok.kv_cache may hold. Narrower types accumulate in f32; f64 and the fp8
// formats are rejected up front rather than miscompiled.
def Tok_Float : AnyTypeOf<[F16, BF16, F32], "f16, bf16 or f32">;

// Tensors of values: no encoding. A #tok.quant weight is only accepted where
// an op says so (Tok_WeightMatrix).
class Tok_Plain<Type base>
    : Type<And<[base.predicate,
                CPred<"!::llvm::cast<::mlir::RankedTensorType>($_self)"
                      ".getEncoding()">]>,
           base.summary, "::mlir::RankedTensorType">;

def Tok_FloatTensor : Tok_Plain<RankedTensorOf<[Tok_Float]>>;
def Tok_HeadsTensor : Tok_Plain<TensorRankOf<[Tok_Float], [3]>>;
def Tok_TokensTensor : Tok_Plain<TensorRankOf<[Tok_Float], [2]>>;
def Tok_F32Vector : Tok_Plain<TensorRankOf<[F32], [1]>>;
def Tok_FloatVector : Tok_Plain<TensorRankOf<[Tok_Float], [1]>>;
def Tok_I32Vector : Tok_Plain<TensorRankOf<[I32], [1]>>;
def Tok_I32Scalar : Tok_Plain<TensorRankOf<[I32], [0]>>;
def Tok_ScoresTensor : Tok_Plain<TensorRankOf<[F32], [2]>>;

// A weight matrix: f16 / bf16 / f32 values, or f32 weights stored
// block-quantized (`tensor<N x K x f32, #tok.quant<q8_0>>`).
def Tok_QuantMatrix
    : Type<And<[TensorRankOf<[F32], [2]>.predicate,
                CPred<"::llvm::isa_and_nonnull<::mlir::tok::WeightQuantAttr>("
                      "::llvm::cast<::mlir::RankedTensorType>($_self)"
                      ".getEncoding())">]>,
           "2D tensor of f32 with a #tok.quant encoding",
           "::mlir::RankedTensorType">;
def Tok_WeightMatrix
    : AnyTypeOf<[Tok_TokensTensor, Tok_QuantMatrix],
                "2D tensor of f16, bf16 or f32 values, or of f32 with a "
                "#tok.quant encoding", "::mlir::RankedTensorType">;
def Tok_KVCache : Type<CPred<"::llvm::isa<::mlir::tok::KVCacheType>($_self)">,
                       "tok KV cache", "::mlir::tok::KVCacheType">;
def Tok_KVPool : Type<CPred<"::llvm::isa<::mlir::tok::KVPoolType>($_self)">,
                      "KV page pool", "::mlir::tok::KVPoolType">;
def Tok_I32Matrix : Tok_Plain<TensorRankOf<[I32], [2]>>;

def Tok_RopeStyleAttr : EnumAttr<Tok_Dialect, Tok_RopeStyle, "rope_style"> {
  let summary = "Which dimensions tok.rope rotates together";
  let description = [{
    `half` pairs dimension `i` with `i + D/2` (Hugging Face checkpoints);
    `interleaved` pairs `2i` with `2i + 1` (llama2.c, GPT-J). Both compute
    the same function on weights laid out for them.

    Example:

    ```mlir
    #tok.rope_style<half>
    #tok.rope_style<interleaved>
    ```
  }];
  let assemblyFormat = "`<` $value `>`";
}

def Tok_MergeMethodAttr : EnumAttr<Tok_Dialect, Tok_MergeMethod,
                                   "merge_method"> {
  let summary = "How tok.merge chooses the tokens to merge";
  let description = [{
    `tome`: ToMe's bipartite soft matching (alternating candidate sets, the
    `r` most similar edges); `pitome`: PiToMe's energy score picks the
    mergeable tokens, protecting isolated ones.

    Example:

    ```mlir
    #tok.merge_method<tome>
    #tok.merge_method<pitome>
    ```
  }];
  let assemblyFormat = "`<` $value `>`";
}

#endif // TOK_DIALECT_TOK_IR_TOKBASE_TD
