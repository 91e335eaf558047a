"""AMD device code alone: the emitted ``.cpp`` -> a code object (``kernel.hsaco``) for tilegen's
launcher (``hipModuleLoadData``), with the kernels' resources from the assembly of the same run.

The same design as ``nvcc.build_device``: ``-DTILEGEN_DEVICE_ONLY`` (pyutils.cuh stands in for
pybind11), a wrapper holding the launch layout's ``static_assert`` lines, no host code and no
link against libamdhip64, so tilegen's compile toolchain (clang-22 + HIP headers, which cannot link
modules) builds it too. The compiler and its flags are ``hipcc.find_compiler()``'s (ROCm, else the
toolchain, else a hipcc on PATH) and the command line is ``hipcc.command``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Optional

from backends.drivers import hipcc
from backends.drivers.amd_asm import parse_reports, parse_resources
from backends.drivers.common import RUNTIME_INCLUDE, CompileResult, run

CODE_OBJECT_NAME = "kernel.hsaco"


def find_compiler() -> Optional[hipcc.AmdCompiler]:
    """The AMD compiler device builds use, or None when there is none (``hipcc.find_compiler``)."""
    try:
        return hipcc.find_compiler()
    except hipcc.CompilerNotFound:
        return None


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
    compiler = hipcc.find_compiler()
    arch, note = hipcc.offload_arch(target, compiler)
    source, out_dir = Path(source), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    wrapper = out_dir / f"{source.stem}.device.cpp"
    include = source.name if source.parent.resolve() == out_dir.resolve() else str(source.resolve())
    wrapper.write_text(
        "// tilegen device-only build: the emitted kernel, and checks of the layout the launcher packs.\n"
        f'#include "{include}"\n\n{layout_checks}'
    )
    output = out_dir / CODE_OBJECT_NAME
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".amd-") as temps:
        flags = ["-DTILEGEN_DEVICE_ONLY", *extra_flags, f"-save-temps={temps}"]
        mode = ["--cuda-device-only", "--no-gpu-bundle-output", "-c"]
        cmd = hipcc.command(wrapper, arch, list(include_dirs), output, mode, flags, compiler)
        log = note + run(cmd, source, hipcc.HIP_ENV, cwd=Path(temps))
        assembly = sorted(Path(temps).glob(f"*{arch}*.s"))
        text = assembly[0].read_text() if assembly else ""
    resources = parse_resources(text, target) if text else []
    entries = [report.mangled for report in parse_reports(text)] if text else []
    return CompileResult(output=output, command=cmd, log=log, resources=resources, entries=entries)
