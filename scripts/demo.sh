#!/usr/bin/env bash
# The main job: install what is missing, build tok, and compile and run the
# built-in example with the JIT. See README.md.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

tok_install_deps
tok_build tok-run

demo="$TOK_ROOT/examples/rms_norm.mlir"
tok_log "tok-run $demo (tok -> linalg -> LLVM, JIT)"
"$TOK_BUILD_DIR/bin/tok-run" "$demo" --timing
