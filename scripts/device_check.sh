#!/usr/bin/env bash
# The GPU machine's check, in three phases that each fit one 10-minute device call:
#   bash scripts/device_check.sh correct   # launcher smoke test and build times, every `gpu` test,
#                                          # accepted mutants against torch
#   bash scripts/device_check.sh sanitize  # compute-sanitizer memcheck, racecheck, synccheck
#   bash scripts/device_check.sh speed     # benchmarks/gemm.py beside torch.matmul, tilegen tune
# Logs and a summary go to $OUT when it is set (else /tmp/tilegen-device-check). Each step has its
# own time limit, so a slow step is reported as timed out and the rest still runs.
set -uo pipefail
cd "$(dirname "$0")/.."
PHASE=${1:?usage: device_check.sh correct|sanitize|speed}
LOGS=${OUT:-/tmp/tilegen-device-check}
mkdir -p "$LOGS"
export PATH="/usr/local/cuda/bin:$PATH" PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export TILEGEN_CACHE_DIR=${TILEGEN_CACHE_DIR:-/tmp/tilegen-device-cache}
START=$(date +%s)
say() { printf '[%s %4ds] %s\n' "$PHASE" "$(($(date +%s) - START))" "$*" | tee -a "$LOGS/summary_$PHASE.txt"; }

# pydantic (and anything else missing) from the carried wheels in .whl/
if ! python3 -c "import pydantic, jinja2, pybind11, hypothesis, pytest" 2>/dev/null && compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl >"$LOGS/pip.log" 2>&1
    export PYTHONPATH="$PYTHONPATH:/tmp/site"
fi
say "$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -n 1);" \
    "$(python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)')"

if [ "$PHASE" = correct ]; then
    say "build times and the launcher smoke test (scripts/build_times.py)"
    timeout 150 python3 scripts/build_times.py --jobs 12 >"$LOGS/build_times.txt" 2>&1
    rc=$?
    say "build_times exit $rc: $(grep -cE '\bok\b' "$LOGS/build_times.txt") ok lines$(grep -q 'LAUNCHER CHECK FAILED' "$LOGS/build_times.txt" && echo '; LAUNCHER CHECK FAILED: using TILEGEN_BUILD=module')"
    grep -q 'LAUNCHER CHECK FAILED' "$LOGS/build_times.txt" && export TILEGEN_BUILD=module

    say "accepted mutants against torch, in the background (scripts/gpu_mutants.py)"
    timeout 330 python3 scripts/gpu_mutants.py --count 120 --budget 150 >"$LOGS/mutants.txt" 2>&1 &
    MUTANTS=$!

    say "every gpu test (pytest -m gpu)"
    TILEGEN_GPU_REPORT="$LOGS/gpu_correctness.md" timeout 330 python3 -m pytest -m gpu -q -rfE -p no:cacheprovider tests \
        >"$LOGS/pytest_gpu.txt" 2>&1
    rc=$?
    say "pytest -m gpu exit $rc: $(grep -E '[0-9]+ (passed|failed)' "$LOGS/pytest_gpu.txt" | tail -n 1)"
    grep -E '^(FAILED|ERROR)' "$LOGS/pytest_gpu.txt" | head -n 20 | tee -a "$LOGS/summary_$PHASE.txt"

    wait "$MUTANTS"
    say "gpu_mutants exit $?: $(grep -E 'drawn|ran on the GPU' "$LOGS/mutants.txt" | tr '\n' ' ')"

