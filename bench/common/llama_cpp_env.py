"""A llama.cpp environment for the benchmarks' peer measurements.

llama.cpp is a benchmark peer only (never a build or test dependency): the
`llama-cpp-python` package, which builds llama.cpp from source for this
CPU (about 10 minutes on 2 cores, once), is installed with pip into
bench/.venv-llama on first use, with NumPy and the `gguf` package beside
it. On this machine llama.cpp's AMX repacking of Q8_0 / Q4_0 weights
crashes, so the peer loads models with `use_extra_bufts=False` (plain CPU
buffers; its AVX-512 / VNNI kernels still run).
"""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV = os.path.join(ROOT, "bench", ".venv-llama")


def llama_cpp_python():
    """The venv's python with llama_cpp importable, or None (with the reason
    printed) where it cannot be installed."""
    python = os.path.join(VENV, "bin", "python")
    check = [python, "-c", "import llama_cpp, numpy, gguf"]
    if os.path.exists(python) and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    print("installing llama-cpp-python into %s (builds llama.cpp, once) ..." % VENV)
    sys.stdout.flush()
    try:
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
        subprocess.run([python, "-m", "pip", "install", "-q", "numpy", "gguf", "llama-cpp-python"], check=True)
        subprocess.run(check, check=True, capture_output=True)
    except (subprocess.CalledProcessError, OSError) as e:
        print("llama.cpp unavailable, its column stays empty: %s" % e)
        return None
    return python


if __name__ == "__main__":
    print(llama_cpp_python())
