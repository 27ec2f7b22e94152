"""Virtual environments of the benchmarks' peers (PyTorch, llama.cpp).

A peer is installed with pip into its own venv under bench/ on first use,
so that the system Python stays as it is; it is never a build or test
dependency.
"""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def peer_python(venv, packages, modules, what):
    """The python of bench/<venv> with `modules` importable, installing
    `packages` there the first time; None (with the reason printed) where
    they cannot be installed."""
    path = os.path.join(ROOT, "bench", venv)
    python = os.path.join(path, "bin", "python")
    check = [python, "-c", "import " + ", ".join(modules)]
    if os.path.exists(python) and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    print("installing %s into %s (once) ..." % (what, path))
    sys.stdout.flush()
    try:
        subprocess.run([sys.executable, "-m", "venv", path], check=True)
        subprocess.run([python, "-m", "pip", "install", "-q"] + packages, check=True)
        subprocess.run(check, check=True, capture_output=True)
    except (subprocess.CalledProcessError, OSError) as e:
        print("%s unavailable, its column stays empty: %s" % (what, e))
        return None
    return python
