#!/usr/bin/env bash
# Builds tok with AddressSanitizer and UndefinedBehaviorSanitizer in
# build-asan/ (TOK_ASAN_BUILD_DIR) and runs the lit and unit tests against
# that build (docs/reliability.md). Ends like scripts/test.sh with
# "N passed, N failed"; a sanitizer report fails the test it occurs in.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

TOK_PACKAGES+=(libclang-rt-22-dev)
TOK_BUILD_DIR=${TOK_ASAN_BUILD_DIR:-$TOK_ROOT/build-asan}
TOK_CMAKE_ARGS="-DTOK_SANITIZE=address;undefined"
tok_install_deps
tok_install_python_test_deps
tok_build all TokUnitTests tok-doc

results="$TOK_BUILD_DIR/test-results.json"
log="$TOK_BUILD_DIR/test-output.txt"
rm -f "$results"
tok_log "running lit and unit tests under ASan + UBSan"
status=0
# Leaks are not checked: LLVM's and the JIT's process-lifetime allocations
# are reported as leaks at exit.
# allow_user_poisoning=0: LLVM's BumpPtrAllocator poisons its slabs in
# code inlined into tok's (instrumented) objects, while Debian's
# uninstrumented libMLIR hands the same memory out without unpoisoning it:
# every such use would be a false use-after-poison.
ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:allow_user_poisoning=0 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  "$(llvm-config-22 --bindir)/lit" -sv -o "$results" \
  "$TOK_BUILD_DIR/test" "$TOK_BUILD_DIR/test/unit" 2>&1 | tee "$log" ||
  status=$?
python3 "$TOK_ROOT/scripts/summarize_lit.py" "$results" "$log" || status=1
exit $status
