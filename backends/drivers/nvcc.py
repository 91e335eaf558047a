"""The nvcc driver: emitted ``.cpp`` (HIP in the kittens style) -> object or pybind11 module for
an NVIDIA target, with ptxas's per-kernel resources (registers, spills, stack, static shared).

Emitted files include ``kittens.cuh`` (the NVIDIA path and ``hip_compat.cuh``) and
``pyutils/pyutils.cuh`` (pybind11), so every command gets the Python and pybind11 include
directories besides the caller's, and ``-x cu`` because the files end in ``.cpp``.
"""

from __future__ import annotations

import os
import sysconfig
from collections.abc import Sequence
from pathlib import Path

from backends.drivers.common import (
    RUNTIME_INCLUDE,
    CompileResult,
    CompilerNotFound,
    find_tool,
    python_include_dirs,
    run,
)
from backends.drivers.ptxas import entry_names, parse_ptxas

#: nvcc's code generation flag for each NVIDIA target tilegen knows. sm_90a (not sm_90) unlocks
#: the Hopper-only instructions the runtime uses there (setmaxnreg).
GENCODE = {
    "sm_90a": "-gencode=arch=compute_90a,code=sm_90a",
    "sm_80": "-gencode=arch=compute_80,code=sm_80",
}

_COMMON_FLAGS = (
    "-x",
    "cu",
    "-std=c++20",
    "-O3",
    "-DNDEBUG",
    "-Xptxas",
    "-v",  # per-kernel registers, spills, stack frame and shared memory, parsed by ptxas.py
    "-Xcompiler",
    "-fPIC",
)


def find_nvcc() -> str:
    """Path of nvcc: PATH, then $CUDA_HOME/bin, then /usr/local/cuda/bin."""
    cuda_home = os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH")
    dirs = ((os.path.join(cuda_home, "bin"),) if cuda_home else ()) + ("/usr/local/cuda/bin",)
    found = find_tool("nvcc", dirs)
    if found is None:
        raise CompilerNotFound(
            "nvcc not found on PATH, in $CUDA_HOME/bin or in /usr/local/cuda/bin: install the CUDA toolkit "
            "(12.0 or later for sm_90a; https://developer.nvidia.com/cuda-downloads) or set CUDA_HOME"
        )
    return found


def gencode(target: str) -> str:
    try:
        return GENCODE[target]
    except KeyError:
        raise ValueError(f"nvcc cannot build for `{target}`; NVIDIA targets: {', '.join(GENCODE)}") from None


def command(
    source: Path,
    target: str,
    include_dirs: Sequence[Path],
    output: Path,
    extra_flags: Sequence[str] = (),
) -> list[str]:
    """The nvcc command line that compiles ``source`` for ``target`` into ``output`` (add
    ``-c`` or ``-shared`` through ``extra_flags``)."""
    includes = [f"-I{d}" for d in [*include_dirs, *python_include_dirs()]]
    return [find_nvcc(), *_COMMON_FLAGS, gencode(target), *includes, *extra_flags, "-o", str(output), str(source)]


def compile_object(
    source: Path,
    target: str,
    include_dirs: Sequence[Path] = (RUNTIME_INCLUDE,),
    out_dir: Path = Path("."),
    extra_flags: Sequence[str] = (),
    device_only: bool = False,
) -> CompileResult:
    """Compile ``source`` to ``out_dir/<stem>.o`` for ``target`` ("sm_90a" | "sm_80"); the result
    lists ptxas's resources for every kernel. ``device_only`` compiles just the GPU code, to
    ``<stem>.cubin``: the same kernels and resources in a fraction of the time, as the host side
    (pybind11) is most of the work. Raises ``CompilerNotFound`` or ``CompileError``."""
    source, out_dir = Path(source), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    output = out_dir / f"{source.stem}.{'cubin' if device_only else 'o'}"
    cmd = command(source, target, include_dirs, output, ["-cubin" if device_only else "-c", *extra_flags])
    log = run(cmd, source)
    return CompileResult(output=output, command=cmd, log=log, resources=parse_ptxas(log))


def build_extension(
    source: Path,
    target: str,
    include_dirs: Sequence[Path] = (RUNTIME_INCLUDE,),
    out_path: Path = Path("module.so"),
    module_name: str = "module",
    extra_flags: Sequence[str] = (),
) -> CompileResult:
    """Build the pybind11 module ``module_name`` from ``source`` at ``out_path``, whose file name
    must start with ``module_name + "."`` for Python to import it. The module links the CUDA
    runtime statically and nothing of torch. ``TG_MODULE_NAME`` is defined to ``module_name``."""
    source, out_path = Path(source), Path(out_path)
    if not module_name.isidentifier():
        raise ValueError(f"module name `{module_name}` is not a Python identifier")
    if not out_path.name.startswith(module_name + "."):
        raise ValueError(
            f"Python imports module `{module_name}` only from a file named `{module_name}.<suffix>`, "
            f"not `{out_path.name}`; name it `{module_name}{sysconfig.get_config_var('EXT_SUFFIX') or '.so'}`"
        )
    out_path.parent.mkdir(parents=True, exist_ok=True)
    flags = ["-shared", "-Xcompiler", "-fvisibility=hidden", f"-DTG_MODULE_NAME={module_name}", *extra_flags]
    cmd = command(source, target, include_dirs, out_path, flags)
    log = run(cmd, source)
    return CompileResult(output=out_path, command=cmd, log=log, resources=parse_ptxas(log))


#: The file name of the cubin a device-only build writes.
CUBIN_NAME = "kernel.cubin"


def build_device(
    source: Path,
    target: str,
    include_dirs: Sequence[Path] = (RUNTIME_INCLUDE,),
    out_dir: Path = Path("."),
    layout_checks: str = "",
    extra_flags: Sequence[str] = (),
) -> CompileResult:
    """Compile only the kernels of the emitted ``source`` to ``out_dir/kernel.cubin`` for a launcher
    (``backends/drivers/launcher``): 2-4 s where the full pybind11 module takes 10-19 s.

    ``-DTILEGEN_DEVICE_ONLY`` makes ``pyutils.cuh`` stand in for pybind11, so the file is compiled
    as written. ``layout_checks`` (C++ ``static_assert`` lines, ``LaunchSpec.static_asserts()``) go
    in a wrapper that includes the source, so a parameter layout the launcher would get wrong fails
    the build. The result's ``entries`` are the kernels' mangled names, from ptxas's report."""
    source, out_dir = Path(source), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    wrapper = out_dir / f"{source.stem}.device.cu"
    wrapper.write_text(
        "// tilegen device-only build: the emitted kernel, and checks of the layout the launcher packs.\n"
        f'#include "{source.resolve()}"\n\n{layout_checks}'
    )
    output = out_dir / CUBIN_NAME
    includes = [f"-I{d}" for d in include_dirs]
    cmd = [find_nvcc(), *_COMMON_FLAGS, gencode(target), "-DTILEGEN_DEVICE_ONLY", *includes, *extra_flags]
    cmd += ["-cubin", "-o", str(output), str(wrapper)]
    log = run(cmd, source)
    return CompileResult(output=output, command=cmd, log=log, resources=parse_ptxas(log), entries=entry_names(log))
