//===- TokAttentionOps.td - attention ----------------------*- tablegen -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_DIALECT_TOK_IR_TOKATTENTIONOPS_TD
#define TOK_DIALECT_TOK_IR_TOKATTENTIONOPS_TD

include "tok/Dialect/Tok/IR/TokBase.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

def Tok_AttentionOp : Tok_Op<"attention", [
    Pure, AttrSizedOperandSegments]> {
  let summary = "Scaled dot-product attention on tensors";
  let description = [{
    `output[h, i] = sum_s P[h, i, s] * value[kv(h), s]` with
    `P[h, i, :] = softmax_s(scale * <query[h, i], key[kv(h), s]> + bias)`
    over the visible keys, where `kv(h) = h / (Hq / Hk)` (grouped-query
    attention: consecutive query heads share a KV head). `scale` defaults
    to `1/sqrt(D)`. A query row with no visible key yields zeros.

    Visibility follows `mask` (a `#tok.mask`), evaluated on positions. The
    positions come from `positions(%query_pos, %key_pos)`; without them query
    row `i` has position `S - T + i` and key `s` position `s` (the queries
    are the last `T` of the `S` tokens). Further restrictions:

    - `tree(%parents)`: the `T` queries are the nodes of a token tree that
      are also the last `T` keys; `parents[i] < i` is the parent node of
      node `i` (`-1` for the root). Among those keys, node `i` sees exactly
      its ancestors and itself; the first `S - T` keys follow `mask`. A
      pointer that does not point backwards ends the ancestor chain there
      (as if it were `-1`), so a malformed tree never makes a kernel loop.
    - `segments(%query_seg, %key_seg)` (with `block_diagonal = true` in the
      mask): query and key must carry the same segment id.
    - `sizes(%key_sizes)`: ToMe proportional attention, `log(size[s])` is
      added to every logit of key `s`.

    `softcap = c` (Gemma 2's attention logit soft-capping) bounds every
    scaled logit to (-c, c) before the mask and the size bias:
    `c * tanh(scale * <q, k> / c)`.

    With the `scores` attribute the op also returns the attention mass each
    key received, per KV head (`Hk x S`, f32), accumulated inside the
    kernel over the rows the attribute selects.

    Example:

    ```mlir
    %o = tok.attention %q, %k, %v {mask = #tok.mask<causal>}
        : tensor<8x?x32xf32>, tensor<4x?x32xf32>, tensor<4x?x32xf32>
        -> tensor<8x?x32xf32>
    %o2, %s = tok.attention %q, %k, %v sizes(%sz : tensor<197xf32>)
        {mask = #tok.mask<full>, scores = #tok.scores<>}
        : tensor<6x197x64xf32>, tensor<6x197x64xf32>, tensor<6x197x64xf32>
        -> tensor<6x197x64xf32>, tensor<6x197xf32>
    ```
  }];
  let arguments = (ins
    Tok_HeadsTensor:$query,
    Tok_HeadsTensor:$key,
    Tok_HeadsTensor:$value,
    Optional<Tok_I32Vector>:$query_positions,
    Optional<Tok_I32Vector>:$key_positions,
    Optional<Tok_I32Vector>:$tree_parents,
    Optional<Tok_I32Vector>:$query_segments,
    Optional<Tok_I32Vector>:$key_segments,
    Optional<Tok_F32Vector>:$key_sizes,
    Tok_MaskAttr:$mask,
    OptionalAttr<F32Attr>:$scale,
    OptionalAttr<F32Attr>:$softcap,
    OptionalAttr<Tok_ScoresAttr>:$scores);
  let results = (outs
    Tok_HeadsTensor:$output,
    Optional<Tok_ScoresTensor>:$received);
  let assemblyFormat = [{
    $query `,` $key `,` $value
    (`positions` `(` $query_positions^ `,` $key_positions `:`
        type($query_positions) `,` type($key_positions) `)`)?
    (`tree` `(` $tree_parents^ `:` type($tree_parents) `)`)?
    (`segments` `(` $query_segments^ `,` $key_segments `:`
        type($query_segments) `,` type($key_segments) `)`)?
    (`sizes` `(` $key_sizes^ `:` type($key_sizes) `)`)?
    attr-dict `:` type($query) `,` type($key) `,` type($value) `->`
    type($output) (`,` type($received)^)?
  }];
  let hasVerifier = 1;
}

def Tok_CachedAttentionOp : Tok_Op<"cached_attention", [Pure]> {
  let summary = "Attention of new queries over a KV cache";
  let description = [{
    Attention of the `T` queries (`Hq x T x D`, at `positions`) over the
    live slots of `cache`, each slot at the position it was written with.
    The semantics are those of `tok.attention` with the cache's keys,
    values and slot positions; append this step's keys to the cache first
    (`tok.kv.append`), so that a query sees itself.

    With `tree(%parents)` the last `T` live slots are the nodes of a token
    tree (see `tok.attention`); older slots follow `mask`.

    With the `scores` attribute the op also returns the mass each slot
    received (`Hk x capacity`, f32, zero for dead slots), which eviction
    policies consume.

    `softcap` is as in `tok.attention`.

    With `select_budget = B` (a cache with `pages = P`; Quest, query-aware
    selection) each query row attends only to the `k = min(max(3, B / P),
    #pages)` pages of live slots with the highest upper bound
    `sum_d max(q_d max_d, q_d min_d)` of its logits, the pages holding the
    step's own `T` tokens (the last page at decode) always among them;
    ties keep the lower page. With no more pages than `k` it is the full
    attention. Nothing is evicted.

    Example:

    ```mlir
    %o, %s = tok.cached_attention %q, %c1, %pos
        {mask = #tok.mask<causal>, scores = #tok.scores<>}
        : tensor<8x?x32xf32>, !tok.kv_cache<4x256x32xf32, scores>,
          tensor<?xi32> -> tensor<8x?x32xf32>, tensor<4x256xf32>
    ```
  }];
  let arguments = (ins
    Tok_HeadsTensor:$query,
    Tok_KVCache:$cache,
    Tok_I32Vector:$positions,
    Optional<Tok_I32Vector>:$tree_parents,
    Tok_MaskAttr:$mask,
    OptionalAttr<F32Attr>:$scale,
    OptionalAttr<F32Attr>:$softcap,
    OptionalAttr<Tok_ScoresAttr>:$scores,
    OptionalAttr<I64Attr>:$select_budget);
  let results = (outs
    Tok_HeadsTensor:$output,
    Optional<Tok_ScoresTensor>:$received);
  let assemblyFormat = [{
    $query `,` $cache `,` $positions
    (`tree` `(` $tree_parents^ `:` type($tree_parents) `)`)?
    attr-dict `:` type($query) `,` qualified(type($cache)) `,` type($positions) `->`
    type($output) (`,` type($received)^)?
  }];
  let hasVerifier = 1;
}

#endif // TOK_DIALECT_TOK_IR_TOKATTENTIONOPS_TD
