"""Shared test fixtures and the markers that skip, with a reason, what this machine cannot run."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
for _path in (EXAMPLES, Path(__file__).resolve().parent):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))


def _has_gpu() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def _has_current_amd_compiler() -> bool:
    """ROCm, or tilegen's compile toolchain (clang-22, HIP 6.4): the AMD truth (docs/amd.md)."""
    from backends.drivers.hipcc import find_rocm, find_toolchain

    return find_rocm() is not None or find_toolchain() is not None


def _has_system_hipcc() -> bool:
    return shutil.which("hipcc") is not None


#: Set by .ci/run: a missing current AMD compiler fails the run instead of skipping its tests.
REQUIRE_AMD = "TILEGEN_REQUIRE_AMD_TOOLCHAIN"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    has_amd = _has_current_amd_compiler()
    if not has_amd and os.environ.get(REQUIRE_AMD) == "1" and any("amd_toolchain" in i.keywords for i in items):
        raise pytest.UsageError(
            f"{REQUIRE_AMD}=1 but no current AMD compiler was found (ROCm under $ROCM_PATH or /opt/rocm, or "
            "tilegen's toolchain: `bash ../shared/toolchains/amd/setup.sh` as root, which scripts/setup.sh runs)"
        )
    skips = {
        "gpu": (_has_gpu(), "no GPU visible to torch: run on the device machine (scripts/device_check.sh)"),
        "amd_toolchain": (
            has_amd,
            "no current AMD compiler (ROCm, or `bash ../shared/toolchains/amd/setup.sh`; scripts/setup.sh runs it)",
        ),
        "amd_legacy_hipcc": (_has_system_hipcc(), "no hipcc on PATH: `apt-get install hipcc` (scripts/setup.sh does)"),
        "nvcc": (shutil.which("nvcc") is not None or os.path.exists("/usr/local/cuda/bin/nvcc"), "nvcc not found"),
    }
    for item in items:
        for marker, (available, reason) in skips.items():
            if marker in item.keywords and not available:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def amd_builds(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """Device-only AMD compiles shared by every test of the session, keyed by source hash."""
    from amd_builds import DeviceBuilds

    return DeviceBuilds(tmp_path_factory.mktemp("amd_builds"))
