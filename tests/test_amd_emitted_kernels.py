"""Every kernel the tests emit, and every emitted golden, compiles for gfx942 and gfx950 with
current HIP headers: no spills, no scratch, LDS and registers within the chip, the MFMAs the runtime
picks for the target, and no LDS read used before a covering ``s_waitcnt lgkmcnt`` (the static
check of backends/drivers/amd_asm.py). The examples are in tests/test_examples_compile.py; the
synthetic kernels of tests/test_emit_properties.py (every op kind) are here, and so are the goldens.
Builds go through the session cache (tests/amd_builds.py), so each source is compiled once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from amd_builds import AMD_TARGETS, DeviceBuild, DeviceBuilds, Job, check_emitted_amd_build
from test_emit_properties import SYNTHETIC, example_kernels

from backends.hip.emitter import emit, render
from ir.validate import diagnose

pytestmark = pytest.mark.amd_toolchain

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"


@pytest.fixture(scope="module")
def synthetic_builds(amd_builds: DeviceBuilds) -> dict[tuple[str, str], tuple[Any, DeviceBuild]]:
    # Rendered without validation, as tests/test_emit_properties.py does: they exist to cover every op
    # kind, not to be valid schedules. Hopper-only ones (TMA, wgmma) have no AMD code to compile.
    kernels = {
        (name, target): make()
        for name, make in SYNTHETIC.items()
        for target in AMD_TARGETS
        if not hopper_only(make(), target)
    }
    jobs = [Job(name, render(kernel, target), target) for (name, target), kernel in kernels.items()]
    return dict(zip(kernels, zip(kernels.values(), amd_builds.build_all(jobs), strict=True), strict=True))


def hopper_only(kernel: Any, target: str) -> bool:
    """Whether the validator refuses ``kernel`` on ``target`` for using Hopper instructions."""
    return any(d.rule == "hopper.target" and d.severity == "error" for d in diagnose(kernel, target))


@pytest.mark.parametrize("target", AMD_TARGETS)
@pytest.mark.parametrize("name", list(SYNTHETIC))
def test_synthetic_kernel_compiles_clean(name: str, target: str, synthetic_builds: dict) -> None:
    if (name, target) not in synthetic_builds:
        assert hopper_only(SYNTHETIC[name](), target)
        pytest.skip(f"{name} uses Hopper instructions (TMA / mbarrier / wgmma): the validator refuses it for {target}")
    kernel, build = synthetic_builds[(name, target)]
    check_emitted_amd_build(kernel, target, build)


def amd_goldens() -> list[tuple[str, str, Any]]:
    """(example, golden target, kernel) of every AMD golden source (not the `.error.txt` golden of an
    example written for other targets, which the validator refuses for AMD)."""
    return [
        (name, target, kernel)
        for name, target, kernel in example_kernels()
        if target.startswith("gfx") and (GOLDEN_DIR / f"{name}.{target}.cpp").exists()
    ]


@pytest.mark.parametrize("target", AMD_TARGETS)
def test_every_amd_golden_compiles_clean(target: str, amd_builds: DeviceBuilds) -> None:
    """A golden is the emitted source for its target; for a target without goldens of its own the
    same kernel is emitted for it (only the target named in comments and the module doc changes)."""
    goldens = amd_goldens()
    assert goldens, "no AMD goldens found"
    jobs = []
    for name, golden_target, kernel in goldens:
        golden = (GOLDEN_DIR / f"{name}.{golden_target}.cpp").read_text()
        assert golden == emit(kernel, target=golden_target), f"{name}: golden is stale (scripts/regen_goldens.py)"
        source = golden if target == golden_target else emit(kernel, target=target)
        jobs.append(Job(name, source, target))
    for (_, _, kernel), build in zip(goldens, amd_builds.build_all(jobs), strict=True):
        check_emitted_amd_build(kernel, target, build)
