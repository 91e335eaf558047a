"""``tilegen.compile`` (this module is ``tilegen.compiler`` so that importing it never rebinds the
function ``tilegen.compile``): validate, emit, build (cached on disk), load, and return a callable.

Steps, each failing with its own clear error: validate once (``ScheduleError`` before any
compiler runs) -> emit -> hash everything that changes the binary -> load the cache entry, or
build it: NVIDIA kernels as device code alone (``nvcc -cubin``, seconds) launched through
tilegen's launcher (``tilegen/launch.py``); otherwise the full pybind11 module through the
driver's ``build_extension`` -> refuse a build that spills (unless ``allow_spills``) -> load ->
``CompiledKernel``.
"""

from __future__ import annotations

import hashlib
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
from typing import TYPE_CHECKING, Any, Optional, TextIO

from backends.drivers.common import RUNTIME_INCLUDE, CompileError, CompileResult, CompilerNotFound, Resources
from ir.models import Kernel as KernelIR
from ir.targets import get_target
from tilegen import cache
from tilegen.callable import CompiledKernel, LaunchError, ProblemCheck
from tilegen.device import NoGPUError, detect_target, device_target

if TYPE_CHECKING:
    from tilegen.tuner import TuneTable

__all__ = [
    "CompileError",
    "CompiledKernel",
    "CompilerNotFound",
    "Frontend",
    "LaunchError",
    "NoGPUError",
    "SpillError",
    "Toolchain",
    "binary_inputs",
    "compile",
    "detect_target",
    "device_target",
    "entry_key",
]

ENV_KITTENS_ROOT = "TILEGEN_KITTENS_ROOT"
#: ``TILEGEN_BUILD=module`` builds the full pybind11 module even where a device-only build works.
ENV_BUILD = "TILEGEN_BUILD"
#: The module name the cache key is computed with; the real, hash-derived name is only known after.
_KEY_MODULE_NAME = "tilegen_module"


class SpillError(CompileError):
    """The compiler's report shows register spills or scratch memory: the kernel would run, slowly
    and against the schedule's register plan. ``compile(..., allow_spills=True)`` accepts it."""

    def __init__(self, message: str, source: Path, command: list[str], log: str) -> None:
        RuntimeError.__init__(self, message)
        self.source, self.command, self.log = source, command, log


# --------------------------------------------------------------------------------------------
# The pieces compile() drives (injectable, so each step can be tested with a small fake)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Frontend:
    """Schedule -> checked source: the validator, the emitter and the run-time size check."""

    validate: Callable[[KernelIR, str], Any]
    #: emit(kernel, target, module_name=...) -> HIP source of a kernel ``validate`` just accepted
    #: (compile validates once, so this must not validate again).
    emit: Callable[..., str]
    check_problem: ProblemCheck
    #: The headers the emitted code is written against (a user's kittens_root goes before them).
    runtime_include: Path = RUNTIME_INCLUDE
    #: Files / directories whose contents decide what validate and emit do. When given, a kernel
    #: whose IR, target and toolchain were seen before is loaded without validating or emitting
    #: it again (both are deterministic functions of those inputs).
    code: tuple[Path, ...] = ()
    #: launch_spec(kernel, target) -> ``backends.hip.launch.LaunchSpec``: what a launcher needs to
    #: run the device code alone. Without it, kernels are built as full pybind11 modules.
    launch_spec: Optional[Callable[[KernelIR, str], Any]] = None


@dataclass(frozen=True)
class Toolchain:
    """Source -> loadable module for one vendor."""

    name: str  # "nvcc" / "hipcc"
    compiler: str  # path of the compiler binary: its identity and --version go into the cache key
    build_extension: Callable[..., CompileResult]  # (source, target, include_dirs, out_path, module_name)
    #: Files whose contents decide the command line (the driver modules): a flag change there
    #: changes the cache key.
    flag_sources: tuple[Path, ...] = ()
    #: build_device(source, target, include_dirs, out_dir, layout_checks) -> CompileResult with
    #: the device image as ``output`` and the kernels' symbols as ``entries`` (None: module only).
    build_device: Optional[Callable[..., CompileResult]] = None


def _validate(kernel: KernelIR, target: str) -> Any:
    from ir.validate import validate

    return validate(kernel, target)


def _emit(kernel: KernelIR, target: str, *, module_name: Optional[str] = None) -> str:
    from backends.hip.emitter import render  # emit() without validating again: compile validated

    return render(kernel, target, module_name=module_name)


def _launch_spec(kernel: KernelIR, target: str) -> Any:
    from backends.hip.launch import launch_spec

    return launch_spec(kernel, target)


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
        launch_spec=_launch_spec,
    )


