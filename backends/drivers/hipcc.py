"""The AMD compiler driver: which compiler, its command lines, device assembly with per-kernel
resources, object files and pybind11 modules.

Which compiler (``find_compiler``), first found wins:

1. **ROCm** (``rocm``): ``hipcc``, else ``amdclang++``, under ``$ROCM_PATH/bin`` or ``/opt/rocm/bin``:
   what a user with an AMD GPU has, and the only one that also links a loadable module there.
2. **tilegen's compile toolchain** (``toolchain``): clang with current HIP headers and ROCm device
   libraries, as ``../shared/toolchains/amd/`` sets them up (clang-22, HIP 6.4, ROCm 7.0 device
   libraries; docs/amd.md). Read from the ``TILEGEN_AMD_*`` variables its ``env.sh`` exports or,
   when they are unset, from the folder its ``setup.sh`` fills (``$TILEGEN_AMD_TOOLCHAIN``, default
   ``/var/cache/tilegen-amd-toolchain``, recognised by its ``VERSIONS`` file), with the flags
   ``env.sh`` would export. It compiles (objects, device assembly) but cannot link a module: it has
   no HIP runtime library.
3. **A hipcc on PATH** (``hipcc``), e.g. Debian 12's HIP 5.2 / clang 15: older than any ROCm that
   runs on MI300, kept as an older-compiler check. It knows neither gfx942 nor gfx950; with a clang
   older than 17, gfx942 is compiled as gfx940 (same CDNA3 family) and the log says so; gfx950 is
   refused.

Every command has ``-O3 -std=c++20`` and an explicit ``--offload-arch`` (without one hipcc asks
``rocm_agent_enumerator`` for the local GPU and fails on a machine without one), and runs with
``HIP_PLATFORM=amd`` (Debian's hipcc otherwise drives nvcc).

Resources come from the device assembly: object and module builds add ``-save-temps=obj`` in a
private directory and keep the ``.s`` the code object was assembled from, so one compiler run
gives both; ``device_assembly`` runs ``--cuda-device-only -S`` alone.
"""

from __future__ import annotations

import functools
import os
import re
import shlex
import shutil
import subprocess
import sysconfig
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional

from backends.drivers.amd_asm import parse_resources
from backends.drivers.common import CompileResult, CompilerNotFound, Resources, find_tool, python_include_dirs, run

HIP_ENV = {"HIP_PLATFORM": "amd"}
BASE_FLAGS = ("-O3", "-std=c++20")
#: Targets this driver compiles for; all are CDNA wave64 parts with v_mfma_f32_16x16x16_bf16.
KNOWN_TARGETS = ("gfx90a", "gfx940", "gfx941", "gfx942", "gfx950")
#: target -> (what an older clang compiles instead or None, first clang major that knows the target).
STAND_INS: dict[str, tuple[Optional[str], int]] = {"gfx942": ("gfx940", 17), "gfx950": (None, 20)}
#: Where setup.sh of ../shared/toolchains/amd/ unpacks the toolchain unless TILEGEN_AMD_TOOLCHAIN says otherwise.
DEFAULT_TOOLCHAIN_DIR = Path("/var/cache/tilegen-amd-toolchain")
_INSTALL_HINT = (
    "no AMD compiler found: tilegen looks for ROCm (hipcc or amdclang++ under $ROCM_PATH/bin or "
    "/opt/rocm/bin), then its compile toolchain (the TILEGEN_AMD_* variables of "
    "../shared/toolchains/amd/env.sh, or the folder its setup.sh fills, /var/cache/tilegen-amd-toolchain), "
    "then a hipcc on PATH. Install ROCm, or run `bash ../shared/toolchains/amd/setup.sh` as root "
    "(docs/amd.md), or `apt-get install hipcc` (Debian/Ubuntu; an older HIP, tilegen sets HIP_PLATFORM=amd)."
)

CompilerKind = Literal["rocm", "toolchain", "hipcc"]


