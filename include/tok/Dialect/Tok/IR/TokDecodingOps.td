//===- TokDecodingOps.td - sampling and decoding loops -----*- tablegen -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_DIALECT_TOK_IR_TOKDECODINGOPS_TD
#define TOK_DIALECT_TOK_IR_TOKDECODINGOPS_TD

include "tok/Dialect/Tok/IR/TokBase.td"
include "mlir/IR/SymbolInterfaces.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

def Tok_SampleOp : Tok_Op<"sample", [
    Pure,
    DeclareOpInterfaceMethods<InferTypeOpInterface>]> {
  let summary = "Choose one token per row of logits";
  let description = [{
    For each of the `T` rows of `logits` (`T x V`), the token chosen by
    `sampler`. Greedy sampling takes no other input. Stochastic sampling
    draws from a counter-based generator keyed by the sampler's seed, the
    `counter` operand (the decoding step) and the row, so the op stays a
    pure function of its operands.

    Example:

    ```mlir
    %t = tok.sample %logits {sampler = #tok.sampler<>}
        : tensor<1x256xf32>
    %u = tok.sample %logits counter(%step : i64)
        {sampler = #tok.sampler<temperature = 8.0e-01, top_p = 9.0e-01>}
        : tensor<1x256xf32>
    ```
  }];
  let arguments = (ins
    TensorRankOf<[F32], [2]>:$logits,
    Optional<I64>:$counter,
    Tok_SamplerAttr:$sampler);
  let results = (outs Tok_I32Vector:$tokens);
  let assemblyFormat = [{
    $logits (`counter` `(` $counter^ `:` type($counter) `)`)? attr-dict `:`
    type($logits)
  }];
  let hasVerifier = 1;
}

def Tok_GenerateOp : Tok_Op<"generate", [
    AttrSizedOperandSegments,
    DeclareOpInterfaceMethods<SymbolUserOpInterface>]> {
  let summary = "Autoregressive generation with a model step function";
  let description = [{
    Runs the model on `prompt` (at positions 0 .. P-1), then repeatedly
    samples a token from the last row of logits and feeds it back at the
    next position, until `max_new_tokens` tokens are generated or one of the
    `eos` tokens is sampled (it is included; Llama 3 models end a turn with
    either of several). Returns the generated tokens. Sampling step
    `i` (0 for the token after the prompt) uses `i` as the sampler's
    counter.

    `step` names a `func.func` of type
    `(tensor<?xi32> tokens, tensor<?xi32> positions, params..., caches...)
    -> (tensor<?xVxf32> logits, caches...)`: one forward pass over new
    tokens at the given positions, threading one `!tok.kv_cache` per layer.
    `params` (usually the weights) are passed to every step unchanged; the
    `caches` operands are the initial caches (usually `tok.kv.empty`).
    `on_token`, if given, names a `func.func (i32 token, i64 index) -> ()`
    called with each token as soon as it is chosen (streaming output).
    `on_round`, if given, names a `func.func (i64 drafted, i64 accepted)
    -> ()` that speculative decoding calls after each verification round
    (plain decoding never calls it): how tools report acceptance rates.
    With `prefill_chunk = N` the prompt is run through the step function N
    tokens at a time (chunked prefill), so that no step appends more than N
    slots to a cache: what bounds the cache of an evicting model.
    `tok-speculative-decoding` rewrites this op into draft / verify /
    accept form; `@step` itself is left unchanged. `draft_params` are the
    parameters of a separate draft model's step function (its weights),
    used by `tok-speculative-decoding{drafter=model}` and ignored by plain
    decoding.

    Example:

    ```mlir
    %out = tok.generate @step(%prompt) params(%w : tensor<256x64xf32>)
        caches(%c0, %c1 : !tok.kv_cache<4x512x32xf32>,
                          !tok.kv_cache<4x512x32xf32>)
        {max_new_tokens = 128 : i64, sampler = #tok.sampler<>,
         on_token = @print_token}
        : tensor<?xi32> -> tensor<?xi32>
    ```
  }];
  let arguments = (ins
    FlatSymbolRefAttr:$step,
    Tok_I32Vector:$prompt,
    Variadic<AnyType>:$params,
    Variadic<Tok_KVCache>:$caches,
    Variadic<AnyType>:$draft_params,
    I64Attr:$max_new_tokens,
    Tok_SamplerAttr:$sampler,
    OptionalAttr<DenseI64ArrayAttr>:$eos,
    OptionalAttr<FlatSymbolRefAttr>:$on_token,
    OptionalAttr<FlatSymbolRefAttr>:$on_round,
    OptionalAttr<I64Attr>:$prefill_chunk);
  let results = (outs Tok_I32Vector:$tokens);
  let assemblyFormat = [{
    $step `(` $prompt `)`
    (`params` `(` $params^ `:` type($params) `)`)?
    (`caches` `(` $caches^ `:` qualified(type($caches)) `)`)?
    (`draft_params` `(` $draft_params^ `:` type($draft_params) `)`)?
    attr-dict `:` type($prompt) `->` type($tokens)
  }];
  let hasVerifier = 1;
}

