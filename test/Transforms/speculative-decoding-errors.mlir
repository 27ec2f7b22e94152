// RUN: tok-opt %s --tok-speculative-decoding --split-input-file -verify-diagnostics

// Rolling back drafts truncates the newest slots, which eviction inside
// the step would already have moved: refused, not silently wrong.
func.func @step(%t: tensor<?xi32>, %p: tensor<?xi32>, %c: !tok.kv_cache<1x9x4xf32>) -> (tensor<?x8xf32>, !tok.kv_cache<1x9x4xf32>) {
  %e = tok.kv.evict %c {policy = #tok.evict<window, budget = 6, sinks = 2, recent = 4>} : !tok.kv_cache<1x9x4xf32>
  %l = tensor.empty() : tensor<1x8xf32>
  %d = tensor.cast %l : tensor<1x8xf32> to tensor<?x8xf32>
  return %d, %e : tensor<?x8xf32>, !tok.kv_cache<1x9x4xf32>
}
func.func @generate(%prompt: tensor<?xi32>) -> tensor<?xi32> {
  %c = tok.kv.empty : !tok.kv_cache<1x9x4xf32>
  // expected-error @+1 {{'tok.generate' op speculative decoding cannot roll back a cache that the step function evicts from (@step contains tok.kv.evict); run tok-speculative-decoding without tok-kv-evict}}
  %out = tok.generate @step(%prompt) caches(%c : !tok.kv_cache<1x9x4xf32>)
      {max_new_tokens = 4 : i64, sampler = #tok.sampler<>} : tensor<?xi32> -> tensor<?xi32>
  return %out : tensor<?xi32>
}

