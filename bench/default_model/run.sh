#!/bin/sh
# Retrains tok's default demo model, models/pystdlib (about 35 minutes on
# one CPU thread): torch, transformers and safetensors go into
# bench/.venv-hf on first use (as bench/conformance/run.sh does; PyPI's
# torch wheel brings CUDA libraries, several GB, once); then train.py reads
# /usr/lib/python3.11, trains and writes the checkpoint, its README.md and
# train.log. Arguments go to train.py (an output directory, --steps N).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
venv="$here/../.venv-hf"
if ! "$venv/bin/python" -c "import torch, transformers, safetensors" 2>/dev/null; then
  echo "installing torch and transformers into $venv (once) ..."
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q numpy torch transformers safetensors
fi
exec "$venv/bin/python" "$here/train.py" "$@"
