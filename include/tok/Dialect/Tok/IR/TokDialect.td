//===- TokDialect.td - tok dialect definition --------------*- tablegen -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_DIALECT_TOK_IR_TOKDIALECT_TD
#define TOK_DIALECT_TOK_IR_TOKDIALECT_TD

include "mlir/IR/OpBase.td"

def Tok_Dialect : Dialect {
  let name = "tok";
  let cppNamespace = "::mlir::tok";
  let summary = "Tokens, KV caches and attention for transformer inference";
  let description = [{
    The `tok` dialect models what a transformer inference step is made of at
    the level where token-efficiency optimizations apply: token embeddings,
    normalization, rotary positions, attention, KV caches and decoding loops.
    Optimization passes (token merging and pruning, KV-cache eviction and
    quantization, speculative decoding) rewrite `tok` ops; conversion passes
    lower them to `linalg`/`tensor`/`scf` and from there to LLVM or NVVM.

    All `tok` ops have value semantics on builtin tensors (and, for caches,
    on `tok` types); bufferization turns them into in-place updates.
  }];
  let useDefaultAttributePrinterParser = 1;
  let useDefaultTypePrinterParser = 1;
  let hasConstantMaterializer = 1;
  let extraClassDeclaration = [{
    void registerAttributes();
    void registerTypes();

    /// A discardable attribute: on a function, a unit attribute marking it
    /// as one layer (decoder layer, encoder block) of a model; on a call of
    /// such a function, the index of the layer the call runs (i64).
    static constexpr ::llvm::StringLiteral getLayerAttrName() {
      return ::llvm::StringLiteral("tok.layer");
    }
    /// On a function argument: the name of the checkpoint tensor bound to
    /// it at run time.
    static constexpr ::llvm::StringLiteral getWeightAttrName() {
      return ::llvm::StringLiteral("tok.weight");
    }
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::tensor::TensorDialect"
  ];
}

class Tok_Op<string mnemonic, list<Trait> traits = []>
    : Op<Tok_Dialect, mnemonic, traits>;

#endif // TOK_DIALECT_TOK_IR_TOKDIALECT_TD
