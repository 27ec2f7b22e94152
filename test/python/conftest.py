"""Shared fixtures of the tok Python package's tests (pytest).

The references are tok's command-line tools (tok-run generate / embed, run
as separate processes, from TOK_BUILD_DIR's bin/; default: the
repository's build/) and NumPy.
"""

import os
import subprocess
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("TOK_BUILD_DIR", os.path.join(ROOT, "build"))
BIN = os.path.join(BUILD, "bin")
PYSTDLIB = os.path.join(ROOT, "models", "pystdlib")

sys.path.insert(0, os.path.join(ROOT, "test", "Integration", "Inputs"))


def tok_run(*args):
    """Runs tok-run; returns its stdout (raises with its stderr on failure)."""
    p = subprocess.run([os.path.join(BIN, "tok-run"), *args], capture_output=True, text=True)
    if p.returncode != 0:
        raise AssertionError("tok-run %s failed:\n%s" % (" ".join(args), p.stderr))
    return p.stdout


def tok_run_ids(*args):
    """The ids tok-run generate --print-ids prints."""
    out = tok_run("generate", "--print-ids", "--quiet", *args)
    line = [l for l in out.splitlines() if l.startswith("ids:")][-1]
    return [int(x) for x in line.split()[1:]]


@pytest.fixture(scope="session")
def builtin():
    import tok

    return tok.Model.open("builtin")


@pytest.fixture(scope="session")
def pystdlib():
    import tok

    return tok.Model.open(PYSTDLIB)


@pytest.fixture(scope="session")
def bert_dir(tmp_path_factory):
    import bert_model

    path = str(tmp_path_factory.mktemp("bert") / "random-bert")
    bert_model.write(path, seed=3)
    return path


@pytest.fixture(autouse=True, scope="session")
def _jit_cache():
    # The session's processes (tok-run and this one) share a JIT cache in
    # the build tree, away from the user's; a later run loads what this one
    # compiled.
    path = os.environ.setdefault("TOK_JIT_CACHE_DIR",
                                 os.path.join(BUILD, "python-jit-cache"))
    os.makedirs(path, mode=0o700, exist_ok=True)
