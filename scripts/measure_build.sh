#!/usr/bin/env bash
# Measures what docs/development.md reports: clean-build time (ccache off),
# one-file incremental rebuild time and tool sizes, for libMLIR.so and for the
# static MLIR libraries. Builds in /tmp; leaves the normal build alone.
#
#   scripts/measure_build.sh [dylib|static]...   (default: both)
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
tok_install_deps

modes=("$@")
[ ${#modes[@]} -gt 0 ] || modes=(dylib static)

seconds() { local s=$SECONDS; "$@" >/dev/null; echo $((SECONDS - s)); }

for mode in "${modes[@]}"; do
  case $mode in
    dylib) flag=ON ;;
    static) flag=OFF ;;
    *) echo "unknown mode $mode" >&2; exit 1 ;;
  esac
  dir=/tmp/tok-measure-$mode
  rm -rf "$dir"
  export CCACHE_DISABLE=1
  configure=$(seconds cmake -G Ninja -S "$TOK_ROOT" -B "$dir" \
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER=clang-22 \
    -DCMAKE_CXX_COMPILER=clang++-22 -DTOK_LINK_MLIR_DYLIB=$flag)
  clean=$(seconds cmake --build "$dir" --target all TokUnitTests)
  touch "$TOK_ROOT/passes/Conversion/TokToLinalg/TokToLinalg.cpp"
  incremental=$(seconds cmake --build "$dir" --target all TokUnitTests)
  touch "$TOK_ROOT/include/tok/Dialect/Tok/IR/TokOps.td"
  td=$(seconds cmake --build "$dir" --target all TokUnitTests)
  size=$(du -cb "$dir"/bin/* | tail -1 | cut -f1)
  tests=$(seconds "$(llvm-config-22 --bindir)/lit" -q "$dir/test" "$dir/test/unit")
  printf '%s: configure %ss, clean build %ss, touch TokToLinalg.cpp %ss, touch TokOps.td %ss, tools %s MB, lit %ss\n' \
    "$mode" "$configure" "$clean" "$incremental" "$td" $((size / 1000000)) "$tests"
done
