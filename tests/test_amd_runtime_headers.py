"""Every header of the bundled runtime that an AMD compile reads compiles on its own with both HIP
header generations: current ones (ROCm, or tilegen's toolchain: HIP 6.4, clang 22; gfx942 and
gfx950) and Debian 12's HIP 5.2 (hipcc, clang 15; gfx940), the older-compiler check.

HIP renamed and removed things between those releases (``__memory_order_*`` and
``__memory_scope_*`` are gone from current headers); the runtime uses compiler builtins instead,
and this test fails if a header starts to depend on either generation's macros. Each header is
its own translation unit (host and device passes, ``-fsyntax-only``), so each is self-contained.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from backends.drivers import hipcc
from backends.drivers.common import RUNTIME_INCLUDE, CompileError, python_include_dirs, run

HEADERS = sorted(
    [
        RUNTIME_INCLUDE / "kittens.cuh",
        RUNTIME_INCLUDE / "hip_compat.cuh",
        RUNTIME_INCLUDE / "pyutils" / "pyutils.cuh",
        *(RUNTIME_INCLUDE / "kittens" / "amd").glob("*.cuh"),
    ]
)


def _check_all(compiler: hipcc.AmdCompiler, archs: list[str], hip_version_check: str, out: Path) -> list[str]:
    def one(header: Path) -> str:
        name = header.relative_to(RUNTIME_INCLUDE).as_posix()
        source = out / (name.replace("/", "_") + ".cpp")
        source.write_text(
            f'#include "{name}"\n#include <hip/hip_version.h>\n'
            f"static_assert({hip_version_check}, \"unexpected HIP headers picked up\");\n"
        )
        includes = [f"-I{d}" for d in (RUNTIME_INCLUDE, *python_include_dirs())]
        command = [compiler.path, *compiler.flags, *hipcc.BASE_FLAGS, *(f"--offload-arch={a}" for a in archs)]
        try:
            run([*command, *includes, "-fsyntax-only", str(source)], source, hipcc.HIP_ENV)
        except CompileError as error:
            return f"{name}: {error}"
        return ""

    with ThreadPoolExecutor(max_workers=2) as pool:
        return [failure for failure in pool.map(one, HEADERS) if failure]


def test_the_header_list_is_complete() -> None:
    names = {h.relative_to(RUNTIME_INCLUDE).as_posix() for h in HEADERS}
    assert {"kittens.cuh", "kittens/amd/tilegen_ext.cuh", "kittens/amd/mma.cuh", "pyutils/pyutils.cuh"} <= names


@pytest.mark.amd_toolchain
def test_every_runtime_header_compiles_with_current_hip_headers(tmp_path: Path) -> None:
    compiler = hipcc.find_rocm() or hipcc.find_toolchain()
    assert compiler is not None
    version = "HIP_VERSION_MAJOR * 100 + HIP_VERSION_MINOR >= 604"
    failures = _check_all(compiler, ["gfx942", "gfx950"], version, tmp_path)
    assert not failures, "\n".join(failures)


@pytest.mark.amd_legacy_hipcc
def test_every_runtime_header_compiles_with_hip_5_2_headers(tmp_path: Path) -> None:
    compiler = hipcc.find_system_hipcc()
    assert compiler is not None
    version = "HIP_VERSION_MAJOR * 100 + HIP_VERSION_MINOR < 600"
    if (hipcc.clang_major(compiler.path) or 0) >= 17:
        pytest.skip(f"the hipcc on PATH ({compiler.path}) is not the older HIP 5.x one")
    failures = _check_all(compiler, ["gfx940"], version, tmp_path)
    assert not failures, "\n".join(failures)
