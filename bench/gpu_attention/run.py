#!/usr/bin/env python3
"""GPU attention: tok's kernels against PyTorch on an NVIDIA GPU.

Two steps, because the GPU machine has no MLIR (and the build machine no GPU):

  python3 bench/gpu_attention/run.py compile   # here: tok-opt --tok-to-nvvm
  python3 bench/gpu_attention/run.py measure   # there: needs torch + a GPU

`compile` writes, under bench/gpu_attention/kernels/ (git-ignored):
  - <case>.ptx for every kernel case (tok-opt --tok-to-nvvm, then
    tok-translate --extract-gpu-object), launched directly by `measure`;
  - lib<case>.so for every end-to-end case: the whole function (host copies,
    launch, copy back) compiled ahead of time (tok-translate --mlir-to-llvmir,
    clang) and linked against libtok_cuda_runtime.so, copied beside it;
  - manifest.json describing both.

`measure` loads each PTX through tok's own runtime (libtok_cuda_runtime.so,
ctypes: mgpuModuleLoadJIT / mgpuModuleGetFunction / mgpuLaunchKernel) on
torch tensors, checks it against an independent float64 reference of
attention written here (and against SDPA), and times it against
torch.nn.functional.scaled_dot_product_attention with the flash backend on
the same tensors (CUDA events, warm-up, median of windows). The end-to-end
libraries are called through their C interface on NumPy arrays and checked
against a float64 NumPy reference. Results go to stdout and --out (JSON).
"""

import argparse
import ctypes
import json
import math
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
KERNELS = os.path.join(HERE, "kernels")

# Kernel cases: timed against SDPA and checked against the reference.
# (name, dtype, Hq, Hk, T, S, D, causal or a #tok.mask, tok-to-nvvm options)
KERNEL_CASES = [
    ("prefill_bf16_causal", "bf16", 32, 32, 4096, 4096, 128, True, ""),
    ("prefill_bf16_full", "bf16", 32, 32, 4096, 4096, 128, False, ""),
    ("prefill_f16_causal", "f16", 32, 32, 4096, 4096, 128, True, ""),
    ("prefill_bf16_causal_8warps", "bf16", 32, 32, 4096, 4096, 128, True,
     "threads=256"),
    ("prefill_bf16_full_8warps", "bf16", 32, 32, 4096, 4096, 128, False,
     "threads=256"),
    ("prefill_bf16_causal_1tile", "bf16", 32, 32, 4096, 4096, 128, True,
     "mma-row-tiles=1"),
    ("prefill_bf16_causal_1tile_8warps", "bf16", 32, 32, 4096, 4096, 128,
     True, "mma-row-tiles=1 threads=256"),
    ("prefill_bf16_causal_simt", "bf16", 32, 32, 4096, 4096, 128, True,
     "tensor-cores=false"),
    ("prefill_f32_causal_simt", "f32", 32, 32, 4096, 4096, 128, True, ""),
    ("prefill_bf16_gqa_d64", "bf16", 32, 8, 2048, 2048, 64, True, ""),
    # Ragged lengths: partial query blocks and key tiles, T < S.
    ("ragged_bf16_causal", "bf16", 8, 2, 1000, 1000, 128, True, ""),
    ("suffix_f16_causal", "f16", 8, 8, 300, 1037, 64, True, ""),
    ("ragged_bf16_full", "bf16", 4, 4, 77, 333, 128, False, ""),
    ("decode_bf16_gqa", "bf16", 32, 8, 1, 4096, 128, True, ""),
    ("decode_bf16_gqa_16k", "bf16", 32, 8, 1, 16384, 128, True, ""),
    ("decode_bf16_gqa_nosplit", "bf16", 32, 8, 1, 4096, 128, True,
     "split-decode=false"),
    ("decode_f16_mha_1k", "f16", 32, 32, 1, 1000, 128, True, ""),
    ("decode_bf16_gqa_window", "bf16", 32, 8, 1, 4096, 128,
     "#tok.mask<causal, window = 1024, sinks = 4>", ""),
]

