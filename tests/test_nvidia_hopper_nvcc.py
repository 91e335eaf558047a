"""The Hopper instruments of the NVIDIA runtime (tma.cuh, mbarrier.cuh, wgmma.cuh) at compile
time: the hand-written module tests/nvidia_kernels/gemm_hopper.cu (what tilegen emits for a TMA /
wgmma schedule) builds for sm_90a in each variant without spills or stack, ptxas keeps the
setmaxnreg budgets and the wgmma pipeline, and the PTX holds the instructions docs/nvidia.md names.
The GPU run is tests/test_nvidia_hopper_gpu.py (and scripts/hopper_probe.py for timings)."""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from backends.drivers import nvcc
from backends.drivers.common import RUNTIME_INCLUDE, CompileResult

pytestmark = pytest.mark.nvcc

SOURCE = Path(__file__).resolve().parent / "nvidia_kernels" / "gemm_hopper.cu"
VARIANTS = {
    "AB-bf16-pending1": ("TG_B_NK=0", "TG_C_BF16=1", "TG_WGMMA_PENDING=1"),
    "ABt-f32-pending0": ("TG_B_NK=1", "TG_C_BF16=0", "TG_WGMMA_PENDING=0"),
    "AB-bf16-tmastore": ("TG_B_NK=0", "TG_C_BF16=1", "TG_WGMMA_PENDING=0", "TG_TMA_STORE=1"),
}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, CompileResult]:
    def build(name: str) -> CompileResult:
        return nvcc.compile_object(
            SOURCE,
            "sm_90a",
            [RUNTIME_INCLUDE],
            tmp_path_factory.mktemp(name.replace("-", "_")),
            extra_flags=[f"-D{d}" for d in VARIANTS[name]],
            device_only=True,
        )

    with ThreadPoolExecutor(max_workers=3) as pool:
        return dict(zip(VARIANTS, pool.map(build, VARIANTS), strict=True))


@pytest.mark.parametrize("name", list(VARIANTS))
def test_hopper_module_builds_without_spills(built: dict[str, CompileResult], name: str) -> None:
    (resources,) = [r for r in built[name].resources if r.kernel == "gemm_hopper_kernel"]
    assert resources.spills == 0 and resources.scratch_bytes == 0, built[name].log
    # ptxas starts every warp at the launch's share (384 threads, 1 block: 168); the budgets
    # 40 / 232 then apply. C7504 / C7508 would say setmaxnreg was ignored, C7510 / C7515 that
    # the wgmma pipeline was serialised.
    assert resources.vgprs == 168
    for code in ("C7504", "C7508", "C7510", "C7515"):
        assert code not in built[name].log, built[name].log


def test_hopper_ptx_holds_the_instructions(tmp_path: Path) -> None:
    ptx = tmp_path / "gemm_hopper.ptx"
    cmd = nvcc.command(SOURCE, "sm_90a", [RUNTIME_INCLUDE], ptx, ["-ptx"])
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    text = ptx.read_text()
    for instruction in (
        "cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes",
        "mbarrier.init.shared::cta.b64",
        "mbarrier.arrive.expect_tx.shared::cta.b64",
        "mbarrier.try_wait.parity.shared::cta.b64",
        "wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16",
        "wgmma.fence.sync.aligned",
        "wgmma.commit_group.sync.aligned",
        "wgmma.wait_group.sync.aligned 1",
        "setmaxnreg.dec.sync.aligned.u32 40",
        "setmaxnreg.inc.sync.aligned.u32 232",
    ):
        assert instruction in text, instruction
    # Four k16 steps of a 64-wide K step per stage, each one wgmma.
    assert text.count("wgmma.mma_async") == 4


def test_wgmma_shapes_header_is_generated(tmp_path: Path) -> None:
    """The checked-in wgmma_shapes.cuh is what scripts/gen_wgmma.py writes."""
    import importlib.util

    root = Path(__file__).resolve().parent.parent
    spec = importlib.util.spec_from_file_location("gen_wgmma", root / "scripts" / "gen_wgmma.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.OUT = tmp_path / "wgmma_shapes.cuh"
    module.main()
    assert module.OUT.read_text() == (RUNTIME_INCLUDE / "kittens" / "nvidia" / "wgmma_shapes.cuh").read_text()
