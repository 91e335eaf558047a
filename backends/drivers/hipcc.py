"""hipcc for AMD targets: object files, device assembly with per-kernel resources, pybind11 modules.

Every command runs with ``HIP_PLATFORM=amd`` (Debian's hipcc otherwise drives nvcc), ``-O3
-std=c++20`` (hipcc 5.2 / clang 15 accepts C++20) and an explicit ``--offload-arch`` (without one
hipcc asks ``rocm_agent_enumerator`` for the local GPU and fails on a machine without one).

Resources come from the device assembly: object and module builds add ``-save-temps=obj`` in a
private directory and keep the ``.s`` the code object was assembled from, so one compiler run
gives both; ``device_assembly`` runs ``--cuda-device-only -S`` alone.

``gfx942`` (MI300X / MI325X) is unknown to clang before 17, and Debian's hipcc 5.2 ships clang 15.
With such a compiler, gfx942 is compiled as ``gfx940`` (same CDNA3 family, MFMA set and 64 KiB
LDS) as a *local compile check only*; the log says so. A hipcc that knows gfx942 gets gfx942.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sysconfig
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Optional

from backends.drivers.amd_asm import parse_resources
from backends.drivers.common import CompileResult, CompilerNotFound, Resources, find_tool, python_include_dirs, run

HIP_ENV = {"HIP_PLATFORM": "amd"}
BASE_FLAGS = ("-O3", "-std=c++20")
#: Targets this driver compiles for; all are CDNA wave64 parts with v_mfma_f32_16x16x16_bf16.
KNOWN_TARGETS = ("gfx90a", "gfx940", "gfx941", "gfx942")
#: target -> (what an older clang compiles instead, first clang major that knows the target).
STAND_INS = {"gfx942": ("gfx940", 17)}
_INSTALL_HINT = (
    "hipcc (HIP for AMD GPUs) was not found on PATH or in /opt/rocm/bin. Install it with "
    "`apt-get install hipcc` (Debian/Ubuntu; tilegen sets HIP_PLATFORM=amd itself) or install ROCm."
)


def find_hipcc() -> str:
    """Path of hipcc, or ``CompilerNotFound`` saying how to install it."""
    path = find_tool("hipcc", extra_dirs=("/opt/rocm/bin",))
    if path is None:
        raise CompilerNotFound(_INSTALL_HINT)
    return path


@functools.lru_cache(maxsize=8)
def clang_major(hipcc: str) -> Optional[int]:
    """Major version of the clang behind ``hipcc`` (None when it cannot be told)."""
    try:
        proc = subprocess.run(
            [hipcc, "--version"],
            env={**os.environ, **HIP_ENV},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    hit = re.search(r"clang version (\d+)", proc.stdout)
    return int(hit.group(1)) if hit else None


def offload_arch(target: str) -> tuple[str, str]:
    """(the ``--offload-arch`` to compile ``target`` with here, a note for the log or "")."""
    if target not in KNOWN_TARGETS:
        raise ValueError(
            f"hipcc driver: unknown AMD target `{target}`; known: {', '.join(KNOWN_TARGETS)} "
            "(NVIDIA targets go through backends.drivers.nvcc)"
        )
    if target not in STAND_INS:
        return target, ""
    stand_in, first_major = STAND_INS[target]
    major = clang_major(find_hipcc())
    if major is not None and major >= first_major:
        return target, ""
    return stand_in, (
        f"note: this hipcc (clang {major}) does not know {target}; compiled for {stand_in} instead (same "
        f"CDNA3 family) as a local compile check. Build with ROCm >= 5.7 for real {target} code.\n"
    )


def command(
    source: Path,
    arch: str,
    include_dirs: Sequence[Path | str],
    output: Path,
    mode: Sequence[str],
    extra_flags: Sequence[str] = (),
) -> list[str]:
    """hipcc command line; ``mode`` is ``["-c"]``, ``["-shared"]`` or ``["--cuda-device-only", "-S"]``."""
    includes = [f"-I{Path(d)}" for d in include_dirs]
    return [
        find_hipcc(),
        *BASE_FLAGS,
        f"--offload-arch={arch}",
        "-fPIC",
        *includes,
        *extra_flags,
        *mode,
        str(source),
        "-o",
        str(output),
    ]


def device_assembly(
    source: Path,
    target: str,
    include_dirs: Sequence[Path | str],
    out_dir: Path,
    extra_flags: Sequence[str] = (),
) -> tuple[Path, list[Resources], str]:
    """Compile only the device code of ``source`` to AMDGPU assembly. Returns (the ``.s`` path,
    the resources of every kernel in it, the log). Raises ``CompileError`` / ``CompilerNotFound``."""
    source, out_dir = Path(source), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    arch, note = offload_arch(target)
    output = out_dir / f"{source.stem}.{arch}.s"
    log = run(command(source, arch, include_dirs, output, ["--cuda-device-only", "-S"], extra_flags), source, HIP_ENV)
    return output, parse_resources(output.read_text(), target), note + log


def _build(
    source: Path,
    target: str,
    include_dirs: Sequence[Path | str],
    output: Path,
    assembly: Path,
    mode: Sequence[str],
    extra_flags: Sequence[str],
) -> CompileResult:
    """One hipcc run building ``output``, keeping the device assembly as ``assembly`` and reading
    the kernels' resources from it (a second, device-only run if this hipcc's temporaries are
    named differently)."""
    arch, note = offload_arch(target)
    with tempfile.TemporaryDirectory(dir=output.parent, prefix=".hipcc-") as temps:
        staged = Path(temps) / output.name
        cmd = command(source, arch, include_dirs, staged, mode, [*extra_flags, "-save-temps=obj"])
        log = note + run(cmd, source, HIP_ENV)
        shutil.move(staged, output)
        kept = sorted(Path(temps).glob(f"*-hip-amdgcn-amd-amdhsa*{arch}*.s"))
        if kept:
            shutil.move(kept[0], assembly)
    if kept:
        resources = parse_resources(assembly.read_text(), target)
    else:
        produced, resources, assembly_log = device_assembly(source, target, include_dirs, output.parent, extra_flags)
        shutil.move(produced, assembly)
        log += assembly_log
    return CompileResult(output=output, command=cmd, log=log, resources=resources)


def compile_object(
    source: Path,
    target: str,
    include_dirs: Sequence[Path | str],
    out_dir: Path,
    extra_flags: Sequence[str] = (),
) -> CompileResult:
    """Compile ``source`` for AMD ``target`` to ``out_dir/<stem>.<arch>.o`` (host code plus the
    device code object), keep ``<stem>.<arch>.s`` beside it, and report every kernel's VGPRs,
    AGPRs, SGPRs, spills, scratch, static LDS and occupancy in ``CompileResult.resources``."""
    source, out_dir = Path(source), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    arch, _ = offload_arch(target)
    output = out_dir / f"{source.stem}.{arch}.o"
    return _build(source, target, include_dirs, output, output.with_suffix(".s"), ["-c"], extra_flags)


def build_extension(
    source: Path,
    target: str,
    include_dirs: Sequence[Path | str],
    out_path: Path,
    module_name: str,
    extra_flags: Sequence[str] = (),
) -> CompileResult:
    """Build the pybind11 module ``module_name`` from ``source`` at ``out_path``, linked against
    the HIP runtime (libamdhip64) and nothing of torch; ``TG_MODULE_NAME`` is defined to
    ``module_name``. Python and pybind11 headers are added to ``include_dirs``. The resources of
    its kernels come back as with ``compile_object``; the assembly stays as
    ``<module_name>.<arch>.s`` beside the module."""
    source, out_path = Path(source), Path(out_path)
    if not module_name.isidentifier():
        raise ValueError(f"module name `{module_name}` is not a Python identifier")
    if not out_path.name.startswith(module_name + "."):
        suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
        raise ValueError(
            f"Python imports module `{module_name}` only from a file named `{module_name}.<suffix>`, "
            f"not `{out_path.name}`; name it `{module_name}{suffix}`"
        )
    out_path.parent.mkdir(parents=True, exist_ok=True)
    arch, _ = offload_arch(target)
    flags = ["-fvisibility=hidden", f"-DTG_MODULE_NAME={module_name}", *extra_flags]
    includes = [*include_dirs, *python_include_dirs()]
    assembly = out_path.parent / f"{module_name}.{arch}.s"
    return _build(source, target, includes, out_path, assembly, ["-shared"], flags)