def default_toolchain(target: str) -> Toolchain:
    """The driver for ``target``'s vendor: nvcc for NVIDIA, the AMD compiler ``hipcc.py`` finds for
    AMD; both build device code alone for the launcher, and full modules when asked. Raises the
    driver's ``CompilerNotFound`` (which says what to install) when the compiler is missing."""
    from backends.drivers import common

    if get_target(target).vendor == "nvidia":
        from backends.drivers import nvcc

        return Toolchain(
            name="nvcc",
            compiler=nvcc.find_nvcc(),
            build_extension=nvcc.build_extension,
            flag_sources=(Path(nvcc.__file__), Path(common.__file__)),
            build_device=nvcc.build_device,
        )
    from backends.drivers import amd_device, hipcc

    found = hipcc.find_compiler()  # raises CompilerNotFound, saying what to install
    # Device code objects for the launcher, with the AMD compiler hipcc.py finds (ROCm, else the
    # compile toolchain); full modules (kittens_root, TILEGEN_BUILD=module) need one that links,
    # which hipcc.build_extension finds when asked. Debian's old hipcc builds modules only.
    return Toolchain(
        name=f"amd-{found.kind}",
        compiler=found.path,
        build_extension=hipcc.build_extension,
        flag_sources=(Path(amd_device.__file__), Path(hipcc.__file__), Path(common.__file__)),
        build_device=amd_device.build_device if found.kind != "hipcc" else None,
    )


# --------------------------------------------------------------------------------------------
# compile()
# --------------------------------------------------------------------------------------------


def compile(
    kernel: KernelIR | TuneTable,
    target: Optional[str] = None,
    *,
    kittens_root: Optional[os.PathLike[str] | str] = None,
    cache_dir: Optional[os.PathLike[str] | str] = None,
    verbose: bool = False,
    allow_spills: bool = False,
    frontend: Optional[Frontend] = None,
    toolchain: Optional[Toolchain] = None,
) -> CompiledKernel:
    """Validate, emit, build (or load from the disk cache) and load ``kernel``.

    ``target`` defaults to the GPU torch sees. ``kittens_root`` (or ``TILEGEN_KITTENS_ROOT``)
    puts a HipKittens / ThunderKittens include directory before the bundled runtime.
    ``cache_dir`` overrides ``TILEGEN_CACHE_DIR``. ``verbose`` prints each step and its time to
    stderr. A build whose compiler report shows register spills or scratch raises ``SpillError``
    unless ``allow_spills``. Given a ``tilegen.tune`` table instead of a kernel, returns a
    ``TunedKernel`` that runs each call with the best configuration for its shape. ``frontend`` /
    ``toolchain`` replace the validator+emitter / the compiler driver.
    """
    from tilegen.tuner import TunedKernel, TuneTable

    if isinstance(kernel, TuneTable):  # a tuned table: dispatch each call to its shape's best configuration
        table = kernel
        options = {"kittens_root": kittens_root, "cache_dir": cache_dir, "verbose": verbose}
        options.update(allow_spills=allow_spills, frontend=frontend, toolchain=toolchain)
        return TunedKernel(table, lambda one: compile(one, target or table.target, **options))  # type: ignore[return-value]
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
    mode = build_mode(frontend, toolchain, include_dirs)
    # A kernel seen before (same IR, target, toolchain and frontend code) loads without being
    # validated or emitted again; finding that out must not run the compiler (for --version).
    version = cache.tool_version(toolchain.compiler, root, run=False)
    if version is not None and frontend.code:
        binary = binary_inputs(target, toolchain, include_dirs, version, mode)
        alias = _shortcut(kernel, frontend, binary)
        entry = cache.follow_alias(root, alias)
        if entry is not None:
            why = _mismatch(entry, _request(kernel, target, binary))
            if why is None:
                say.step(f"seen before: {entry.path}")
                return _load(kernel, target, frontend, entry, say, started, allow_spills, root)
            say(f"alias {alias} leads to {entry.path}, which was built for another request ({why}); ignoring it")

    frontend.validate(kernel, target)
    say.step("validated")
    key_source = frontend.emit(kernel, target, module_name=_KEY_MODULE_NAME)
    if len(include_dirs) > 1:  # a user's kittens checkout: supported pairs only, refused before any compiler runs
        from backends.amd.hipkittens import for_kittens_checkout

        key_source = for_kittens_checkout(include_dirs[0], target, key_source)
    say.step("emitted")
    binary = binary_inputs(
        target, toolchain, include_dirs, version or cache.tool_version(toolchain.compiler, root), mode
    )
    key = entry_key(key_source, binary)
    module_name = f"tg_{kernel.name}_{key[:16]}"
    request = _request(kernel, target, binary, key_source)
    say.step(f"cache key {key} ({root})")

    def build(build_dir: Path) -> cache.BuiltFiles:
        source = _named(key_source, module_name) or frontend.emit(kernel, target, module_name=module_name)
        return _build(kernel, target, frontend, toolchain, include_dirs, module_name, source, mode, build_dir, say)

    with _Progress(f"{kernel.name} for {target}") as progress:
        entry, built = cache.get_or_build(
            root,
            key,
            lambda build_dir: progress.run(lambda: build(build_dir)),
            on_wait=progress.waiting,
            describe={
                "kernel": kernel.name,
                "target": target,
                "module_name": module_name,
                "inputs": _short(binary),
                "request": request,
            },
            verify=lambda found: _mismatch(found, request),
        )
    say.step(f"{'built' if built else 'loaded from cache'} {entry.path}")
    if frontend.code:
        cache.write_alias(root, _shortcut(kernel, frontend, binary), key)
    return _load(kernel, target, frontend, entry, say, started, allow_spills, root)


