#!/usr/bin/env bash
# Every test: install what is missing, build, install the package, build the
# out-of-tree consumer against it, then run the lit suite and the GoogleTest
# unit tests in one lit invocation, then build the Python package against
# the installed one and run its pytest tests. Ends with "N passed, N failed"
# (all of them) and exits non-zero if anything failed. See README.md.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

tok_install_deps
tok_install_python_test_deps
tok_build all TokUnitTests tok-doc

prefix="$TOK_BUILD_DIR/install"
tok_log "installing the package into $prefix"
rm -rf "$prefix"
cmake --install "$TOK_BUILD_DIR" --prefix "$prefix" >/dev/null

consumer_build="$TOK_BUILD_DIR/consumer"
tok_log "building examples/consumer against the installed package"
cmake -G Ninja -S "$TOK_ROOT/examples/consumer" -B "$consumer_build" \
  -DCMAKE_CXX_COMPILER=clang++-22 -DCMAKE_BUILD_TYPE=Release \
  -DTok_DIR="$prefix/lib/cmake/tok" >/dev/null
cmake --build "$consumer_build"

results="$TOK_BUILD_DIR/test-results.json"
rm -f "$results"
tok_log "running lit and unit tests"
log="$TOK_BUILD_DIR/test-output.txt"
status=0
"$(llvm-config-22 --bindir)/lit" -sv \
  --param tok_consumer="$consumer_build/tok-consumer" \
  -o "$results" \
  "$TOK_BUILD_DIR/test" "$TOK_BUILD_DIR/test/unit" 2>&1 | tee "$log" || status=$?

# The Python package: built against the installed package, installed into a
# virtual environment, its pytest tests run (test/python).
venv="$TOK_BUILD_DIR/python-venv"
junit="$TOK_BUILD_DIR/pytest-results.xml"
rm -f "$junit"
tok_log "building the Python package (python/) into $venv and running its tests"
if tok_python_venv "$venv" && tok_python_install "$venv" "$prefix"; then
  TOK_BUILD_DIR="$TOK_BUILD_DIR" "$venv/bin/python" -m pytest -q \
    -p no:cacheprovider --junitxml="$junit" "$TOK_ROOT/test/python" || status=1
else
  tok_log "error: the Python package did not build or install"
  status=1
fi

python3 "$TOK_ROOT/scripts/summarize_lit.py" "$results" "$log" \
  --junit "$junit" || status=1
exit $status
