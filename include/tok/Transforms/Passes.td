//===- Passes.td - tok optimization and analysis passes ----*- tablegen -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_TRANSFORMS_PASSES_TD
#define TOK_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def TokCostReportPass : Pass<"tok-cost-report", "::mlir::ModuleOp"> {
  let summary = "Report FLOPs, bytes moved and KV-cache bytes per function";
  let description = [{
    Emits one remark per function with a body:

    ```
    tok-cost: flops <F>, bytes <B>, kv-bytes <K>, attention-flops <A>
    ```

    - `flops`: multiply-adds count 2. `tok.linear` 2·M·N·K;
      `tok.attention` 2·Hq·T·S·(D + Dv) (dense: a mask does not reduce it);
      `tok.cached_attention` the same with S = the cache capacity (what the
      kernel may read); `tok.rms_norm` 4 per element; `tok.rope` 6 per
      element; `tok.sample` 2 per logit; other ops 0.
    - `attention-flops`: the part of `flops` in the two attention ops.
    - `bytes`: for every tok op, the bytes of its tensor operands and
      results (an upper bound on the traffic; caches count at capacity).
    - `kv-bytes`: the storage of every cache the function creates
      (`tok.kv.empty`) or receives as an argument: keys and values, one i32
      position per head and slot, f32 scores when tracked (quantized caches
      count their element type, an upper bound).

    A function's cost includes, once per call, the cost of the functions it
    calls: a step's cost is that of its layers (layer functions, one call
    per layer) plus its own ops. With `per-layer`, each layer call (a call
    marked `tok.layer`) also gets a remark with its callee's cost:

    ```
    tok-cost layer <L> (@<callee>): flops <F>, bytes <B>, kv-bytes <K>,
        attention-flops <A>
    ```

    where `kv-bytes` is the layer's own caches.

    Dynamic dimensions count as `dynamic-size` (default 1, i.e. per token).
    Run it before and after a pass to see what the pass bought:

    ```
    tok-opt model.mlir --tok-cost-report --tok-kv-evict=... --tok-cost-report
    ```
  }];
  let options = [
    Option<"dynamicSize", "dynamic-size", "int64_t", /*default=*/"1",
           "Size assumed for every dynamic dimension (> 0)">,
    Option<"perLayer", "per-layer", "bool", /*default=*/"false",
           "Also report each layer call's cost">
  ];
}

