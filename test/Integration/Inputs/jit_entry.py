"""Runs one entry of a tok module through tok-run on NumPy arrays.

Shared by the integration checks: the module text goes to <work>/<name>.mlir,
every input to a .npy file (tok-run --input), and the results come back
from .npy files (tok-run --output).
"""

import os
import subprocess

import numpy as np


def run_entry(tok_run, work, name, mlir, inputs, n_out, entry="f", extra=()):
    """Returns (list of result arrays, stderr), or (None, stderr) if
    tok-run failed."""
    path = os.path.join(work, name + ".mlir")
    with open(path, "w") as f:
        f.write(mlir)
    args = [tok_run, path, "-e", entry]
    for i, a in enumerate(inputs):
        p = os.path.join(work, "%s_in%d.npy" % (name, i))
        np.save(p, a)
        args.append("--input=" + p)
    prefix = os.path.join(work, name + "_out")
    # tok-run never overwrites files: clear results of an earlier run.
    for i in range(n_out):
        if os.path.exists(prefix + "%d.npy" % i):
            os.remove(prefix + "%d.npy" % i)
    args.append("--output=" + prefix)
    args.extend(extra)
    r = subprocess.run(args, capture_output=True, text=True)
    if r.returncode != 0:
        return None, r.stderr
    return [np.load(prefix + "%d.npy" % i) for i in range(n_out)], r.stderr