def schedule_options(path: os.PathLike[str] | str) -> dict[str, Any]:
    """The ``COMPILE_OPTIONS`` dict a schedule file declares for ``compile`` (e.g.
    ``{"allow_spills": True}``, with the reason beside it); ``{}`` when it declares none."""
    import ast

    tree = ast.parse(Path(path).read_text(), filename=str(path))
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign):
            targets = [node.target]
        else:
            continue
        if any(isinstance(t, ast.Name) and t.id == "COMPILE_OPTIONS" for t in targets) and node.value is not None:
            options = ast.literal_eval(node.value)
            unknown = set(options) - {"allow_spills"}
            if not isinstance(options, dict) or unknown:
                raise ValueError(f"{path}: COMPILE_OPTIONS may only set allow_spills, got {options!r}")
            return dict(options)
    return {}


def build_mode(frontend: Frontend, toolchain: Toolchain, include_dirs: list[Path]) -> str:
    """"device" (device code alone, launched by tilegen's launcher) where the toolchain, the
    frontend and the headers allow it, else "module" (the emitted file as a pybind11 module).

    A user's kittens checkout (``kittens_root``) gets the module build: its ``gl`` has its own
    layout, which the launcher does not pack. ``TILEGEN_BUILD=module`` forces the module build."""
    if os.environ.get(ENV_BUILD, "").strip().lower() == "module":
        return "module"
    if toolchain.build_device is None or frontend.launch_spec is None:
        return "module"
    if [Path(d) for d in include_dirs] != [Path(frontend.runtime_include)]:
        return "module"
    return "device"


def _named(key_source: str, module_name: str) -> Optional[str]:
    """The source emitted with the placeholder module name, with the real one (None when the
    placeholder is not where the module is named once, so the caller emits again)."""
    placeholder = f"PYBIND11_MODULE({_KEY_MODULE_NAME},"
    if key_source.count(placeholder) != 1 or key_source.count(_KEY_MODULE_NAME) != 1:
        return None
    return key_source.replace(placeholder, f"PYBIND11_MODULE({module_name},")


def _request(
    kernel: KernelIR, target: str, binary: dict[str, str], source: Optional[str] = None
) -> dict[str, str]:
    """What an entry must have been built for to serve this compile() call (the manifest's
    "request"): the kernel, the target, the toolchain and headers, and the emitted source (when
    known) or the IR."""
    request = {
        "kernel": kernel.name,
        "target": target,
        "inputs": cache.cache_key(binary),
        "ir": hashlib.sha256(kernel.model_dump_json().encode()).hexdigest(),
    }
    if source is not None:
        request["source"] = hashlib.sha256(source.encode()).hexdigest()
    return request


def _mismatch(entry: cache.CacheEntry, request: dict[str, str]) -> Optional[str]:
    """Why ``entry`` cannot serve ``request`` (None when it can). With the source known, the IR
    may differ (two IRs can emit one source); without it (an alias), the IR must match."""
    recorded = entry.manifest.get("request")
    if not isinstance(recorded, dict):
        return "its manifest records no request"
    names = ("kernel", "target", "inputs", "source") if "source" in request else ("kernel", "target", "inputs", "ir")
    for name in names:
        if recorded.get(name) != request[name]:
            return f"{name} {recorded.get(name)!r}, not {request[name]!r}"
    return None


def _shortcut(kernel: KernelIR, frontend: Frontend, binary: dict[str, str]) -> str:
    """The alias name of a kernel: what validate and emit see, instead of what emit writes."""
    code = cache.tree_digest(frontend.code, (".py", ".j2"))
    return cache.cache_key({**binary, "ir": kernel.model_dump_json(), "frontend": code})


