#!/usr/bin/env bash
# The main job: install what is missing, build tok, and compile and run the
# built-in example with the JIT. See README.md.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

tok_install_deps
tok_build tok-run

demo="$TOK_ROOT/examples/tiny_decoder.mlir"
tok_log "tok-run $demo: a one-layer decoder (embed, rope, KV cache, GQA"
tok_log "attention, greedy sampling) generating 8 tokens, compiled with"
tok_log "tok-to-llvm and JIT-run"
"$TOK_BUILD_DIR/bin/tok-run" "$demo" --timing
