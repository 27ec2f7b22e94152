//===- TokAttrs.td - tok dialect attributes ----------------*- tablegen -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_DIALECT_TOK_IR_TOKATTRS_TD
#define TOK_DIALECT_TOK_IR_TOKATTRS_TD

include "tok/Dialect/Tok/IR/TokDialect.td"
include "tok/Dialect/Tok/IR/TokEnums.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/TensorEncoding.td"

class Tok_Attr<string name, string attrMnemonic, list<Trait> traits = []>
    : AttrDef<Tok_Dialect, name, traits> {
  let mnemonic = attrMnemonic;
  let genVerifyDecl = 1;
}

def Tok_MaskAttr : Tok_Attr<"Mask", "mask"> {
  let summary = "Which keys a query may attend to";
  let description = [{
    Visibility is decided on token positions, never on cache slot indices,
    so that it stays right after eviction, commit or merging:

    - `full`: every key is visible (encoders);
    - `causal`: key position `<=` query position;
    - `window = W` (causal only): additionally `qpos - kpos < W`, i.e. `W`
      keys including the query itself; `sinks = S` keeps keys with
      `kpos < S` visible whatever the window (StreamingLLM);
    - `block_diagonal = true`: additionally query and key must carry the
      same segment id (packed prompts); the op then takes a `segments`
      operand.

    Example:

    ```mlir
    #tok.mask<causal>
    #tok.mask<causal, window = 1024, sinks = 4>
    #tok.mask<full, block_diagonal = true>
    ```
  }];
  let parameters = (ins
    EnumParameter<Tok_MaskKind>:$kind,
    DefaultValuedParameter<"int64_t", "0">:$window,
    DefaultValuedParameter<"int64_t", "0">:$sinks,
    DefaultValuedParameter<"bool", "false">:$block_diagonal);
  let assemblyFormat =
      "`<` $kind (`,` struct($window, $sinks, $block_diagonal)^)? `>`";
  let extraClassDeclaration = [{
    bool isCausal() const { return getKind() == MaskKind::causal; }
  }];
}