@dataclass(frozen=True)
class AmdCompiler:
    """One AMD compiler: the executable and the flags it needs before tilegen's own."""

    kind: CompilerKind
    path: str
    flags: tuple[str, ...] = ()

    @property
    def can_link_modules(self) -> bool:
        """Whether it can link a loadable module (it needs a HIP runtime library beside it)."""
        return self.kind != "toolchain"

    def describe(self) -> str:
        major = clang_major(self.path)
        return f"{self.kind} compiler {self.path} (clang {major if major is not None else '?'})"


# ------------------------------------------------------------------------------------------------
# Finding a compiler
# ------------------------------------------------------------------------------------------------


def _executable(path: Path) -> Optional[str]:
    return str(path) if path.is_file() and os.access(path, os.X_OK) else None


def find_rocm() -> Optional[AmdCompiler]:
    """ROCm's hipcc (else amdclang++) under ``$ROCM_PATH`` or ``/opt/rocm``."""
    roots = [os.environ.get("ROCM_PATH") or "", "/opt/rocm"]
    for root in dict.fromkeys(r for r in roots if r):
        hipcc = _executable(Path(root) / "bin" / "hipcc")
        if hipcc:
            return AmdCompiler("rocm", hipcc)
        clang = _executable(Path(root) / "bin" / "amdclang++")
        if clang:
            return AmdCompiler("rocm", clang, ("-x", "hip", f"--rocm-path={root}"))
    return None


def toolchain_flags(rocm_path: str, device_libs: str, hip_include: str) -> tuple[str, ...]:
    """The flags ../shared/toolchains/amd/env.sh exports as TILEGEN_AMD_FLAGS (its comments say why)."""
    return (
        "-x",
        "hip",
        f"--rocm-path={rocm_path}",
        f"--rocm-device-lib-path={device_libs}",
        "-isystem",
        hip_include,
        "-isystem",
        f"{hip_include}/hip",
        "-D__AMDGCN_WAVEFRONT_SIZE=64",
        "-O3",
        "-std=c++20",
        "-fPIC",
        "-mllvm",
        "-amdgpu-early-inline-all=true",
        "-mllvm",
        "-amdgpu-function-calls=false",
    )


def find_toolchain() -> Optional[AmdCompiler]:
    """tilegen's compile toolchain: from the TILEGEN_AMD_* variables, else from its folder."""
    clang = os.environ.get("TILEGEN_AMD_CLANG")
    flags = os.environ.get("TILEGEN_AMD_FLAGS")
    if clang and flags and _executable(Path(clang)):
        return AmdCompiler("toolchain", clang, tuple(shlex.split(flags)))
    root = Path(os.environ.get("TILEGEN_AMD_TOOLCHAIN") or DEFAULT_TOOLCHAIN_DIR)
    versions = root / "VERSIONS"
    if not versions.is_file():
        return None
    hit = re.search(r"clang version (\d+)", versions.read_text())
    major = hit.group(1) if hit else "22"
    clang = find_tool(f"clang++-{major}", extra_dirs=(f"/usr/lib/llvm-{major}/bin",))
    if clang is None:
        return None
    usr = root / "usr"
    device_libs = (root / "bitcode").resolve()
    return AmdCompiler("toolchain", clang, toolchain_flags(str(usr), str(device_libs), str(usr / "include")))


def find_system_hipcc() -> Optional[AmdCompiler]:
    """A hipcc on PATH that is not ROCm's (Debian 12's is HIP 5.2 / clang 15)."""
    path = shutil.which("hipcc")
    return AmdCompiler("hipcc", path) if path else None


def find_compiler() -> AmdCompiler:
    """The compiler tilegen's AMD compiles use: ROCm, else the compile toolchain, else a hipcc on PATH."""
    for finder in (find_rocm, find_toolchain, find_system_hipcc):
        found = finder()
        if found is not None:
            return found
    raise CompilerNotFound(_INSTALL_HINT)


