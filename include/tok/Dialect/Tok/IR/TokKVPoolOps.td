//===- TokKVPoolOps.td - paged KV memory of a batch --------*- tablegen -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// A batch step reads and writes the KV memory of many sequences at once: a
// pool of pages (!tok.kv_pool) plus, as operands, which slots each new
// token goes to and which pages each sequence reads. docs/dialect.md,
// "Batches: a page pool and page tables", records the design.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_DIALECT_TOK_IR_TOKKVPOOLOPS_TD
#define TOK_DIALECT_TOK_IR_TOKKVPOOLOPS_TD

include "tok/Dialect/Tok/IR/TokBase.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

def Tok_KVPoolEmptyOp : Tok_Op<"kv_pool.empty", [Pure]> {
  let summary = "A pool with every slot zero";
  let description = [{
    Example:

    ```mlir
    %p = tok.kv_pool.empty : !tok.kv_pool<4x256x16x32xf32>
    ```
  }];
  let results = (outs Tok_KVPool:$result);
  let assemblyFormat = "attr-dict `:` qualified(type($result))";
}

def Tok_KVPoolFromTensorsOp : Tok_Op<"kv_pool.from_tensors", [Pure]> {
  let summary = "A pool over the keys and values tensors that hold it";
  let description = [{
    The pool whose keys and values are `keys` and `values`
    (`kv_heads x pages * page_size x head_dim` each): how a batch step takes
    the pools its host owns across steps. `tok.kv_pool.to_tensors` is the
    inverse; a step returns its pools that way, and the lowering updates
    the host's buffers in place.

    Example:

    ```mlir
    %p = tok.kv_pool.from_tensors %k, %v
        : tensor<4x4096x32xf32>, tensor<4x4096x32xf32>
        -> !tok.kv_pool<4x256x16x32xf32>
    ```
  }];
  let arguments = (ins Tok_HeadsTensor:$keys, Tok_HeadsTensor:$values);
  let results = (outs Tok_KVPool:$result);
  let assemblyFormat = [{
    $keys `,` $values attr-dict `:` type($keys) `,` type($values) `->`
    qualified(type($result))
  }];
  let hasVerifier = 1;
}

def Tok_KVPoolToTensorsOp : Tok_Op<"kv_pool.to_tensors", [Pure]> {
  let summary = "The keys and values tensors of a pool";
  let description = [{
    The inverse of `tok.kv_pool.from_tensors`.

    Example:

    ```mlir
    %k, %v = tok.kv_pool.to_tensors %p : !tok.kv_pool<4x256x16x32xf32>
        -> tensor<4x4096x32xf32>, tensor<4x4096x32xf32>
    ```
  }];
  let arguments = (ins Tok_KVPool:$pool);
  let results = (outs Tok_HeadsTensor:$keys, Tok_HeadsTensor:$values);
  let assemblyFormat = [{
    $pool attr-dict `:` qualified(type($pool)) `->` type($keys) `,`
    type($values)
  }];
  let hasVerifier = 1;
}

def Tok_KVPoolWriteOp : Tok_Op<"kv_pool.write", [
    NoMemoryEffect, AllTypesMatch<["pool", "result"]>]> {
  let summary = "Write the keys and values of new tokens into their slots";
  let description = [{
    Writes token `t`'s keys and values (`Hk x T x D`, already rotated) into
    slot `slots[t]` of every KV head. Slots are the scheduler's: distinct
    within one write, each in `[0, pages * page_size)`; a slot out of range
    is an error at run time. A sequence's token at position `p` belongs at
    offset `p mod page_size` of the page its table lists at `p /
    page_size`.

    Example:

    ```mlir
    %p1 = tok.kv_pool.write %p0, %k, %v, %slots
        : !tok.kv_pool<4x256x16x32xf32>, tensor<4x?x32xf32>,
          tensor<4x?x32xf32>, tensor<?xi32>
    ```
  }];
  let arguments = (ins
    Tok_KVPool:$pool,
    Tok_HeadsTensor:$keys,
    Tok_HeadsTensor:$values,
    Tok_I32Vector:$slots);
  let results = (outs Tok_KVPool:$result);
  let assemblyFormat = [{
    $pool `,` $keys `,` $values `,` $slots attr-dict `:`
    qualified(type($pool)) `,` type($keys) `,` type($values) `,` type($slots)
  }];
  let hasVerifier = 1;
}

def Tok_PagedAttentionOp : Tok_Op<"paged_attention", [Pure]> {
  let summary = "Attention of a batch's tokens over their own sequences' pages";
  let description = [{
    The `T` query rows (`Hq x T x D`) come from several sequences, packed:
    row `t` belongs to sequence `row_seqs[t]` (an index into `page_tables`,
    `B x M`: sequence `b`'s pages in position order) and sits at position
    `positions[t]`. Row `t` attends to positions `0 .. positions[t]` of its
    own sequence, as `mask` allows (`causal`, optionally with a window and
    sinks, on those positions), the key and value of position `p` read from
    slot `page_tables[b, p / page_size] * page_size + p mod page_size`.
    Otherwise the semantics, `scale` and `softcap` are `tok.attention`'s:
    grouped-query heads, `scale` defaulting to `1/sqrt(D)`.

    Write the step's own keys first (`tok.kv_pool.write`), so that a row
    sees itself and the rows before it in its chunk. A table entry beyond
    the positions a row reads is never read (the scheduler may leave it
    stale); an entry that is read must name a page in the pool, checked at
    run time.

    Prefill chunks and decode tokens of different sequences share one step:
    a decode token is one row, a chunk of a prompt several consecutive rows
    of the same sequence.

    Example:

    ```mlir
    %o = tok.paged_attention %q, %p1, %tables, %row_seqs, %pos
        {mask = #tok.mask<causal>}
        : tensor<8x?x32xf32>, !tok.kv_pool<4x256x16x32xf32>,
          tensor<?x64xi32>, tensor<?xi32>, tensor<?xi32> -> tensor<8x?x32xf32>
    ```
  }];
  let arguments = (ins
    Tok_HeadsTensor:$query,
    Tok_KVPool:$pool,
    Tok_I32Matrix:$page_tables,
    Tok_I32Vector:$row_seqs,
    Tok_I32Vector:$positions,
    Tok_MaskAttr:$mask,
    OptionalAttr<F32Attr>:$scale,
    OptionalAttr<F32Attr>:$softcap);
  let results = (outs Tok_HeadsTensor:$output);
  let assemblyFormat = [{
    $query `,` $pool `,` $page_tables `,` $row_seqs `,` $positions attr-dict
    `:` type($query) `,` qualified(type($pool)) `,` type($page_tables) `,`
    type($row_seqs) `,` type($positions) `->` type($output)
  }];
  let hasVerifier = 1;
}

#endif // TOK_DIALECT_TOK_IR_TOKKVPOOLOPS_TD
