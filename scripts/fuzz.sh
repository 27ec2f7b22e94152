#!/usr/bin/env bash
# Fuzzes tok's readers and passes with libFuzzer, under AddressSanitizer
# and UndefinedBehaviorSanitizer (docs/reliability.md).
#
# Usage: scripts/fuzz.sh [seconds per target, default 600] [target...]
#
# Targets: tok-fuzz-ir (IR parse, verify, tok passes), tok-fuzz-hf
# (config.json + safetensors), tok-fuzz-llama2c, tok-fuzz-tokenizer
# (tokenizer.json / tokenizer.bin + encoding), tok-fuzz-npy, tok-fuzz-gguf.
# Builds them in build-fuzz/ (TOK_FUZZ_BUILD_DIR), seeds their corpora from
# the lit tests and small files (fuzz/make_seeds.py), and keeps the corpora
# there, outside the repository, so later runs continue from them. Each
# target's executions and coverage go to build-fuzz/fuzz-report.txt; a
# crash, sanitizer report, timeout (10 s) or out-of-memory (4 GiB) leaves
# its input in build-fuzz/fuzz-artifacts/ and makes the script fail.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

seconds=${1:-600}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(tok-fuzz-ir tok-fuzz-hf tok-fuzz-llama2c tok-fuzz-tokenizer
           tok-fuzz-npy tok-fuzz-gguf)
fi

TOK_PACKAGES+=(libclang-rt-22-dev)
TOK_BUILD_DIR=${TOK_FUZZ_BUILD_DIR:-$TOK_ROOT/build-fuzz}
TOK_CMAKE_ARGS="-DTOK_ENABLE_FUZZERS=ON -DTOK_SANITIZE=address;undefined"
tok_install_deps
tok_build "${targets[@]}"

corpus="$TOK_BUILD_DIR/fuzz-corpus"
seeds="$TOK_BUILD_DIR/fuzz-seeds"
artifacts="$TOK_BUILD_DIR/fuzz-artifacts"
report="$TOK_BUILD_DIR/fuzz-report.txt"
rm -rf "$seeds"
mkdir -p "$corpus" "$artifacts"
"$(tok_test_python)" "$TOK_ROOT/fuzz/make_seeds.py" "$TOK_ROOT" "$seeds"
: > "$report"
status=0
for t in "${targets[@]}"; do
  mkdir -p "$corpus/$t" "$seeds/$t"
  extra=()
  if [ "$t" = tok-fuzz-ir ]; then
    extra+=(-dict="$TOK_ROOT/fuzz/tok.dict" -max_len=16384)
  else
    extra+=(-max_len=65536)
  fi
  tok_log "fuzzing $t for $seconds s"
  log="$TOK_BUILD_DIR/fuzz-$t.log"
  rc=0
# allow_user_poisoning=0: LLVM's BumpPtrAllocator poisons its slabs in
# code inlined into tok's (instrumented) objects, while Debian's
# uninstrumented libMLIR hands the same memory out without unpoisoning it:
# every such use would be a false use-after-poison.
  ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:allow_user_poisoning=0 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$TOK_BUILD_DIR/fuzz/$t" "$corpus/$t" "$seeds/$t" \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 \
    -print_final_stats=1 -artifact_prefix="$artifacts/$t-" "${extra[@]}" \
    > "$log" 2>&1 || rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1 || true)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)
  files=$(ls "$corpus/$t" | wc -l)
  line="$t: ${seconds} s, ${runs:-?} executions, ${cov:-cov: ?}, corpus $files files, exit $rc"
  echo "$line" | tee -a "$report"
  if [ $rc -ne 0 ]; then
    status=1
    grep -m5 -E 'ERROR|SUMMARY|runtime error|Test unit written' "$log" |
      tee -a "$report" || true
  fi
done
exit $status
