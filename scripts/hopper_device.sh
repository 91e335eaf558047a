#!/usr/bin/env bash
# The Hopper example on the GPU machine: correctness tests, compute-sanitizer (memcheck, racecheck,
# synccheck) on one small call, then benchmarks/gemm.py beside torch.matmul (bf16 C, then f32 C).
#   bash scripts/hopper_device.sh    (logs under $OUT, else /tmp/hopper-device)
set -uo pipefail
cd "$(dirname "$0")/.."
LOGS=${OUT:-/tmp/hopper-device}
mkdir -p "$LOGS"
export PATH="/usr/local/cuda/bin:$PATH" PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export TILEGEN_CACHE_DIR=${TILEGEN_CACHE_DIR:-/tmp/hopper-device-cache}
SIZES="4096 8192 16384x4096x14336"
# Build both C dtypes once, in parallel (the cache serves the rest).
python3 - <<'PY' 2>&1 | tee "$LOGS/build.log"
from concurrent.futures import ThreadPoolExecutor
from tilegen.schedule import load_schedule
from tilegen.compiler import compile
def build(c):
    fn = compile(load_schedule("examples/hopper_tma_wgmma.py", [f"c_dtype={c}"], "sm_90a"), "sm_90a")
    return f"built {c}: {fn!r}"
with ThreadPoolExecutor(2) as pool:
    print("\n".join(pool.map(build, ["bf16", "f32"])))
PY
timeout 200 python3 -m pytest -q -x -p no:cacheprovider tests/test_gpu_correctness.py -k hopper_tma_wgmma 2>&1 | tail -n 15 | tee "$LOGS/correctness.log"
cat >/tmp/hopper_one_call.py <<'PY'
import sys, torch
from tilegen.callable import reference_gemm, relative_error
from tilegen.bench import gemm_operands
from tilegen.schedule import load_schedule
from tilegen.compiler import compile
kernel = load_schedule("examples/hopper_tma_wgmma.py", [f"c_dtype={sys.argv[1]}"], "sm_90a")
fn = compile(kernel, "sm_90a")
for (m, n, k), beta in (((256, 512, 192), 0.0), ((300, 520, 100), 0.5), ((512, 768, 320), 0.0)):
    a, b, c = gemm_operands(kernel, m, n, k, device="cuda", seed=0)
    expected = reference_gemm(kernel.globals.b_layout, a, b, c, beta=beta)
    out = fn(a, b, c, beta=beta)  # beta 0: the TMA-store epilogue; else direct stores
    torch.cuda.synchronize()
    print(f"{m}x{n}x{k} beta {beta}: relative error {relative_error(out, expected):.2e}")
PY
for tool in memcheck racecheck synccheck; do
    timeout 120 compute-sanitizer --tool $tool python3 /tmp/hopper_one_call.py bf16 >"$LOGS/sanitizer_$tool.log" 2>&1
    echo "$tool rc $?: $(grep -E 'SUMMARY|relative error' "$LOGS/sanitizer_$tool.log" | tr '\n' ' ')"
done
for c in bf16 f32; do
    timeout 150 python3 benchmarks/gemm.py --examples hopper_tma_wgmma --c-dtype $c --sizes $SIZES \
        --json "$LOGS/bench_$c.json" 2>&1 | tee "$LOGS/bench_$c.md"
done
