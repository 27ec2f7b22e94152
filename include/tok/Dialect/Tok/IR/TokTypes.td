//===- TokTypes.td - tok dialect types ---------------------*- tablegen -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_DIALECT_TOK_IR_TOKTYPES_TD
#define TOK_DIALECT_TOK_IR_TOKTYPES_TD

include "tok/Dialect/Tok/IR/TokAttrs.td"
include "mlir/IR/AttrTypeBase.td"

def Tok_KVCacheType : TypeDef<Tok_Dialect, "KVCache"> {
  let mnemonic = "kv_cache";
  let summary = "One layer's key/value cache";
  let description = [{
    The keys and values of one attention layer for `kv_heads` KV heads,
    `capacity` slots of `head_dim` elements each, of a float element type.
    A value of this type also holds what the cache policies need: the
    position each slot was written with (RoPE positions survive eviction),
    the number of live slots (always a prefix `[0, length)`), with `scores`
    the received attention mass accumulated per KV head and slot, with
    `quant` the quantized storage and its scales, and with `pages = P` the
    minimum and maximum of every key channel over each page of `P`
    consecutive slots (Quest's metadata for query-aware selection).

    Caches have value semantics: every op that changes one returns a new
    value. Bufferization turns the chain into in-place updates of one
    buffer, so an op must never read a cache value after it was updated.

    Example:

    ```mlir
    !tok.kv_cache<4x1024x32xf32>
    !tok.kv_cache<4x256x32xf32, scores>
    !tok.kv_cache<8x4096x128xbf16, quant = #tok.kv_quant<bits = 4>>
    !tok.kv_cache<8x4096x128xf32, pages = 16>
    ```
  }];
  let parameters = (ins
    "int64_t":$kv_heads,
    "int64_t":$capacity,
    "int64_t":$head_dim,
    "::mlir::Type":$element_type,
    DefaultValuedParameter<"bool", "false">:$scores,
    OptionalParameter<"::mlir::tok::KVQuantAttr">:$quant,
    DefaultValuedParameter<"int64_t", "0">:$pages);
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
  let builders = [
    TypeBuilderWithInferredContext<(ins
        "int64_t":$kvHeads, "int64_t":$capacity, "int64_t":$headDim,
        "::mlir::Type":$elementType,
        CArg<"bool", "false">:$scores,
        CArg<"::mlir::tok::KVQuantAttr", "{}">:$quant,
        CArg<"int64_t", "0">:$pages), [{
      return $_get(elementType.getContext(), kvHeads, capacity, headDim,
                   elementType, scores, quant, pages);
    }]>
  ];
  let skipDefaultBuilders = 0;
  let extraClassDeclaration = [{
    /// The tensor type of the keys or values of `tokens` new tokens for this
    /// cache: kv_heads x tokens x head_dim.
    ::mlir::RankedTensorType getSliceType(int64_t tokens) const {
      return ::mlir::RankedTensorType::get(
          {getKvHeads(), tokens, getHeadDim()}, getElementType());
    }
    /// The type of the per-slot scores: kv_heads x capacity x f32.
    ::mlir::RankedTensorType getScoresType() const;
    /// The same cache with another capacity (e.g. one sized to an
    /// eviction budget).
    KVCacheType withCapacity(int64_t capacity) const {
      return get(getContext(), getKvHeads(), capacity, getHeadDim(),
                 getElementType(), getScores(), getQuant(), getPages());
    }
  }];
}

def Tok_KVPoolType : TypeDef<Tok_Dialect, "KVPool"> {
  let mnemonic = "kv_pool";
  let summary = "One layer's keys and values of many sequences, in pages";
  let description = [{
    The KV memory of one attention layer shared by a batch of sequences:
    `pages` pages of `page_size` token slots, each slot holding the key and
    the value (`head_dim` elements of a float type) of every one of the
    `kv_heads` KV heads. Slot `page * page_size + offset` is offset `offset`
    of page `page`.

    Which sequence owns which pages is not part of the type or the value: a
    page table (an operand of `tok.paged_attention`) says it, step by step,
    and the host's scheduler decides it. A sequence's token at position `p`
    lives at offset `p mod page_size` of its page `p / page_size`, so a
    slot needs no position record and pages can be shared between
    sequences whose prompts agree (a prefix written once, read by all).

    Pools have value semantics like caches; bufferized, the chain of writes
    is one buffer updated in place.

    Example:

    ```mlir
    !tok.kv_pool<4x256x16x32xf32>   // 4 KV heads, 256 pages of 16 slots, D 32
    ```
  }];
  let parameters = (ins
    "int64_t":$kv_heads,
    "int64_t":$pages,
    "int64_t":$page_size,
    "int64_t":$head_dim,
    "::mlir::Type":$element_type);
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// Slots of the pool: pages x page_size.
    int64_t getSlots() const { return getPages() * getPageSize(); }
    /// The keys or values of `tokens` new tokens: kv_heads x tokens x
    /// head_dim.
    ::mlir::RankedTensorType getSliceType(int64_t tokens) const {
      return ::mlir::RankedTensorType::get(
          {getKvHeads(), tokens, getHeadDim()}, getElementType());
    }
  }];
}

#endif // TOK_DIALECT_TOK_IR_TOKTYPES_TD
