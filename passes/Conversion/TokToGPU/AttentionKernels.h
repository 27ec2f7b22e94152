//===- AttentionKernels.h - the GPU attention kernel builders ---*- C++ -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//
//
// convert-tok-to-gpu builds one gpu.func per distinct KernelShape. Two
// builders exist (docs/gpu.md):
//
//  - SIMT (SimtAttentionKernel.cpp): f32 arithmetic on CUDA cores, any
//    supported element type, head dimension and mask; the exact path.
//  - MMA (MmaAttentionKernel.cpp): tensor cores (mma.sync m16n8k16, f16 or
//    bf16 in, f32 accumulation), FlashAttention-2's warp layout; for f16 and
//    bf16 with head dimensions 64 and 128 and full or causal masks.
//
// Both take the same arguments (the kernel ABI): query, key, value and
// output as 1-D memrefs of the element type, then T and S (index). The grid
// is ceil(T / rowsPerBlock()) x Hq x 1, the block threads x 1 x 1.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_PASSES_CONVERSION_TOKTOGPU_ATTENTIONKERNELS_H
#define TOK_PASSES_CONVERSION_TOKTOGPU_ATTENTIONKERNELS_H

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/Types.h"
#include "tok/Dialect/Tok/IR/TokAttrs.h"

#include "llvm/Support/Alignment.h"

#include <string>

namespace mlir {
namespace tok {

/// Everything a kernel depends on; two ops with equal shapes share one.
struct KernelShape {
  Type element;
  int64_t queryHeads, keyHeads, headDim;
  MaskAttr mask;
  float scale;
  /// Keys per shared-memory tile and threads per block.
  int64_t keyTile, threads;
  /// Tensor cores (the MMA builder) rather than SIMT.
  bool mma = false;
  /// ToMe key sizes: the SIMT kernel takes a last argument, log2 of each
  /// key's size (f32, S), added to its logits.
  bool keySizes = false;
  /// MMA: 16-row tiles per warp (1 or 2; two share every K and V fragment
  /// loaded from shared memory).
  int64_t rowTiles = 2;

  /// SIMT: threads that share one query row (each holds headDim / this
  /// columns).
  int64_t threadsPerRow() const { return headDim > 64 ? headDim / 64 : 1; }
  /// SIMT: the columns of a row one thread holds.
  int64_t columnsPerThread() const { return headDim / threadsPerRow(); }
  /// Query rows one block covers.
  int64_t rowsPerBlock() const {
    return mma ? 16 * rowTiles * (threads / 32) : threads / threadsPerRow();
  }
  /// Dynamic shared memory the kernel needs at launch (bytes; 0 for none).
  int64_t dynamicSharedBytes() const;
  /// The kernel's symbol name (encodes every field).
  std::string name() const;
  /// The types of the kernel's workgroup (static shared memory)
  /// attributions.
  SmallVector<Type> workgroupBuffers(MLIRContext *context) const;
};

/// Whether the MMA builder handles `shape` (with `mma` set).
bool mmaKernelApplies(const KernelShape &shape);

/// Keys per tile of the MMA kernel (fixed: the P fragments of one tile feed
/// the P V products as four k-steps of 16).
constexpr int64_t kMmaKeyTile = 64;

/// Every vector access of the kernels is aligned to its own size up to 16
/// bytes: rows and chunks start at multiples of 8 elements, and buffers are
/// device allocations (256-byte aligned). A caller launching a kernel
/// directly must pass 16-byte aligned buffers.
inline const llvm::MaybeAlign kAlign16(16);

/// Builds the body of the SIMT kernel of `shape` into `func`.
void buildSimtAttentionKernel(gpu::GPUFuncOp func, const KernelShape &shape);

/// Builds the body of the MMA kernel of `shape` into `func`.
void buildMmaAttentionKernel(gpu::GPUFuncOp func, const KernelShape &shape);

/// Whether the split-KV decode kernels handle `shape` (for T = 1): D = 32,
/// 64, 128 or 256, at most 2048 / D query heads per KV head.
bool decodeKernelApplies(const KernelShape &shape);

/// Builds the decode partial kernel: (q, k, v, workspace, S, chunk), grid
/// (splits, Hk); workgroup buffers from decodeWorkgroupBuffers.
void buildDecodePartialKernel(gpu::GPUFuncOp func, const KernelShape &shape);

/// Builds the decode combine kernel: (workspace, output, splits), grid
/// (Hq), D threads.
void buildDecodeCombineKernel(gpu::GPUFuncOp func, const KernelShape &shape);

/// What every kernel builder starts from: the kernel, its shape, a builder
/// at its location, and the index / f32 arithmetic they all spell.
class KernelEmitter {
protected:
  KernelEmitter(gpu::GPUFuncOp func, const KernelShape &shape)
      : func(func), s(shape), b(func.getContext()), loc(func.getLoc()) {}

  Value index(int64_t v);
  Value f32c(float v);
  Value add(Value x, Value y);
  Value mul(Value x, Value y);
  /// x + c, x * c for a constant c.
  Value addc(Value x, int64_t c) { return c ? add(x, index(c)) : x; }
  Value mulc(Value x, int64_t c) { return mul(x, index(c)); }
  /// Whether the key at `key` is visible from the query at `qpos` (i1).
  Value visible(Value qpos, Value key);
  /// Emits `if (queryLen > 0) { <insertion point> }; gpu.return` at the
  /// start of the kernel: an empty query range (one block is launched
  /// anyway) does nothing, and the condition is uniform, so barriers
  /// inside stay reached by all threads.
  void guardNonEmptyQueries(Value queryLen);

  gpu::GPUFuncOp func;
  const KernelShape &s;
  OpBuilder b;
  Location loc;
};

/// ex2.approx.ftz.f32 (no libdevice; -inf gives +0).
Value buildExp2(OpBuilder &b, Location loc, Value x);

/// Whether the key at position `key` is visible from the query at `qpos`
/// under `mask` (i1): causal, window and sinks (docs/algorithms.md, "Masks").
Value buildVisible(OpBuilder &b, Location loc, MaskAttr mask, Value qpos,
                   Value key);

/// The max (or sum) of `v` over `lanes` consecutive lanes (a power of two
/// up to 32), every lane getting the result (shuffle xor butterfly).
Value buildXorReduce(OpBuilder &b, Location loc, Value v, int32_t lanes,
                     bool max);

} // namespace tok
} // namespace mlir

#endif // TOK_PASSES_CONVERSION_TOKTOGPU_ATTENTIONKERNELS_H