def find_module_compiler() -> AmdCompiler:
    """A compiler that also links a loadable module: ROCm's, else a hipcc on PATH."""
    for finder in (find_rocm, find_system_hipcc):
        found = finder()
        if found is not None:
            return found
    detail = " (tilegen's compile toolchain is set up, but it has no HIP runtime library to link)"
    raise CompilerNotFound(
        "hipcc (ROCm's, with its HIP runtime libamdhip64) was not found under $ROCM_PATH/bin, /opt/rocm/bin or "
        "on PATH: building a loadable AMD module needs it. Install ROCm, or `apt-get install hipcc` for an "
        f"older one (Debian/Ubuntu; tilegen sets HIP_PLATFORM=amd){detail if find_toolchain() else ''}. "
        "tilegen.emit and tilegen.resources work without it."
    )


def find_hipcc() -> str:
    """Path of the compiler that builds loadable modules (``find_module_compiler``)."""
    return find_module_compiler().path


@functools.lru_cache(maxsize=8)
def clang_major(compiler: str) -> Optional[int]:
    """Major version of the clang behind ``compiler`` (None when it cannot be told)."""
    try:
        proc = subprocess.run(
            [compiler, "--version"],
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


def offload_arch(target: str, compiler: Optional[AmdCompiler] = None) -> tuple[str, str]:
    """(the ``--offload-arch`` to compile ``target`` with, a note for the log or "")."""
    if target not in KNOWN_TARGETS:
        raise ValueError(
            f"AMD driver: unknown AMD target `{target}`; known: {', '.join(KNOWN_TARGETS)} "
            "(NVIDIA targets go through backends.drivers.nvcc)"
        )
    if target not in STAND_INS:
        return target, ""
    compiler = compiler or find_compiler()
    stand_in, first_major = STAND_INS[target]
    major = clang_major(compiler.path)
    if major is not None and major >= first_major:
        return target, ""
    if stand_in is None:
        raise CompilerNotFound(
            f"{compiler.describe()} does not know {target} (it needs clang >= {first_major}): install ROCm >= 7 "
            "or set up tilegen's compile toolchain (`bash ../shared/toolchains/amd/setup.sh`, docs/amd.md)"
        )
    return stand_in, (
        f"note: {compiler.describe()} does not know {target}; compiled for {stand_in} instead (same CDNA3 "
        f"family) as a local compile check. Build with ROCm >= 5.7 for real {target} code.\n"
    )


# ------------------------------------------------------------------------------------------------
# Command lines and builds
# ------------------------------------------------------------------------------------------------


def command(
    source: Path,
    arch: str,
    include_dirs: Sequence[Path | str],
    output: Path,
    mode: Sequence[str],
    extra_flags: Sequence[str] = (),
    compiler: Optional[AmdCompiler] = None,
) -> list[str]:
    """Compiler command line; ``mode`` is ``["-c"]``, ``["-shared"]`` or ``["--cuda-device-only", "-S"]``."""
    compiler = compiler or find_compiler()
    includes = [f"-I{Path(d)}" for d in include_dirs]
    return [
        compiler.path,
        *compiler.flags,
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
    compiler: Optional[AmdCompiler] = None,
) -> tuple[Path, list[Resources], str]:
    """Compile only the device code of ``source`` to AMDGPU assembly. Returns (the ``.s`` path,
    the resources of every kernel in it, the log). Raises ``CompileError`` / ``CompilerNotFound``."""
    source, out_dir = Path(source), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    compiler = compiler or find_compiler()
    arch, note = offload_arch(target, compiler)
    output = out_dir / f"{source.stem}.{arch}.s"
    cmd = command(source, arch, include_dirs, output, ["--cuda-device-only", "-S"], extra_flags, compiler)
    log = run(cmd, source, HIP_ENV)
    return output, parse_resources(output.read_text(), target), note + log


def _build(
    source: Path,
    target: str,
    include_dirs: Sequence[Path | str],
    output: Path,
    assembly: Path,
    mode: Sequence[str],
    extra_flags: Sequence[str],
    compiler: AmdCompiler,
) -> CompileResult:
    """One compiler run building ``output``, keeping the device assembly as ``assembly`` and reading
    the kernels' resources from it (a second, device-only run if this compiler's temporaries are
    named differently)."""
    arch, note = offload_arch(target, compiler)
    with tempfile.TemporaryDirectory(dir=output.parent, prefix=".hipcc-") as temps:
        staged = Path(temps) / output.name
        cmd = command(source, arch, include_dirs, staged, mode, [*extra_flags, "-save-temps=obj"], compiler)
        log = note + run(cmd, source, HIP_ENV)
        shutil.move(staged, output)
        kept = sorted(Path(temps).glob(f"*-hip-amdgcn-amd-amdhsa*{arch}*.s"))
        if kept:
            shutil.move(kept[0], assembly)
    if kept:
        resources = parse_resources(assembly.read_text(), target)
    else:
        produced, resources, assembly_log = device_assembly(
            source, target, include_dirs, output.parent, extra_flags, compiler
        )
        shutil.move(produced, assembly)
        log += assembly_log
    return CompileResult(output=output, command=cmd, log=log, resources=resources)


def compile_object(
    source: Path,
    target: str,
    include_dirs: Sequence[Path | str],
    out_dir: Path,
    extra_flags: Sequence[str] = (),
    compiler: Optional[AmdCompiler] = None,
) -> CompileResult:
    """Compile ``source`` for AMD ``target`` to ``out_dir/<stem>.<arch>.o`` (host code plus the
    device code object), keep ``<stem>.<arch>.s`` beside it, and report every kernel's VGPRs,
    AGPRs, SGPRs, spills, scratch, static LDS and occupancy in ``CompileResult.resources``."""
    source, out_dir = Path(source), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    compiler = compiler or find_compiler()
    arch, _ = offload_arch(target, compiler)
    output = out_dir / f"{source.stem}.{arch}.o"
    return _build(source, target, include_dirs, output, output.with_suffix(".s"), ["-c"], extra_flags, compiler)


def build_extension(
    source: Path,
    target: str,
    include_dirs: Sequence[Path | str],
    out_path: Path,
    module_name: str,
    extra_flags: Sequence[str] = (),
    compiler: Optional[AmdCompiler] = None,
) -> CompileResult:
    """Build the pybind11 module ``module_name`` from ``source`` at ``out_path``, linked against
    the HIP runtime (libamdhip64) and nothing of torch; ``TG_MODULE_NAME`` is defined to
    ``module_name``. Python and pybind11 headers are added to ``include_dirs``. The resources of
    its kernels come back as with ``compile_object``; the assembly stays as
    ``<module_name>.<arch>.s`` beside the module. The compiler is ``find_module_compiler()``'s
    unless given (it must be able to link)."""
    source, out_path = Path(source), Path(out_path)
    if not module_name.isidentifier():
        raise ValueError(f"module name `{module_name}` is not a Python identifier")
    if not out_path.name.startswith(module_name + "."):
        suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
        raise ValueError(
            f"Python imports module `{module_name}` only from a file named `{module_name}.<suffix>`, "
            f"not `{out_path.name}`; name it `{module_name}{suffix}`"
        )
    compiler = compiler or find_module_compiler()
    if not compiler.can_link_modules:
        raise CompilerNotFound(f"{compiler.describe()} cannot link a module (no HIP runtime library)")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    arch, _ = offload_arch(target, compiler)
    flags = ["-fvisibility=hidden", f"-DTG_MODULE_NAME={module_name}", *extra_flags]
    includes = [*include_dirs, *python_include_dirs()]
    assembly = out_path.parent / f"{module_name}.{arch}.s"
    return _build(source, target, includes, out_path, assembly, ["-shared"], flags, compiler)