elif [ "$PHASE" = speed ]; then
    say "benchmarks/gemm.py: the Hopper example, bf16 and f32 C, three sizes"
    for c in bf16 f32; do
        timeout 100 python3 benchmarks/gemm.py --examples hopper_tma_wgmma --c-dtype $c \
            --sizes 4096 8192 16384x4096x14336 --json "$LOGS/bench_hopper_$c.json" >"$LOGS/bench_hopper_$c.md" 2>"$LOGS/bench_hopper_$c.log"
        say "hopper $c exit $?"
    done
    say "benchmarks/gemm.py: every other example, bf16 C, 4096^3 and 8192^3"
    others=$(ls examples/*.py | xargs -n 1 basename | sed 's/\.py$//' | grep -v hopper_tma_wgmma | tr '\n' ' ')
    # shellcheck disable=SC2086
    timeout 120 python3 benchmarks/gemm.py --examples $others --c-dtype bf16 --sizes 4096 8192 \
        --json "$LOGS/bench_others.json" >"$LOGS/bench_others.md" 2>"$LOGS/bench_others.log"
    say "others exit $?"
    say "tilegen tune of the Hopper example over 30 configurations at 4096^3 and 8192^3"
    timeout 280 python3 -m tilegen tune examples/hopper_tma_wgmma.py --param block_n=128,256 --param stages=2,3,4,5,6 \
        --param super_m=4,8,16 --size 4096 --size 8192 --jobs 16 --json "$LOGS/tune.json" \
        >"$LOGS/tune.txt" 2>"$LOGS/tune_progress.txt"
    say "tune exit $?"
    cat "$LOGS"/bench_hopper_*.md "$LOGS/bench_others.md" "$LOGS/tune.txt" >>"$LOGS/summary_$PHASE.txt"
elif [ "$PHASE" = sanitize ]; then
    say "compute-sanitizer memcheck, racecheck, synccheck on two small calls of every example (sm_90a)"
    cat >/tmp/tg_one_call.py <<'EOF'
import sys
import torch
from tilegen.bench import TOLERANCE, gemm_operands
from tilegen.callable import reference_gemm, relative_error
from tilegen.compiler import compile
from tilegen.schedule import load_schedule
kernel = load_schedule(sys.argv[1], [], "sm_90a")
fn = compile(kernel, "sm_90a")
launch, worst = kernel.launch, 0.0
# 2 x 2 and 4 x 3 output tiles; beta 0 and 0.5 (the Hopper example's TMA-store and direct epilogues)
for (m, n, k), beta in (((2 * launch.block_m, 2 * launch.block_n, 3 * launch.k_step), 0.0),
                        ((4 * launch.block_m, 3 * launch.block_n, 5 * launch.k_step), 0.5)):
    a, b, c = gemm_operands(kernel, m, n, k, device="cuda", seed=0)
    expected = reference_gemm(kernel.globals.b_layout, a, b, c, beta=beta)  # before the call writes c
    out = fn(a, b, c, beta=beta)
    torch.cuda.synchronize()
    worst = max(worst, relative_error(out, expected))
print(f"{kernel.name}: worst relative error {worst:.2e}")
sys.exit(0 if worst < TOLERANCE[kernel.globals.c_dtype] else 3)
EOF
    # every example x tool, six at a time (a sanitizer run is mostly CPU)
    printf '%s\n' '#!/usr/bin/env bash' \
        'log="$3/sanitizer_$1_$2.log"' \
        'timeout 150 compute-sanitizer --tool "$1" python3 /tmp/tg_one_call.py "examples/$2.py" >"$log" 2>&1' \
        'echo "$1 $2 exit $?: $(grep -E "ERROR SUMMARY|RACECHECK SUMMARY|worst relative|not valid" "$log" | tr "\n" " ")"' \
        >/tmp/tg_sanitize_one.sh
    for example in examples/*.py; do
        for tool in memcheck racecheck synccheck; do echo "$tool $(basename "$example" .py) $LOGS"; done
    done | xargs -P 6 -L 1 bash /tmp/tg_sanitize_one.sh | sort | tee -a "$LOGS/summary_$PHASE.txt"
else
    echo "usage: device_check.sh correct|speed|sanitize" >&2
    exit 2
fi
say "done"
cat "$LOGS/summary_$PHASE.txt"
