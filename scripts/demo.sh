#!/usr/bin/env bash
# The main job: install what is missing, build tok, and generate text with
# the built-in model (a seeded 6-layer Llama, byte vocabulary): tok-run
# generate imports it into tok IR, lowers it with tok-to-llvm, JIT-compiles
# it and streams the continuation of the prompt, then prints prefill and
# decode speed, KV-cache bytes and the cost of a decode step. Extra
# arguments go to tok-run generate, e.g.
#   ./scripts/demo.sh --model ../shared/models/pyllama-4m --prompt "import os"
#   ./scripts/demo.sh --temperature 0.8 --top-k 40 --seed 7
# See README.md and `build/bin/tok-run generate --help`.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

tok_install_deps
tok_build tok-run

tok_log "tok-run generate ${*:---model builtin}"
"$TOK_BUILD_DIR/bin/tok-run" generate --max-new-tokens 64 "$@"
