#!/usr/bin/env bash
# The main job: install what is missing, build tok, and generate text with
# the default model, models/pystdlib (a 3M-parameter Llama with a byte
# vocabulary trained on the Python standard library by
# bench/default_model/train.py): tok-run generate imports it into tok IR,
# lowers it with tok-to-llvm, JIT-compiles it and streams the continuation
# of the prompt ("def fibonacci(n):" unless --prompt; 200 bytes, greedy),
# then prints prefill and decode speed, KV-cache bytes and the cost of a
# decode step. Extra arguments go to tok-run generate (the later of two
# equal options wins); a --model of yours replaces the default, e.g.
#   ./scripts/demo.sh --prompt "import os" --max-new-tokens 100
#   ./scripts/demo.sh --temperature 0.8 --top-k 40 --seed 7
#   ./scripts/demo.sh --model builtin   # tok-run's own seeded random model
# See README.md and `build/bin/tok-run generate --help`.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

tok_install_deps
tok_build tok-run

args=(--max-new-tokens 200 --model "$TOK_ROOT/models/pystdlib")
for arg in "$@"; do
  case "$arg" in
    --model | --model=* | -model | -model=*) args=(--max-new-tokens 200) ;;
  esac
done
args+=("$@")

tok_log "tok-run generate ${args[*]}"
"$TOK_BUILD_DIR/bin/tok-run" generate "${args[@]}"
