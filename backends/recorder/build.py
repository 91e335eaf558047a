"""Build an emitted kernel for the host against the recording kittens API, and run it.

The emitted ``.cpp`` is compiled as it is, byte for byte, up to the end of its ``__global__``
function: ``include/kittens.cuh`` and ``include/pyutils/pyutils.cuh`` here stand in for the
runtime's headers of the same names, and only the host dispatch and the pybind11 binding after
the kernel are cut (they launch on a GPU; the nvcc / hipcc builds check them). Binaries are cached
by a hash of everything that goes into them, so a test suite builds each kernel once.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

INCLUDE = Path(__file__).resolve().parent / "include"
ENV_CACHE_DIR = "TILEGEN_RECORDER_CACHE"
FLAGS = ("-std=c++20", "-O0", "-w", "-Wno-unknown-pragmas")


class RecorderError(RuntimeError):
    """The recording build or run failed for a reason other than a difference in behaviour."""


class MissingOp(RecorderError):
    """The emitted code uses a kittens name the recording header does not provide."""

    def __init__(self, names: list[str], detail: str):
        self.names = names
        listed = ", ".join(f"`{n}`" for n in names)
        super().__init__(
            f"the recording kittens API has no {listed}: the emitted kernel uses it, so the emitted-code check "
            f"cannot run. Add it to backends/recorder/include/kittens.cuh and its expectation to "
            f"backends/recorder/compare.py (docs/recorder.md says how).\n{detail}"
        )


@dataclass(frozen=True)
class Recorded:
    """One run of a recording binary: the grid it launched and each wave's log lines."""

    grid: tuple[int, int, int]
    block: tuple[int, int, int]  # threads per block, as ``block()`` gives them
    waves: dict[tuple[int, int], list[str]]


def kernel_part(source: str) -> str:
    """``source`` up to the closing brace of its ``__global__`` function (a ``}`` alone in column 0)."""
    lines = source.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.startswith("__global__")), None)
    if start is None:
        raise RecorderError("the emitted source has no line starting with `__global__`: cannot find the kernel")
    for end in range(start + 1, len(lines)):
        if lines[end].rstrip() == "}":
            return "".join(lines[: end + 1])
    raise RecorderError("the emitted kernel has no closing `}` in column 0")


def kernel_names(source: str) -> tuple[str, str]:
    """(globals struct, kernel function) of an emitted source: ``void <kernel>(const [qualifiers]
    <globals> g)``."""
    match = re.search(r"^void\s+(\w+)\s*\(\s*const\s+(?:\w+\s+)*?(\w+)\s+g\s*\)", source, re.M)
    if match is None:
        raise RecorderError("cannot find `void <kernel>(const <globals> g)` in the emitted source")
    return match.group(2), match.group(1)


#: Host-side lines of the emitted dispatch that fill the globals before the launch (TMA tensor
#: maps); the driver runs them as they are, so the maps the kernel reads are the emitted ones.
_HOST_SETUP = re.compile(r"^\s*(g\.\w+ = tg::tma::make_map<.*>\(g\.\w+\);)\s*$", re.M)


def host_setup(source: str) -> list[str]:
    """The dispatch's statements that set up ``g`` before the launch (see ``_HOST_SETUP``)."""
    return _HOST_SETUP.findall(source[len(kernel_part(source)) :])


def cache_dir() -> Path:
    env = os.environ.get(ENV_CACHE_DIR)
    if env:
        return Path(env).expanduser()
    return Path(tempfile.gettempdir()) / f"tilegen-recorder-{os.getuid()}"


def _compiler() -> str:
    cxx = os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++")
    if cxx is None:
        raise RecorderError("no host C++ compiler (g++) found: the emitted-code check needs one")
    return cxx


def _env() -> dict[str, str]:
    return {**os.environ, "LC_ALL": "C"}  # plain ASCII compiler messages, parsed by _build_error


def _digest(*parts: str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode())
        digest.update(b"\0")
    for header in sorted(INCLUDE.rglob("*")):
        if header.is_file():
            digest.update(header.name.encode())
            digest.update(header.read_bytes())
    return digest.hexdigest()[:24]


