#!/usr/bin/env bash
# One command for the GPU machine (made for an H100; finishes in about 9 minutes at most):
#   bash scripts/device_check.sh
# (a) installs the carried wheels (.whl/) if pydantic or another dependency is missing,
# (b) runs every test marked gpu or nvcc (tests/test_gpu_correctness.py in the foreground, the
#     rest alongside it),
# (c) runs compute-sanitizer memcheck and racecheck on one small call of each example,
# (d) measures a cold compile (empty cache) and a warm load (a new process loading from the cache),
# (e) runs benchmarks/gemm.py against torch.matmul (alone on the GPU),
# then prints a summary. Logs go to $OUT when it is set (else /tmp/tilegen-device-check).
# TILEGEN_CHECK_BUDGET_S (default 520) bounds the whole run; each step gets what is left.
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
START=$(date +%s)
DEADLINE=$((START + ${TILEGEN_CHECK_BUDGET_S:-520}))
LOGS=${OUT:-/tmp/tilegen-device-check}
mkdir -p "$LOGS"
WORK=$(mktemp -d /tmp/tilegen-check.XXXXXX)
export PATH="/usr/local/cuda/bin:$PATH"
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
export TILEGEN_CACHE_DIR="$WORK/cache"
export PYTHONDONTWRITEBYTECODE=1
SUMMARY=()

say() { printf '[%4ds] %s\n' "$(($(date +%s) - START))" "$*"; }
record() { SUMMARY+=("| $1 | $2 | $3 |"); }
# Seconds a step may take: at most $1, and never past the deadline minus $2 (kept for later steps).
allow() {
    local left=$((DEADLINE - $(date +%s) - $2))
    [ "$left" -lt "$1" ] && echo $((left > 10 ? left : 10)) || echo "$1"
}
# The pytest outcome line of log $1 (run with exit status $2).
pytest_line() {
    [ "$2" = 124 ] && echo "timed out; last output: $(tail -n 1 "$1" | cut -c1-120)" && return
    grep -E '[0-9]+ (passed|failed|error|skipped)' "$1" | tail -n 1 | tr -d '='
}
status_of() { [ "$1" = 0 ] && echo ok || echo "FAIL (rc $1)"; }

