"""Builds tests/nvidia_kernels/gemm_hopper.cu in several variants and checks / times each against
torch.matmul on the local GPU (the hand-written twin of what tilegen emits for Hopper).

    python3 scripts/hopper_probe.py [--variants kn_bf16_p1 nk_bf16_p1 ...] [--sizes 4096 8192 ...]

Each variant runs in its own process with a timeout, so a hang (a barrier never completing)
is reported as such and the others still run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import sysconfig
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SOURCE = ROOT / "tests/nvidia_kernels/gemm_hopper.cu"
EXT = sysconfig.get_config_var("EXT_SUFFIX") or ".so"

VARIANTS = {  # name -> -D flags
    "kn_bf16_p1": ["-DTG_B_NK=0", "-DTG_C_BF16=1", "-DTG_WGMMA_PENDING=1"],
    "kn_bf16_p0": ["-DTG_B_NK=0", "-DTG_C_BF16=1", "-DTG_WGMMA_PENDING=0"],
    "nk_bf16_p1": ["-DTG_B_NK=1", "-DTG_C_BF16=1", "-DTG_WGMMA_PENDING=1"],
    "kn_f32_p1": ["-DTG_B_NK=0", "-DTG_C_BF16=0", "-DTG_WGMMA_PENDING=1"],
    "nk_f32_p0": ["-DTG_B_NK=1", "-DTG_C_BF16=0", "-DTG_WGMMA_PENDING=0"],
    "kn_bf16_p1_s3": ["-DTG_B_NK=0", "-DTG_C_BF16=1", "-DTG_WGMMA_PENDING=1", "-DTG_STAGES=3"],
    "kn_bf16_p0_g16": ["-DTG_B_NK=0", "-DTG_C_BF16=1", "-DTG_WGMMA_PENDING=0", "-DTG_GROUP_M=16"],
    "kn_bf16_p0_g4": ["-DTG_B_NK=0", "-DTG_C_BF16=1", "-DTG_WGMMA_PENDING=0", "-DTG_GROUP_M=4"],
    "kn_bf16_p0_g16_tmastore": ["-DTG_B_NK=0", "-DTG_C_BF16=1", "-DTG_WGMMA_PENDING=0", "-DTG_GROUP_M=16",
                                "-DTG_TMA_STORE=1"],
    "kn_bf16_p0_tmastore": ["-DTG_B_NK=0", "-DTG_C_BF16=1", "-DTG_WGMMA_PENDING=0", "-DTG_TMA_STORE=1"],
    "nk_f32_p0_tmastore": ["-DTG_B_NK=1", "-DTG_C_BF16=0", "-DTG_WGMMA_PENDING=0", "-DTG_TMA_STORE=1"],
    # where the time goes (results wrong on purpose; the checks say BAD)
    "kn_bf16_p0_nostore": ["-DTG_B_NK=0", "-DTG_C_BF16=1", "-DTG_WGMMA_PENDING=0", "-DTG_SKIP_STORE=1"],
    "kn_bf16_p0_nomma": ["-DTG_B_NK=0", "-DTG_C_BF16=1", "-DTG_WGMMA_PENDING=0", "-DTG_SKIP_MMA=1"],
}

CHILD = r"""
import importlib.util, json, statistics, sys, torch
sys.path.insert(0, ROOT)
from tilegen.cli import time_gpu, rotating_sets
spec = importlib.util.spec_from_file_location(NAME, PATH)
mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
nk, bf16c = NK, BF16C
cdt = torch.bfloat16 if bf16c else torch.float32
def operands(m, n, k, seed=0):
    g = torch.Generator(device="cuda"); g.manual_seed(seed)
    a = torch.randn((m, k), generator=g, device="cuda").to(torch.bfloat16)
    b = torch.randn((n, k) if nk else (k, n), generator=g, device="cuda").to(torch.bfloat16)
    c = torch.randn((m, n), generator=g, device="cuda").to(cdt)
    return a, b, c
def ref(a, b, c, alpha, beta):
    bb = b.double().t() if nk else b.double()
    return alpha * (a.double() @ bb) + beta * c.double()
out = {"checks": [], "times": []}
for (m, n, k, alpha, beta) in CHECKS:
    a, b, c = operands(m, n, k, seed=m + n + k)
    expected = ref(a, b, c, alpha, beta)
    mod.dispatch(a, b, c, alpha, beta, torch.cuda.current_stream().cuda_stream)
    torch.cuda.synchronize()
    err = float(torch.linalg.vector_norm(c.double() - expected) / torch.linalg.vector_norm(expected))
    out["checks"].append([m, n, k, alpha, beta, err])
