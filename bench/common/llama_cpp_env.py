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


if __name__ == "__main__":
    print(llama_cpp_python())
