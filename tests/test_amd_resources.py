"""backends.drivers.resources.resources(kernel, target): emitted kernels, compiled for real.

The schedules come from examples/ (the emitter's real output, through kittens.cuh and pyutils):
the baseline, and the 8-wave ping-pong whose 224 registers of tiles leave the compiler about 30
of its 256 (two waves per SIMD) for everything else. They must compile with no spills, and the
compiler must hold at least the registers the tiles themselves need.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from backends.drivers.common import Resources
from backends.drivers.resources import kernel_resources, resources
from ir.resources import register_estimate


def example_kernel(name: str):  # type: ignore[no-untyped-def]
    return importlib.import_module(name).kernel()


def tile_registers(kernel, target: str) -> int:  # type: ignore[no-untyped-def]
    """Registers per lane of the register tiles of the most demanding role (no overhead)."""
    estimate = register_estimate(kernel, target)
    return max(role.registers for role in estimate.roles) - estimate.overhead


@pytest.mark.amd_toolchain
@pytest.mark.parametrize(("example", "target"), [("k01_baseline_4wave", "gfx950"), ("pingpong_8wave", "gfx942")])
def test_emitted_examples_compile_without_spills(example: str, target: str, tmp_path: Path) -> None:
    kernel = example_kernel(example)
    found = resources(kernel, target, work_dir=tmp_path)
    assert found.target == target and kernel.name in found.kernel
    assert found.spills == 0 and found.scratch_bytes == 0, found
    assert found.registers is not None
    assert tile_registers(kernel, target) <= found.registers <= 512
    assert (tmp_path / f"{kernel.name}.cpp").exists(), "work_dir keeps the emitted source"
    # Compiled for the target itself (an older hipcc would compile a stand-in, e.g. gfx940).
    (assembly,) = tmp_path.glob("*.s")
    assert f'.amdgcn_target "amdgcn-amd-amdhsa--{target}' in assembly.read_text()


@pytest.mark.amd_toolchain
def test_tilegen_resources_reports_amd_figures() -> None:
    """The public API: VGPRs, AGPRs, spills from ROCm or the clang-22 / HIP 6.4 toolchain."""
    import tilegen

    found = tilegen.resources(example_kernel("k01_baseline_4wave"), "gfx942")
    assert found.target == "gfx942" and found.spills == 0 and found.vgprs is not None and found.agprs is not None


@pytest.mark.nvcc
def test_nvidia_targets_go_through_nvcc(tmp_path: Path) -> None:
    kernel = example_kernel("k01_baseline_4wave")
    found = resources(kernel, "sm_90a", work_dir=tmp_path)
    assert found.target == "sm_90a" and found.agprs is None and found.spills == 0
    assert found.registers is not None and tile_registers(kernel, "sm_90a") <= found.registers <= 255


def test_the_kernel_is_found_by_the_emitters_name_or_alone() -> None:
    emitted = Resources(target="gfx940", kernel="gemm_kernel")
    other = Resources(target="gfx940", kernel="helper_kernel")
    assert kernel_resources([other, emitted], "gemm") is emitted
    assert kernel_resources([Resources(target="gfx940", kernel="renamed")], "gemm").kernel == "renamed"
    with pytest.raises(KeyError, match="it holds: helper_kernel, renamed"):
        kernel_resources([other, Resources(target="gfx940", kernel="renamed")], "gemm")