def TokApproximateMathPass : Pass<"tok-approximate-math"> {
  let summary = "Rewrite f32 math.exp, math.erf and math.tanh into "
                "polynomial approximations";
  let description = [{
    Replaces every f32 `math.exp`, scalar or vector, by MLIR's polynomial
    approximation (range reduction to [-ln 2 / 2, ln 2 / 2], a degree-5
    polynomial, exponent bits by integer arithmetic): at most about 1 ulp
    from the C library's `expf` for arguments in [-87, 88], exact 0 for
    -inf, +inf past the overflow. It runs in `tok-to-llvm` after the
    bufferization, so that the attention kernels' exp on `vector<16xf32>`
    becomes 16-lane arithmetic instead of 16 calls of `expf`.

    f32 `math.erf` (BERT's GELU), which has no LLVM lowering of its own,
    becomes MLIR's rational approximation (within about 1e-7 absolute of
    `erff` over the whole range); so does f32 `math.tanh` (Gemma's tanh GELU
    and logit soft-capping: a rational approximation on [-7.99, 7.99],
    +-1 beyond).
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::math::MathDialect",
    "::mlir::vector::VectorDialect"
  ];
}

def TokInlineStepsPass : Pass<"tok-inline-steps", "::mlir::ModuleOp"> {
  let summary = "Inline the calls of step functions (functions that call "
                "layer functions) into their callers";
  let description = [{
    A model's step takes every weight and every KV cache and passes each
    layer's share to a layer function (a function marked `tok.layer`). Once
    `convert-tok-to-linalg` has expanded the decoding loops, the step is
    called from them with all of those values: for an 80-layer model over a
    thousand operands and hundreds of results per call, and one-shot
    bufferization's aliasing queries on a call grow with operands x results
    (an 80-layer model lowered in 5.4 s with the calls, 1.2 s without).

    This pass replaces every call of a single-block function that itself
    calls a layer function by a copy of that function's body, and erases
    the private functions left without a use. Layer functions are never
    inlined: their calls stay, so a layer's code exists once. Modules
    without layer functions are left as they are.

    `tok-to-llvm` and `tok-to-nvvm` run it after `convert-tok-to-linalg`.
  }];
  let dependentDialects = ["::mlir::func::FuncDialect"];
}

def TokOutlineKernelsPass : Pass<"tok-outline-kernels", "::mlir::ModuleOp"> {
  let summary = "Outline the parallel loops of bufferized code into "
                "functions, one per distinct loop";
  let description = [{
    Moves every outermost `scf.forall` without results (the kernels of
    bufferized code: linear layers, attention) into a private function of
    its own and calls it, and gives loops that are the same up to the values
    they read one function between them. A model's layers repeat the same
    kernels on other weights: the 49 loops of the built-in model's step
    become 5 functions, so LLVM optimizes and generates each kernel once
    instead of once per layer (tok-run compiles that model about 2x faster),
    and the machine code is that much smaller.

    The loop's operands and the values it uses from outside become the
    function's arguments, except constants, which are copied in (the
    kernels' bounds and steps stay constants for LLVM). Two loops share a
    function when their outlined functions print the same (generic form,
    no locations). Loops with results (tensor code) are left alone.

    `tok-to-llvm` runs it after bufferization.
  }];
  let dependentDialects = ["::mlir::func::FuncDialect"];
}

def TokSpeculativeDecodingPass
    : Pass<"tok-speculative-decoding", "::mlir::ModuleOp"> {
  let summary = "Rewrite tok.generate into draft / verify / accept rounds "
                "(speculative decoding)";
  let description = [{
    Replaces every `tok.generate` by its prefill and a loop of speculative
    rounds (docs/algorithms.md, "Speculative decoding"): `tok.draft` proposes
    up to `k` tokens from the context (prompt and generated tokens), one call
    of the step function runs the pending token and the drafts at their
    positions, `tok.verify` accepts a prefix and picks the next token,
    `tok.kv.truncate` drops the rejected drafts from every cache (no copy),
    and the accepted tokens and the next one are emitted through `on_token` up
    to `eos` or `max_new_tokens` (a round never drafts past the budget left).
    With `adaptive` (the default) a round drafts at most the current draft
    length, which starts at `k`, grows by 2 after a round that accepted all
    its drafts and shrinks by 1 (to at least 1) after one that did not
    (Hugging Face's heuristic, docs/algorithms.md, "Adaptive draft length").
    `on_round`, if the op has one, is called with the drafted and accepted
    counts of every round. With a greedy sampler the output equals plain
    greedy decoding token for token; with a stochastic one, verification is
    speculative sampling and the output is distributed as plain sampling's.

    Drafters: `ngram` (prompt lookup: the longest suffix of `n-max` down to
    `n-min` tokens seen earlier, continued for up to `k` tokens; no model;
    `match=recent`, the default, copies from the latest occurrence that is
    followed by a whole draft of the round's length, else from the
    earliest; `match=earliest` always from the earliest, vLLM's rule);
    `layer_skip` (self-speculation: the function `draft-step`, the target
    without some layers, e.g. from `tok-import --draft-skip=3,4`, drafts
    greedily, one call per draft, with caches of its own that catch up on
    the emitted tokens at the start of each round and roll back with
    `tok.kv.truncate`; it takes the same parameters as the step); `model`
    (a separate draft model: the same rounds, but `draft-step` takes the
    `draft_params` of `tok.generate`, its own weights, e.g. from `tok-import
    --draft-model=dir` / `tok-run generate --draft-model=dir`; its vocabulary
    must be the target's). With `branch` > 1 a model drafter proposes a
    token tree: its greedy chain plus, at each level, the next `branch - 1`
    tokens of the same draft row as leaves; the target verifies every node
    in one call of a copy of the step whose attention takes the tree mask
    (`tok.cached_attention ... tree(%parents)`), positions by depth, and
    `tok.kv.commit` keeps the accepted path.

    Example:

    ```
    tok-run generate --pipeline "tok-speculative-decoding{k=8}" ...
    tok-run generate --draft-skip=3,4 \
        --pipeline "tok-speculative-decoding{drafter=layer_skip k=4}" ...
    tok-run generate --draft-model=small/ \
        --pipeline "tok-speculative-decoding{drafter=model k=4}" ...
    ```
  }];
  let statistics = [
    Statistic<"numRewritten", "generates-rewritten", "tok.generate loops turned into draft / verify rounds">,
    Statistic<"numTreeSteps", "tree-steps", "Step functions copied to verify token trees">
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::func::FuncDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect",
    "::mlir::tok::TokDialect"
  ];
  let options = [
    Option<"drafterName", "drafter", "std::string", /*default=*/"\"ngram\"",
           "Where drafts come from: ngram, layer_skip or model">,
    Option<"draftStepName", "draft-step", "std::string",
           /*default=*/"\"draft_step\"",
           "layer_skip / model: the draft's step function (layer_skip: the "
           "step's parameters; model: tok.generate's draft_params; caches of "
           "its own)">,
    Option<"k", "k", "int64_t", /*default=*/"10",
           "Most tokens drafted per round (1 to 256)">,
    Option<"nMax", "n-max", "int64_t", /*default=*/"3",
           "Longest suffix the ngram drafter looks up (at most 64)">,
    Option<"nMin", "n-min", "int64_t", /*default=*/"1",
           "Shortest suffix the ngram drafter looks up (> 0)">,
    Option<"match", "match", "std::string", /*default=*/"\"recent\"",
           "Which earlier occurrence the ngram drafter copies: recent (the "
           "latest followed by a whole draft, else the earliest) or "
           "earliest (vLLM)">,
    Option<"confidence", "confidence", "double", /*default=*/"0.4",
           "layer_skip / model: stop drafting after a draft the drafter gives a "
           "probability below this (0: never; Hugging Face's default 0.4)">,
    Option<"adaptive", "adaptive", "bool", /*default=*/"true",
           "Adapt the draft length per round: +2 after a round that "
           "accepted every draft, -1 (to at least 1) otherwise, at most k">,
    Option<"branch", "branch", "int64_t", /*default=*/"1",
           "layer_skip / model: tokens proposed per tree level (1 to 64); above "
           "1 the drafts form a token tree: the greedy chain plus, at each "
           "level, the drafter's next branch - 1 most likely tokens as "
           "leaves, verified in one target pass under a tree mask and "
           "committed with tok.kv.commit">
  ];
}

def TokKVEvictPass : Pass<"tok-kv-evict", "::mlir::ModuleOp"> {
  let summary = "Bound every KV cache by an eviction policy (StreamingLLM, "
                "H2O, A2SF, TOVA, SnapKV)";
  let description = [{
    After every `tok.cached_attention` that reads a cache just appended to
    (`tok.kv.append`), inserts `tok.kv.evict` with the policy, so that at
    most `budget` slots per KV head survive each step; later uses of the
    cache (the step's returned cache) see the evicted one. Kept slots keep
    the positions they were written with (original positions:
    docs/algorithms.md, "Rules shared by all policies").

    Every `!tok.kv_cache` of the module shrinks to `budget + chunk` slots:
    a step appends at most `chunk` tokens before it evicts, and every
    `tok.generate` gets `prefill_chunk = chunk` so that the prompt goes
    through the model that many tokens at a time. The KV memory is then
    bounded by the budget whatever the prompt and generation lengths.

    Policies that rank slots by attention (`h2o`, `a2sf`, `tova`,
    `snapkv`) make the attention return the mass each slot received
    (`scores`), accumulated inside the attention kernel (no second pass over
    K) and fed to the eviction; `h2o` and `a2sf` accumulate it across steps
    in the cache, whose type then tracks scores.

    Examples:

    ```
    tok-opt model.mlir --tok-kv-evict="policy=window budget=260 sinks=4 recent=256"
    tok-run generate --pipeline "tok-kv-evict{policy=h2o budget=128 recent=64}"
    ```

    The options are checked like the `#tok.evict` attribute they build
    (e.g. `window` needs `budget = sinks + recent`).

    Per-layer budgets (RazorAttention / DuoAttention style, from a
    calibration profile): `profile=file.json` with one entry per layer,
    in the order the layers' attentions appear in the module:

    ```
    {"layers": ["full",
                {"budget": 64, "sinks": 4, "recent": 60},
                {"policy": "h2o", "budget": 96, "recent": 32}
    ]}
    ```

    `"full"` keeps the layer's cache whole (its capacity unchanged, no
    eviction); an object overrides the pass options it names (`policy`,
    `budget`, `sinks`, `recent`, `decay`, `observe`, `pool`) and each
    layer's cache gets its own capacity, `budget + chunk`. Per head,
    `"heads": ["full", "stream", ...]` (one per KV head) splits the
    layer's cache in two: the full heads keep everything, the streamed
    ones follow the layer's policy in a cache of `budget + chunk` slots. The layers of a
    module are the threads of caches through the step function, its
    callers, `tok.generate` and loops; a cache passed through an op that
    is not understood is an error. `bench/kv/calibrate.py` writes a profile
    from a model's attention on calibration text.
  }];
  let options = [
    Option<"policy", "policy", "std::string", /*default=*/"\"window\"",
           "window, h2o, a2sf, tova or snapkv">,
    Option<"budget", "budget", "int64_t", /*default=*/"0",
           "Slots per KV head kept after each step (> 0)">,
    Option<"sinks", "sinks", "int64_t", /*default=*/"0",
           "window: the first positions always kept">,
    Option<"recent", "recent", "int64_t", /*default=*/"0",
           "window, h2o, a2sf: the most recent slots always kept">,
    Option<"decay", "decay", "double", /*default=*/"1.0",
           "a2sf: factor applied to the accumulated scores each step">,
    Option<"observe", "observe", "int64_t", /*default=*/"0",
           "snapkv: queries of the observation window">,
    Option<"pool", "pool", "int64_t", /*default=*/"1",
           "snapkv: width of the max pooling of scores">,
    Option<"chunk", "chunk", "int64_t", /*default=*/"16",
           "The most tokens one step appends (prefill chunk size)">,
    Option<"profile", "profile", "std::string", /*default=*/"\"\"",
           "Per-layer budgets: a JSON file {\"layers\": [...]}, one entry "
           "per layer, \"full\" (no eviction) or an object overriding "
           "the options above">
  ];
  let statistics = [
    Statistic<"numEvictions", "evictions", "tok.kv.evict ops inserted">,
    Statistic<"numLayerCopies", "layer-functions", "Layer functions after specializing per setting">
  ];
  let dependentDialects = ["::mlir::tok::TokDialect"];
}

def TokKVQuantizePass : Pass<"tok-kv-quantize", "::mlir::ModuleOp"> {
  let summary = "Store every KV cache quantized to int8 or int4 (KIVI)";
  let description = [{
    Gives every `!tok.kv_cache` of the module KIVI-style quantized storage
    (`quant = #tok.kv_quant<bits, group, residual>`, docs/algorithms.md,
    "KV-cache quantization (KIVI)"): keys per channel over groups of `group`
    consecutive tokens, values per token over groups of `group` consecutive
    channels, asymmetric with an f16 scale and minimum per group; at least the
    `residual` most recent tokens stay in full precision, the older ones are
    quantized in whole groups as they leave that window. The attention kernels
    dequantize the codes in registers (no dequantized copy of the cache).

    Examples:

    ```
    tok-opt model.mlir --tok-kv-quantize="bits=4 group=32 residual=128"
    tok-run generate --pipeline "tok-kv-quantize{bits=8}"
    ```

    Requirements, checked here: `bits` 4 or 8; `group` divides the head
    dim and `residual`; `residual` at most the cache capacity; caches not
    already quantized. Eviction (`tok-kv-evict`) and token-tree commits over
    quantized storage have no lowering yet and are rejected. A rollback
    (`tok.kv.truncate`, speculative decoding) may drop only full-precision
    slots: keep `residual` above the draft length (checked at run time).
  }];
  let options = [
    Option<"bits", "bits", "int64_t", /*default=*/"8",
           "Bits per code: 4 or 8">,
    Option<"group", "group", "int64_t", /*default=*/"32",
           "Tokens per key group and channels per value group">,
    Option<"residual", "residual", "int64_t", /*default=*/"128",
           "Most recent tokens kept in full precision (a multiple of group)">
  ];
  let statistics = [
    Statistic<"numCacheTypes", "cache-types", "Distinct cache types quantized">
  ];
  let dependentDialects = ["::mlir::tok::TokDialect"];
}

def TokQuantizeWeightsPass : Pass<"tok-quantize-weights", "::mlir::ModuleOp"> {
  let summary = "Store a model's weight matrices block-quantized (#tok.quant)";
  let description = [{
    Gives the weight matrices of the module (function arguments named by
    `tok.weight`) a `#tok.quant` type (docs/quantization.md): layer weights
    get `scheme`, the embedding table (a weight `tok.embed` reads) gets
    `embedding`, the head (a weight a `tok.linear` outside the layer
    functions reads) gets `head`; `none` leaves them as they are, and the
    default of the two is `scheme`. The new types follow the weights through
    `tok.generate` into the step function and through calls into the layer
    functions. A matrix whose rows are not a multiple of the block (32; 256
    for q4_k and q6_k) is
    left as it is, and so is a weight that reaches anything but
    `tok.linear`, `tok.embed`, a call or `tok.generate`'s parameters (a
    separate draft model's weights are not quantized). The driver
    (tok-run generate) quantizes the weights when it binds them (q8_0 and
    q4_0 by llama.cpp's rules, q4_k and q6_k by a scale search), so any
    model can run quantized. q4_k and q6_k need rows of whole 256-weight
    super-blocks.

    Examples:

    ```
    tok-run generate --model M --pipeline "tok-quantize-weights{scheme=q8_0}"
    tok-opt model.mlir --tok-quantize-weights="scheme=q4_0 head=q8_0 embedding=none"
    ```

    Schemes: `q8_0`, `q4_0`, `i8_channel` (one f32 scale per output row;
    the driver quantizes to these; q4_k and q6_k are read from GGUF files
    only).
  }];
  let options = [
    Option<"scheme", "scheme", "std::string", /*default=*/"\"q8_0\"",
           "Scheme of the layers' weights: q8_0, q4_0, q4_k, q6_k, i8_channel or none">,
    Option<"embedding", "embedding", "std::string", /*default=*/"\"\"",
           "Scheme of the embedding table (default: scheme; none keeps it)">,
    Option<"head", "head", "std::string", /*default=*/"\"\"",
           "Scheme of the head (default: scheme; none keeps it)">
  ];
  let statistics = [
    Statistic<"numWeights", "weights", "Weight arguments quantized">
  ];
  let dependentDialects = ["::mlir::tok::TokDialect"];
}

def TokKVSelectPass : Pass<"tok-kv-select", "::mlir::ModuleOp"> {
  let summary = "Query-aware KV page selection at decode time (Quest)";
  let description = [{
    Gives every `!tok.kv_cache` of the module page bounds (`pages = P`:
    per KV head, page of `P` slots and key channel, the min and max of the
    keys, kept up to date by appends and rollbacks), and every
    `tok.cached_attention` but those of the first `dense-layers` layers
    (in op order within each function; Quest keeps the first two dense) a
    `select_budget`: each decode query row then attends only to the last
    page and the pages whose logit upper bound
    `sum_d max(q_d max_d, q_d min_d)` is highest, `max(3, budget / P)`
    pages in all (docs/algorithms.md, "Query-aware page selection (Quest)").
    Nothing is evicted: the cache keeps every slot, and another row may select
    other pages. Prefill (16 or more query rows) stays dense; with no more
    pages than the budget the attention is exactly the dense one.

    Examples:

    ```
    tok-opt model.mlir --tok-kv-select="page=16 budget=512"
    tok-run generate --pipeline "tok-kv-select{budget=256}"
    ```

    Requirements: `page` a positive multiple of 16 and `budget` positive
    (checked here); f32 attention with a head dim a multiple of 16 (checked
    by the lowering). Eviction, token-tree commits and quantized storage
    are not combined with page bounds yet and are rejected.
  }];
  let options = [
    Option<"page", "page", "int64_t", /*default=*/"16",
           "Slots per page (a multiple of 16)">,
    Option<"budget", "budget", "int64_t", /*default=*/"512",
           "Tokens attended per decode row (rounded down to pages, at least "
           "3 pages)">,
    Option<"denseLayers", "dense-layers", "int64_t", /*default=*/"2",
           "Attentions per function left dense, in op order">
  ];
  let statistics = [
    Statistic<"numSelecting", "selecting-attentions", "Attentions that read only the selected pages">
  ];
  let dependentDialects = ["::mlir::tok::TokDialect"];
}

def TokTokenMergePass : Pass<"tok-token-merge", "::mlir::ModuleOp"> {
  let summary = "Merge similar tokens in every encoder block (ToMe)";
  let description = [{
    In every function with non-causal `tok.attention` ops (encoder blocks),
    inserts a `tok.merge` after each block's attention half: at the
    residual add that follows the attention, or at the LayerNorm that is
    its only user (post-LN blocks such as BERT), before the MLP. The metric
    is the block's keys averaged over heads; `r_l` tokens merge in block
    `l` (bipartite soft matching, docs/algorithms.md, "Bipartite soft matching
    (ToMe)", or with `method=pitome` PiToMe's energy-ranked matching,
    "PiToMe", with the margin 0.9 - 0.8 l / L); the first `protect-first`
    tokens (CLS) never merge. Later blocks see the merged tokens, and with
    `prop-attn` their attention adds `log(size)` of each key ("Proportional
    attention"). Returned token rows are expanded back to one row per input
    token with `tok.unmerge` ("Source map and unmerge"), so callers (pooling,
    token-level heads) see the shapes they saw before.

    `r_l` comes from `r-list` if given (missing layers merge nothing), else
    from `r` and `schedule` (ToMe's parse_r, "r schedules"): `constant` r in
    every block, `decreasing` 2r down to 0, `increasing` 0 up to 2r. Every
    block clamps to half of its unprotected tokens at run time.

    Requirements, checked with errors at the offending op: the token
    dimension of the rows is dynamic, and every op after the merge sizes
    itself from the rows it works on (an op still sized by the original
    token count, e.g. `tensor.empty(%t)` with `%t` from the input ids, is
    reported). Causal attention (decoders) is left alone: merging reorders
    nothing, but a causal decoder's KV cache has no notion of merged keys.

    Example (the built-in BERT importer's @encode):

    ```
    tok-opt bert.mlir --tok-token-merge="r=16 schedule=decreasing"
    tok-run embed --model DIR --pipeline 'tok-token-merge{r=16}' --text ...
    ```
  }];
  let options = [
    Option<"r", "r", "int64_t", /*default=*/"8",
           "Tokens merged per block (with schedule)">,
    Option<"schedule", "schedule", "std::string", /*default=*/"\"constant\"",
           "r per block: constant, decreasing (2r -> 0) or increasing "
           "(0 -> 2r)">,
    ListOption<"rList", "r-list", "int64_t",
               "Explicit r per block (overrides r and schedule)">,
    Option<"protectFirst", "protect-first", "int64_t", /*default=*/"1",
           "Leading tokens that never merge (CLS)">,
    Option<"metricKind", "metric", "std::string", /*default=*/"\"keys\"",
           "Similarity of tokens: keys (ToMe: the block's keys averaged "
           "over heads) or hidden (the residual stream being merged)">,
    Option<"propAttn", "prop-attn", "bool", /*default=*/"true",
           "Proportional attention: log(size) added to merged keys' "
           "logits">,
    Option<"method", "method", "std::string", /*default=*/"\"tome\"",
           "Matching: tome (bipartite soft matching by index parity) or "
           "pitome (PiToMe's energy-ranked matching, margin 0.9 - 0.8 l/L)">
  ];
  let statistics = [
    Statistic<"numMerges", "merges", "tok.merge ops inserted (one per block that merges)">
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::tensor::TensorDialect",
    "::mlir::tok::TokDialect"
  ];
}

def TokTokenPrunePass : Pass<"tok-token-prune", "::mlir::ModuleOp"> {
  let summary = "Drop the least attended tokens in encoder blocks (EViT, "
                "SpAtten cascade)";
  let description = [{
    In every function with non-causal `tok.attention` ops (encoder blocks),
    inserts a `tok.prune` in each block listed in `layers` (all blocks if
    empty), or in each block with an entry below 1 in `keep-list` (a
    per-block keep schedule), at the same place `tok-token-merge` merges: after the
    attention's residual add (or the LayerNorm that is its only user),
    before the MLP. The kept tokens are the first `protect-first` and last
    `protect-last` and, of the rest, the best scored, `ceil(keep T)` in all
    (docs/algorithms.md, "Token pruning (EViT, SpAtten)"); pruned tokens leave
    every later block (cascade, never revived). Scores:

    - `cls` (default, EViT, "[CLS] attention (EViT)"): the attention the first
      token pays each token in this block, summed over heads (a one-row
      attention on the block's keys with received scores, computed by the row
      kernel);
    - `received` (SpAtten, "Cascade pruning (SpAtten)"): the attention mass
      each token received from every query of the block, summed over heads and
      accumulated over the pruning blocks. Received scores over many query
      rows take the general attention lowering (slower than the vectorized
      kernel).

    With `restore=scatter` (default) returned token rows are restored to
    one row per input token with `tok.scatter`: a pruned token keeps its
    row from the block where it was pruned, so token-level consumers see
    the shapes they saw before. With `restore=none` the function returns
    the surviving rows only (its token dimension is dynamic, so the
    signature is unchanged): what a pooled sentence embedding wants, since
    stale rows from early blocks would dilute the mean. Requirements and
    errors as for `tok-token-merge`.

    Decoders (causal attention) are left alone: pruning prompt tokens in a
    decoder prefill (LazyLLM) needs per-layer KV presence and revival from
    an auxiliary cache; see docs/token-reduction.md for why that is not
    done here.

    Example:

    ```
    tok-opt bert.mlir --tok-token-prune="keep=0.7 layers=1,2,3"
    tok-run embed --model DIR --pipeline 'tok-token-prune{keep=0.5}' ...
    ```
  }];
  let options = [
    Option<"keep", "keep", "double", /*default=*/"0.7",
           "Fraction of the tokens each pruning block keeps, in (0, 1]">,
    ListOption<"layers", "layers", "int64_t",
               "Encoder blocks that prune (0-based; default: all)">,
    ListOption<"keepList", "keep-list", "double",
               "Keep ratio per block (a schedule; blocks past the list and "
               "entries of 1 do not prune); replaces keep and layers">,
    Option<"score", "score", "std::string", /*default=*/"\"cls\"",
           "Token importance: cls (first token's attention) or received "
           "(accumulated received attention)">,
    Option<"protectFirst", "protect-first", "int64_t", /*default=*/"1",
           "Leading tokens always kept (CLS)">,
    Option<"protectLast", "protect-last", "int64_t", /*default=*/"0",
           "Trailing tokens always kept (e.g. SEP)">,
    Option<"restore", "restore", "std::string", /*default=*/"\"scatter\"",
           "Returned rows: scatter (one per input token, pruned ones as "
           "they were when pruned) or none (the survivors only)">
  ];
  let statistics = [
    Statistic<"numPrunes", "prunes", "tok.prune ops inserted (one per block that prunes)">
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::tensor::TensorDialect",
    "::mlir::tok::TokDialect"
  ];
}

#endif // TOK_TRANSFORMS_PASSES_TD
