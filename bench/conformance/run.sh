#!/bin/sh
# Regenerates the transformers conformance fixtures
# (test/Integration/Inputs/hf): torch, transformers and safetensors go into
# bench/.venv-hf on first use (PyPI's torch wheel brings CUDA libraries,
# several GB, once); then make_fixtures.py writes the checkpoints and
# transformers' references. Not part of the test command.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
venv="$here/../.venv-hf"
if ! "$venv/bin/python" -c "import torch, transformers, safetensors" 2>/dev/null; then
  echo "installing torch and transformers into $venv (once) ..."
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q numpy torch transformers tokenizers safetensors
fi
exec "$venv/bin/python" "$here/make_fixtures.py" "$@"
