"""A PyTorch environment for the benchmarks' peer measurements.

PyTorch is installed with pip into bench/.venv-torch on first use
(peer_venv.py). PyPI's Linux wheel pulls the CUDA libraries too (several
GB, once); nothing here needs a GPU.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peer_venv import peer_python  # noqa: E402


def torch_python():
    """The venv's python with torch importable, or None."""
    return peer_python(".venv-torch", ["numpy", "torch"], ["torch"], "PyTorch")
