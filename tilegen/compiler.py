"""``tilegen.compile`` (this module is ``tilegen.compiler`` so that importing it never rebinds the
function ``tilegen.compile``): validate, emit, build (cached on disk), load, and return a callable.

Steps, each failing with its own clear error: validate (``ScheduleError`` before any compiler
runs) -> emit -> hash everything that changes the binary -> load the cache entry, or build it
with hipcc (AMD) / nvcc (NVIDIA) through the driver's ``build_extension`` -> import the module
(a name unique to the hash) -> ``CompiledKernel``.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys
import sysconfig
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Optional, TextIO

from backends.drivers.common import RUNTIME_INCLUDE, CompileError, CompileResult, CompilerNotFound
from ir.models import Kernel as KernelIR
from ir.targets import TARGETS, get_target
from tilegen import cache
from tilegen.callable import CompiledKernel, LaunchError, ProblemCheck

__all__ = [
    "CompileError",
    "CompiledKernel",
    "CompilerNotFound",
    "Frontend",
    "LaunchError",
    "NoGPUError",
    "Toolchain",
    "binary_inputs",
    "compile",
    "detect_target",
    "device_target",
    "entry_key",
]

ENV_KITTENS_ROOT = "TILEGEN_KITTENS_ROOT"
#: The module name the cache key is computed with; the real, hash-derived name is only known after.
_KEY_MODULE_NAME = "tilegen_module"


class NoGPUError(RuntimeError):
    """compile() was asked to pick the target of the local GPU, and torch sees none."""


# --------------------------------------------------------------------------------------------
# The pieces compile() drives (injectable, so each step can be tested with a small fake)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Frontend:
    """Schedule -> checked source: the validator, the emitter and the run-time size check."""

    validate: Callable[[KernelIR, str], Any]
    emit: Callable[..., str]  # emit(kernel, target, module_name=...) -> HIP source
    check_problem: ProblemCheck
    #: The headers the emitted code is written against (a user's kittens_root goes before them).
    runtime_include: Path = RUNTIME_INCLUDE
    #: Files / directories whose contents decide what validate and emit do. When given, a kernel
    #: whose IR, target and toolchain were seen before is loaded without validating or emitting
    #: it again (both are deterministic functions of those inputs).
    code: tuple[Path, ...] = ()


@dataclass(frozen=True)
class Toolchain:
    """Source -> loadable module for one vendor."""

    name: str  # "nvcc" / "hipcc"
    compiler: str  # path of the compiler binary: its identity and --version go into the cache key
    build_extension: Callable[..., CompileResult]  # (source, target, include_dirs, out_path, module_name)
    #: Files whose contents decide the command line (the driver modules): a flag change there
    #: changes the cache key.
    flag_sources: tuple[Path, ...] = ()


def _validate(kernel: KernelIR, target: str) -> Any:
    from ir.validate import validate

    return validate(kernel, target)


def _emit(kernel: KernelIR, target: str, *, module_name: Optional[str] = None) -> str:
    from backends.hip.emitter import emit

    return emit(kernel, target, module_name=module_name)


def _check_problem(kernel: KernelIR, m: int, n: int, k: int) -> None:
    from ir.validate import check_problem

    check_problem(kernel, m, n, k)


_PROJECT = Path(__file__).resolve().parent.parent


def default_frontend() -> Frontend:
    """tilegen's validator and HIP emitter, imported only when a kernel must be validated or
    emitted (loading a cached kernel needs neither)."""
    return Frontend(
        validate=_validate,
        emit=_emit,
        check_problem=_check_problem,
        code=(_PROJECT / "ir", _PROJECT / "backends" / "hip"),
    )


def default_toolchain(target: str) -> Toolchain:
    """The driver for ``target``'s vendor: nvcc for NVIDIA, hipcc for AMD. Raises the driver's
    ``CompilerNotFound`` (which says what to install) when the compiler is missing."""
    from backends.drivers import common

    if get_target(target).vendor == "nvidia":
        from backends.drivers import nvcc

        name, driver, compiler = "nvcc", nvcc, nvcc.find_nvcc()
    else:
        from backends.drivers import hipcc

        name, driver, compiler = "hipcc", hipcc, hipcc.find_hipcc()
    return Toolchain(
        name=name,
        compiler=compiler,
        build_extension=driver.build_extension,
        flag_sources=(Path(driver.__file__), Path(common.__file__)),
    )


# --------------------------------------------------------------------------------------------
# Targets
# --------------------------------------------------------------------------------------------


def device_target(index: Optional[int] = None) -> str:
    """The tilegen target of GPU ``index`` (default: torch's current device)."""
    import torch

    if not torch.cuda.is_available():
        raise NoGPUError(
            "no GPU visible to torch; tilegen.emit and `tilegen check` still work, and "
            "tilegen.compile(kernel, target=...) builds without a GPU"
        )
    index = torch.cuda.current_device() if index is None else index
    props = torch.cuda.get_device_properties(index)
    if getattr(torch.version, "hip", None):
        arch = str(props.gcnArchName).split(":")[0]  # "gfx942:sramecc+:xnack-" -> "gfx942"
    else:
        arch = f"sm_{props.major}{props.minor}"
        if arch == "sm_90":
            arch = "sm_90a"  # the arch-specific features (setmaxnreg, wgmma) need the "a" target
    return arch


def detect_target() -> str:
    """The target of the GPU torch sees, checked against the targets tilegen knows."""
    arch = device_target()
    if arch not in TARGETS:
        raise ValueError(
            f"the GPU torch sees is {arch}, which tilegen has no target for; known targets: {', '.join(TARGETS)}"
        )
    return arch


# --------------------------------------------------------------------------------------------
# compile()
# --------------------------------------------------------------------------------------------


def compile(
    kernel: KernelIR,
    target: Optional[str] = None,
    *,
    kittens_root: Optional[os.PathLike[str] | str] = None,
    cache_dir: Optional[os.PathLike[str] | str] = None,
    verbose: bool = False,
    frontend: Optional[Frontend] = None,
    toolchain: Optional[Toolchain] = None,
) -> CompiledKernel:
    """Validate, emit, build (or load from the disk cache) and import ``kernel``.

    ``target`` defaults to the GPU torch sees. ``kittens_root`` (or ``TILEGEN_KITTENS_ROOT``)
    puts a HipKittens / ThunderKittens include directory before the bundled runtime.
    ``cache_dir`` overrides ``TILEGEN_CACHE_DIR``. ``verbose`` prints each step and its time to
    stderr. ``frontend`` / ``toolchain`` replace the validator+emitter / the compiler driver.
    """
    say = _Reporter(verbose)
    started = time.perf_counter()
    if target is None:
        target = detect_target()
        say(f"target {target} (from the GPU torch sees)")
    get_target(target)
    frontend = frontend or default_frontend()
    include_dirs = include_path(kittens_root, frontend.runtime_include)
    root = cache.cache_root(cache_dir)
    try:
        toolchain = toolchain or default_toolchain(target)
    except CompilerNotFound:
        frontend.validate(kernel, target)  # a broken schedule is the more useful thing to hear about
        raise
    # A kernel seen before (same IR, target, toolchain and frontend code) loads without being
    # validated or emitted again; finding that out must not run the compiler (for --version).
    version = cache.tool_version(toolchain.compiler, root, run=False)
    if version is not None and frontend.code:
        binary = binary_inputs(target, toolchain, include_dirs, version)
        entry = cache.follow_alias(root, _shortcut(kernel, frontend, binary))
        if entry is not None:
            say.step(f"seen before: {entry.path}")
            return _load(kernel, target, frontend, entry, say, started)

    frontend.validate(kernel, target)
    say.step("validated")
    key_source = frontend.emit(kernel, target, module_name=_KEY_MODULE_NAME)
    say.step("emitted")
    binary = binary_inputs(target, toolchain, include_dirs, version or cache.tool_version(toolchain.compiler, root))
    key = entry_key(key_source, binary)
    module_name = f"tg_{kernel.name}_{key[:16]}"
    say.step(f"cache key {key} ({root})")

    def build(build_dir: Path) -> cache.BuiltFiles:
        return _build(kernel, target, frontend, toolchain, include_dirs, module_name, build_dir, say)

    with _Progress(f"{kernel.name} for {target}") as progress:
        entry, built = cache.get_or_build(
            root,
            key,
            lambda build_dir: progress.run(lambda: build(build_dir)),
            on_wait=progress.waiting,
            describe={"kernel": kernel.name, "target": target, "module_name": module_name, "inputs": _short(binary)},
        )
    say.step(f"{'built' if built else 'loaded from cache'} {entry.path}")
    if frontend.code:
        cache.write_alias(root, _shortcut(kernel, frontend, binary), key)
    return _load(kernel, target, frontend, entry, say, started)


def _shortcut(kernel: KernelIR, frontend: Frontend, binary: dict[str, str]) -> str:
    """The alias name of a kernel: what validate and emit see, instead of what emit writes."""
    code = cache.tree_digest(frontend.code, (".py", ".j2"))
    return cache.cache_key({**binary, "ir": kernel.model_dump_json(), "frontend": code})


def _load(
    kernel: KernelIR, target: str, frontend: Frontend, entry: cache.CacheEntry, say: _Reporter, started: float
) -> CompiledKernel:
    module = _import(entry.library_path, entry.manifest["module_name"])
    say.step(f"imported {module.__name__}")
    say(f"compile() took {1e3 * (time.perf_counter() - started):.1f} ms")
    return CompiledKernel(kernel, target, module, entry, check_problem=frontend.check_problem)


def include_path(
    kittens_root: Optional[os.PathLike[str] | str] = None, runtime_include: Path = RUNTIME_INCLUDE
) -> list[Path]:
    """Header directories in search order: the user's kittens checkout (if any), then ours."""
    root = kittens_root if kittens_root is not None else os.environ.get(ENV_KITTENS_ROOT) or None
    if root is None:
        return [runtime_include]
    root = Path(root).expanduser().resolve()
    for candidate in (root, root / "include"):
        if (candidate / "kittens.cuh").is_file():
            return [candidate, runtime_include]
    raise FileNotFoundError(
        f"kittens_root={str(root)!r} has no kittens.cuh (looked in {root} and {root / 'include'}); point it at "
        f"a HipKittens / ThunderKittens checkout or its include directory (also settable as {ENV_KITTENS_ROOT})"
    )


def binary_inputs(target: str, toolchain: Toolchain, include_dirs: list[Path], compiler_version: str) -> dict[str, str]:
    """Everything besides the source that changes the built binary, by name (hashed into the key)."""
    import pybind11
    import torch

    return {
        "target": target,
        "compiler": os.path.realpath(toolchain.compiler),
        "compiler_version": compiler_version,
        "flags": cache.tree_digest(list(toolchain.flag_sources), suffixes=(".py",)),
        "include_dirs": "\n".join(str(d) for d in include_dirs),
        "headers": cache.tree_digest(include_dirs),
        "python_abi": f"{sys.implementation.cache_tag} {sysconfig.get_config_var('EXT_SUFFIX')}",
        "pybind11": pybind11.__version__,
        "torch": f"{torch.__version__} cuda={torch.version.cuda} hip={getattr(torch.version, 'hip', None)}",
    }


def entry_key(source: str, binary: dict[str, str]) -> str:
    """The cache entry of ``source`` (emitted with the placeholder module name) built with ``binary``."""
    return cache.cache_key({**binary, "source": source})


def _short(parts: dict[str, str]) -> dict[str, str]:
    """The key inputs as the manifest records them."""
    return {name: value if len(value) <= 200 else f"{value[:200]}..." for name, value in parts.items()}


def _build(
    kernel: KernelIR,
    target: str,
    frontend: Frontend,
    toolchain: Toolchain,
    include_dirs: list[Path],
    module_name: str,
    build_dir: Path,
    say: _Reporter,
) -> cache.BuiltFiles:
    source_path = build_dir / cache.SOURCE_NAME
    source_path.write_text(frontend.emit(kernel, target, module_name=module_name))
    library = module_name + (sysconfig.get_config_var("EXT_SUFFIX") or ".so")
    started = time.perf_counter()
    try:
        result = toolchain.build_extension(
            source=source_path,
            target=target,
            include_dirs=list(include_dirs),
            out_path=build_dir / library,
            module_name=module_name,
        )
    except CompileError as error:
        (build_dir / cache.LOG_NAME).write_text(f"$ {' '.join(error.command)}\n{error.log}")
        raise
    seconds = time.perf_counter() - started
    (build_dir / cache.LOG_NAME).write_text(f"$ {' '.join(result.command)}\n{result.log}")
    say.step(f"{toolchain.name} built {library} in {seconds:.1f} s: {' '.join(result.command)}")
    if Path(result.output).resolve() != (build_dir / library).resolve():
        os.replace(result.output, build_dir / library)
    return cache.BuiltFiles(
        library=library,
        record={
            "command": list(result.command),
            "seconds": round(seconds, 3),
            "resources": [asdict(r) for r in result.resources],
            "toolchain": toolchain.name,
        },
    )


_loaded: dict[Path, ModuleType] = {}
_loaded_lock = threading.Lock()


def _import(library: Path, module_name: str) -> ModuleType:
    """Import the extension at ``library`` under its own name (unique per cache key), once per process."""
    library = library.resolve()
    with _loaded_lock:
        if library in _loaded:
            return _loaded[library]
        loader = importlib.machinery.ExtensionFileLoader(module_name, str(library))
        spec = importlib.util.spec_from_file_location(module_name, library, loader=loader)
        if spec is None:
            raise ImportError(f"cannot make an import spec for {library}")
        module = importlib.util.module_from_spec(spec)
        try:
            loader.exec_module(module)
        except ImportError as error:
            raise ImportError(
                f"built {library} but could not load it: {error}. Is the GPU runtime (CUDA / ROCm) the module "
                "links against installed here? `tilegen cache clear` forces a rebuild."
            ) from error
        _loaded[library] = module
        return module


# --------------------------------------------------------------------------------------------
# What the user sees while it runs
# --------------------------------------------------------------------------------------------


class _Reporter:
    """``verbose`` output: each step with the milliseconds since the previous one."""

    def __init__(self, enabled: bool, stream: Optional[TextIO] = None) -> None:
        self.enabled = enabled
        self.stream = stream
        self._last = time.perf_counter()

    def __call__(self, message: str) -> None:
        if self.enabled:
            print(f"[tilegen] {message}", file=self.stream or sys.stderr, flush=True)

    def step(self, message: str) -> None:
        now = time.perf_counter()
        self(f"{message} (+{1e3 * (now - self._last):.1f} ms)")
        self._last = now


class _Progress:
    """Shown only while a build runs (or waits for another process's build): on a terminal, a
    line with the elapsed seconds; otherwise one "compiling ..." line."""

    def __init__(self, what: str, stream: Optional[TextIO] = None) -> None:
        self.what = what
        self.stream = stream or sys.stderr
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._started = 0.0
        self._verb = "compiling"

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self._finish()

    def waiting(self) -> None:
        self._begin("waiting for another process compiling")

    def run(self, work: Callable[[], cache.BuiltFiles]) -> cache.BuiltFiles:
        self._finish()
        self._begin("compiling")
        ok = False
        try:
            result = work()
            ok = True
            return result
        finally:
            self._finish(done=ok)

    def _is_tty(self) -> bool:
        isatty = getattr(self.stream, "isatty", None)
        return bool(isatty and isatty())

    def _begin(self, verb: str) -> None:
        self._verb = verb
        self._started = time.perf_counter()
        if not self._is_tty():
            print(f"{verb} {self.what}...", file=self.stream, flush=True)
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._tick, daemon=True)
        self._thread.start()

    def _tick(self) -> None:
        while not self._stop.wait(0.5):
            elapsed = time.perf_counter() - self._started
            self.stream.write(f"\r\033[K{self._verb} {self.what}... {elapsed:.0f} s")
            self.stream.flush()

    def _finish(self, done: bool = False) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
            self.stream.write("\r\033[K")
            if done:
                self.stream.write(f"compiled {self.what} in {time.perf_counter() - self._started:.1f} s\n")
            self.stream.flush()
