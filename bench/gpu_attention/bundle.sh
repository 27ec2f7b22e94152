#!/usr/bin/env bash
# Packs what build/bin/tok-run needs on a GPU machine that has no LLVM 22:
# Debian's libLLVM / libMLIR 22 and the MLIR runner utilities (unpacked at
# the same absolute paths, where tok-run and the JIT look for them), the
# OpenMP runtime, and the libraries LLVM links that such a machine may lack
# (unpacked into /opt/tokdeps; put it on LD_LIBRARY_PATH). About 53 MB.
#
#   bench/gpu_attention/bundle.sh .devbundle/llvm22.tar.xz
#   # there, as root:
#   tar -C / -xJf llvm22.tar.xz && export LD_LIBRARY_PATH=/opt/tokdeps
#   python3 bench/gpu_attention/tok_run_check.py --tok-run build/bin/tok-run
set -euo pipefail
out=${1:?usage: bundle.sh OUTPUT.tar.xz}
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
llvm=/usr/lib/llvm-22/lib
mkdir -p "$stage$llvm" "$stage/opt/tokdeps"
for lib in libMLIR.so.22.1 libLLVM.so.22.1 libmlir_c_runner_utils.so.22.1 \
           libmlir_runner_utils.so.22.1 libmlir_float16_utils.so.22.1 \
           libmlir_apfloat_wrappers.so.22.1; do
  cp -L "$llvm/$lib" "$stage$llvm/"
done
for lib in libmlir_c_runner_utils libmlir_runner_utils; do
  ln -s "$lib.so.22.1" "$stage$llvm/$lib.so"
done
omp=$(grep '^TOK_LIBOMP:' build/CMakeCache.txt | cut -d= -f2)
mkdir -p "$stage$(dirname "$omp")"
cp -L "$omp" "$stage$omp"
for lib in libz3.so.4 libedit.so.2 libffi.so.8 libbsd.so.0 libmd.so.0 \
           libtinfo.so.6; do
  cp -L "/lib/x86_64-linux-gnu/$lib" "$stage/opt/tokdeps/"
done
mkdir -p "$(dirname "$out")"
tar -C "$stage" -cf - . | xz -T2 -7 > "$out"
ls -la "$out"
