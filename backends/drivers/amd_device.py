"""AMD device code alone: the emitted ``.cpp`` -> a code object (``kernel.hsaco``) for tilegen's
launcher (``hipModuleLoadData``), with the kernels' resources from the assembly of the same run.

The same design as ``nvcc.build_device``: ``-DTILEGEN_DEVICE_ONLY`` (pyutils.cuh stands in for
pybind11), a wrapper holding the launch layout's ``static_assert`` lines, no host code, no link
against libamdhip64 (which this machine lacks). It needs the clang of the AMD toolchain
(``source ../shared/toolchains/amd/env.sh``: ``TILEGEN_AMD_CLANG`` and ``TILEGEN_AMD_FLAGS``).
"""

from __future__ import annotations

import os
import shlex
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Optional

from backends.drivers.amd_asm import parse_reports, parse_resources
from backends.drivers.common import RUNTIME_INCLUDE, CompileResult, CompilerNotFound, run

CODE_OBJECT_NAME = "kernel.hsaco"
TARGETS = ("gfx90a", "gfx940", "gfx941", "gfx942", "gfx950")


def find_clang() -> Optional[str]:
    """``TILEGEN_AMD_CLANG`` when it names an executable (None otherwise)."""
    clang = os.environ.get("TILEGEN_AMD_CLANG")
    return clang if clang and os.access(clang, os.X_OK) else None


def flags_available() -> bool:
    return bool(os.environ.get("TILEGEN_AMD_FLAGS"))


def flags() -> list[str]:
    text = os.environ.get("TILEGEN_AMD_FLAGS")
    if not text:
        raise CompilerNotFound(
            "TILEGEN_AMD_FLAGS is not set: `source ../shared/toolchains/amd/env.sh` (after its setup.sh)"
        )
    return shlex.split(text)


def build_device(
    source: Path,
    target: str,
    include_dirs: Sequence[Path] = (RUNTIME_INCLUDE,),
    out_dir: Path = Path("."),
    layout_checks: str = "",
    extra_flags: Sequence[str] = (),
) -> CompileResult:
    """Compile only the kernels of ``source`` to ``out_dir/kernel.hsaco`` for AMD ``target``; the
    result lists each kernel's resources (VGPRs, AGPRs, spills, scratch, LDS) and symbols."""
    clang = find_clang()
    if clang is None:
        raise CompilerNotFound("TILEGEN_AMD_CLANG is not set: `source ../shared/toolchains/amd/env.sh`")
    if target not in TARGETS:
        raise ValueError(f"AMD device builds know {', '.join(TARGETS)}, not `{target}`")
    source, out_dir = Path(source), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    wrapper = out_dir / f"{source.stem}.device.cpp"
    include = source.name if source.parent.resolve() == out_dir.resolve() else str(source.resolve())
    wrapper.write_text(
        "// tilegen device-only build: the emitted kernel, and checks of the layout the launcher packs.\n"
        f'#include "{include}"\n\n{layout_checks}'
    )
    output = out_dir / CODE_OBJECT_NAME
    includes = [f"-I{d}" for d in include_dirs]
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".clang-") as temps:
        cmd = [clang, *flags(), f"--offload-arch={target}", "-DTILEGEN_DEVICE_ONLY", *includes, *extra_flags]
        cmd += ["--cuda-device-only", "--no-gpu-bundle-output", f"-save-temps={temps}", "-c", str(wrapper)]
        cmd += ["-o", str(output)]
        log = run(cmd, source, cwd=Path(temps))
        assembly = sorted(Path(temps).glob(f"*{target}*.s"))
        text = assembly[0].read_text() if assembly else ""
    resources = parse_resources(text, target) if text else []
    entries = [report.mangled for report in parse_reports(text)] if text else []
    return CompileResult(output=output, command=cmd, log=log, resources=resources, entries=entries)