def _load(
    kernel: KernelIR,
    target: str,
    frontend: Frontend,
    entry: cache.CacheEntry,
    say: _Reporter,
    started: float,
    allow_spills: bool,
    root: Path,
) -> CompiledKernel:
    if not allow_spills:
        check_spills(kernel, target, entry)
    build = entry.build
    if build.get("mode") == "device":
        from backends.hip.launch import LaunchSpec
        from tilegen.launch import DeviceModule

        try:
            spec = LaunchSpec.from_json(build["launch"])
            function = str(build["function"])
        except (KeyError, TypeError, ValueError) as error:
            raise cache.CacheError(
                f"the cache entry {entry.path} has a malformed launch record ({error!r}); "
                "`tilegen cache clear` removes it"
            ) from error
        module: Any = DeviceModule(entry.library_path, function, spec, get_target(target).vendor, root)
    else:
        module = import_module(entry.library_path, entry.manifest["module_name"])
    say.step(f"loaded {module.__name__}")
    say(f"compile() took {1e3 * (time.perf_counter() - started):.1f} ms")
    return CompiledKernel(kernel, target, module, entry, check_problem=frontend.check_problem)


def check_spills(kernel: KernelIR, target: str, entry: cache.CacheEntry) -> None:
    """Raise ``SpillError`` when the compiler reported spills or scratch for the entry's kernels."""
    build = entry.build
    found = [r for r in _resources(build) if r.spills or r.scratch_bytes]
    if not found:
        return
    try:
        from ir.resources import register_estimate

        estimate = register_estimate(kernel, target)
        planned = f"; the schedule's register estimate is {estimate.kernel} per lane of {estimate.limit}"
    except Exception:  # the estimate is context for the message, never a reason to fail differently
        planned = ""
    figures = "; ".join(
        f"{r.kernel}: {r.registers} registers, {r.spills} bytes spilled (stores + loads), "
        f"{r.scratch_bytes} bytes of stack/scratch"
        for r in found
    )
    raise SpillError(
        f"{kernel.name} for {target} spills: the compiler reports {figures}{planned}. A spilling kernel "
        "runs from local memory, far slower than its schedule promises: lower the register tiles or "
        "pipeline depth, raise the role's register budget, or pass allow_spills=True to accept it. "
        f"The build log is {entry.log_path}",
        entry.source_path,
        list(build.get("command", [])),
        "",
    )


def _resources(build: dict[str, Any]) -> list[Resources]:
    import dataclasses

    known = {f.name for f in dataclasses.fields(Resources)}
    records = build.get("resources", [])
    if not isinstance(records, list):
        return []
    return [Resources(**{k: v for k, v in r.items() if k in known}) for r in records if isinstance(r, dict)]


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


def binary_inputs(
    target: str, toolchain: Toolchain, include_dirs: list[Path], compiler_version: str, mode: str = "module"
) -> dict[str, str]:
    """Everything besides the source that changes the built binary, by name (hashed into the key)."""
    import pybind11
    import torch

    return {
        "target": target,
        "build": mode,
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
    source: str,
    mode: str,
    build_dir: Path,
    say: _Reporter,
) -> cache.BuiltFiles:
    source_path = build_dir / cache.SOURCE_NAME
    source_path.write_text(source)
    started = time.perf_counter()
    record: dict[str, Any] = {"mode": mode, "toolchain": toolchain.name}
    try:
        if mode == "device":
            assert toolchain.build_device is not None and frontend.launch_spec is not None
            spec = frontend.launch_spec(kernel, target)
            result = toolchain.build_device(
                source=source_path,
                target=target,
                include_dirs=list(include_dirs),
                out_dir=build_dir,
                layout_checks=spec.static_asserts(),
            )
            record["launch"] = spec.to_json()
            record["function"] = _entry_symbol(result, spec.kernel_fn, source_path)
        else:
            library = module_name + (sysconfig.get_config_var("EXT_SUFFIX") or ".so")
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
    output = Path(result.output)
    if output.resolve().parent != build_dir.resolve():
        os.replace(output, build_dir / output.name)
    say.step(f"{toolchain.name} built {output.name} ({mode}) in {seconds:.1f} s: {' '.join(result.command)}")
    record.update(
        command=list(result.command), seconds=round(seconds, 3), resources=[asdict(r) for r in result.resources]
    )
    return cache.BuiltFiles(library=output.name, record=record)


def _entry_symbol(result: CompileResult, kernel_fn: str, source: Path) -> str:
    """The mangled name of ``kernel_fn`` among the kernels the compiler reported."""
    from backends.drivers.ptxas import kernel_name

    for symbol in result.entries:
        if symbol == kernel_fn or kernel_name(symbol) == kernel_fn:
            return symbol
    raise CompileError(
        source,
        list(result.command),
        f"error: the device image has no kernel {kernel_fn} (it has: {', '.join(result.entries) or 'none'})\n"
        + result.log,
    )


_loaded: dict[Path, ModuleType] = {}
_loaded_lock = threading.Lock()


def import_module(library: Path, module_name: str) -> ModuleType:
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
