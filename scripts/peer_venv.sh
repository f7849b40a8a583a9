#!/usr/bin/env bash
# Makes .venv-peer, the PyTorch + PEFT peer of the comparison scripts, from
# scripts/requirements-peer.txt (a few GB: PyPI's torch wheel is the CUDA build); remade when that
# file changes, otherwise a no-op. Not needed to build, test or run ttl-train.
set -euo pipefail
cd "$(dirname "$0")/.."
peer=.venv-peer
if [ ! -x "$peer/bin/python" ] || ! cmp -s scripts/requirements-peer.txt "$peer/requirements.installed"; then
  echo "peer_venv: creating $peer from scripts/requirements-peer.txt (torch, transformers, peft)" >&2
  rm -rf "$peer"
  python3 -m venv "$peer"
  "$peer/bin/pip" install --quiet --disable-pip-version-check -r scripts/requirements-peer.txt
  cp scripts/requirements-peer.txt "$peer/requirements.installed"
fi
