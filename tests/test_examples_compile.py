"""Every example, emitted at its defaults (or its TARGET_PARAMS), compiles with the real compilers:
device code for gfx942 and gfx950 with current HIP headers (ROCm, or tilegen's clang-22 / HIP 6.4
toolchain) and a ptxas pass for sm_90a, with no spills and LDS within the chip.

The figures come from the compilers' own reports (AMD assembly metadata, ptxas -v). AMD builds also
pass the static LDS-wait check and use the MFMAs the runtime picks for the target (16x16x32 on
gfx950 where K allows). Known exceptions go in KNOWN_SPILLS, asserted as such (h100_producer_consumer
spilled 16 bytes on sm_90a until the emitter declared warp_row / warp_col once at the top of the
kernel; it spills none now).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from amd_builds import AMD_TARGETS, DeviceBuild, DeviceBuilds, Job, check_emitted_amd_build

from backends.drivers import nvcc
from backends.drivers.common import RUNTIME_INCLUDE, python_include_dirs
from backends.hip.emitter import emit
from ir.resources import dynamic_shared_memory
from ir.targets import get_target
from tilegen.schedule import load_schedule
from tilegen.testing import example_runs_on

EXAMPLES = sorted(p for p in (Path(__file__).resolve().parent.parent / "examples").glob("*.py"))
#: (example, target) -> spill bytes ptxas reports today; anything else must be 0.
KNOWN_SPILLS: dict[tuple[str, str], int] = {}


def _build(example: Path, target: str, out_dir: Path):  # type: ignore[no-untyped-def]
    kernel = load_schedule(example, [], target)
    source = out_dir / f"{example.stem}.cpp"
    source.write_text(emit(kernel, target=target))
    includes = [RUNTIME_INCLUDE, *python_include_dirs()]
    result = nvcc.compile_object(source, target, includes, out_dir, device_only=True)
    (found,) = [r for r in result.resources if r.kernel.endswith(f"{kernel.name}_kernel")]
    return kernel, found


@pytest.fixture(scope="module")
def amd_example_builds(amd_builds: DeviceBuilds) -> dict[tuple[str, str], tuple[Any, DeviceBuild]]:
    """Every example for every AMD target, compiled once (two at a time) through the session cache."""
    pairs = [(p, t) for p in EXAMPLES for t in AMD_TARGETS if example_runs_on(p.stem, t)]
    kernels = {(p.stem, t): load_schedule(p, [], t) for p, t in pairs}
    jobs = [Job(name, emit(kernel, target=target), target) for (name, target), kernel in kernels.items()]
    builds = amd_builds.build_all(jobs)
    return {key: (kernels[key], build) for key, build in zip(kernels, builds, strict=True)}


@pytest.mark.amd_toolchain
@pytest.mark.parametrize("target", AMD_TARGETS)
@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_compiles_for_amd_without_spills(example: Path, target: str, amd_example_builds: dict) -> None:
    if not example_runs_on(example.stem, target):
        pytest.skip(f"{example.stem} is written for other targets (its module's TARGETS)")
    kernel, build = amd_example_builds[(example.stem, target)]
    found = check_emitted_amd_build(kernel, target, build)
    print(f"{example.stem} {target}: {found.vgprs} VGPRs, {found.agprs} AGPRs, {found.sgprs} SGPRs, "
          f"{found.spills} spills, {found.scratch_bytes} B scratch, occupancy {found.occupancy}")  # fmt: skip


@pytest.mark.nvcc
@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_compiles_for_sm_90a(example: Path, tmp_path: Path) -> None:
    kernel, found = _build(example, "sm_90a", tmp_path)
    assert found.spills == KNOWN_SPILLS.get((example.stem, "sm_90a"), 0), found
    assert found.shared_bytes + dynamic_shared_memory(kernel, "sm_90a") <= get_target("sm_90a").shared_bytes
