#!/usr/bin/env bash
# Every test: install what is missing, build, install the package, build the
# out-of-tree consumer against it, then run the lit suite and the GoogleTest
# unit tests in one lit invocation. Ends with "N passed, N failed" and exits
# non-zero if anything failed. See README.md.
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

python3 "$TOK_ROOT/scripts/summarize_lit.py" "$results" "$log" || status=1
exit $status