def _headers(cxx: str, flags: list[str]) -> Path:
    """A copy of include/ with kittens.cuh precompiled next to it (halves each kernel's build);
    the plain include/ when the compiler cannot precompile it."""
    root = cache_dir()
    folder = root / f"include-{_digest(cxx, ' '.join(flags))}"
    if (folder / "kittens.cuh.gch").is_file():
        return folder
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=root))
    try:
        shutil.copytree(INCLUDE, work, dirs_exist_ok=True)
        command = [cxx, *flags, "-x", "c++-header", "kittens.cuh", "-o", "kittens.cuh.gch"]
        if subprocess.run(command, cwd=work, capture_output=True, env=_env()).returncode != 0:
            return INCLUDE
        try:
            os.replace(work, folder)
        except OSError:  # another process got there first
            pass
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return folder if (folder / "kittens.cuh.gch").is_file() else INCLUDE


def build(source: str, wave_size: int) -> Path:
    """The recording binary of an emitted source (built once, then taken from the cache)."""
    kernel = kernel_part(source)
    globals_name, kernel_fn = kernel_names(kernel)
    setup = "".join(f"        {line}\n" for line in host_setup(source))
    main = (
        '#include "kittens.cuh"\n#include "kernel.cpp"\n#include "driver.hpp"\n\n'
        "int main(int argc, char** argv) {\n"
        f"    auto setup = []({globals_name}& g) {{\n{setup}    }};\n"
        f"    return tilegen_record::drive<{globals_name}>(argc, argv, {kernel_fn}, setup);\n"
        "}\n"
    )
    cxx = _compiler()
    flags = [*FLAGS, f"-DTILEGEN_WARP_THREADS={wave_size}"]
    root = cache_dir()
    binary = root / f"rec-{_digest(kernel, main, cxx, ' '.join(flags))}"
    if binary.is_file():
        return binary
    include = _headers(cxx, flags)
    with tempfile.TemporaryDirectory(dir=root) as work:
        (Path(work) / "kernel.cpp").write_text(kernel)
        (Path(work) / "main.cpp").write_text(main)
        out = Path(work) / "rec"
        command = [cxx, *flags, f"-I{include}", "main.cpp", "-o", str(out)]
        result = subprocess.run(command, cwd=work, capture_output=True, text=True, env=_env())
        if result.returncode != 0:
            raise _build_error(result.stderr)
        os.replace(out, binary)
    return binary


def _build_error(stderr: str) -> RecorderError:
    missing: list[str] = []
    patterns = (
        r"'([\w:]+)' was not declared in this scope",
        r"'([\w:]+)' is not a member of '([\w:]+)'",
        r"'([\w:]+)' does not name a type",
        r"no matching function for call to '([\w:]+)",
        r"'([\w:]+)' has not been declared",
    )
    for pattern in patterns:
        for match in re.finditer(pattern, stderr):
            name = match.group(1) if match.lastindex == 1 else f"{match.group(2)}::{match.group(1)}"
            if name not in missing:
                missing.append(name)
    tail = "\n".join(stderr.strip().splitlines()[-30:])
    if missing:
        return MissingOp(missing, tail)
    return RecorderError(f"the recording build of the emitted kernel failed:\n{tail}")


def run(
    binary: Path, m: int, n: int, k: int, b_layout: str, alpha: float, beta: float, blocks: list[int]
) -> Recorded:
    args = [str(binary), str(m), str(n), str(k), b_layout, repr(alpha), repr(beta), *map(str, blocks)]
    result = subprocess.run(args, capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        raise RecorderError(f"the recording run failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
    grid: Optional[tuple[int, int, int]] = None
    block_dim: Optional[tuple[int, int, int]] = None
    waves: dict[tuple[int, int], list[str]] = {}
    current: Optional[list[str]] = None
    for line in result.stdout.splitlines():
        if line.startswith("grid "):
            x, y, z = (int(v) for v in line.split()[1:])
            grid = (x, y, z)
        elif line.startswith("block "):
            x, y, z = (int(v) for v in line.split()[1:])
            block_dim = (x, y, z)
        elif line.startswith("wave "):
            block, warp = (int(v) for v in line.split()[1:])
            current = waves.setdefault((block, warp), [])
        elif current is not None:
            current.append(line)
    if grid is None or block_dim is None:
        raise RecorderError("the recording run printed no grid or block size")
    return Recorded(grid=grid, block=block_dim, waves=waves)
