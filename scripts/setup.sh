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
# The AMD truth: ROCm where installed; otherwise tilegen's compile toolchain (clang-22, HIP 6.4
# headers, ROCm 7.0 device libraries, from Debian packages; docs/amd.md), which ../shared sets up
# beside a CI clone. tilegen finds it without `source env.sh`.
amd_setup=../shared/toolchains/amd/setup.sh
if [ ! -x /opt/rocm/bin/hipcc ] && [ -z "${ROCM_PATH:-}" ] && [ -f "$amd_setup" ] && [ "$(id -u)" = 0 ]; then
    bash "$amd_setup"
fi
if ! command -v hipcc >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    # Debian's HIP 5.2 hipcc: the older-compiler check of the AMD runtime (and it links the
    # loadable modules tilegen.compile builds on a machine without ROCm). Not the AMD truth.
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hipcc >/dev/null) \
        || echo "warning: could not install hipcc; the older-compiler AMD checks will be skipped" >&2
fi
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    # Headless Chromium: tests/test_show.py loads `tilegen show`'s HTML in a real browser.
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
        || echo "warning: could not install chromium; the browser tests of tilegen show will be skipped" >&2
fi