# ---------------------------------------------------------------------------------------------
# (a) dependencies
# ---------------------------------------------------------------------------------------------
missing=$(python3 -c "
import importlib.util
print(' '.join(m for m in ('pydantic', 'jinja2', 'hypothesis', 'pybind11', 'pytest') if importlib.util.find_spec(m) is None))
")
if [ -n "$missing" ]; then
    if compgen -G ".whl/*.whl" >/dev/null; then
        say "missing: $missing; installing the carried wheels into /tmp/site"
        python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl >"$LOGS/pip.log" 2>&1
        export PYTHONPATH="$PYTHONPATH:/tmp/site"
    fi
    still=$(python3 -c "
import importlib.util
print(' '.join(m for m in '$missing'.split() if importlib.util.find_spec(m) is None))
")
    if [ -n "$still" ]; then record "setup" "FAIL" "still missing: $still (see pip.log)"; else record "setup" "ok" "installed wheels for: $missing"; fi
else
    record "setup" "ok" "all Python dependencies present"
fi
{
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "nvidia-smi: n/a"
    nvcc --version 2>/dev/null | tail -n 2
    python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'gpu', torch.cuda.is_available())"
} | tee "$LOGS/environment.txt"
if ! python3 -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    echo "torch sees no GPU here: this script is for the GPU machine (tests/test_*.py cover the rest)" >&2
    exit 1
fi

# ---------------------------------------------------------------------------------------------
# (d) cold compile in an empty cache, then warm loads in new processes
# ---------------------------------------------------------------------------------------------
cat >"$WORK/compile_time.py" <<'EOF'
"""Time tilegen.compile() of one example; count the processes it starts (0 = no compiler ran)."""
import subprocess
import sys
import time

spawned = []
_popen_init = subprocess.Popen.__init__


def counting(self, args, *rest, **kwargs):
    spawned.append(args)
    _popen_init(self, args, *rest, **kwargs)


subprocess.Popen.__init__ = counting
import torch  # noqa: E402  (imported before the clock starts: it is not tilegen's cost)

from tilegen.cli import load_schedule  # noqa: E402
from tilegen.compiler import compile, detect_target  # noqa: E402

target = detect_target()
kernel = load_schedule(sys.argv[1], [], target)
spawned.clear()
start = time.perf_counter()
fn = compile(kernel, target)
elapsed = time.perf_counter() - start
print(f"{kernel.name} {target} {1e3 * elapsed:.1f} ms, {len(spawned)} processes started; {fn!r}")
EOF
EXAMPLE=examples/k01_baseline_4wave.py
say "(d) cold compile of $EXAMPLE into an empty cache"
if timeout "$(allow 180 400)" python3 "$WORK/compile_time.py" "$EXAMPLE" >"$LOGS/compile_cold.log" 2>&1; then
    cold=$(grep -oE '[0-9.]+ ms, [0-9]+ processes' "$LOGS/compile_cold.log" | head -n 1)
    record "cold compile ($EXAMPLE)" "ok" "$cold"
    warm_runs=()
    for _ in 1 2 3; do
        python3 "$WORK/compile_time.py" "$EXAMPLE" >>"$LOGS/compile_warm.log" 2>&1
        warm_runs+=("$(tail -n 1 "$LOGS/compile_warm.log" | grep -oE '[0-9.]+ ms, [0-9]+ processes')")
    done
    best=$(printf '%s\n' "${warm_runs[@]}" | sort -n | head -n 1)
    verdict=$(printf '%s\n' "${warm_runs[@]}" | awk '{ if ($1 >= 100 || $3 != 0) bad = 1 } END { print bad ? "SLOW" : "ok" }')
    record "warm load, new process" "$verdict" "3 runs: $(IFS=';'; echo "${warm_runs[*]}") (goal < 100 ms, 0 processes)"
else
    record "cold compile ($EXAMPLE)" "FAIL" "see compile_cold.log: $(tail -n 3 "$LOGS/compile_cold.log" | tr '\n' ' ' | cut -c1-200)"
fi

# ---------------------------------------------------------------------------------------------
# (b) tests marked gpu or nvcc: ours in the foreground, everyone else's alongside
# ---------------------------------------------------------------------------------------------
say "(b) other gpu/nvcc tests in the background"
timeout "$(allow 420 150)" python3 -m pytest -m "gpu or nvcc" -q -rfEs -p no:cacheprovider tests \
    --ignore=tests/test_gpu_correctness.py >"$LOGS/pytest_other.log" 2>&1 &
OTHER_PID=$!
say "(b) tests/test_gpu_correctness.py"
TILEGEN_GPU_REPORT="$LOGS/gpu_correctness.md" timeout "$(allow 300 230)" \
    python3 -m pytest -m "gpu or nvcc" -q -rfEs -p no:cacheprovider tests/test_gpu_correctness.py \
    >"$LOGS/pytest_gpu_correctness.log" 2>&1
rc=$?
record "pytest tests/test_gpu_correctness.py" "$(status_of $rc)" "$(pytest_line "$LOGS/pytest_gpu_correctness.log" $rc)"

# ---------------------------------------------------------------------------------------------
# (c) compute-sanitizer on one small call per example (kernels come from the warm cache)
# ---------------------------------------------------------------------------------------------
SANITIZER=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null)
cat >"$WORK/one_call.py" <<'EOF'
"""One small call of an example (2 x 2 output tiles, 3 K steps, beta != 0) checked against float64."""
import sys

import torch

from ir.diagnostics import ScheduleError
from tilegen.callable import reference_gemm, relative_error
from tilegen.cli import TOLERANCE, gemm_operands, load_schedule
from tilegen.compiler import compile, detect_target

target = detect_target()
kernel = load_schedule(sys.argv[1], [], target)
try:
    fn = compile(kernel, target)
except ScheduleError:
    print(f"{kernel.name}: not valid for {target}")
    sys.exit(4)
