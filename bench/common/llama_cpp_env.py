"""A llama.cpp environment for the benchmarks' peer measurements.

The `llama-cpp-python` package, which builds llama.cpp from source for this
CPU (about 10 minutes on 2 cores, once), is installed with pip into
bench/.venv-llama on first use (peer_venv.py), with NumPy and the `gguf`
package beside it. On this machine llama.cpp's AMX repacking of Q8_0 /
Q4_0 weights crashes, so the peer loads models with
`use_extra_bufts=False` (plain CPU buffers; its AVX-512 / VNNI kernels
still run).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peer_venv import peer_python  # noqa: E402


def llama_cpp_python():
    """The venv's python with llama_cpp importable, or None."""
    return peer_python(".venv-llama", ["numpy", "gguf", "llama-cpp-python"],
                       ["llama_cpp", "numpy", "gguf"], "llama-cpp-python")


def llama_cpp_server_python():
    """The venv's python with llama-cpp-python's server importable (its
    `[server]` extras: FastAPI, uvicorn, ...), installed on first use for
    the version already there (pinned, so that pip does not build another
    llama.cpp); None where that fails."""
    import subprocess

    python = llama_cpp_python()
    if python is None:
        return None
    check = [python, "-c", "import llama_cpp.server.app, uvicorn, sse_starlette"]
    if subprocess.run(check, capture_output=True).returncode == 0:
        return python
    try:
        version = subprocess.run([python, "-c", "import llama_cpp; print(llama_cpp.__version__)"],
                                 capture_output=True, text=True, check=True).stdout.strip()
        print("installing llama-cpp-python[server]==%s's extras (once) ..." % version)
        sys.stdout.flush()
        subprocess.run([python, "-m", "pip", "install", "-q", "llama-cpp-python[server]==" + version], check=True)
        subprocess.run(check, check=True, capture_output=True)
    except (subprocess.CalledProcessError, OSError) as e:
        print("llama-cpp-python's server unavailable, its column stays empty: %s" % e)
        return None
    return python


if __name__ == "__main__":
    print(llama_cpp_python())
