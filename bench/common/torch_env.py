"""A PyTorch environment for the benchmarks' peer measurements.

PyTorch is a benchmark peer only (never a build or test dependency): it is
installed with pip into bench/.venv-torch on first use, so that the system
Python stays as it is. PyPI's Linux wheel pulls the CUDA libraries too
(several GB, once); nothing here needs a GPU.
"""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV = os.path.join(ROOT, "bench", ".venv-torch")


def torch_python():
    """The venv's python with torch importable, or None (with the reason
    printed) where it cannot be installed."""
    python = os.path.join(VENV, "bin", "python")
    check = [python, "-c", "import torch"]
    if os.path.exists(python) and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    print("installing PyTorch into %s (once) ..." % VENV)
    sys.stdout.flush()
    try:
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
        subprocess.run([python, "-m", "pip", "install", "-q", "numpy", "torch"], check=True)
        subprocess.run(check, check=True, capture_output=True)
    except (subprocess.CalledProcessError, OSError) as e:
        print("PyTorch unavailable, its column stays empty: %s" % e)
        return None
    return python
