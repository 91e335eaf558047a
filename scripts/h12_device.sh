#!/usr/bin/env bash
# h12's GPU run (build speed, the launcher, tuning), from the repo root on the H200, ~3-4 minutes:
#   PYTHONPATH=$PWD bash scripts/h12_device.sh
# (1) scripts/build_times.py: the launcher, cold / warm compile() times, every example cold in
#     parallel, and k01 + the Hopper examples through the launcher against float64;
# (2) tests/test_tune.py (its gpu test: tune, dispatch, correctness) and tests/test_launch.py;
# (3) `tilegen tune` of the fastest example over 30 configurations at 4096^3 and 8192^3 (under 5 min),
#     the ranked table with the default marked and the best's speed-up over it.
# Logs and the table (tune.json) go to $OUT (else /tmp/h12-device).
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PATH="/usr/local/cuda/bin:$PATH"
LOGS=${OUT:-/tmp/h12-device}
mkdir -p "$LOGS"
export TILEGEN_CACHE_DIR=$(mktemp -d /tmp/h12-cache.XXXXXX)
if ! python3 -c "import pydantic, jinja2, pybind11, pytest" 2>/dev/null && compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl >"$LOGS/pip.log" 2>&1
    export PYTHONPATH="$PYTHONPATH:/tmp/site"
fi
START=$(date +%s)
say() { printf '[h12 %4ds] %s\n' "$(($(date +%s) - START))" "$*"; }

say "build times (limit 240 s)"
timeout 240 python3 scripts/build_times.py --jobs 8 2>&1 | grep -v '^compiling' | tee "$LOGS/build_times.txt"
BT=${PIPESTATUS[0]}
say "build_times.py exit $BT"

say "tests/test_tune.py + tests/test_launch.py (limit 240 s)"
timeout 240 python3 -m pytest -q -p no:cacheprovider tests/test_tune.py tests/test_launch.py >"$LOGS/tests.txt" 2>&1
TS=$?
tail -n 3 "$LOGS/tests.txt"

say "tilegen tune (limit 300 s)"
timeout 300 python3 -m tilegen tune examples/hopper_tma_wgmma.py --param block_n=128,256 --param stages=2,3,4,5,6 \
    --param super_m=4,8,16 --size 4096 --size 8192 --jobs 16 --json "$LOGS/tune.json" 2>"$LOGS/tune_progress.txt" \
    | tee "$LOGS/tune.txt"
TU=${PIPESTATUS[0]}
grep '^\[tune\]' "$LOGS/tune_progress.txt" | grep -v 'built [0-9]* of' | tail -n 8
say "summary: build_times exit $BT, tests exit $TS, tune exit $TU ($(($(date +%s) - START)) s)"
