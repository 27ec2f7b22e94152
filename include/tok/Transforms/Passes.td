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

    Dynamic dimensions count as `dynamic-size` (default 1, i.e. per token).
    Run it before and after a pass to see what the pass bought:

    ```
    tok-opt model.mlir --tok-cost-report --tok-kv-evict=... --tok-cost-report
    ```
  }];
  let options = [
    Option<"dynamicSize", "dynamic-size", "int64_t", /*default=*/"1",
           "Size assumed for every dynamic dimension (> 0)">
  ];
}

#endif // TOK_TRANSFORMS_PASSES_TD
