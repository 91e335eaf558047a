"""The Hopper instruments of the NVIDIA runtime on the GPU: the hand-written module
tests/nvidia_kernels/gemm_hopper.cu (TMA loads into an mbarrier ring, wgmma, setmaxnreg, the
persistent grouped grid, and the TMA-store epilogue) against torch in float64, in both B layouts
and C dtypes, with and without beta, at sizes that make every block walk several tiles and wrap
its ring. Needs an sm_90 GPU, nvcc and a CUDA build of torch; each module runs in a subprocess
with a timeout, so a hang (a barrier never completing) fails instead of stalling the suite.

    python -m pytest -q tests/test_nvidia_hopper_gpu.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytestmark = [pytest.mark.gpu, pytest.mark.nvcc]

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "tests" / "nvidia_kernels" / "gemm_hopper.cu"
EXT = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
VARIANTS = {
    "ab_bf16_tmastore": ("TG_B_NK=0", "TG_C_BF16=1", "TG_WGMMA_PENDING=0", "TG_TMA_STORE=1"),
    "abt_f32_tmastore": ("TG_B_NK=1", "TG_C_BF16=0", "TG_WGMMA_PENDING=0", "TG_TMA_STORE=1"),
    "ab_f32_pending1": ("TG_B_NK=0", "TG_C_BF16=0", "TG_WGMMA_PENDING=1"),
    "abt_bf16_3stages": ("TG_B_NK=1", "TG_C_BF16=1", "TG_STAGES=3"),
}
#: (M, N, K, alpha, beta): one tile and one K step; several tiles per block (132 blocks) with the
#: ring wrapping many times; alpha / beta through the direct-store fallback.
CASES = [
    (128, 256, 64, 1.0, 0.0),
    (2048, 4096, 512, 1.0, 0.0),
    (4096, 4096, 1024, 0.5, 0.0),
    (1024, 2048, 640, 1.5, 0.5),
]

CHILD = textwrap.dedent(
    """
    import importlib.util, json, sys, torch
    spec = importlib.util.spec_from_file_location(sys.argv[1], sys.argv[2])
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    nk, bf16 = sys.argv[3] == "1", sys.argv[4] == "1"
    errors = []
    for m, n, k, alpha, beta in json.loads(sys.argv[5]):
        g = torch.Generator(device="cuda"); g.manual_seed(m + n + k)
        a = torch.randn((m, k), generator=g, device="cuda").to(torch.bfloat16)
        b = torch.randn((n, k) if nk else (k, n), generator=g, device="cuda").to(torch.bfloat16)
        c = torch.randn((m, n), generator=g, device="cuda").to(torch.bfloat16 if bf16 else torch.float32)
        ref = alpha * (a.double() @ (b.double().t() if nk else b.double())) + beta * c.double()
        mod.dispatch(a, b, c, alpha, beta, torch.cuda.current_stream().cuda_stream)
        torch.cuda.synchronize()
        errors.append(float(torch.linalg.vector_norm(c.double() - ref) / torch.linalg.vector_norm(ref)))
    print("ERRORS " + json.dumps(errors))
    """
)


@pytest.fixture(scope="module")
def modules(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import torch

    from backends.drivers.nvcc import build_extension

    if torch.cuda.get_device_capability() != (9, 0):
        pytest.skip("needs an sm_90 GPU (H100 / H200)")
    out = tmp_path_factory.mktemp("hopper")

    def build(name: str) -> Path:
        module = f"hopper_{name}"
        flags = [f"-D{d}" for d in VARIANTS[name]]
        return build_extension(SOURCE, "sm_90a", out_path=out / f"{module}{EXT}", module_name=module,
                               extra_flags=flags).output  # fmt: skip

    with ThreadPoolExecutor(max_workers=len(VARIANTS)) as pool:
        return dict(zip(VARIANTS, pool.map(build, VARIANTS), strict=True))


@pytest.mark.parametrize("name", list(VARIANTS))
def test_hopper_module_matches_float64(modules: dict[str, Path], name: str) -> None:
    flags = VARIANTS[name]
    args = [sys.executable, "-c", CHILD, f"hopper_{name}", str(modules[name]), "1" if "TG_B_NK=1" in flags else "0",
            "1" if "TG_C_BF16=1" in flags else "0", json.dumps(CASES)]  # fmt: skip
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("ERRORS ")]
    assert lines, f"{name} failed (rc {proc.returncode}):\n{proc.stderr[-3000:]}"
    errors = json.loads(lines[-1][7:])
    tolerance = 1e-2 if "TG_C_BF16=1" in flags else 1e-4
    for case, error in zip(CASES, errors, strict=True):
        assert error < tolerance, f"{name} at {case}: relative error {error:.3e}"
