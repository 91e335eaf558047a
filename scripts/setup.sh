#!/usr/bin/env bash
# Installs everything tilegen and its tests need on a fresh Debian machine with no GPU.
# On a GPU machine, install your CUDA or ROCm build of torch first; this script keeps it.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! python3 -c "import torch" 2>/dev/null; then
    # The CPU build; never let pip resolve plain `torch` here (it would pull several GB of CUDA).
    python3 -m pip install -q torch==2.13.0
fi
python3 -m pip install -q -e '.[test]'
if ! command -v hipcc >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    # Debian's HIP 5.2 toolchain: compiles real gfx940/gfx90a code for the AMD compile checks.
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hipcc >/dev/null) \
        || echo "warning: could not install hipcc; AMD compile tests will be skipped" >&2
fi