def Tok_ScoresAttr : Tok_Attr<"Scores", "scores"> {
  let summary = "Which query rows count towards the received-mass scores";
  let description = [{
    Requests the `scores` result of an attention op: for every KV head `g`
    and key slot `s`, the attention mass the slot received,
    `sum_{h: kv(h) = g} sum_{i in R} w_i * P[h, i, s]`, accumulated inside
    the attention kernel in f32. `rows = 0` (the default) counts every query
    row (H2O prefill, pruning), `rows = n` the last `n` rows (SnapKV's
    observation window, `1` for TOVA); `decay` weighs row `i` by
    `decay^(T-1-i)` (A2SF's forgetting factor).

    Example:

    ```mlir
    #tok.scores<>
    #tok.scores<rows = 32>
    #tok.scores<decay = 9.0e-01>
    ```
  }];
  let parameters = (ins
    DefaultValuedParameter<"int64_t", "0">:$rows,
    DefaultValuedParameter<"::llvm::APFloat", "::llvm::APFloat(1.0)">:$decay);
  let assemblyFormat = "`<` struct($rows, $decay) `>`";
}

def Tok_KVQuantAttr : Tok_Attr<"KVQuant", "kv_quant"> {
  let summary = "KIVI-style quantization of a KV cache";
  let description = [{
    Keys are quantized per channel over groups of `group` consecutive
    tokens, values per token over groups of `group` consecutive channels,
    asymmetrically with an f16 scale and minimum per group (KIVI). The most
    recent `residual` tokens stay in full precision. `bits` is 4 or 8.

    Example:

    ```mlir
    #tok.kv_quant<bits = 4, group = 32, residual = 128>
    ```
  }];
  let parameters = (ins
    "int64_t":$bits,
    DefaultValuedParameter<"int64_t", "32">:$group,
    DefaultValuedParameter<"int64_t", "128">:$residual);
  let assemblyFormat = "`<` struct(params) `>`";
}

def Tok_EvictAttr : Tok_Attr<"Evict", "evict"> {
  let summary = "A KV-cache eviction policy and its budget";
  let description = [{
    `budget` is the number of slots kept per KV head after eviction. The
    policies (see docs/algorithms.md, "KV-cache eviction"):

    - `window` (StreamingLLM): the first `sinks` positions and the most
      recent `recent` slots; `budget = sinks + recent`;
    - `h2o`: the `recent` most recent slots plus the heaviest hitters by
      accumulated received mass up to `budget`;
    - `a2sf`: as `h2o`, the accumulated mass decaying by `decay` per step;
    - `snapkv`: at the end of prefill, per KV head, the slots most attended
      by the last `observe` queries after 1-D max pooling of width `pool`,
      plus those `observe` slots themselves;
    - `tova`: the slots the last query attends to most.

    Kept slots stay in ascending order and keep the positions they were
    written with. On equal scores the smaller (older) slot is kept.
    `tova` and `snapkv` keep no recent window of their own: `recent` must
    be 0 for them.

    Example:

    ```mlir
    #tok.evict<window, budget = 256, sinks = 4, recent = 252>
    #tok.evict<h2o, budget = 256, recent = 128>
    #tok.evict<snapkv, budget = 512, observe = 32, pool = 7>
    ```
  }];
  let parameters = (ins
    EnumParameter<Tok_EvictPolicy>:$policy,
    "int64_t":$budget,
    DefaultValuedParameter<"int64_t", "0">:$sinks,
    DefaultValuedParameter<"int64_t", "0">:$recent,
    DefaultValuedParameter<"::llvm::APFloat", "::llvm::APFloat(1.0)">:$decay,
    DefaultValuedParameter<"int64_t", "0">:$observe,
    DefaultValuedParameter<"int64_t", "1">:$pool);
  let assemblyFormat = [{
    `<` $policy `,` struct($budget, $sinks, $recent, $decay, $observe, $pool)
    `>`
  }];
  let extraClassDeclaration = [{
    /// Whether the policy ranks slots by received attention mass.
    bool needsScores() const { return getPolicy() != EvictPolicy::window; }
    /// Whether the policy accumulates scores across decode steps, so that
    /// the cache must carry them.
    bool accumulatesScores() const {
      return getPolicy() == EvictPolicy::h2o ||
             getPolicy() == EvictPolicy::a2sf;
    }
  }];
}

def Tok_SamplerAttr : Tok_Attr<"Sampler", "sampler"> {
  let summary = "How the next token is chosen from logits";
  let description = [{
    `temperature = 0` (the default) is greedy: the arg-max, ties to the
    lowest token id. Otherwise logits are divided by `temperature`, cut to
    the `top_k` largest (0: no cut) and to the smallest set whose mass
    reaches `top_p` (1.0: no cut), and sampled with a counter-based
    generator seeded by `seed`.

    Example:

    ```mlir
    #tok.sampler<>
    #tok.sampler<temperature = 8.0e-01, top_k = 40, top_p = 9.5e-01, seed = 7>
    ```
  }];
  let parameters = (ins
    DefaultValuedParameter<"::llvm::APFloat", "::llvm::APFloat(0.0)">:$temperature,
    DefaultValuedParameter<"int64_t", "0">:$top_k,
    DefaultValuedParameter<"::llvm::APFloat", "::llvm::APFloat(1.0)">:$top_p,
    DefaultValuedParameter<"int64_t", "0">:$seed);
  let assemblyFormat = "`<` struct($temperature, $top_k, $top_p, $seed) `>`";
  let extraClassDeclaration = [{
    bool isGreedy() const { return getTemperature().isZero(); }
  }];
}

def Tok_DrafterAttr : Tok_Attr<"Drafter", "drafter"> {
  let summary = "Where speculative drafts come from";
  let description = [{
    - `model`: a separate draft model whose step function is `step` (same
      tokenizer as the target);
    - `layer_skip`: the target model (`step`) with the layers in `skip`
      skipped;
    - `ngram`: prompt lookup: the longest suffix of `n_max` down to `n_min`
      tokens found earlier in the history, continued for up to `k` tokens.
      `match` picks the occurrence: `recent` (default) the latest one
      followed by a full draft (k tokens, or the op's `limit`), else the
      earliest; `earliest` the earliest (vLLM's rule).

    Every drafter proposes up to `k` tokens per round; with `branch > 1` it
    proposes a token tree (top-`branch` children per node, `k` levels).
    Drafting stops early when the drafter's probability of its own token
    falls below `confidence` (0: never).

    Example:

    ```mlir
    #tok.drafter<ngram, k = 4, n_max = 3>
    #tok.drafter<ngram, k = 4, match = earliest>
    #tok.drafter<model, k = 4, step = @draft_step, confidence = 4.0e-01>
    #tok.drafter<layer_skip, k = 3, step = @step, skip = [2, 3, 4]>
    ```
  }];
  let parameters = (ins
    EnumParameter<Tok_DrafterKind>:$kind,
    "int64_t":$k,
    DefaultValuedParameter<"int64_t", "1">:$branch,
    DefaultValuedParameter<"int64_t", "3">:$n_max,
    DefaultValuedParameter<"int64_t", "1">:$n_min,
    DefaultValuedParameter<"NgramMatch", "NgramMatch::recent">:$match,
    OptionalParameter<"::mlir::FlatSymbolRefAttr">:$step,
    OptionalParameter<"::mlir::DenseI64ArrayAttr">:$skip,
    DefaultValuedParameter<"::llvm::APFloat", "::llvm::APFloat(0.0)">:$confidence);
  let assemblyFormat = [{
    `<` $kind `,` struct($k, $branch, $n_max, $n_min, $match, $step,
                         $skip, $confidence) `>`
  }];
}

def Tok_WeightQuantAttr : Tok_Attr<"WeightQuant", "quant", [
    DeclareAttrInterfaceMethods<VerifiableTensorEncoding>]> {
  let summary = "Block-quantized storage of a weight matrix";
  let description = [{
    The encoding of a weight tensor `tensor<N x K x f32, #tok.quant<...>>`
    stored block-quantized: each of the N rows is K / B blocks of B weights,
    laid out as GGML lays them out, so that a GGUF file's tensor is used in
    place. The element type is the type the weights dequantize to (f32).

    - `q8_0`: B = 32, 34 bytes: an f16 scale d, then 32 int8 codes q;
      w = d * q.
    - `q4_0`: B = 32, 18 bytes: an f16 scale d, then 16 bytes of 4-bit
      codes (weight j < 16 in the low nibble of byte j, weight j + 16 in
      its high nibble); w = d * (q - 8).
    - `q4_k`: B = 256, 144 bytes: f16 d and dmin, 12 bytes of 6-bit scales
      and mins for eight sub-blocks of 32, 128 bytes of 4-bit codes;
      w = d * scale * q - dmin * min.
    - `q6_k`: B = 256, 210 bytes: 128 bytes of low 4 bits, 64 bytes of high
      2 bits, 16 int8 scales (one per 16 weights), f16 d;
      w = d * scale * (q - 32).
    - `i8_channel`: one scale per row (output channel), not per block: the
      row is K int8 codes q, then the row's f32 scale s (little-endian);
      w = s * q. Blocks are 32 codes with no header (B = 32, 32 bytes), so
      a row is K + 4 bytes. Not a GGML type: tok-quantize-weights writes
      it.

    docs/quantization.md states each layout bit by bit. Lowering turns the
    tensor into its bytes, `tensor<N x (K / B * bytes) x i8>`.

    Example:

    ```mlir
    %y = tok.linear %x, %w : tensor<?x4096xf32>,
                             tensor<4096x4096xf32, #tok.quant<q8_0>>
    ```
  }];
  let parameters = (ins EnumParameter<Tok_WeightScheme>:$scheme);
  let assemblyFormat = "`<` $scheme `>`";
  let genVerifyDecl = 0;
  let extraClassDeclaration = [{
    /// Weights per block, and bytes per block.
    int64_t getBlockSize() const;
    int64_t getBlockBytes() const;
    /// Bytes of one row of `k` weights (k a multiple of the block size):
    /// its blocks, plus i8_channel's row scale.
    int64_t getRowBytes(int64_t k) const;
    /// Bytes after a row's blocks (i8_channel: its f32 scale).
    int64_t getRowTrailerBytes() const;
  }];
}

#endif // TOK_DIALECT_TOK_IR_TOKATTRS_TD