def Tok_DraftOp : Tok_Op<"draft", [AttrSizedOperandSegments,
    DeclareOpInterfaceMethods<SymbolUserOpInterface>]> {
  let summary = "Propose draft tokens for speculative decoding";
  let description = [{
    Proposes up to `N` draft tokens following `history` (the committed
    tokens) with `drafter`. The drafts form a tree: `parents[i]` is the
    draft that `tokens[i]` follows, `-1` for the pending (last committed)
    token; a chain has `parents = [-1, 0, 1, ...]`. `probs[i]` is the
    drafter's probability of `tokens[i]` (1.0 for deterministic drafters).
    Model drafters thread their own caches: `caches` in, `new_caches` out,
    grown by the drafted tokens (roll them back with `tok.kv.truncate`).
    With `limit`, at most `limit` tokens are drafted (the round's adaptive
    draft length or the budget left, when below `k`); an ngram drafter with
    `match = recent` then looks for an occurrence followed by `min(k,
    limit)` tokens.

    Example:

    ```mlir
    %d, %p, %q = tok.draft %history {drafter = #tok.drafter<ngram, k = 4>}
        : tensor<?xi32> -> tensor<?xi32>, tensor<?xi32>, tensor<?xf32>
    %e, %f, %g = tok.draft %history limit %n {drafter = #tok.drafter<ngram, k = 8>}
        : tensor<?xi32> -> tensor<?xi32>, tensor<?xi32>, tensor<?xf32>
    ```
  }];
  let arguments = (ins
    Tok_I32Vector:$history,
    Optional<Index>:$limit,
    Variadic<Tok_KVCache>:$caches,
    Tok_DrafterAttr:$drafter);
  let results = (outs
    Tok_I32Vector:$tokens,
    Tok_I32Vector:$parents,
    Tok_F32Vector:$probs,
    Variadic<Tok_KVCache>:$new_caches);
  let assemblyFormat = [{
    $history (`limit` $limit^)?
    (`caches` `(` $caches^ `:` qualified(type($caches)) `)`)? attr-dict `:`
    type($history) `->` type($tokens) `,` type($parents) `,` type($probs)
    (`,` qualified(type($new_caches))^)?
  }];
  let hasVerifier = 1;
}

def Tok_VerifyOp : Tok_Op<"verify", [Pure, AttrSizedOperandSegments]> {
  let summary = "Verify draft tokens against the target model's logits";
  let description = [{
    `logits` (`(N + 1) x V`) are the target's logits after the pending token
    (row 0) and after each of the `N` drafts (row `i + 1`), computed in one
    target pass under the tree mask of `parents`. Returns the accepted path
    (draft indices from the root down, possibly empty) and the next token:
    the correction after the last accepted draft, or the bonus token when
    the whole path is accepted.

    With a greedy `sampler` a draft is accepted iff it is the arg-max of its
    parent's row (exact match); the output equals plain greedy decoding.
    Otherwise speculative sampling accepts draft `d` with probability
    `min(1, p(d) / q(d))` and resamples from the residual on rejection, which
    keeps the output distributed exactly as the target's. `q` is
    `draft_probs(...)` (`N x V`, the drafter's distributions), or one-hot
    on the drafted token when absent. Stochastic verification needs
    `counter`.

    Example:

    ```mlir
    %path, %next = tok.verify %logits, %d, %p {sampler = #tok.sampler<>}
        : tensor<5x256xf32>, tensor<4xi32>, tensor<4xi32>
        -> tensor<?xi32>, tensor<i32>
    ```
  }];
  let arguments = (ins
    TensorRankOf<[F32], [2]>:$logits,
    Tok_I32Vector:$draft_tokens,
    Tok_I32Vector:$parents,
    Optional<TensorRankOf<[F32], [2]>>:$draft_probs,
    Optional<I64>:$counter,
    Tok_SamplerAttr:$sampler);
  let results = (outs Tok_I32Vector:$path, Tok_I32Scalar:$next);
  let assemblyFormat = [{
    $logits `,` $draft_tokens `,` $parents
    (`draft_probs` `(` $draft_probs^ `:` type($draft_probs) `)`)?
    (`counter` `(` $counter^ `:` type($counter) `)`)?
    attr-dict `:` type($logits) `,` type($draft_tokens) `,` type($parents)
    `->` type($path) `,` type($next)
  }];
  let hasVerifier = 1;
}

def Tok_AcceptOp : Tok_Op<"accept", [
    Pure,
    DeclareOpInterfaceMethods<InferTypeOpInterface>]> {
  let summary = "Append an accepted draft path and the next token";
  let description = [{
    `result = tokens ++ [drafts[path[j]] for j] ++ [next]`: the committed
    sequence after one verification round.

    Example:

    ```mlir
    %out2 = tok.accept %out, %d, %path, %next
        : tensor<?xi32>, tensor<4xi32>, tensor<?xi32>, tensor<i32>
    ```
  }];
  let arguments = (ins
    Tok_I32Vector:$tokens,
    Tok_I32Vector:$drafts,
    Tok_I32Vector:$path,
    Tok_I32Scalar:$next);
  let results = (outs Tok_I32Vector:$result);
  let assemblyFormat = [{
    $tokens `,` $drafts `,` $path `,` $next attr-dict `:` type($tokens) `,`
    type($drafts) `,` type($path) `,` type($next)
  }];
}

#endif // TOK_DIALECT_TOK_IR_TOKDECODINGOPS_TD
