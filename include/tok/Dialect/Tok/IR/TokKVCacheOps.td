//===- TokKVCacheOps.td - KV-cache operations --------------*- tablegen -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// Every op here takes a cache value and returns the updated one (value
// semantics). Lowered, the whole chain is one buffer: append writes the new
// slots, evict compacts in place, truncate and commit touch only the slots
// they change. Reading a cache value after it was updated forces a copy.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_DIALECT_TOK_IR_TOKKVCACHEOPS_TD
#define TOK_DIALECT_TOK_IR_TOKKVCACHEOPS_TD

include "tok/Dialect/Tok/IR/TokBase.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

class Tok_KVOp<string mnemonic, list<Trait> traits = []>
    : Tok_Op<"kv." # mnemonic, traits>;

// The result is a cache of the operand's type.
class Tok_KVUpdateOp<string mnemonic, list<Trait> traits = []>
    : Tok_KVOp<mnemonic, !listconcat(traits, [
        NoMemoryEffect,
        AllTypesMatch<["cache", "result"]>])> {
  let results = (outs Tok_KVCache:$result);
}

def Tok_KVEmptyOp : Tok_KVOp<"empty", [Pure]> {
  let summary = "A cache with no live slot";
  let description = [{
    Example:

    ```mlir
    %c0 = tok.kv.empty : !tok.kv_cache<4x1024x32xf32>
    ```
  }];
  let results = (outs Tok_KVCache:$result);
  let assemblyFormat = "attr-dict `:` qualified(type($result))";
}

def Tok_KVLengthOp : Tok_KVOp<"length", [Pure]> {
  let summary = "The number of live slots of a cache";
  let description = [{
    Example:

    ```mlir
    %n = tok.kv.length %c : !tok.kv_cache<4x1024x32xf32>
    ```
  }];
  let arguments = (ins Tok_KVCache:$cache);
  let results = (outs Index:$result);
  let assemblyFormat = "$cache attr-dict `:` qualified(type($cache))";
  let hasFolder = 1;
}

def Tok_KVAppendOp : Tok_KVUpdateOp<"append"> {
  let summary = "Write the keys and values of new tokens into a cache";
  let description = [{
    Appends `T` tokens (`keys`, `values`: `Hk x T x D`, already rotated) as
    live slots `[length, length + T)`, recording `positions[t]` with each.
    Appending past the capacity is an error at run time; the verifier
    rejects a static `T` larger than the capacity.

    Example:

    ```mlir
    %c1 = tok.kv.append %c0, %k, %v, %pos
        : !tok.kv_cache<4x1024x32xf32>, tensor<4x?x32xf32>,
          tensor<4x?x32xf32>, tensor<?xi32>
    ```
  }];
  let arguments = (ins
    Tok_KVCache:$cache,
    Tok_HeadsTensor:$keys,
    Tok_HeadsTensor:$values,
    Tok_I32Vector:$positions);
  let assemblyFormat = [{
    $cache `,` $keys `,` $values `,` $positions attr-dict `:` qualified(type($cache))
    `,` type($keys) `,` type($values) `,` type($positions)
  }];
  let hasVerifier = 1;
}

def Tok_KVEvictOp : Tok_KVUpdateOp<"evict"> {
  let summary = "Drop slots of a cache according to a policy";
  let description = [{
    Applies the eviction `policy` (a `#tok.evict`) so that at most `budget`
    slots stay live, compacted to the front in ascending slot order, each
    keeping its position. Policies that rank by attention take this step's
    received mass as `scores(...)` (`Hk x capacity`, from the `scores`
    result of the attention that read the cache); `h2o` and `a2sf`
    accumulate it across steps in the cache, whose type must then track
    scores. With fewer live slots than the budget nothing is evicted.

    Example:

    ```mlir
    %c2 = tok.kv.evict %c1 scores(%s : tensor<4x256xf32>)
        {policy = #tok.evict<h2o, budget = 256, recent = 128>}
        : !tok.kv_cache<4x256x32xf32, scores>
    %c3 = tok.kv.evict %c2
        {policy = #tok.evict<window, budget = 256, sinks = 4, recent = 252>}
        : !tok.kv_cache<4x256x32xf32, scores>
    ```
  }];
  let arguments = (ins
    Tok_KVCache:$cache,
    Tok_EvictAttr:$policy,
    Optional<Tok_ScoresTensor>:$scores);
  let assemblyFormat = [{
    $cache (`scores` `(` $scores^ `:` type($scores) `)`)? attr-dict `:`
    qualified(type($cache))
  }];
  let hasVerifier = 1;
  let hasFolder = 1;
}

def Tok_KVTruncateOp : Tok_KVUpdateOp<"truncate"> {
  let summary = "Drop the most recent live slots of a cache";
  let description = [{
    Drops the last `count` live slots (at most all of them): how rejected
    draft tokens are rolled back. Costs O(count), copies nothing.
    Truncating by 0 folds away; two truncations by constants combine.

    Example:

    ```mlir
    %c2 = tok.kv.truncate %c1, %rejected : !tok.kv_cache<4x1024x32xf32>
    ```
  }];
  let arguments = (ins Tok_KVCache:$cache, Index:$count);
  let assemblyFormat = "$cache `,` $count attr-dict `:` qualified(type($cache))";
  let hasFolder = 1;
  let hasCanonicalizer = 1;
}

def Tok_KVCommitOp : Tok_KVUpdateOp<"commit"> {
  let summary = "Keep an accepted path of a speculated token tree";
  let description = [{
    The slots from `base` on hold the nodes of a token tree (node `j` in
    slot `base + j`). Keeps slots `[0, base)` and the nodes listed in
    `path`, in that order, as slots `base, base + 1, ...`; every other tree
    slot dies. Moves at most `size(path)` slots; positions move with them.

    Example:

    ```mlir
    %c2 = tok.kv.commit %c1, %base, %path
        : !tok.kv_cache<4x1024x32xf32>, tensor<?xi32>
    ```
  }];
  let arguments = (ins Tok_KVCache:$cache, Index:$base, Tok_I32Vector:$path);
  let assemblyFormat = [{
    $cache `,` $base `,` $path attr-dict `:` qualified(type($cache)) `,` type($path)
  }];
  let hasVerifier = 1;
}

def Tok_KVQuantizeOp : Tok_KVOp<"quantize", [NoMemoryEffect]> {
  let summary = "Convert a cache to quantized storage";
  let description = [{
    Returns the cache in the quantized form of the result type (its `quant`
    parameter, KIVI-style): every live slot but the most recent `residual`
    ones is quantized; those stay in full precision. Everything else about
    the two types must agree.

    Example:

    ```mlir
    %q = tok.kv.quantize %c : !tok.kv_cache<4x1024x32xf16>
        -> !tok.kv_cache<4x1024x32xf16, quant = #tok.kv_quant<bits = 4>>
    ```
  }];
  let arguments = (ins Tok_KVCache:$cache);
  let results = (outs Tok_KVCache:$result);
  let assemblyFormat = "$cache attr-dict `:` qualified(type($cache)) `->` qualified(type($result))";
  let hasVerifier = 1;
}

#endif // TOK_DIALECT_TOK_IR_TOKKVCACHEOPS_TD
