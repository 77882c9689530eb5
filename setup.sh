#!/usr/bin/env bash
# Set up archgraph from nothing: a virtual environment in .venv with archgraph and its test tools.
# torch 2.14.1 + torchvision 0.29.1 are the matched pair timm needs (on these machines pip takes
# them from local disk; elsewhere they come from PyPI). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check "torch==2.14.1" "torchvision==0.29.1"
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[test]"
# Graphviz's `dot` lays out `archgraph graph --format svg`; without it archgraph uses its own renderer.
if ! command -v dot >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz >/dev/null) \
        || echo "note: graphviz not installed; archgraph graph --format svg falls back to its own renderer"
fi
.venv/bin/python -c "import archgraph, torch, timm; print('archgraph', archgraph.__version__, '| torch', torch.__version__, '| timm', timm.__version__)"
