//===- GgmlBlocks.h - GGML block formats on the host ------------*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// Dequantization of GGML's block formats (q8_0, q4_0, q4_k, q6_k) and of
// f16 / bf16, on the host: what reading a quantized weight as float32
// needs (exporting a model, tok-compile's float32 weights file). The
// compiled kernels read the same layouts in IR (docs/quantization.md).
//
//===----------------------------------------------------------------------===//

#ifndef TOK_FRONTEND_GGMLBLOCKS_H
#define TOK_FRONTEND_GGMLBLOCKS_H

#include "tok/Frontend/Gguf.h"

namespace mlir {
namespace tok {

/// IEEE half and bfloat16 to float.
float halfToFloat(uint16_t h);
float bf16ToFloat(uint16_t h);

/// Writes the `k` weights of one row stored as `type` at `row` (k a
/// multiple of the type's block size) to `out` as float32.
void dequantizeGgmlRow(GgmlType type, const char *row, int64_t k, float *out);

} // namespace tok
} // namespace mlir

#endif // TOK_FRONTEND_GGMLBLOCKS_H
