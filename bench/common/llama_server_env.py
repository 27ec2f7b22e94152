"""llama.cpp's own HTTP server (`llama-server`) for the serving benchmark.

llama-cpp-python's server (`python -m llama_cpp.server`) runs one request
at a time (a global lock around the model), so it has no parallel slots.
llama.cpp's `llama-server` has them (`--parallel N`: N sequences decoded
together in one batch, continuous batching). It is not on the package
registry as a binary, so it is built on first use from the llama.cpp
sources vendored in the llama-cpp-python sdist of the version installed in
bench/.venv-llama (the same llama.cpp as the decode benchmarks' peer):
`pip download --no-binary` fetches the sdist, CMake + Ninja build the one
target `llama-server` (about 180 compile units, 10-15 minutes on 2 cores,
once) into bench/.llama-server/. Callers must hold the build lock
(/tmp/tok-build.lock) while this builds, as for any build.
"""

import glob
import os
import shutil
import subprocess
import sys
import tarfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from llama_cpp_env import llama_cpp_python  # noqa: E402
from peer_venv import ROOT  # noqa: E402

HOME = os.path.join(ROOT, "bench", ".llama-server")
BINARY = os.path.join(HOME, "build", "bin", "llama-server")


def llama_server():
    """The path of a built llama-server, building it the first time; None
    (with the reason printed) where it cannot be built."""
    if os.path.exists(BINARY):
        return BINARY
    python = llama_cpp_python()
    if python is None:
        return None
    try:
        version = subprocess.run([python, "-c", "import llama_cpp; print(llama_cpp.__version__)"],
                                 capture_output=True, text=True, check=True).stdout.strip()
        os.makedirs(HOME, exist_ok=True)
        tarballs = glob.glob(os.path.join(HOME, "llama_cpp_python-%s.tar.gz" % version))
        if not tarballs:
            print("fetching the llama-cpp-python %s sdist (llama.cpp's sources) into %s ..." % (version, HOME))
            sys.stdout.flush()
            subprocess.run([python, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", "llama-cpp-python",
                            "llama-cpp-python==" + version, "-d", HOME], check=True)
            tarballs = glob.glob(os.path.join(HOME, "llama_cpp_python-%s.tar.gz" % version))
        src = os.path.join(HOME, "llama_cpp_python-%s" % version)
        if not os.path.isdir(src):
            with tarfile.open(tarballs[0]) as t:
                t.extractall(HOME, filter="data")
        llama = os.path.join(src, "vendor", "llama.cpp")
        build = os.path.join(HOME, "build")
        print("building llama-server (once, 10-15 minutes on 2 cores) in %s ..." % build)
        sys.stdout.flush()
        subprocess.run(["cmake", "-S", llama, "-B", build, "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release",
                        "-DGGML_NATIVE=ON", "-DBUILD_SHARED_LIBS=OFF", "-DLLAMA_BUILD_TESTS=OFF",
                        "-DLLAMA_BUILD_EXAMPLES=OFF", "-DLLAMA_BUILD_TOOLS=ON", "-DLLAMA_BUILD_SERVER=ON",
                        "-DLLAMA_BUILD_APP=OFF", "-DLLAMA_BUILD_UI=OFF", "-DLLAMA_USE_PREBUILT_UI=OFF",
                        "-DLLAMA_OPENSSL=OFF"], check=True, capture_output=True)
        subprocess.run(["ninja", "-C", build, "-j2", "llama-server"], check=True)
    except (subprocess.CalledProcessError, OSError, IndexError) as e:
        print("llama-server unavailable, its column stays empty: %s" % e)
        return None
    return BINARY if os.path.exists(BINARY) else None


def remove():
    shutil.rmtree(HOME, ignore_errors=True)


if __name__ == "__main__":
    print(llama_server())
