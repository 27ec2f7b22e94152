// RUN: tok-opt %s -split-input-file -verify-diagnostics

// One case per verifier rule of the tok types and attributes.

// expected-error @+1 {{kv_cache dimensions must be positive, got 0x16x8}}
func.func private @f(!tok.kv_cache<0x16x8xf32>)

// -----

// expected-error @+1 {{kv_cache element type must be f32, f16 or bf16, got 'i8'}}
func.func private @f(!tok.kv_cache<4x16x8xi8>)

// -----

// expected-error @+1 {{expected kv_heads x capacity x head_dim x element type, got 2 dimensions}}
func.func private @f(!tok.kv_cache<4x16xf32>)

// -----

// expected-error @+1 {{expected 'scores', 'quant' or 'pages'}}
func.func private @f(!tok.kv_cache<4x16x8xf32, sorted>)

// -----

// expected-error @+1 {{'scores' given twice}}
func.func private @f(!tok.kv_cache<4x16x8xf32, scores, scores>)

// -----

// expected-error @+1 {{'pages' given twice}}
func.func private @f(!tok.kv_cache<4x16x8xf32, pages = 16, pages = 32>)

// -----

// expected-error @+1 {{kv_cache pages (the page size; 0: no page bounds) must be in [0, capacity = 16], got -16}}
func.func private @f(!tok.kv_cache<4x16x8xf32, pages = -16>)

// -----

