#!/usr/bin/env bash
# The main job on a machine with no GPU: install, then validate, simulate and emit an example.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
example=${1:-examples/k01_baseline_4wave.py}
python3 -m tilegen check "$example"
mkdir -p build
out="build/$(basename "$example" .py).gfx942.cpp"
python3 -m tilegen emit "$example" --target gfx942 -o "$out"
echo "emitted HIP source: $out"
