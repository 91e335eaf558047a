"""Device-only AMD compiles for the test suite, each done once per session (``amd_builds`` fixture).

A device-only compile costs about 2 s of CPU; the examples, the synthetic kernels and the goldens are
compiled for gfx942 and gfx950 by several test files. Builds are keyed by a hash of the source text,
the target, the include directories and the compiler command, so the same kernel is compiled once
however many tests read its assembly. ``build_all`` compiles what is missing on two threads.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Optional

from backends.drivers import hipcc
from backends.drivers.amd_asm import AsmFunction, parse_assembly
from backends.drivers.common import RUNTIME_INCLUDE, Resources, python_include_dirs


@dataclass(frozen=True)
class DeviceBuild:
    name: str
    target: str
    source: Path
    assembly_path: Path
    resources: list[Resources] = field(compare=False)

    @cached_property
    def assembly(self) -> str:
        return self.assembly_path.read_text()

    @cached_property
    def functions(self) -> list[AsmFunction]:
        return parse_assembly(self.assembly)

    def kernel(self, kernel_name: str) -> Resources:
        """Resources of the emitted kernel ``<kernel_name>_kernel``."""
        (found,) = [r for r in self.resources if r.kernel.endswith(f"{kernel_name}_kernel")]
        return found


@dataclass(frozen=True)
class Job:
    name: str
    source_text: str
    target: str
    include_dirs: tuple[Path, ...] = ()


class DeviceBuilds:
    """The session's cache of device-only builds under ``root``."""

    def __init__(self, root: Path, compiler: Optional[hipcc.AmdCompiler] = None):
        self.root = root
        self.compiler = compiler or hipcc.find_compiler()
        self._done: dict[str, DeviceBuild] = {}
        self._lock = threading.Lock()

    def default_includes(self) -> tuple[Path, ...]:
        return (RUNTIME_INCLUDE, *python_include_dirs())

    def key(self, job: Job) -> str:
        includes = job.include_dirs or self.default_includes()
        parts = [job.source_text, job.target, *map(str, includes), self.compiler.path, *self.compiler.flags]
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:24]

    def build(self, name: str, source_text: str, target: str, include_dirs: Sequence[Path] = ()) -> DeviceBuild:
        return self.build_all([Job(name, source_text, target, tuple(include_dirs))])[0]

    def build_all(self, jobs: Sequence[Job]) -> list[DeviceBuild]:
        missing = {self.key(job): job for job in jobs if self.key(job) not in self._done}
        if missing:
            with ThreadPoolExecutor(max_workers=2) as pool:
                built = dict(zip(missing, pool.map(self._compile, missing.items()), strict=True))
            with self._lock:
                self._done.update(built)
        return [self._done[self.key(job)] for job in jobs]

    def _compile(self, item: tuple[str, Job]) -> DeviceBuild:
        key, job = item
        out = self.root / key
        out.mkdir(parents=True, exist_ok=True)
        source = out / f"{job.name}.cpp"
        source.write_text(job.source_text)
        includes = job.include_dirs or self.default_includes()
        assembly, resources, _ = hipcc.device_assembly(source, job.target, includes, out, compiler=self.compiler)
        return DeviceBuild(job.name, job.target, source, assembly, resources)


# ------------------------------------------------------------------------------------------------
# What every emitted AMD kernel must show in its assembly (tests/test_examples_compile.py,
# tests/test_amd_emitted_kernels.py)
# ------------------------------------------------------------------------------------------------

#: The current-compiler targets every emitted kernel is compiled for.
AMD_TARGETS = ("gfx942", "gfx950")


def mma_k_widths(kernel) -> set[int]:  # type: ignore[no-untyped-def]
    """K (the a tile's columns) of every mma of ``kernel``."""
    from ir import models as m

    tiles = {t.name: t for t in kernel.registers}
    return {tiles[op.a.tile].cols for op in m.walk(kernel.body) if isinstance(op, m.Mma)}


def check_emitted_amd_build(kernel, target: str, build: DeviceBuild) -> Resources:  # type: ignore[no-untyped-def]
    """The checks every emitted kernel passes on ``target``; returns its resources."""
    from backends.amd.lane_layout import mfma_k_slices
    from backends.drivers.amd_asm import check_lds_waits
    from ir.resources import dynamic_shared_memory
    from ir.targets import get_target

    spec = get_target(target)
    found = build.kernel(kernel.name)
    assert found.target == target
    assert (found.spills, found.scratch_bytes) == (0, 0), found
    assert found.shared_bytes + dynamic_shared_memory(kernel, target) <= spec.shared_bytes, found
    assert found.registers is not None and found.registers <= spec.max_registers, found
    assert f'.amdgcn_target "amdgcn-amd-amdhsa--{target}' in build.assembly
    # The MFMA shapes the runtime picks for each mma's K (backends/amd/lane_layout.py, mfma_k_slices).
    slices = {s for k in mma_k_widths(kernel) for s in mfma_k_slices(k, target)}
    assert ("v_mfma_f32_16x16x32_bf16" in build.assembly) == (32 in slices), (target, slices)
    assert ("v_mfma_f32_16x16x16_bf16" in build.assembly) == (16 in slices), (target, slices)
    uncovered = check_lds_waits(build.assembly)
    assert not uncovered, "LDS reads used before a covering s_waitcnt:\n" + "\n".join(map(str, uncovered[:10]))
    return found