launch = kernel.launch
m, n, k = 2 * launch.block_m, 2 * launch.block_n, 3 * launch.k_step
a, b, c = gemm_operands(kernel, m, n, k, device="cuda", seed=0)
expected = reference_gemm(kernel.globals.b_layout, a, b, c, beta=0.5)
out = fn(a, b, c, beta=0.5)
torch.cuda.synchronize()
error = relative_error(out, expected)
print(f"{kernel.name} {m}x{n}x{k}: relative error {error:.2e}")
sys.exit(0 if error < TOLERANCE[kernel.globals.c_dtype] else 3)
EOF
if [ -n "$SANITIZER" ]; then
    say "(c) compute-sanitizer memcheck + racecheck, one call per example"
    # Every kernel of the process is checked (torch's too): a kernel-name filter that matched
    # nothing would report a clean run.
    printf '%s\n' '#!/usr/bin/env bash' \
        'tool=$1; stem=$2' \
        "timeout $(allow 200 130) \"$SANITIZER\" --tool \"\$tool\" python3 \"$WORK/one_call.py\" \"examples/\$stem.py\" \\" \
        "    >\"$LOGS/sanitizer_\${tool}_\${stem}.log\" 2>&1" \
        "echo \"\$tool \$stem \$?\" >>\"$WORK/sanitizer_rc.txt\"" >"$WORK/sanitize_one.sh"
    for example in examples/*.py; do
        for tool in memcheck racecheck; do echo "$tool $(basename "$example" .py)"; done
    done | xargs -P 16 -L 1 bash "$WORK/sanitize_one.sh"  # all at once: one deadline for the step
    while read -r tool stem rc; do
        log="$LOGS/sanitizer_${tool}_${stem}.log"
        if [ "$tool" = racecheck ]; then
            # "RACECHECK SUMMARY: 0 hazards displayed (0 errors, 0 warnings)"
            errors=$(grep -E 'RACECHECK SUMMARY' "$log" | grep -oE '\([0-9]+ error' | grep -oE '[0-9]+' | tail -n 1)
            warnings=$(grep -E 'RACECHECK SUMMARY' "$log" | grep -oE '[0-9]+ warning' | grep -oE '[0-9]+' | tail -n 1)
        else
            errors=$(grep -oE 'ERROR SUMMARY: [0-9]+ error' "$log" | grep -oE '[0-9]+' | tail -n 1)
            warnings=""
        fi
        result=$(grep -E 'relative error|not valid' "$log" | tail -n 1)
        detail="errors ${errors:-?}${warnings:+, warnings $warnings}; ${result:-no result line: see $(basename "$log")}"
        if [ "$rc" = 4 ]; then
            status="n/a"
        elif [ "$rc" = 0 ] && [ "${errors:-x}" = 0 ]; then
            status="ok"
        else
            status="FAIL (rc $rc)"
        fi
        record "$tool $stem" "$status" "$detail"
    done < <(sort "$WORK/sanitizer_rc.txt")
else
    record "compute-sanitizer" "SKIPPED" "not found on PATH or in /usr/local/cuda/bin"
fi

# ---------------------------------------------------------------------------------------------
# the background tests must end before the benchmark has the GPU to itself
# ---------------------------------------------------------------------------------------------
say "waiting for the other gpu/nvcc tests"
wait "$OTHER_PID"
rc=$?
record "pytest -m 'gpu or nvcc' (all other tests)" "$(status_of $rc)" "$(pytest_line "$LOGS/pytest_other.log" $rc)"

# build seconds of every kernel the run compiled, from the cache manifests
python3 - >"$LOGS/build_times.txt" <<'EOF'
from tilegen import cache

for path, entry, why in cache.list_entries(cache.cache_root()):
    if entry is not None:
        m = entry.manifest
        print(f"{m.get('kernel')} {m.get('target')}: {m['build'].get('seconds')} s, {entry.size_bytes / 1e6:.1f} MB")
EOF

# ---------------------------------------------------------------------------------------------
# (e) benchmark
# ---------------------------------------------------------------------------------------------
say "(e) benchmarks/gemm.py"
timeout "$(allow 150 5)" python3 benchmarks/gemm.py --json "$LOGS/bench.json" >"$LOGS/bench.md" 2>"$LOGS/bench.log"
rc=$?
record "benchmarks/gemm.py" "$(status_of $rc)" "table below; raw numbers in bench.json"

# ---------------------------------------------------------------------------------------------
# summary
# ---------------------------------------------------------------------------------------------
{
    echo
    echo "## tilegen device check ($(date '+%Y-%m-%d %H:%M %Z'), $(($(date +%s) - START)) s)"
    echo
    cat "$LOGS/environment.txt"
    echo
    echo "| step | status | detail |"
    echo "| --- | --- | --- |"
    printf '%s\n' "${SUMMARY[@]}"
    echo
    echo "### kernel builds (cold nvcc seconds)"
    cat "$LOGS/build_times.txt"
    if [ -f "$LOGS/gpu_correctness.md" ]; then
        echo
        echo "### correctness (rel. error vs float64; FAIL rows only, all rows in gpu_correctness.md)"
        grep -c '| ok |' "$LOGS/gpu_correctness.md" | sed 's/^/ok rows: /'
        grep 'FAIL' "$LOGS/gpu_correctness.md" || echo "no failing rows"
        grep -E '^(FAILED|ERROR|SKIPPED)' "$LOGS/pytest_gpu_correctness.log" | cut -c1-300 | head -n 20
    fi
    echo
    echo "### other gpu/nvcc tests: failures"
    grep -E '^(FAILED|ERROR)' "$LOGS/pytest_other.log" | cut -c1-300 | head -n 20 || true
    echo
    echo "### benchmark"
    cat "$LOGS/bench.md"
    tail -n 5 "$LOGS/bench.log"
    echo
    echo "logs: $LOGS"
} | tee "$LOGS/summary.md"
rm -rf "$WORK"
grep -q 'FAIL' <(printf '%s\n' "${SUMMARY[@]}") && exit 1 || exit 0
