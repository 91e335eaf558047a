"""``resources(kernel, target)``: what the real compiler allocates for a tilegen kernel.

Emits the kernel (``backends.hip.emitter.emit``, which validates it first), compiles it with hipcc
for AMD targets (device assembly only: the figures live there) or nvcc for NVIDIA targets (ptxas's
report), and returns the ``Resources`` of the kernel itself. The emitted file includes the bundled
runtime and pyutils (hence Python and pybind11 headers).
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Optional

from backends.drivers.amd_asm import find_kernel
from backends.drivers.common import RUNTIME_INCLUDE, Resources
from ir import models as m
from ir.targets import get_target


def resources(
    kernel: m.Kernel,
    target: str = "gfx942",
    include_dirs: Optional[Sequence[Path]] = None,
    work_dir: Optional[Path] = None,
) -> Resources:
    """VGPRs / AGPRs / SGPRs / spills / scratch / static LDS / occupancy (AMD) or registers /
    spills / stack / shared (NVIDIA) of ``kernel`` compiled for ``target``.

    ``include_dirs`` defaults to the bundled runtime; ``work_dir`` (a temporary directory by
    default) keeps the emitted source and the compiler's output for inspection. Raises
    ``ScheduleError`` for an invalid schedule, ``CompilerNotFound`` / ``CompileError`` from the
    compiler, and ``KeyError`` if the compiled object does not contain the kernel.
    """
    from backends.hip.emitter import emit

    spec = get_target(target)
    includes = list(include_dirs) if include_dirs is not None else [RUNTIME_INCLUDE]
    source_text = emit(kernel, target=spec.name)
    if work_dir is not None:
        return _compile(kernel.name, spec.name, spec.is_amd, source_text, includes, Path(work_dir))
    with tempfile.TemporaryDirectory(prefix="tilegen-resources-") as scratch:
        return _compile(kernel.name, spec.name, spec.is_amd, source_text, includes, Path(scratch))


def _compile(name: str, target: str, is_amd: bool, source_text: str, includes: list[Path], out_dir: Path) -> Resources:
    out_dir.mkdir(parents=True, exist_ok=True)
    source = out_dir / f"{name}.cpp"  # nvcc compiles it as CUDA (-x cu), as tilegen.compile does
    source.write_text(source_text)
    if is_amd:
        from backends.drivers import hipcc
        from backends.drivers.common import python_include_dirs

        _, found, _ = hipcc.device_assembly(source, target, [*includes, *python_include_dirs()], out_dir)
    else:
        from backends.drivers import nvcc

        found = nvcc.compile_object(source, target, includes, out_dir).resources
    return kernel_resources(found, name)


def kernel_resources(found: list[Resources], name: str) -> Resources:
    """The entry of kernel ``name`` among an emitted module's kernels: the emitter calls the
    ``__global__`` function ``<name>_kernel``; a module with a single kernel needs no name."""
    for candidate in (f"{name}_kernel", name):
        try:
            return find_kernel(found, candidate)
        except KeyError:
            pass
    if len(found) == 1:
        return found[0]
    return find_kernel(found, name)  # raises, listing what the object holds
