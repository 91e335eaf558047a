#!/usr/bin/env bash
# The test command: set up, lint, run every test this machine can run (GPU tests skip with a reason).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
python3 -m ruff check .
python3 -m pytest -q "$@"
