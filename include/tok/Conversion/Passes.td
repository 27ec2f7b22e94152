//===- Passes.td - tok conversion passes -------------------*- tablegen -*-===//
//
// Part of the tok project.
//
//===----------------------------------------------------------------------===//

#ifndef TOK_CONVERSION_PASSES_TD
#define TOK_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertTokToLinalgPass : Pass<"convert-tok-to-linalg"> {
  let summary = "Lower tok compute ops to linalg, tensor, arith and math";
  let description = [{
    Rewrites `tok` ops that compute on tensors into structured `linalg` ops
    on tensors, so that the upstream bufferization, vectorization and LLVM
    pipelines apply. Ops with no lowering yet are left alone and reported by
    the final legality check of the pipeline that follows.

    `tok.rms_norm` becomes two `linalg.generic`s: a reduction of the squares
    along the last dimension, then a parallel normalize-and-scale.

    `tok.attention` becomes FlashAttention-2's tiled online softmax: loops
    over query heads, query tiles of `query-tile` rows and key tiles of
    `key-tile` keys carry the running max, running sum and unnormalized
    output (f32); each tile step is a handful of `linalg.generic`s, so only
    one query-tile x key-tile block of logits exists at a time. Masks are
    evaluated on positions (tree masks by walking parent pointers), and the
    `received` scores take a second pass over the key tiles with each row's
    final log-sum-exp. With `vector-attention` (the default), f32
    attention with head dims that are multiples of 16 and no tree,
    segments or sizes (received scores only below 16 query rows) instead
    becomes two hand-vectorized
    kernels (16 lanes): a prefill kernel for 16 or more query rows (K^T
    packed per KV head, 12 x 32 register tiles for Q K^T and P V) and a
    row-at-a-time kernel for decode. Both run the KV heads in parallel
    (`scf.forall`) and leave `math.exp` for `tok-approximate-math`.

    `tok.generate` is expanded first into a prefill call of its step
    function and an `scf.while` decode loop that samples, stores and reports
    (`on_token`) one token per iteration and threads the caches as loop
    values, so that they are updated in place for the whole generation.

    Every `!tok.kv_cache` becomes the tensors it is made of: keys and values
    (`H x C x D`), the position of every slot per KV head (`H x C x i32`),
    the live length (`index`) and, when tracked, the scores (`H x C x f32`);
    function signatures, calls and `scf` loops are converted with it. The
    cache ops update those tensors in destination-passing style and touch
    only the slots they change, so that bufferization updates the caches in
    place: `tok.kv.append` writes its `T` slots (a run-time assertion guards
    the capacity), `tok.kv.truncate` changes only the length,
    `tok.kv.commit` and eviction move the slots they keep. Window eviction
    moves the recent slots behind the sinks; h2o and a2sf accumulate the
    scores in the cache and evict, per KV head, the lowest-scored slots
    outside the recent window; tova evicts by the scores summed over heads,
    keeping the newest slot; snapkv keeps the observation window and the
    best others by scores max-pooled over neighbouring slots (ties keep the
    older slot everywhere). `tok.cached_attention` is the attention above
    over the live prefix. Quantized caches are not lowered yet.

    Example:

    ```mlir
    %y = tok.rms_norm %x, %w : tensor<?x8xf32>, tensor<8xf32>
    ```

    becomes a `linalg.fill` + reduction `linalg.generic` into a
    `tensor<?xf32>`, followed by an elementwise `linalg.generic` that
    computes `x * rsqrt(sum / 8 + eps) * w`.
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::bufferization::BufferizationDialect",
    "::mlir::cf::ControlFlowDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect",
    "::mlir::vector::VectorDialect"
  ];
  let options = [
    Option<"queryTile", "query-tile", "int64_t", /*default=*/"32",
           "Query rows per attention tile (> 0)">,
    Option<"keyTile", "key-tile", "int64_t", /*default=*/"64",
           "Keys per attention tile (> 0)">,
    Option<"vectorAttention", "vector-attention", "bool", /*default=*/"true",
           "Lower f32 attention with 16-lane head dims to the vectorized "
           "kernels (the tile options then do not apply to it)">,
    Option<"quantDot", "quant-dot", "std::string", /*default=*/"\"auto\"",
           "How tok.linear multiplies #tok.quant weights for up to 8 "
           "tokens (decode, verification; bf16-dot governs more): 'f32' "
           "widens the "
           "weights to f32 lanes; 'vnni' quantizes the activations per "
           "block of 32 (16-bit codes for q8_0, 8-bit for the others) and "
           "uses integer dot products (AVX512-VNNI where the host has it); "
           "'auto' (default) takes 'vnni' where the host has AVX512-VNNI "
           "and AVX512-VL, else 'f32'">,
    Option<"bf16Dot", "bf16-dot", "std::string", /*default=*/"\"auto\"",
           "How tok.linear multiplies bf16 weights with f32 activations for "
           "more than 8 tokens (prefill): 'widen' converts the weights to "
           "f32 (exact products); 'dot' rounds the activations to bf16 "
           "(nearest even) once per call and takes pairs of products per "
           "lane (vdpbf16ps where tok-x86-bf16-dot selects it); 'auto' "
           "(default) takes 'dot' where the host has AVX512-BF16. 8 tokens "
           "or fewer always widen. #tok.quant weights follow the same "
           "choice for more than 8 tokens: tiles of 4 rows are dequantized "
           "once per block of tokens to bf16 ('dot', the weights then "
           "rounded to bf16 too) or f32 ('widen', exact)">,
    Option<"attentionDot", "attention-dot", "std::string",
           /*default=*/"\"auto\"",
           "Precision of the vectorized attention prefill kernel's two "
           "products (16 query rows or more): 'f32'; 'bf16' rounds Q, K, "
           "the probabilities and V to bf16 (nearest even) and takes pairs "
           "of products per lane accumulated in f32 (vdpbf16ps where "
           "tok-x86-bf16-dot selects it; softmax and output stay f32); "
           "'auto' (default) takes 'bf16' where the module's tok.linear "
           "weights are bf16 and bf16-dot resolves to 'dot' (the model "
           "already multiplies in bf16), else 'f32'">
  ];
}