for (m, n, k) in SIZES:
    sets = rotating_sets((m * k + k * n) * 2 + m * n * (2 if bf16c else 4))
    inputs = [operands(m, n, k, seed=i) for i in range(sets)]
    touts = [torch.empty((m, n), dtype=torch.bfloat16, device="cuda") for _ in range(sets)]
    s = torch.cuda.current_stream().cuda_stream
    def run_k(i):
        a, b, c = inputs[i]; mod.dispatch(a, b, c, 1.0, 0.0, s)
    def run_t(i):
        a, b, _ = inputs[i]; torch.matmul(a, b.t() if nk else b, out=touts[i])
    ms = statistics.median(time_gpu(run_k, sets=sets, warmup=10, repeats=30))
    tms = statistics.median(time_gpu(run_t, sets=sets, warmup=10, repeats=30))
    f = 2.0 * m * n * k
    out["times"].append([m, n, k, ms, f / ms / 1e9, tms, f / tms / 1e9, tms / ms])
print("RESULT " + json.dumps(out))
"""


def build(name: str, flags: list[str], out_dir: Path) -> tuple[str, Path | str]:
    from backends.drivers.nvcc import build_extension

    module = f"gh_{name}"
    try:
        out_path = out_dir / f"{module}{EXT}"
        result = build_extension(SOURCE, "sm_90a", out_path=out_path, module_name=module, extra_flags=flags)
        regs = [(r.kernel, r.vgprs, r.spills) for r in result.resources]
        print(f"built {name}: {regs}", flush=True)
        return name, result.output
    except Exception as error:  # report and go on with the other variants
        return name, f"{type(error).__name__}: {str(error)[:2000]}"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS))
    parser.add_argument("--sizes", nargs="+", default=["4096", "8192", "16384x4096x14336"])
    parser.add_argument("--timeout", type=int, default=120)
    parser.add_argument("--json", default=None)
    parser.add_argument("--sanitize", nargs="*", default=[], metavar="TOOL", help="compute-sanitizer tools")
    args = parser.parse_args()
    sizes = [tuple(int(x) for x in (s.split("x") if "x" in s else [s] * 3)) for s in args.sizes]
    checks = [(128, 256, 64, 1.0, 0.0), (256, 512, 640, 1.0, 0.0), (384, 768, 1024, 0.5, 0.25),
              (2048, 4096, 512, 1.0, 0.0), (4096, 4096, 4096, 1.0, 1.0)]  # fmt: skip
    out_dir = Path(tempfile.mkdtemp(prefix="hopper_probe_"))
    with ThreadPoolExecutor(max_workers=len(args.variants)) as pool:
        built = list(pool.map(lambda n: build(n, VARIANTS[n], out_dir), args.variants))
    report = {}
    for name, path in built:
        if isinstance(path, str):
            print(f"{name}: BUILD FAILED {path}", flush=True)
            report[name] = {"error": path}
            continue
        flags = VARIANTS[name]
        code = (
            CHILD.replace("ROOT", repr(str(ROOT)))
            .replace("NAME", repr(f"gh_{name}"))
            .replace("PATH", repr(str(path)))
            .replace("NK", str("-DTG_B_NK=1" in flags))
            .replace("BF16C", str("-DTG_C_BF16=1" in flags))
            .replace("CHECKS", repr(checks))
            .replace("SIZES", repr(sizes))
        )
        for tool in args.sanitize:
            small = code.replace(repr(checks), repr(checks[:3])).replace(repr(sizes), "[]")
            cmd = ["compute-sanitizer", "--tool", tool, sys.executable, "-c", small]
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout * 3)
            summary = [ln for ln in (proc.stdout + proc.stderr).splitlines() if "SUMMARY" in ln or "rror" in ln][:12]
            print(f"{name} compute-sanitizer {tool}: rc {proc.returncode}: " + " | ".join(summary), flush=True)
        try:
            proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=args.timeout)
            lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
            if not lines:
                print(f"{name}: FAILED rc {proc.returncode}: {proc.stderr[-1500:]}", flush=True)
                report[name] = {"error": proc.stderr[-1500:]}
                continue
            result = json.loads(lines[-1][7:])
        except subprocess.TimeoutExpired:
            print(f"{name}: TIMED OUT after {args.timeout} s (a hang?)", flush=True)
            report[name] = {"error": "timeout"}
            continue
        report[name] = result
        for m, n, k, alpha, beta, err in result["checks"]:
            verdict = "ok" if err < 1e-2 else "BAD"
            print(f"{name} check {m}x{n}x{k} alpha {alpha} beta {beta}: rel err {err:.2e} {verdict}")
        for m, n, k, ms, tf, tms, ttf, ratio in result["times"]:
            line = f"{ms:.3f} ms {tf:.1f} TFLOP/s | torch {tms:.3f} ms {ttf:.1f} | ratio {ratio:.3f}"
            print(f"{name} {m}x{n}x{k}: {line}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
