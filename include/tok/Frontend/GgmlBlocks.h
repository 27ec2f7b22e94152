//===- GgmlBlocks.h - GGML block formats on the host ------------*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// Dequantization of GGML's block formats (q8_0, q4_0, q4_k, q6_k) and of
// f16 / bf16, on the host: what reading a quantized weight as float32
// needs (exporting a model, tok-compile's float32 weights file); and the
// quantizers the driver uses when a pipeline makes weights #tok.quant (q8_0,
// q4_0, and tok's own per-channel int8 rows). The compiled kernels read
// the same layouts in IR (docs/quantization.md).
//
//===----------------------------------------------------------------------===//

#ifndef TOK_FRONTEND_GGMLBLOCKS_H
#define TOK_FRONTEND_GGMLBLOCKS_H

#include "tok/Frontend/Gguf.h"

namespace mlir {
namespace tok {

/// IEEE half and bfloat16 to float, and float to half (nearest even).
float halfToFloat(uint16_t h);
uint16_t floatToHalf(float f);
float bf16ToFloat(uint16_t h);

/// Writes the `k` weights of one row stored as `type` at `row` (k a
/// multiple of the type's block size) to `out` as float32.
void dequantizeGgmlRow(GgmlType type, const char *row, int64_t k, float *out);

/// Quantizes `k` float32 weights (k a multiple of the block size) to
/// q8_0, q4_0, q4_k or q6_k blocks at `out`. q8_0 and q4_0 by llama.cpp's
/// rules: q8_0 d = max|x| / 127, codes round(x / d) (halves away from
/// zero); q4_0 d = -m / 8 for m the weight of largest magnitude, codes
/// min(15, trunc(x / d + 8.5)); d stored as f16 (rounded to nearest even),
/// the codes computed with the f32 d. q4_k and q6_k fit each sub-block's
/// scale (and q4_k's minimum) by a weighted least-squares search over
/// candidate code ranges, quantize those to the super-block's 6-bit /
/// int8 scales, and round the codes against the stored scales (GgmlBlocks
/// .cpp, docs/quantization.md). Returns false for other types.
bool quantizeGgmlRow(GgmlType type, const float *x, int64_t k, char *out);

/// Quantizes `k` float32 weights to tok's per-channel int8 row
/// (#tok.quant<i8_channel>, k + 4 bytes at `out`): s = max|x| / 127, codes
/// round(x / s) (halves away from zero; 0 for an all-zero row), then s as a
/// little-endian f32.
void quantizeChannelInt8Row(const float *x, int64_t k, char *out);

} // namespace tok
} // namespace mlir

#endif // TOK_FRONTEND_GGMLBLOCKS_H
