//===- TokEnums.td - tok dialect enums ---------------------*- tablegen -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_DIALECT_TOK_IR_TOKENUMS_TD
#define TOK_DIALECT_TOK_IR_TOKENUMS_TD

include "mlir/IR/EnumAttr.td"

class Tok_I32Enum<string name, string summary, list<I32EnumAttrCase> cases>
    : I32EnumAttr<name, summary, cases> {
  let cppNamespace = "::mlir::tok";
  let genSpecializedAttr = 0;
}

def Tok_MaskKind : Tok_I32Enum<"MaskKind", "attention visibility rule", [
  I32EnumAttrCase<"full", 0>,
  I32EnumAttrCase<"causal", 1>
]>;

def Tok_RopeStyle : Tok_I32Enum<"RopeStyle", "pairing of rotary dimensions", [
  // Hugging Face: dimension i pairs with i + D/2 ("rotate_half").
  I32EnumAttrCase<"half", 0>,
  // llama2.c / GPT-J: dimension 2i pairs with 2i + 1.
  I32EnumAttrCase<"interleaved", 1>
]>;

def Tok_EvictPolicy : Tok_I32Enum<"EvictPolicy", "KV-cache eviction policy", [
  I32EnumAttrCase<"window", 0>,
  I32EnumAttrCase<"h2o", 1>,
  I32EnumAttrCase<"a2sf", 2>,
  I32EnumAttrCase<"snapkv", 3>,
  I32EnumAttrCase<"tova", 4>
]>;

def Tok_DrafterKind : Tok_I32Enum<"DrafterKind", "speculative drafter", [
  I32EnumAttrCase<"model", 0>,
  I32EnumAttrCase<"layer_skip", 1>,
  I32EnumAttrCase<"ngram", 2>
]>;

// Which earlier occurrence of the suffix an ngram drafter copies from.
def Tok_NgramMatch : Tok_I32Enum<"NgramMatch", "ngram drafter match rule", [
  // vLLM / prompt lookup: the earliest occurrence.
  I32EnumAttrCase<"earliest", 0>,
  // The latest occurrence followed by a full draft, else the earliest.
  I32EnumAttrCase<"recent", 1>
]>;

def Tok_WeightScheme : Tok_I32Enum<"WeightScheme",
                                  "block quantization of a weight matrix", [
  // GGML's layouts: 32 weights per block with one f16 scale.
  I32EnumAttrCase<"q8_0", 0>,
  I32EnumAttrCase<"q4_0", 1>,
  // GGML's k-quants: 256 weights per super-block.
  I32EnumAttrCase<"q4_k", 2>,
  I32EnumAttrCase<"q6_k", 3>,
  // tok's own: one f32 scale per row (output channel), int8 codes.
  I32EnumAttrCase<"i8_channel", 4>
]>;

def Tok_MergeMethod : Tok_I32Enum<"MergeMethod", "token merging method", [
  I32EnumAttrCase<"tome", 0>,
  I32EnumAttrCase<"pitome", 1>
]>;

#endif // TOK_DIALECT_TOK_IR_TOKENUMS_TD