// expected-error @+1 {{kv_cache page bounds over quantized storage are not supported: use 'pages' or 'quant'}}
func.func private @f(!tok.kv_cache<4x256x32xf32, pages = 16, quant = #tok.kv_quant<bits = 4>>)

// -----

// expected-error @+1 {{'quant' given twice}}
func.func private @f(!tok.kv_cache<4x16x8xf32, quant = #tok.kv_quant<bits = 4, group = 8, residual = 8>, quant = #tok.kv_quant<bits = 8>>)

// -----

// expected-error @+1 {{kv_cache head_dim 48 is not a multiple of the quantization group 32}}
func.func private @f(!tok.kv_cache<4x256x48xf32, quant = #tok.kv_quant<bits = 4>>)

// -----

// expected-error @+1 {{kv_cache quantization residual 128 exceeds the capacity 64}}
func.func private @f(!tok.kv_cache<4x64x32xf32, quant = #tok.kv_quant<bits = 4>>)

// -----

// expected-error @+1 {{kv_quant bits must be 4 or 8, got 3}}
func.func private @f() attributes {a = #tok.kv_quant<bits = 3>}

// -----

// expected-error @+1 {{kv_quant group must be in [1, 65536], got 0}}
func.func private @f() attributes {a = #tok.kv_quant<bits = 4, group = 0>}

// -----

// expected-error @+1 {{kv_quant residual must be a non-negative multiple of the group size 32, got 48}}
func.func private @f() attributes {a = #tok.kv_quant<bits = 4, group = 32, residual = 48>}

// -----

// expected-error @+1 {{mask window must be >= 0, got -1}}
func.func private @f() attributes {a = #tok.mask<causal, window = -1>}

// -----

// expected-error @+1 {{mask sinks must be >= 0, got -2}}
func.func private @f() attributes {a = #tok.mask<causal, window = 8, sinks = -2>}

// -----

// expected-error @+1 {{a sliding window or sinks need a causal mask}}
func.func private @f() attributes {a = #tok.mask<full, window = 8>}

// -----

// expected-error @+1 {{mask sinks (4) need a sliding window; without one every key is visible already}}
func.func private @f() attributes {a = #tok.mask<causal, sinks = 4>}

// -----

// expected-error @+2 {{expected ::mlir::tok::MaskKind to be one of: full, causal}}
// expected-error @+1 {{failed to parse Tok_MaskAttr parameter 'kind'}}
func.func private @f() attributes {a = #tok.mask<bidirectional>}

// -----

// expected-error @+1 {{scores rows must be >= 0 (0 = every row), got -1}}
func.func private @f() attributes {a = #tok.scores<rows = -1>}

// -----

// expected-error @+1 {{scores decay must be in (0, 1], got 1.5}}
func.func private @f() attributes {a = #tok.scores<decay = 1.5>}

// -----

// expected-error @+1 {{eviction budget must be positive, got 0}}
func.func private @f() attributes {a = #tok.evict<tova, budget = 0>}

// -----

// expected-error @+1 {{eviction sinks, recent and observe must be >= 0}}
func.func private @f() attributes {a = #tok.evict<h2o, budget = 16, recent = -4>}

// -----

// expected-error @+1 {{window eviction keeps sinks + recent slots: expected budget 132, got 256}}
func.func private @f() attributes {a = #tok.evict<window, budget = 256, sinks = 4, recent = 128>}

// -----

// expected-error @+1 {{sinks only apply to window eviction, not 'h2o'}}
func.func private @f() attributes {a = #tok.evict<h2o, budget = 256, sinks = 4, recent = 128>}

// -----

// expected-error @+1 {{'h2o' keeps recent (128) plus heavy hitters: recent must be below the budget 128}}
func.func private @f() attributes {a = #tok.evict<h2o, budget = 128, recent = 128>}

// -----

// expected-error @+1 {{a2sf needs a forgetting factor decay in (0, 1), got 1}}
func.func private @f() attributes {a = #tok.evict<a2sf, budget = 128, recent = 32>}

// -----

// expected-error @+1 {{decay only applies to a2sf eviction, not 'h2o'}}
func.func private @f() attributes {a = #tok.evict<h2o, budget = 128, recent = 32, decay = 0.5>}

// -----

// expected-error @+1 {{snapkv needs an observation window in [1, 128], got 0}}
func.func private @f() attributes {a = #tok.evict<snapkv, budget = 128>}

// -----

// expected-error @+1 {{snapkv pooling width must be odd and positive, got 4}}
func.func private @f() attributes {a = #tok.evict<snapkv, budget = 128, observe = 16, pool = 4>}

// -----

// expected-error @+1 {{observe and pool only apply to snapkv eviction, not 'tova'}}
func.func private @f() attributes {a = #tok.evict<tova, budget = 128, observe = 16>}

// -----

// expected-error @+1 {{sampler temperature must be >= 0, got -1}}
func.func private @f() attributes {a = #tok.sampler<temperature = -1.0>}

// -----

// expected-error @+1 {{sampler top_k must be in [0, 16777216] (0 = off), got -5}}
func.func private @f() attributes {a = #tok.sampler<top_k = -5>}

// -----

// expected-error @+1 {{sampler top_p must be in (0, 1], got 0}}
func.func private @f() attributes {a = #tok.sampler<top_p = 0.0>}

// -----

// expected-error @+1 {{drafter k (draft length) must be in [1, 256], got 0}}
func.func private @f() attributes {a = #tok.drafter<ngram, k = 0>}

// -----

// expected-error @+1 {{drafter branch must be in [1, 64], got 0}}
func.func private @f() attributes {a = #tok.drafter<ngram, k = 4, branch = 0>}

// -----

// expected-error @+1 {{drafter confidence must be in [0, 1), got 1}}
func.func private @f() attributes {a = #tok.drafter<ngram, k = 4, confidence = 1.0>}

// -----

// expected-error @+1 {{a model drafter needs 'step', the step function of the model it runs}}
func.func private @f() attributes {a = #tok.drafter<model, k = 4>}

// -----

// expected-error @+1 {{an ngram drafter runs no model and takes no 'step'}}
func.func private @f() attributes {a = #tok.drafter<ngram, k = 4, step = @s>}

// -----

// expected-error @+1 {{a layer_skip drafter needs a non-empty 'skip' list of layers}}
func.func private @f() attributes {a = #tok.drafter<layer_skip, k = 4, step = @s>}

// -----

// expected-error @+1 {{drafter skip layers must be non-negative and strictly increasing}}
func.func private @f() attributes {a = #tok.drafter<layer_skip, k = 4, step = @s, skip = [3, 2]>}

// -----

// expected-error @+1 {{'skip' only applies to a layer_skip drafter}}
func.func private @f() attributes {a = #tok.drafter<model, k = 4, step = @s, skip = [1]>}

// -----

// expected-error @+1 {{ngram drafter needs 1 <= n_min <= n_max, got n_min = 3, n_max = 2}}
func.func private @f() attributes {a = #tok.drafter<ngram, k = 4, n_max = 2, n_min = 3>}

// -----

// expected-error @+1 {{n_max, n_min and match only apply to an ngram drafter}}
func.func private @f() attributes {a = #tok.drafter<model, k = 4, step = @s, n_max = 5>}

// -----

// expected-error @+1 {{n_max, n_min and match only apply to an ngram drafter}}
func.func private @f() attributes {a = #tok.drafter<layer_skip, k = 4, step = @s, skip = [1], match = earliest>}

// -----

// expected-error @+2 {{expected one of [earliest, recent] for ngram drafter match rule, got: latest}}
// expected-error @+1 {{failed to parse Tok_DrafterAttr parameter 'match' which is to be a `NgramMatch`}}
func.func private @f() attributes {a = #tok.drafter<ngram, k = 4, match = latest>}

// -----

// expected-error @+1 {{'tova' keeps no recent window of its own; recent must be 0, got 8}}
func.func private @f() attributes {a = #tok.evict<tova, budget = 128, recent = 8>}

// -----

// expected-error @+1 {{'snapkv' keeps no recent window of its own; recent must be 0, got 8}}
func.func private @f() attributes {a = #tok.evict<snapkv, budget = 128, recent = 8, observe = 16>}

// -----

// Upper bounds (docs/reliability.md): a size past them is refused by the
// verifier, before a pass or lowering builds anything from it.

// expected-error @+1 {{kv_cache dimensions 4x33554432x8 exceed tok's limits (4096 heads, 16777216 slots, head_dim 65536)}}
func.func private @f(!tok.kv_cache<4x33554432x8xf32>)

// -----

// expected-error @+1 {{kv_cache dimensions 4096000x16x8 exceed tok's limits}}
func.func private @f(!tok.kv_cache<4096000x16x8xf32>)

// -----

// expected-error @+1 {{kv_cache pages (the page size; 0: no page bounds) must be in [0, capacity = 16], got 32}}
func.func private @f(!tok.kv_cache<4x16x8xf32, pages = 32>)

// -----

// expected-error @+1 {{mask window and sinks must be at most 16777216, got 4294967296 and 0}}
func.func private @f() attributes {a = #tok.mask<causal, window = 4294967296>}

// -----

// expected-error @+1 {{eviction budget, sinks, recent, observe and pool must be at most 16777216, got 4294967296}}
func.func private @f() attributes {a = #tok.evict<h2o, budget = 4294967296, recent = 16>}

// -----

// expected-error @+1 {{kv_quant group must be in [1, 65536], got 131072}}
func.func private @f() attributes {a = #tok.kv_quant<bits = 8, group = 131072, residual = 0>}

// -----

// expected-error @+1 {{sampler top_k must be in [0, 16777216] (0 = off), got 4294967296}}
func.func private @f() attributes {a = #tok.sampler<top_k = 4294967296>}

// -----

// expected-error @+1 {{drafter k (draft length) must be in [1, 256], got 4294967296}}
func.func private @f() attributes {a = #tok.drafter<ngram, k = 4294967296>}

// -----

// expected-error @+1 {{drafter n_max must be at most 64, got 4294967296}}
func.func private @f() attributes {a = #tok.drafter<ngram, k = 4, n_max = 4294967296>}

// -----

// expected-error @+1 {{drafter branch must be in [1, 64], got 65}}
func.func private @f() attributes {a = #tok.drafter<model, k = 4, branch = 65, step = @s>}