def TokX86Int8DotPass : Pass<"tok-x86-int8-dot"> {
  let summary = "Select AVX512-VNNI vpdpbusd for u8 x s8 dot contractions";
  let description = [{
    The integer path of the quantized linear kernel expresses each 32-byte
    dot product as generic vector IR: a `vector.contract` over [8 x 4]
    of an unsigned (`arith.extui`) and a signed (`arith.extsi`) byte vector
    shape-cast from `vector<32xi8>`, into `vector<8xi32>` (the semantics of
    vpdpbusd: each lane adds the sum of 4 byte products). This pass
    rewrites exactly that shape into the `llvm.x86.avx512.vpdpbusd.256`
    intrinsic. It runs after bufferization (the intrinsic call has unknown
    memory effects, which buffer deallocation refuses). With `mode=auto`
    (default) it applies where the host has AVX512-VNNI and AVX512-VL;
    `vnni` forces it, `generic` leaves the contractions to the generic
    vector lowering (correct on any host).

    Example:

    ```mlir
    %a2 = vector.shape_cast %a : vector<32xi8> to vector<8x4xi8>
    %b2 = vector.shape_cast %b : vector<32xi8> to vector<8x4xi8>
    %a32 = arith.extui %a2 : vector<8x4xi8> to vector<8x4xi32>
    %b32 = arith.extsi %b2 : vector<8x4xi8> to vector<8x4xi32>
    %r = vector.contract {...} %a32, %b32, %acc
        : vector<8x4xi32>, vector<8x4xi32> into vector<8xi32>
    ```

    becomes `llvm.call_intrinsic "llvm.x86.avx512.vpdpbusd.256"(%acc, %a,
    %b)`.
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
  let options = [
    Option<"mode", "mode", "std::string", /*default=*/"\"auto\"",
           "'auto' (where the host has AVX512-VNNI), 'vnni' or 'generic'">
  ];
}

def TokX86Bf16DotPass : Pass<"tok-x86-bf16-dot"> {
  let summary = "Select AVX512-BF16 vdpbf16ps for bf16 pair dot contractions";
  let description = [{
    The f32 linear kernel's bf16 path (convert-tok-to-linalg{bf16-dot})
    expresses each step as generic vector IR: a `vector.contract` over
    [16 x 2] of two `vector<32xbf16>` shape-cast to `vector<16x2xbf16>` and
    extended to f32 (`arith.extf`), into `vector<16xf32>` (the semantics of
    vdpbf16ps: each lane adds two products). This pass rewrites exactly that
    shape into the `llvm.x86.avx512bf16.dpbf16ps.512` intrinsic, after
    bufferization like tok-x86-int8-dot. With `mode=auto` (default) it
    applies where the host has AVX512-BF16; `avx512bf16` forces it,
    `generic` leaves the contractions to the generic vector lowering
    (correct on any host, slow). The instruction rounds each product-sum
    step to f32 (round to nearest even, denormals flushed); the generic form
    rounds per multiply and add: results agree to f32 rounding.

    Example:

    ```mlir
    %a2 = vector.shape_cast %a : vector<32xbf16> to vector<16x2xbf16>
    %a32 = arith.extf %a2 : vector<16x2xbf16> to vector<16x2xf32>
    %r = vector.contract {...} %a32, %b32, %acc
        : vector<16x2xf32>, vector<16x2xf32> into vector<16xf32>
    ```
  }];
  let options = [
    Option<"mode", "mode", "std::string", /*default=*/"\"auto\"",
           "auto (where the host has AVX512-BF16), avx512bf16 (always), or "
           "generic (never)">
  ];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

def ConvertTokToGPUPass : Pass<"convert-tok-to-gpu", "::mlir::ModuleOp"> {
  let summary = "Lower tok.attention to a GPU kernel (gpu.func) and its launch";
  let description = [{
    Rewrites each `tok.attention` into a call of a private launcher on its
    operands' buffers and a fresh output buffer; the launcher (defined by
    `convert-tok-gpu-launchers` after bufferization) copies them to the
    device, launches a kernel that this pass builds in the
    `gpu.module @tok_kernels` (one `gpu.func` per distinct shape and mask),
    and copies the output back. docs/gpu.md describes the kernels:

    - tensor cores (f16 / bf16, D = 64 or 128, full or causal masks):
      FlashAttention-2 with `nvvm.mma.sync` m16n8k16 fragments, two 16-row
      tiles per warp, Q and double-buffered K / V tiles in dynamic shared
      memory filled by `cp.async` and read by `ldmatrix`;
    - SIMT (everything else: f32, windows and sinks, other head
      dimensions, ToMe key sizes): an online softmax on CUDA cores;
    - split-KV decode (`split-decode`): where T may be 1, flash-decoding
      partial and combine kernels, which the launcher runs instead when
      T = 1 at run time.

    Exponentials are `ex2.approx` (no libdevice). Grouped-query heads share
    their KV head as on the CPU; a row with no visible key is zeros.

    Handled: 3-D `Hq x T x D` / `Hk x S x D` operands with static heads and
    `D` (a multiple of 8 up to 64, 128 or 256; the value's equal to the
    query's), `full` or `causal` masks (with `window` / `sinks`) on default
    positions, f32, f16 or bf16, and key sizes. Anything else (explicit
    positions, trees, segments, received scores) is an error at the op:
    the pass never falls back to the host silently. A causal call whose
    lengths are dynamic gets a run-time check that T <= S.
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::bufferization::BufferizationDialect",
    "::mlir::cf::ControlFlowDialect",
    "::mlir::gpu::GPUDialect",
    "::mlir::LLVM::LLVMDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect",
    "::mlir::NVVM::NVVMDialect",
    "::mlir::nvgpu::NVGPUDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect",
    "::mlir::vector::VectorDialect"
  ];
  let options = [
    Option<"keyTile", "key-tile", "int64_t", /*default=*/"32",
           "Keys per shared-memory tile (> 0; the K and V tiles take "
           "2 * tile * D * 4 bytes, so wide heads get shorter tiles to stay "
           "within 48 KiB)">,
    Option<"threads", "threads", "int64_t", /*default=*/"128",
           "Threads per block (a multiple of 32, at most 1024)">,
    Option<"tensorCores", "tensor-cores", "bool", /*default=*/"true",
           "Use the tensor-core (mma.sync) kernel where it applies: f16 "
           "or bf16, D = 64 or 128, no window or sinks (16 query rows per "
           "warp, 64-key tiles); the SIMT kernel otherwise">,
    Option<"splitDecode", "split-decode", "bool", /*default=*/"true",
           "Single-query calls (T = 1 at run time) run the split-KV "
           "(flash-decoding) kernels: the keys of each KV head spread over "
           "blocks, partial results merged by a second kernel">,
    Option<"maxSharedMemory", "max-shared-memory", "int64_t",
           /*default=*/"101376",
           "Shared memory a block may use, in bytes (the device's opt-in "
           "maximum: 232448 on sm_90, 166912 on sm_80, 101376 on sm_86 / "
           "sm_89 / sm_120, the default); tok-to-nvvm sets it from the "
           "chip. A tensor-core kernel that needs more takes one row tile, "
           "then the SIMT kernel">,
    Option<"mmaRowTiles", "mma-row-tiles", "int64_t", /*default=*/"2",
           "16-row tiles per warp in the tensor-core kernel (1 or 2: two "
           "share each K and V fragment read from shared memory)">
  ];
}

def ConvertTokGPULaunchersPass
    : Pass<"convert-tok-gpu-launchers", "::mlir::ModuleOp"> {
  let summary = "Define the host side of the GPU kernel launches";
  let description = [{
    `convert-tok-to-gpu` replaces each attention by a call of a private,
    bodiless launcher function (query, key, value and output buffers) that
    carries its kernel in a `tok.gpu_kernel` attribute. This pass, run
    after bufferization and buffer deallocation (whose analyses do not know
    the GPU runtime ops), gives each launcher its body: device buffers
    (`gpu.alloc`), copies in (`gpu.memcpy`), the `gpu.launch_func`, the copy
    of the output back and the frees, chained on one async token and joined
    with `gpu.wait` before returning.
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::gpu::GPUDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect"
  ];
}

#endif // TOK_CONVERSION_PASSES_TD
