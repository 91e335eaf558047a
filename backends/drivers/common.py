"""What every compiler driver returns and raises (hipcc for AMD, nvcc for NVIDIA)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

RUNTIME_INCLUDE = Path(__file__).resolve().parent.parent / "runtime" / "include"


@dataclass(frozen=True)
class Resources:
    """Per-kernel resources as the compiler reports them (None where a target has no such figure)."""

    target: str
    kernel: str
    vgprs: Optional[int] = None  # AMD: arch VGPRs per lane; NVIDIA: registers per thread
    agprs: Optional[int] = None  # AMD accumulation VGPRs
    sgprs: Optional[int] = None
    spills: int = 0  # AMD: VGPR+SGPR spill count; NVIDIA: spill stores + loads (bytes)
    scratch_bytes: int = 0  # AMD private segment / NVIDIA stack frame
    shared_bytes: int = 0  # static LDS / shared in the object (dynamic shared is added at launch)
    occupancy: Optional[int] = None  # AMD waves per SIMD as the assembler reports it

    @property
    def registers(self) -> Optional[int]:
        """Registers per lane the kernel needs (VGPR + AGPR on AMD)."""
        if self.vgprs is None:
            return None
        return self.vgprs + (self.agprs or 0)


@dataclass
class CompileResult:
    output: Path
    command: list[str]
    log: str
    resources: list[Resources] = field(default_factory=list)
    #: The kernels' symbol names in the device image (mangled), for a launcher to look them up.
    entries: list[str] = field(default_factory=list)


class CompilerNotFound(RuntimeError):
    """The compiler is not installed; the message says what to install."""


class CompileError(RuntimeError):
    """The compiler failed. The message shows the source path, the command and the first errors."""

    def __init__(self, source: Path, command: list[str], log: str):
        self.source, self.command, self.log = source, command, log
        first = first_errors(log)
        super().__init__(
            f"compiling {source} failed.\n  command: {' '.join(command)}\n  first errors:\n"
            + "\n".join("    " + line for line in first)
        )


#: Lines that say why a build failed, beside those containing "error": a full disk, a killed
#: compiler (out of memory), a missing file, an unresolved symbol.
_WHY = re.compile(
    r"error|fatal|no space left|killed|cannot|can't|undefined reference|no such file|permission denied|"
    r"out of memory|terminated",
    re.IGNORECASE,
)


def first_errors(log: str, limit: int = 12) -> list[str]:
    """The lines of a compiler log that say why it failed (each with the two after it), at most
    ``limit``; the first lines when none matches."""
    lines = log.splitlines()
    hits = [i for i, line in enumerate(lines) if _WHY.search(line)]
    if not hits:
        return lines[:limit]
    picked: list[str] = []
    for i in hits:
        for line in lines[i : i + 3]:
            if line not in picked:
                picked.append(line)
        if len(picked) >= limit:
            break
    return picked[:limit]


def python_include_dirs() -> list[Path]:
    """Where Python.h and pybind11's headers are: the emitted module's pyutils/pyutils.cuh needs both."""
    import pybind11

    return list(dict.fromkeys([Path(sysconfig.get_paths()["include"]), Path(pybind11.get_include())]))


def find_tool(name: str, extra_dirs: tuple[str, ...] = ()) -> Optional[str]:
    found = shutil.which(name)
    if found:
        return found
    for d in extra_dirs:
        candidate = os.path.join(d, name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def run(command: list[str], source: Path, env: Optional[dict[str, str]] = None, cwd: Optional[Path] = None) -> str:
    """Run a compiler; return its combined output or raise ``CompileError``."""
    proc = subprocess.run(
        command,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    if proc.returncode != 0:
        raise CompileError(source, command, proc.stdout)
    return proc.stdout
