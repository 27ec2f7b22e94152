//===- Passes.td - tok conversion passes -------------------*- tablegen -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_CONVERSION_PASSES_TD
#define TOK_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertTokToLinalgPass : Pass<"convert-tok-to-linalg"> {
  let summary = "Lower tok compute ops to linalg, tensor, arith and math";
  let description = [{
    Rewrites `tok` ops that compute on tensors into structured `linalg` ops
    on tensors, so that the upstream bufferization, vectorization and LLVM
    pipelines apply. Ops with no lowering yet are left alone and reported by
    the final legality check of the pipeline that follows.

    `tok.rms_norm` becomes two `linalg.generic`s: a reduction of the squares
    along the last dimension, then a parallel normalize-and-scale.

    `tok.attention` becomes FlashAttention-2's tiled online softmax: loops
    over query heads, query tiles of `query-tile` rows and key tiles of
    `key-tile` keys carry the running max, running sum and unnormalized
    output (f32); each tile step is a handful of `linalg.generic`s, so only
    one query-tile x key-tile block of logits exists at a time. Masks are
    evaluated on positions (tree masks by walking parent pointers), and the
    `received` scores take a second pass over the key tiles with each row's
    final log-sum-exp. With `vector-attention` (the default), f32
    attention with head dims that are multiples of 16 and no tree,
    segments or sizes (received scores only below 16 query rows) instead
    becomes two hand-vectorized
    kernels (16 lanes): a prefill kernel for 16 or more query rows (K^T
    packed per KV head, 12 x 32 register tiles for Q K^T and P V) and a
    row-at-a-time kernel for decode. Both run the KV heads in parallel
    (`scf.forall`) and leave `math.exp` for `tok-approximate-math`.

    `tok.generate` is expanded first into a prefill call of its step
    function and an `scf.while` decode loop that samples, stores and reports
    (`on_token`) one token per iteration and threads the caches as loop
    values, so that they are updated in place for the whole generation.

    Every `!tok.kv_cache` becomes the tensors it is made of: keys and values
    (`H x C x D`), the position of every slot per KV head (`H x C x i32`),
    the live length (`index`) and, when tracked, the scores (`H x C x f32`);
    function signatures, calls and `scf` loops are converted with it. The
    cache ops update those tensors in destination-passing style and touch
    only the slots they change, so that bufferization updates the caches in
    place: `tok.kv.append` writes its `T` slots (a run-time assertion guards
    the capacity), `tok.kv.truncate` changes only the length,
    `tok.kv.commit` and eviction move the slots they keep. Window eviction
    moves the recent slots behind the sinks; h2o and a2sf accumulate the
    scores in the cache and evict, per KV head, the lowest-scored slots
    outside the recent window; tova evicts by the scores summed over heads,
    keeping the newest slot; snapkv keeps the observation window and the
    best others by scores max-pooled over neighbouring slots (ties keep the
    older slot everywhere). `tok.cached_attention` is the attention above
    over the live prefix. Quantized caches are not lowered yet.

    Example:

    ```mlir
    %y = tok.rms_norm %x, %w : tensor<?x8xf32>, tensor<8xf32>
    ```

    becomes a `linalg.fill` + reduction `linalg.generic` into a
    `tensor<?xf32>`, followed by an elementwise `linalg.generic` that
    computes `x * rsqrt(sum / 8 + eps) * w`.
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::bufferization::BufferizationDialect",
    "::mlir::cf::ControlFlowDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect",
    "::mlir::vector::VectorDialect"
  ];
  let options = [
    Option<"queryTile", "query-tile", "int64_t", /*default=*/"32",
           "Query rows per attention tile (> 0)">,
    Option<"keyTile", "key-tile", "int64_t", /*default=*/"64",
           "Keys per attention tile (> 0)">,
    Option<"vectorAttention", "vector-attention", "bool", /*default=*/"true",
           "Lower f32 attention with 16-lane head dims to the vectorized "
           "kernels (the tile options then do not apply to it)">
  ];
}

#endif // TOK_CONVERSION_PASSES_TD
