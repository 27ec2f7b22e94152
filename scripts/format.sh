#!/usr/bin/env bash
# Formats the C++ sources (tracked, and new ones git does not ignore) with clang-format-22 (LLVM style, see
# .clang-format), or with --check reports the files that are not formatted and
# exits non-zero.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
clang_format=${CLANG_FORMAT:-clang-format-22}
mapfile -t files < <(git ls-files --cached --others --exclude-standard '*.cpp' '*.h' '*.c')
if [ "${1:-}" = "--check" ]; then
  "$clang_format" --dry-run --Werror "${files[@]}"
  echo "${#files[@]} files formatted"
else
  "$clang_format" -i "${files[@]}"
fi