# End-to-end cases: a whole function compiled ahead of time.
# (name, dtype, Hq, Hk, T, S, D, mask)
E2E_CASES = [
    ("e2e_f32_causal_gqa", "f32", 8, 2, 77, 77, 64, "#tok.mask<causal>"),
    ("e2e_f32_window", "f32", 4, 4, 50, 130, 32,
     "#tok.mask<causal, window = 16, sinks = 4>"),
    ("e2e_f16_full", "f16", 4, 1, 33, 200, 128, "#tok.mask<full>"),
    # T = 1 at run time: the launcher takes the split-KV decode kernels.
    ("e2e_f16_decode", "f16", 8, 2, 1, 300, 64, "#tok.mask<causal>"),
    ("e2e_f32_decode_window", "f32", 4, 1, 1, 200, 32,
     "#tok.mask<causal, window = 16, sinks = 4>"),
    # Empty ranges: no keys (zeros), no queries (an empty result), and a
    # causal call with more queries than keys (a run-time check fails).
    ("e2e_f16_no_keys", "f16", 4, 2, 5, 0, 128, "#tok.mask<full>"),
    ("e2e_f32_no_queries", "f32", 4, 2, 0, 9, 64, "#tok.mask<causal>"),
    ("e2e_f32_decode_no_keys", "f32", 4, 2, 1, 0, 64, "#tok.mask<full>"),
    ("e2e_f32_too_many_queries", "f32", 2, 2, 9, 4, 64, "#tok.mask<causal>"),
    # ToMe key sizes (proportional attention): log(size) added per key.
    ("e2e_f32_sizes", "f32", 4, 4, 60, 60, 32, "#tok.mask<full>"),
    ("e2e_f16_sizes", "f16", 4, 2, 50, 80, 64, "#tok.mask<causal>"),
]

# Cases checked against tok's CPU path: `compile` runs them here with
# tok-run (tok-to-llvm) on seeded inputs and keeps inputs and outputs;
# `measure` runs the same function's GPU kernels there on the same inputs.
# (name, dtype, Hq, Hk, T, S, D, mask)
CPU_CASES = [
    ("cpu_f32_causal_gqa", "f32", 8, 2, 257, 257, 64, "#tok.mask<causal>"),
    ("cpu_f16_full", "f16", 4, 1, 100, 300, 128, "#tok.mask<full>"),
    ("cpu_f16_causal_suffix", "f16", 4, 4, 70, 200, 64, "#tok.mask<causal>"),
    ("cpu_f32_decode_window", "f32", 4, 1, 1, 200, 32,
     "#tok.mask<causal, window = 16, sinks = 4>"),
    ("cpu_f16_decode", "f16", 8, 2, 1, 500, 64, "#tok.mask<causal>"),
]

MLIR_TYPES = {"f32": "f32", "f16": "f16", "bf16": "bf16"}


def attention_mlir(dtype, hq, hk, t, s, d, mask, c_interface=False,
                   sizes=False):
    ty = MLIR_TYPES[dtype]
    q = f"tensor<{hq}x?x{d}x{ty}>"
    kv = f"tensor<{hk}x?x{d}x{ty}>"
    attrs = " attributes {llvm.emit_c_interface}" if c_interface else ""
    sz_arg = ", %sz: tensor<?xf32>" if sizes else ""
    sz_use = " sizes(%sz : tensor<?xf32>)" if sizes else ""
    return (
        f"func.func @attn(%q: {q}, %k: {kv}, %v: {kv}{sz_arg}) -> {q}{attrs}"
        f" {{\n"
        f"  %o = tok.attention %q, %k, %v{sz_use} {{mask = {mask}}}\n"
        f"      : {q}, {kv}, {kv} -> {q}\n"
        f"  return %o : {q}\n}}\n")


def run(cmd, **kw):
    result = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if result.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{result.stderr}")
    return result.stdout


