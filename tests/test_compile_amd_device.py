"""AMD kernels built as device code alone (backends/drivers/amd_device.py): the toolchain's
clang-22 writes a code object the launcher loads with hipModuleLoadData, the launch layout is
checked by static_asserts as for NVIDIA, and the assembly of the same run gives the resources.
Needs an AMD compiler (ROCm, or tilegen's compile toolchain); nothing here links or runs."""

from __future__ import annotations

from pathlib import Path

import pytest

import tilegen
from backends.drivers import amd_device
from tilegen.cli import load_schedule

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(
    amd_device.find_compiler() is None,
    reason="no AMD compiler: ROCm, or `bash ../shared/toolchains/amd/setup.sh` (docs/amd.md)",
)


def test_an_amd_kernel_builds_as_a_code_object_for_the_launcher(tmp_path: Path) -> None:
    kernel = load_schedule(ROOT / "examples" / "k01_baseline_4wave.py", [], "gfx942")
    fn = tilegen.compile(kernel, "gfx942", cache_dir=tmp_path)
    build = fn.cache_entry.build
    assert build["mode"] == "device" and fn.library_path.name == "kernel.hsaco"
    assert fn.library_path.read_bytes()[:4] == b"\x7fELF"
    assert build["function"] == "_Z21baseline_4wave_kernel22baseline_4wave_globals"
    assert "--cuda-device-only" in fn.build_command and "-DTILEGEN_DEVICE_ONLY" in fn.build_command
    (resources,) = fn.resources
    assert resources.registers is not None and resources.spills == 0
    assert fn.module.vendor == "amd" and fn.module.spec.threads == 4 * 64
