//===- Passes.h - tok conversion passes -------------------------*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_CONVERSION_PASSES_H
#define TOK_CONVERSION_PASSES_H

#include "mlir/Pass/Pass.h"

namespace mlir {
class RewritePatternSet;
class TypeConverter;

namespace tok {
class DraftOp;
class VerifyOp;

#define GEN_PASS_DECL
#include "tok/Conversion/Passes.h.inc"

/// How attention is lowered (the convert-tok-to-linalg options).
struct AttentionLowering {
  /// Query rows and keys per tile of the general lowering.
  int64_t queryTile = 32, keyTile = 64;
  /// Use the vectorized f32 kernels where they apply.
  bool vectorize = true;
  /// The vectorized prefill kernel's two products (Q K^T, P V) in bf16:
  /// Q, K, P and V rounded to bf16 (nearest even), pairs of products per
  /// lane accumulated in f32 (vdpbf16ps where tok-x86-bf16-dot selects
  /// it). Softmax statistics and the output stay f32.
  bool bf16Prefill = false;
};

/// Adds the patterns that lower tok compute ops to linalg on tensors (all
/// but the vectorized tok.linear kernels, whose numerics are a choice:
/// populateLinearToVectorPatterns and populateQuantLinearToVectorPatterns).
void populateTokToLinalgConversionPatterns(RewritePatternSet &patterns,
                                           const AttentionLowering &how = {});

/// Adds the tok.attention lowering: tiled online softmax, vectorized
/// kernels where they apply.
void populateAttentionToLinalgPatterns(RewritePatternSet &patterns,
                                       const AttentionLowering &how);

/// Adds the lowerings of tok.embed, tok.rope and tok.linear.
void populateModelOpsToLinalgPatterns(RewritePatternSet &patterns);

/// How the f32 tok.linear kernel multiplies bf16 weights when it runs
/// more than a few tokens (convert-tok-to-linalg's bf16-dot): Widen
/// converts the weights to f32 (exact products); Dot rounds the activations
/// to bf16 and takes pairs of bf16 products per lane (vdpbf16ps); Auto is
/// Dot where the host has AVX512-BF16.
enum class Bf16Dot { Auto, Widen, Dot };

/// Adds the f32 tok.linear lowering to a threaded, 16-lane vectorized
/// kernel (preferred over the generic one where it applies).
void populateLinearToVectorPatterns(RewritePatternSet &patterns,
                                    Bf16Dot bf16 = Bf16Dot::Auto);

/// Whether this host has AVX512-BF16 (vdpbf16ps).
bool hostHasBf16DotProducts();

/// How tok.linear multiplies #tok.quant weights (convert-tok-to-linalg's
/// quant-dot): weights widened to f32, or activations quantized per block
/// (16-bit codes for q8_0, 8-bit for the rest) with integer dot products;
/// Auto takes the integer kernel where the host has AVX512-VNNI
/// (docs/quantization.md).
enum class QuantDot { Auto, F32, Int8 };

/// Adds the tok.linear lowering for #tok.quant weights: a threaded kernel
/// that reads the weight blocks in place (`how`) for up to 8 tokens, and
/// for more the tiled kernel of f32 prefill over panels dequantized once
/// per block of tokens (bf16 panels and dot products as `bf16` selects).
void populateQuantLinearToVectorPatterns(RewritePatternSet &patterns,
                                         QuantDot how,
                                         Bf16Dot bf16 = Bf16Dot::Auto);

/// Whether this host has what the int8 (VNNI) quantized kernel needs.
bool hostHasInt8DotProducts();

/// Adds the conversion of #tok.quant weight tensors to their bytes,
/// `tensor<N x rowBytes x i8>`.
void populateQuantWeightTypeConversion(TypeConverter &converter);

/// Adds the tok.sample lowering: an arg-max reduction for greedy samplers,
/// loops with a counter-based generator for stochastic ones.
void populateSampleToLoopsPatterns(RewritePatternSet &patterns);

/// Adds the tok.draft lowering (the n-gram drafter).
void populateDraftToLoopsPatterns(RewritePatternSet &patterns);

/// Adds the lowerings of tok.merge (ToMe and PiToMe), tok.unmerge, tok.prune
/// (f32 rows), tok.gather and tok.scatter (dim 0): scf loops and
/// linalg.generic ops.
void populateTokenOpsToLoopsPatterns(RewritePatternSet &patterns);

/// Whether the tok.draft lowering handles `op` (an ngram chain with
/// dynamically sized results); with `report`, says why not at `op`.
LogicalResult checkDraftLowering(DraftOp op, bool report);

/// Adds the tok.verify lowering (greedy verification of a draft tree).
void populateVerifyToLoopsPatterns(RewritePatternSet &patterns);

/// Whether the tok.verify lowering handles `op` (greedy, dynamic path);
/// with `report`, says why not at `op`.
LogicalResult checkVerifyLowering(VerifyOp op, bool report);

/// Adds the 1:N conversion of !tok.kv_cache into its tensors (keys, values,
/// per-head positions, length as an index, optional scores). Quantized
/// caches are not converted yet.
void populateKVCacheTypeConversion(TypeConverter &converter);

/// Adds the 1:2 conversion of !tok.kv_pool into its keys and values
/// tensors ([Hk, pages * page_size, D] each).
void populateKVPoolTypeConversion(TypeConverter &converter);

/// Adds the lowerings of tok.kv_pool.empty, tok.kv_pool.write and
/// tok.paged_attention onto the converted tensors.
void populateKVPoolToTensorsPatterns(const TypeConverter &converter,
                                     RewritePatternSet &patterns);

/// Adds the lowerings of the cache ops and tok.cached_attention onto the
/// converted tensors.
void populateKVCacheToTensorsPatterns(const TypeConverter &converter,
                                      RewritePatternSet &patterns,
                                      const AttentionLowering &how);

/// Adds the lowering of tok.kv.evict (window, h2o, a2sf, tova) onto the
/// converted cache tensors.
void populateKVEvictToTensorsPatterns(const TypeConverter &converter,
                                      RewritePatternSet &patterns);

#define GEN_PASS_REGISTRATION
#include "tok/Conversion/Passes.h.inc"

} // namespace tok
} // namespace mlir

#endif // TOK_CONVERSION_PASSES_H