def compile_cases(args):
    build = os.path.join(ROOT, "build")
    tok_opt = os.path.join(build, "bin", "tok-opt")
    tok_translate = os.path.join(build, "bin", "tok-translate")
    runtime = os.path.join(build, "lib", "libtok_cuda_runtime.so")
    for tool in (tok_opt, tok_translate, runtime):
        if not os.path.exists(tool):
            sys.exit(f"{tool} is missing: build tok first")
    os.makedirs(KERNELS, exist_ok=True)
    pipeline = f"--tok-to-nvvm=chip={args.chip}"
    if args.only:
        global KERNEL_CASES, E2E_CASES
        KERNEL_CASES = [c for c in KERNEL_CASES if re.search(args.only, c[0])]
        E2E_CASES = [c for c in E2E_CASES if re.search(args.only, c[0])]
    manifest = {"chip": args.chip, "kernels": [], "e2e": []}
    for name, dtype, hq, hk, t, s, d, causal, extra in KERNEL_CASES:
        mlir = os.path.join(KERNELS, name + ".mlir")
        if isinstance(causal, str):
            mask, causal = causal, True
        else:
            mask = "#tok.mask<causal>" if causal else "#tok.mask<full>"
        window = re.search(r"window = (\d+)", mask)
        sinks = re.search(r"sinks = (\d+)", mask)
        with open(mlir, "w") as f:
            f.write(attention_mlir(dtype, hq, hk, t, s, d, mask))
        options = f"{pipeline} {extra}".strip()
        lowered = run([tok_opt, options, mlir])
        ptx = run([tok_translate, "--extract-gpu-object"], input=lowered)
        with open(os.path.join(KERNELS, name + ".ptx"), "w") as f:
            f.write(ptx)
        entries = re.findall(r"\.visible \.entry (\w+)\(", ptx)
        entry = next(e for e in entries if "_decode_" not in e)
        partial = [e for e in entries if e.endswith("_partial")]
        combine = [e for e in entries if e.endswith("_combine")]
        manifest["kernels"].append(dict(
            name=name, dtype=dtype, hq=hq, hk=hk, t=t, s=s, d=d,
            causal=causal, entry=entry, tensor_cores="_mma_" in entry,
            window=int(window.group(1)) if window else 0,
            sinks=int(sinks.group(1)) if sinks else 0,
            rows_per_block=int(re.search(r"_r(\d+)_", entry).group(1)),
            threads=int(re.search(r"_n(\d+)_", entry).group(1)),
            shared=int(re.search(r"_sm(\d+)_", entry).group(1))
            if "_sm" in entry else 0, options=extra,
            decode_partial=partial[0] if partial else None,
            decode_combine=combine[0] if combine else None))
        print(f"compiled {name}: {entry}")
    clang = shutil.which("clang-22") or shutil.which("clang")
    for name, dtype, hq, hk, t, s, d, mask in E2E_CASES:
        mlir = os.path.join(KERNELS, name + ".mlir")
        with open(mlir, "w") as f:
            f.write(attention_mlir(dtype, hq, hk, t, s, d, mask,
                                   c_interface=True,
                                   sizes=name.endswith("_sizes")))
        lowered = run([tok_opt, pipeline, mlir])
        ll = os.path.join(KERNELS, name + ".ll")
        with open(ll, "w") as f:
            f.write(run([tok_translate, "--mlir-to-llvmir"], input=lowered))
        lib = os.path.join(KERNELS, f"lib{name}.so")
        run([clang, "-O2", "-shared", "-fPIC", "-Wno-override-module", ll,
             "-o", lib, "-L", os.path.dirname(runtime), "-ltok_cuda_runtime",
             "-Wl,-rpath,$ORIGIN"])
        window = re.search(r"window = (\d+)", mask)
        sinks = re.search(r"sinks = (\d+)", mask)
        manifest["e2e"].append(dict(
            name=name, dtype=dtype, hq=hq, hk=hk, t=t, s=s, d=d,
            causal="causal" in mask,
            window=int(window.group(1)) if window else 0,
            sinks=int(sinks.group(1)) if sinks else 0))
        print(f"compiled {name}: lib{name}.so")
    import numpy as np
    tok_run = os.path.join(build, "bin", "tok-run")
    for name, dtype, hq, hk, t, s, d, mask in CPU_CASES:
        mlir = os.path.join(KERNELS, name + ".mlir")
        with open(mlir, "w") as f:
            f.write(attention_mlir(dtype, hq, hk, t, s, d, mask,
                                   c_interface=True))
        rng = np.random.default_rng(7)
        np_type = {"f32": np.float32, "f16": np.float16}[dtype]
        arrays = {"q": (hq, t, d), "k": (hk, s, d), "v": (hk, s, d)}
        paths = []
        for key, shape in arrays.items():
            path = os.path.join(KERNELS, f"{name}_{key}.npy")
            np.save(path, rng.standard_normal(shape).astype(np_type))
            paths.append(path)
        prefix = os.path.join(KERNELS, f"{name}_cpu")
        if os.path.exists(prefix + "0.npy"):
            os.remove(prefix + "0.npy")
        run([tok_run, mlir, "-e", "attn", "--print-results=0",
             "--output", prefix] + [f"--input={p}" for p in paths])
        lowered = run([tok_opt, pipeline, mlir])
        ll = os.path.join(KERNELS, name + ".ll")
        with open(ll, "w") as f:
            f.write(run([tok_translate, "--mlir-to-llvmir"], input=lowered))
        run([clang, "-O2", "-shared", "-fPIC", "-Wno-override-module", ll,
             "-o", os.path.join(KERNELS, f"lib{name}.so"), "-L",
             os.path.dirname(runtime), "-ltok_cuda_runtime",
             "-Wl,-rpath,$ORIGIN"])
        manifest.setdefault("cpu", []).append(dict(
            name=name, dtype=dtype, hq=hq, hk=hk, t=t, s=s, d=d, mask=mask))
        print(f"compiled {name}: CPU result and lib{name}.so")
    shutil.copy(runtime, KERNELS)
    with open(os.path.join(KERNELS, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


# ---------------------------------------------------------------------------
# measure (on the GPU machine)


def visible_mask(t, s, causal, window=0, sinks=0):
    """[T, S] bool: query i at position S - T + i sees key j (docs/algorithms.md, "Masks")."""
    import numpy as np
    qpos = np.arange(t)[:, None] + (s - t)
    kpos = np.arange(s)[None, :]
    if not causal:
        return np.ones((t, s), dtype=bool)
    vis = kpos <= qpos
    if window:
        inwin = (qpos - kpos) < window
        if sinks:
            inwin |= kpos < sinks
        vis &= inwin
    return vis


def reference_numpy(q, k, v, causal, window=0, sinks=0, sizes=None):
    """float64 attention, written separately from the kernel: explicit
    softmax over the visible keys; rows with no visible key are zeros."""
    import numpy as np
    hq, t, d = q.shape
    hk, s, _ = k.shape
    group = hq // hk
    vis = visible_mask(t, s, causal, window, sinks)
    out = np.zeros((hq, t, d))
    for h in range(hq):
        logits = (q[h].astype(np.float64) @ k[h // group].astype(np.float64).T
                  ) / math.sqrt(d)
        if sizes is not None:
            logits = logits + np.log(sizes.astype(np.float64))[None, :]
        logits = np.where(vis, logits, -np.inf)
        m = logits.max(axis=1, keepdims=True)
        m = np.where(np.isfinite(m), m, 0.0)
        p = np.where(vis, np.exp(logits - m), 0.0)
        l = p.sum(axis=1, keepdims=True)
        out[h] = np.where(l > 0, (p @ v[h // group].astype(np.float64)) /
                          np.where(l > 0, l, 1.0), 0.0)
    return out


class Runtime:
    """tok's CUDA runtime through ctypes."""

    def __init__(self, path):
        self.lib = ctypes.CDLL(path)
        L = self.lib
        L.tokCudaInit.restype = ctypes.c_int
        L.tokCudaLastError.restype = ctypes.c_char_p
        L.mgpuModuleLoadJIT.restype = ctypes.c_void_p
        L.mgpuModuleLoadJIT.argtypes = [ctypes.c_char_p, ctypes.c_int]
        L.mgpuModuleGetFunction.restype = ctypes.c_void_p
        L.mgpuModuleGetFunction.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        L.mgpuLaunchKernel.restype = None
        L.mgpuLaunchKernel.argtypes = (
            [ctypes.c_void_p] + [ctypes.c_ssize_t] * 6 +
            [ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p,
             ctypes.c_void_p, ctypes.c_size_t])
        if L.tokCudaInit() != 0:
            raise RuntimeError(self.error())

    def error(self):
        e = self.lib.tokCudaLastError()
        return e.decode() if e else None

    def check(self):
        e = self.error()
        if e:
            raise RuntimeError(e)

    def load(self, ptx_path, entry):
        with open(ptx_path, "rb") as f:
            ptx = f.read() + b"\0"
        module = self.lib.mgpuModuleLoadJIT(ptx, 3)
        self.check()
        fn = self.lib.mgpuModuleGetFunction(module, entry.encode())
        self.check()
        return fn


class DecodeLaunch:
    """The split-KV decode kernels, as the launcher runs them for T = 1
    (GPULaunchers.cpp): partial over (splits, Hk) blocks, then combine."""

    def __init__(self, rt, partial, combine, q, k, v, o, s, hq, hk, d,
                 stream, torch):
        target = max(1, (512 + hk - 1) // hk)
        positive = max(s, 1)
        splits = min(target, (positive + 31) // 32)
        chunk = (positive + splits - 1) // splits
        splits = (positive + chunk - 1) // chunk
        self.ws = torch.empty(splits * hq * (d + 2), dtype=torch.float32,
                              device=q.device)
        self.rt, self.stream = rt, stream
        self.partial, self.combine = partial, combine
        self.splits = splits

        def pack(values):
            held = [ctypes.c_uint64(x) for x in values]
            return held, (ctypes.c_void_p * len(held))(
                *[ctypes.addressof(x) for x in held])

        def desc(x):
            return [x.data_ptr(), x.data_ptr(), 0, x.numel(), 1]

        self.p_vals, self.p_params = pack(
            desc(q) + desc(k) + desc(v) + desc(self.ws) + [s, chunk])
        self.c_vals, self.c_params = pack(
            desc(self.ws) + desc(o) + [splits])
        self.hk, self.hq, self.d = hk, hq, d

    def __call__(self):
        L = self.rt.lib
        L.mgpuLaunchKernel(self.partial, self.splits, self.hk, 1, 128, 1, 1,
                           0, self.stream, self.p_params, None,
                           len(self.p_vals))
        L.mgpuLaunchKernel(self.combine, self.hq, 1, 1, self.d, 1, 1, 0,
                           self.stream, self.c_params, None,
                           len(self.c_vals))


class Launch:
    """One kernel launch on fixed torch tensors (the kernel ABI of
    passes/Conversion/TokToGPU/AttentionToGPU.cpp: four 1-D memref
    descriptors, then T and S)."""

    def __init__(self, rt, fn, q, k, v, o, t, s, rows_per_block, threads,
                 hq, stream, shared):
        self.rt, self.fn, self.stream, self.shared = rt, fn, stream, shared
        vals = []
        for x in (q, k, v, o):
            ptr = x.data_ptr()
            vals += [ptr, ptr, 0, x.numel(), 1]
        vals += [t, s]
        self.values = [ctypes.c_uint64(x) for x in vals]
        self.params = (ctypes.c_void_p * len(vals))(
            *[ctypes.addressof(x) for x in self.values])
        self.grid = (max(1, (t + rows_per_block - 1) // rows_per_block), hq, 1)
        self.block = (threads, 1, 1)

    def __call__(self):
        self.rt.lib.mgpuLaunchKernel(
            self.fn, *self.grid, *self.block, self.shared, self.stream,
            self.params,
            None, len(self.values))


def time_ms(torch, fn, target_ms=200.0, windows=5):
    """Median over `windows` of the mean time per call, CUDA events."""
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(
        enable_timing=True)
    start.record()
    fn()
    stop.record()
    stop.synchronize()
    once = max(start.elapsed_time(stop), 1e-3)
    n = max(1, min(200, int(target_ms / windows / once)))
    results = []
    for _ in range(windows):
        start.record()
        for _ in range(n):
            fn()
        stop.record()
        stop.synchronize()
        results.append(start.elapsed_time(stop) / n)
    results.sort()
    return results[len(results) // 2]


def attention_flops(hq, t, s, d, causal):
    # Non-causal 4 * H * T * S * D; causal prefill counts the visible pairs
    # (T = S: S (S + 1) / 2), decode all S.
    if causal and t == s:
        pairs = s * (s + 1) / 2
    elif causal:
        pairs = sum(min(s, s - t + i + 1) for i in range(t))
    else:
        pairs = t * s
    return 4.0 * hq * pairs * d


def measure(args):
    import numpy as np
    import torch
    import torch.nn.functional as F

    with open(os.path.join(args.kernels, "manifest.json")) as f:
        manifest = json.load(f)
    rt = Runtime(os.path.join(args.kernels, "libtok_cuda_runtime.so"))
    dev = torch.device("cuda")
    props = torch.cuda.get_device_properties(dev)
    report = {
        "device": props.name,
        "torch": torch.__version__,
        "chip_compiled": manifest["chip"],
        "kernels": [],
        "e2e": [],
    }
    print(f"device {props.name}, torch {torch.__version__}")
    dtypes = {"bf16": torch.bfloat16, "f16": torch.float16,
              "f32": torch.float32}
    tolerance = {"bf16": 2e-2, "f16": 4e-3, "f32": 1e-5}
    gen = torch.Generator(device=dev).manual_seed(0)
    stream = torch.cuda.current_stream().cuda_stream
    for case in manifest["kernels"]:
        if args.only and not re.search(args.only, case["name"]):
            continue
        dt = dtypes[case["dtype"]]
        hq, hk, t, s, d = (case[x] for x in ("hq", "hk", "t", "s", "d"))
        q = torch.randn(hq, t, d, generator=gen, device=dev).to(dt)
        k = torch.randn(hk, s, d, generator=gen, device=dev).to(dt)
        v = torch.randn(hk, s, d, generator=gen, device=dev).to(dt)
        o = torch.full((hq, t, d), float("nan"), device=dev).to(dt)
        ptx = os.path.join(args.kernels, case["name"] + ".ptx")
        if t == 1 and case.get("decode_partial"):
            launch = DecodeLaunch(rt, rt.load(ptx, case["decode_partial"]),
                                  rt.load(ptx, case["decode_combine"]), q, k,
                                  v, o, s, hq, hk, d, stream, torch)
        else:
            fn = rt.load(ptx, case["entry"])
            launch = Launch(rt, fn, q, k, v, o, t, s, case["rows_per_block"],
                            case["threads"], hq, stream, case["shared"])
        launch()
        torch.cuda.synchronize()
        rt.check()
        # Numerics on a subset of heads against the float64 reference.
        heads = list(range(0, hq, max(1, hq // 4)))
        group = hq // hk
        max_err = 0.0
        for h in heads:
            ref = reference_numpy(
                q[h:h + 1].double().cpu().numpy(),
                k[h // group:h // group + 1].double().cpu().numpy(),
                v[h // group:h // group + 1].double().cpu().numpy(),
                case["causal"], case.get("window", 0), case.get("sinks", 0))
            got = o[h:h + 1].double().cpu().numpy()
            max_err = max(max_err, float(np.abs(got - ref).max()))
        ok = max_err <= tolerance[case["dtype"]]
        # SDPA on the same data ([B, H, T, D]); GQA by repeating KV heads.
        qb = q.unsqueeze(0)
        kb = k.repeat_interleave(group, 0).unsqueeze(0)
        vb = v.repeat_interleave(group, 0).unsqueeze(0)
        # SDPA's causal mask is top-left aligned; tok's queries are the last
        # T of S tokens (bottom-right), the same when T = S or T = 1 (decode
        # sees every key, so no mask).
        sdpa_causal = case["causal"] and t == s
        from torch.nn.attention import SDPBackend, sdpa_kernel
        backend = "flash"
        try:
            with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
                ref_o = F.scaled_dot_product_attention(qb, kb, vb,
                                                       is_causal=sdpa_causal)
        except RuntimeError:
            backend = "default"
            ref_o = F.scaled_dot_product_attention(qb, kb, vb,
                                                   is_causal=sdpa_causal)

        def sdpa():
            if backend == "flash":
                with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
                    return F.scaled_dot_product_attention(
                        qb, kb, vb, is_causal=sdpa_causal)
            return F.scaled_dot_product_attention(qb, kb, vb,
                                                  is_causal=sdpa_causal)

        # SDPA's causal mask is top-left aligned: compare only where it is
        # tok's (T = S, or no mask, or decode).
        comparable = ((not case["causal"]) or t == s or t == 1) and not case.get(
            "window")
        vs_sdpa = (float((o.float() - ref_o[0].float()).abs().max())
                   if comparable else float("nan"))
        if args.no_timing:
            tok_ms = sdpa_ms = float("nan")
        else:
            tok_ms = time_ms(torch, launch)
            rt.check()
            sdpa_ms = time_ms(torch, sdpa)
        flops = attention_flops(hq, t, s, d, case["causal"])
        kv_bytes = 2 * hk * s * d * q.element_size()
        row = dict(case, max_abs_err_vs_f64=max_err, within_tolerance=ok,
                   tolerance=tolerance[case["dtype"]],
                   max_abs_diff_vs_sdpa=vs_sdpa, tok_ms=tok_ms,
                   sdpa_ms=sdpa_ms, sdpa_backend=backend,
                   tok_tflops=flops / tok_ms / 1e9,
                   sdpa_tflops=flops / sdpa_ms / 1e9,
                   tok_over_sdpa=sdpa_ms / tok_ms,
                   tok_kv_gbps=kv_bytes / tok_ms / 1e6,
                   sdpa_kv_gbps=kv_bytes / sdpa_ms / 1e6)
        report["kernels"].append(row)
        print(f"{case['name']:24s} err {max_err:.2e} "
              f"({'ok' if ok else 'FAIL'}) vs-sdpa {vs_sdpa:.2e}  "
              f"tok {tok_ms:8.3f} ms {row['tok_tflops']:7.2f} TF/s  "
              f"sdpa[{backend}] {sdpa_ms:8.3f} ms {row['sdpa_tflops']:7.2f} "
              f"TF/s  ratio {row['tok_over_sdpa']:.3f}")
        if not comparable:
            row["sdpa_note"] = "different mask alignment; timing only"
        del q, k, v, o, qb, kb, vb, ref_o
        torch.cuda.empty_cache()

    for case in manifest["e2e"]:
        if args.only and not re.search(args.only, case["name"]):
            continue
        report["e2e"].append(run_e2e(args, case, rt))

    report["cpu"] = []
    for case in manifest.get("cpu", []):
        if args.only and not re.search(args.only, case["name"]):
            continue
        report["cpu"].append(run_cpu_check(args, case, rt))

    failed = [r["name"] for r in report["kernels"] + report["e2e"] +
              report["cpu"] if not r["within_tolerance"]]
    report["failed"] = failed
    if args.out:
        with open(args.out, "w") as f:
            json.dump(report, f, indent=1)
    print(f"{len(failed)} failed" + (f": {failed}" if failed else ""))
    return 1 if failed else 0


class MemRef3(ctypes.Structure):
    _fields_ = [("allocated", ctypes.c_void_p), ("aligned", ctypes.c_void_p),
                ("offset", ctypes.c_int64), ("sizes", ctypes.c_int64 * 3),
                ("strides", ctypes.c_int64 * 3)]


class MemRef1(ctypes.Structure):
    _fields_ = [("allocated", ctypes.c_void_p), ("aligned", ctypes.c_void_p),
                ("offset", ctypes.c_int64), ("size", ctypes.c_int64),
                ("stride", ctypes.c_int64)]


def memref1_of(array):
    m = MemRef1()
    m.allocated = m.aligned = array.ctypes.data
    m.offset, m.size, m.stride = 0, array.shape[0], 1
    return m


def memref_of(array):
    m = MemRef3()
    m.allocated = m.aligned = array.ctypes.data
    m.offset = 0
    for i in range(3):
        m.sizes[i] = array.shape[i]
        m.strides[i] = array.strides[i] // array.itemsize
    return m


def run_e2e(args, case, rt):
    """Calls the ahead-of-time compiled function (host copies, launch, copy
    back) on NumPy arrays; checks against the float64 reference."""
    import numpy as np
    if case["t"] > case["s"] and case["causal"]:
        # Expected to stop at the run-time check: run it in a child.
        code = (f"import sys; sys.path.insert(0, {HERE!r}); import run; "
                f"import json; run.run_e2e_unchecked({args.kernels!r}, "
                f"json.loads({json.dumps(json.dumps(case))}))")
        child = subprocess.run([sys.executable, "-c", code],
                               capture_output=True, text=True)
        ok = (child.returncode != 0 and "more queries than keys" in
              child.stdout + child.stderr)
        print(f"{case['name']:24s} exit {child.returncode} "
              f"({'ok' if ok else 'FAIL'}: expected the run-time check)")
        return dict(case, within_tolerance=ok, exit_code=child.returncode)
    lib = ctypes.CDLL(os.path.join(args.kernels, f"lib{case['name']}.so"))
    np_type = {"f32": np.float32, "f16": np.float16}[case["dtype"]]
    rng = np.random.default_rng(1)
    hq, hk, t, s, d = (case[x] for x in ("hq", "hk", "t", "s", "d"))
    q = rng.standard_normal((hq, t, d)).astype(np_type)
    k = rng.standard_normal((hk, s, d)).astype(np_type)
    v = rng.standard_normal((hk, s, d)).astype(np_type)
    result = MemRef3()
    args_ = [memref_of(x) for x in (q, k, v)]
    sizes = None
    if case["name"].endswith("_sizes"):
        sizes = rng.uniform(1.0, 4.0, s).astype(np.float32)
        args_.append(memref1_of(sizes))
    inputs_before = [x.copy() for x in (q, k, v)] + (
        [sizes.copy()] if sizes is not None else [])
    lib._mlir_ciface_attn(ctypes.byref(result),
                          *[ctypes.byref(a) for a in args_])
    error = rt.error()
    untouched = all(np.array_equal(a, b) for a, b in zip(
        inputs_before, [q, k, v] + ([sizes] if sizes is not None else [])))
    if not untouched:
        error = (error or "") + " the function changed its inputs"
    count = hq * t * d
    got = np.ctypeslib.as_array(
        ctypes.cast(result.aligned, ctypes.POINTER(
            ctypes.c_float if np_type == np.float32 else ctypes.c_uint16)),
        shape=(count,)).copy() if count else np.zeros(0, np.float32)
    if np_type == np.float16:
        got = got.view(np.float16)
    got = got.reshape(hq, t, d).astype(np.float64)
    ref = (reference_numpy(q, k, v, case["causal"], case["window"],
                           case["sinks"], sizes) if s else np.zeros((hq, t, d)))
    err = float(np.abs(got - ref).max()) if got.size else 0.0
    tol = {"f32": 1e-5, "f16": 4e-3}[case["dtype"]]
    ok = error is None and err <= tol and list(result.sizes) == [hq, t, d]
    print(f"{case['name']:24s} err {err:.2e} ({'ok' if ok else 'FAIL'})"
          f" sizes {list(result.sizes)} runtime error {error}")
    return dict(case, max_abs_err_vs_f64=err, tolerance=tol,
                within_tolerance=ok, runtime_error=error)


def run_e2e_unchecked(kernels, case):
    """run_e2e's call alone (in a child process when it should abort)."""
    import numpy as np
    lib = ctypes.CDLL(os.path.join(kernels, f"lib{case['name']}.so"))
    np_type = {"f32": np.float32, "f16": np.float16}[case["dtype"]]
    q = np.zeros((case["hq"], case["t"], case["d"]), np_type)
    k = np.zeros((case["hk"], case["s"], case["d"]), np_type)
    v = np.zeros_like(k)
    result = MemRef3()
    descs = [memref_of(x) for x in (q, k, v)]
    lib._mlir_ciface_attn(ctypes.byref(result),
                          *[ctypes.byref(x) for x in descs])


def run_cpu_check(args, case, rt):
    """The GPU result of a function (compiled ahead of time) against tok's
    CPU path on the same inputs (computed by `compile`). Tolerances: 1e-5
    relative for f32 and 1e-3 relative for f16, relative to the largest
    output magnitude."""
    import numpy as np
    base = os.path.join(args.kernels, case["name"])
    q, k, v = (np.load(f"{base}_{x}.npy") for x in "qkv")
    cpu = np.load(f"{base}_cpu0.npy").astype(np.float64)
    lib = ctypes.CDLL(os.path.join(args.kernels, f"lib{case['name']}.so"))
    result = MemRef3()
    descs = [memref_of(x) for x in (q, k, v)]
    lib._mlir_ciface_attn(ctypes.byref(result),
                          *[ctypes.byref(x) for x in descs])
    error = rt.error()
    count = int(np.prod(cpu.shape))
    ctype = ctypes.c_float if q.dtype == np.float32 else ctypes.c_uint16
    got = np.ctypeslib.as_array(
        ctypes.cast(result.aligned, ctypes.POINTER(ctype)),
        shape=(count,)).copy()
    if q.dtype == np.float16:
        got = got.view(np.float16)
    got = got.reshape(cpu.shape).astype(np.float64)
    rel = float(np.abs(got - cpu).max() / max(np.abs(cpu).max(), 1e-30))
    tol = {"f32": 1e-5, "f16": 1e-3}[case["dtype"]]
    ok = error is None and rel <= tol
    print(f"{case['name']:24s} vs CPU path: max relative error {rel:.2e} "
          f"({'ok' if ok else 'FAIL'}, tolerance {tol:g}) runtime error "
          f"{error}")
    return dict(case, max_rel_err_vs_cpu=rel, tolerance=tol,
                within_tolerance=ok, runtime_error=error)


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("compile", help="compile the cases (needs tok built)")
    c.add_argument("--chip", default="sm_90")
    c.add_argument("--only", default="", help="regex of case names")
    m = sub.add_parser("measure", help="run them (needs torch and a GPU)")
    m.add_argument("--kernels", default=KERNELS)
    m.add_argument("--out", default="")
    m.add_argument("--only", default="", help="regex of case names")
    m.add_argument("--no-timing", action="store_true",
                   help="numerics only (e.g. under compute-sanitizer)")
    args = p.parse_args()
    if args.cmd == "compile":
        compile_cases(args)
        return 0
    return measure(args)


if __name__ == "__main__":
    sys.exit(main())
