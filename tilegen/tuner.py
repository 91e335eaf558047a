"""``tilegen.tune``: find the fastest valid configuration of a schedule for each problem shape.

(This module is ``tilegen.tuner`` so that importing it never rebinds the function ``tilegen.tune``,
as ``tilegen.compiler`` does for ``tilegen.compile``.)

    table = tilegen.tune(kernel_factory, {"block": [(128, 128), (128, 256)], "stages": [2, 3, 4]},
                         shapes=[(4096, 4096, 4096), (8192, 8192, 8192)])
    print(table.markdown())
    fn = tilegen.compile(table)          # each call runs the best configuration for its shape

1. **Prune.** Every configuration of the space (the product of its values) is built with the
   factory and validated for the target; one the builder or the validator rejects is pruned, with
   the rules it broke (``table.pruned_by_rule()``), before any compiler runs. A configuration that
   cannot run a shape (``check_problem``) is pruned for that shape.
2. **Build** the valid ones in parallel (``compile``, cached: device code alone, seconds each). A
   build that spills is pruned ("spills") unless ``allow_spills``.
3. **Time** each on the GPU for each shape: warm-up calls, then CUDA events around each of
   ``repeats`` calls queued back to back on inputs rotated past twice the L2, the median; every
   result is checked against the float64 product of the same bf16 inputs first. Timings are cached
   on disk per GPU, driver, built binary and shape (``<cache>/.tune/``). Without a GPU it stops
   after building and says it cannot time.
4. **Rank** per shape (``table.ranked(shape)``), fastest correct first; ``compile(table)``
   returns a ``TunedKernel`` that dispatches each call to the best configuration for its shape.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import statistics
import sys
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional, Protocol

from ir.models import Kernel as KernelIR
from ir.semantics import problem_n
from tilegen import cache

Shape = tuple[int, int, int]


# --------------------------------------------------------------------------------------------
# The table
# --------------------------------------------------------------------------------------------


@dataclass
class Config:
    """One point of the space: its parameters and, once built, its kernel and cache entry."""

    index: int
    params: dict[str, Any]
    kernel_json: Optional[str] = None  # the IR (so a table loads without the factory)
    entry: Optional[str] = None  # cache path of the build
    status: str = "pending"  # pending | pruned | built | failed
    rules: list[str] = field(default_factory=list)  # why it was pruned (rule names)
    message: str = ""  # the first line of the reason
    build_seconds: Optional[float] = None

    @property
    def label(self) -> str:
        return ", ".join(f"{name}={_text(value)}" for name, value in self.params.items())


@dataclass
class Timing:
    """One configuration at one shape."""

    config: int
    shape: Shape
    ms: Optional[float] = None
    rel_error: Optional[float] = None
    correct: bool = False
    note: str = ""  # "cached", "not timed: no GPU", "cannot run this shape (...)", ...

    @property
    def tflops(self) -> Optional[float]:
        m, n, k = self.shape
        return 2.0 * m * n * k / self.ms / 1e9 if self.ms else None


@dataclass
class TuneTable:
    """What ``tune`` found: every configuration, why each pruned one was, and the timings."""

    name: str
    target: str
    space: dict[str, list[Any]]
    shapes: list[Shape]
    configs: list[Config]
    timings: list[Timing]
    default: Optional[int] = None  # the configuration equal to the factory's defaults, if any
    gpu: str = ""
    timed: bool = False

    def pruned_by_rule(self) -> dict[str, int]:
        """How many configurations each rule pruned (a configuration counts once per rule)."""
        counts: Counter[str] = Counter()
        for config in self.configs:
            if config.status == "pruned":
                counts.update(set(config.rules))
        return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))

    def ranked(self, shape: Shape) -> list[Timing]:
        """Timings at ``shape``, fastest correct first, then the rest (incorrect, untimed)."""
        rows = [t for t in self.timings if tuple(t.shape) == tuple(shape)]
        return sorted(rows, key=lambda t: (not (t.correct and t.ms is not None), math.inf if t.ms is None else t.ms))

    def best(self, shape: Shape) -> Optional[Config]:
        """The fastest correct configuration at ``shape`` (None if none was timed)."""
        for timing in self.ranked(shape):
            if timing.correct and timing.ms is not None:
                return self.configs[timing.config]
        return None

    def markdown(self, top: int = 10) -> str:
        """The ranked table per shape (the best ``top`` rows, plus the default configuration)."""
        built = sum(c.status == "built" for c in self.configs)
        pruned = self.pruned_by_rule()
        lines = [
            f"tuned {self.name} for {self.target} ({self.gpu or 'no GPU'}): {len(self.configs)} configurations, "
            f"{sum(c.status == 'pruned' for c in self.configs)} pruned, {built} built, "
            f"{sum(c.status == 'failed' for c in self.configs)} failed",
        ]
        if pruned:
            lines.append("pruned by: " + ", ".join(f"{rule} {count}" for rule, count in pruned.items()))
        for shape in self.shapes:
            m, n, k = shape
            lines += ["", f"### {m} x {n} x {k}", "", "| rank | configuration | ms | TFLOP/s | rel. error | note |"]
            lines.append("| ---: | --- | ---: | ---: | ---: | --- |")
            rows = self.ranked(shape)
            shown = rows[:top] + [t for t in rows[top:] if t.config == self.default]
            for rank, t in enumerate(shown, 1):
                config = self.configs[t.config]
                marker = " (default)" if t.config == self.default else ""
                ms = f"{t.ms:.3f}" if t.ms is not None else "-"
                tflops = f"{t.tflops:.1f}" if t.tflops is not None else "-"
                error = f"{t.rel_error:.1e}" if t.rel_error is not None else "-"
                note = t.note or ("" if t.correct or t.ms is None else "WRONG RESULT")
                lines.append(f"| {rank} | {config.label}{marker} | {ms} | {tflops} | {error} | {note} |")
            best = self.best(shape)
            default = next((t for t in rows if t.config == self.default and t.ms is not None), None)
            if best is not None and default is not None:
                best_ms = next(t.ms for t in rows if t.config == best.index)
                assert best_ms is not None and default.ms is not None
                lines.append(f"\nbest {best.label}: {default.ms / best_ms:.2f}x the default's speed")
        if not self.timed:
            lines.append("\nnot timed: no GPU visible to torch (pruned and built only)")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TuneTable:
        configs = [Config(**c) for c in data["configs"]]
        timings = [Timing(**{**t, "shape": tuple(t["shape"])}) for t in data["timings"]]
        shapes = [tuple(s) for s in data["shapes"]]
        return cls(**{**data, "configs": configs, "timings": timings, "shapes": shapes})  # type: ignore[arg-type]

    def save(self, path: os.PathLike[str] | str) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=1, default=_json_default))

    @classmethod
    def load(cls, path: os.PathLike[str] | str) -> TuneTable:
        return cls.from_json(json.loads(Path(path).read_text()))


# --------------------------------------------------------------------------------------------
# Timers
# --------------------------------------------------------------------------------------------


class Timer(Protocol):
    """Times a compiled kernel at a shape. ``identity`` names the GPU and driver (the timing cache
    key); ``measure`` returns (median ms, relative error against float64)."""

    def identity(self) -> str: ...

    def measure(self, fn: Any, shape: Shape) -> tuple[float, float]: ...


class GpuTimer:
    """CUDA events around ``repeats`` calls queued back to back after ``warmup`` calls, inputs
    rotating over enough sets to exceed twice the L2; the median. The result of the first call is
    checked against the float64 product first (C poisoned with NaN beforehand)."""

    def __init__(self, warmup: int = 10, repeats: int = 50) -> None:
        self.warmup, self.repeats = warmup, repeats
        self._inputs: dict[tuple[Any, ...], tuple[list[Any], Any]] = {}

    def identity(self) -> str:
        import torch

        props = torch.cuda.get_device_properties(torch.cuda.current_device())
        driver = getattr(torch._C, "_cuda_getDriverVersion", lambda: "?")()
        runtime = f"hip {torch.version.hip}" if getattr(torch.version, "hip", None) else f"cuda {torch.version.cuda}"
        sms = props.multi_processor_count
        return f"{props.name} ({sms} SMs), driver {driver}, {runtime}, torch {torch.__version__}"

    def _operands(self, kernel: KernelIR, shape: Shape) -> tuple[list[Any], Any]:
        """Rotating input sets for ``shape`` in ``kernel``'s layouts, and the float64 reference of
        the first (shared by every configuration with those layouts)."""
        from tilegen.bench import gemm_operands, rotating_sets
        from tilegen.callable import reference_gemm

        glob = kernel.globals
        key = (shape, glob.b_layout, glob.c_dtype)
        if key not in self._inputs:
            self._inputs.clear()  # one shape's inputs at a time: 8192^3 sets are 0.5 GB each
            m, n, k = shape
            first = gemm_operands(kernel, m, n, k, device="cuda", seed=0)
            per_set = sum(t.numel() * t.element_size() for t in first)
            count = rotating_sets(per_set)
            sets = [first] + [gemm_operands(kernel, m, n, k, device="cuda", seed=i) for i in range(1, count)]
            reference = reference_gemm(glob.b_layout, first[0], first[1])
            self._inputs[key] = (sets, reference)
        return self._inputs[key]

    def measure(self, fn: Any, shape: Shape) -> tuple[float, float]:
        import torch

        from tilegen.bench import time_gpu
        from tilegen.callable import relative_error

        sets, reference = self._operands(fn.kernel, shape)
        a, b, c = sets[0]
        c.fill_(float("nan"))
        error = relative_error(fn(a, b, c), reference)
        torch.cuda.synchronize()
        times = time_gpu(lambda i: fn(*sets[i]), sets=len(sets), warmup=self.warmup, repeats=self.repeats)
        return statistics.median(times), error


# --------------------------------------------------------------------------------------------
# tune()
# --------------------------------------------------------------------------------------------


def configurations(
    space: Mapping[str, Sequence[Any]], base: Optional[Mapping[str, Any]] = None
) -> list[dict[str, Any]]:
    """Every point of ``space`` (the product of its values, in order), each over ``base``."""
    names = list(space)
    for name in names:
        if not isinstance(space[name], (list, tuple)) or not space[name]:
            raise ValueError(f"tune: the values of {name!r} must be a non-empty list, got {space[name]!r}")
    return [{**(base or {}), **dict(zip(names, values, strict=True))} for values in itertools.product(*space.values())]


def tune(
    factory: Callable[..., KernelIR],
    space: Mapping[str, Sequence[Any]],
    shapes: Sequence[Shape],
    *,
    target: Optional[str] = None,
    base: Optional[Mapping[str, Any]] = None,
    cache_dir: Optional[os.PathLike[str] | str] = None,
    jobs: Optional[int] = None,
    timer: Optional[Timer] = None,
    allow_spills: bool = False,
    progress: Optional[Callable[[str], None]] = None,
    **compile_options: Any,
) -> TuneTable:
    """Prune, build, time and rank every configuration of ``space`` (see the module docstring).

    ``factory(**params)`` builds the kernel; ``base`` are parameters every configuration shares;
    ``target`` defaults to the GPU torch sees. ``timer`` replaces the GPU timer (the tests use a
    fake one); without a timer and without a GPU nothing is timed. ``jobs`` builds at once
    (default: the CPU count). ``compile_options`` go to ``compile`` (e.g. ``toolchain=``).
    """
    from ir.diagnostics import ScheduleError
    from ir.validate import check_problem, validate
    from tilegen.compiler import compile

    say = progress or (lambda message: print(message, file=sys.stderr, flush=True))
    if target is None:
        from tilegen.device import detect_target

        target = detect_target()
    shapes = [_shape(s) for s in shapes]
    if not shapes:
        raise ValueError("tune: give at least one shape (M, N, K)")
    points = configurations(space, base)
    configs = [Config(i, params) for i, params in enumerate(points)]
    defaults = _defaults(factory)
    default = next((c.index for c in configs if all(defaults.get(k, v) == v for k, v in c.params.items())), None)

    kernels: dict[int, KernelIR] = {}
    for config in configs:
        try:
            kernel = factory(**config.params)
            validate(kernel, target)
        except ScheduleError as error:
            _prune(config, sorted(error.rules), str(error))
            continue
        except (TypeError, ValueError) as error:  # the builder refused the parameters (BuildError is a ValueError)
            _prune(config, [f"build: {type(error).__name__}"], str(error))
            continue
        kernels[config.index] = kernel
        config.kernel_json = kernel.model_dump_json()
    pruned = sum(c.status == "pruned" for c in configs)
    by_rule = ", ".join(f"{rule} {n}" for rule, n in _count_rules(configs).items())
    say(f"[tune] {len(configs)} configurations: {pruned} pruned before compiling ({by_rule or 'none'})")

    if "frontend" not in compile_options:
        # Every kernel was validated above: compile() need not validate it again.
        from dataclasses import replace

        from tilegen.compiler import default_frontend

        compile_options["frontend"] = replace(default_frontend(), validate=lambda kernel, target: None)

    def build(index: int) -> None:
        config = configs[index]
        try:
            fn = compile(kernels[index], target, cache_dir=cache_dir, allow_spills=allow_spills, **compile_options)
        except Exception as error:  # reported per configuration; the others go on
            from tilegen.compiler import SpillError

            if isinstance(error, SpillError):
                _prune(config, ["spills"], str(error))
            else:
                config.status, config.message = "failed", _first_line(error)
            return
        config.status, config.entry = "built", str(fn.cache_path)
        config.build_seconds = fn.cache_entry.build.get("seconds")
        built_fns[index] = fn

    built_fns: dict[int, Any] = {}
    with ThreadPoolExecutor(max(1, jobs or os.cpu_count() or 1)) as pool:
        for done, _ in enumerate(pool.map(build, sorted(kernels)), 1):
            say(f"[tune] built {done} of {len(kernels)}")
    spilled = sum("spills" in c.rules for c in configs)
    failed = [c for c in configs if c.status == "failed"]
    say(
        f"[tune] {len(built_fns)} built, {spilled} pruned for spilling, {len(failed)} failed"
        + "".join(f"\n[tune]   failed: {c.label}: {c.message}" for c in failed)
    )

    if timer is None:
        import torch

        timer = GpuTimer() if torch.cuda.is_available() else None
    root = cache.cache_root(cache_dir)
    gpu = timer.identity() if timer is not None else ""
    timings: list[Timing] = []
    for shape in shapes:
        for index, fn in sorted(built_fns.items()):
            timing = Timing(index, shape)
            timings.append(timing)
            try:
                check_problem(fn.kernel, *shape)
            except ValueError as error:
                timing.note = f"cannot run this shape ({_first_line(error)})"
                continue
            if timer is None:
                timing.note = "not timed: no GPU"
                continue
            _time(timing, fn, timer, root, gpu)
        timed = sum(t.ms is not None for t in timings if t.shape == shape)
        say(f"[tune] {shape[0]} x {shape[1]} x {shape[2]}: {timed} timed")
    if timer is None:
        say("[tune] cannot time: no GPU visible to torch; the table ranks nothing (configurations pruned and built)")
    table = TuneTable(
        name=next(iter(kernels.values())).name if kernels else getattr(factory, "__name__", "kernel"),
        target=target,
        space={k: list(v) for k, v in space.items()},
        shapes=shapes,
        configs=configs,
        timings=timings,
        default=default,
        gpu=gpu,
        timed=timer is not None,
    )
    return table


def _time(timing: Timing, fn: Any, timer: Timer, root: Path, gpu: str) -> None:
    """Time one configuration at one shape, or take the timing cached for this GPU and binary."""
    key = cache.cache_key({"gpu": gpu, "entry": fn.cache_path.name, "shape": "x".join(map(str, timing.shape))})
    path = root / ".tune" / f"{key}.json"
    try:
        record = json.loads(path.read_text())
        timing.ms, timing.rel_error = float(record["ms"]), float(record["rel_error"])
        timing.note = "cached"
    except (OSError, ValueError, KeyError, TypeError):
        timing.ms, timing.rel_error = timer.measure(fn, timing.shape)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"ms": timing.ms, "rel_error": timing.rel_error, "gpu": gpu}))
            os.replace(tmp, path)
        except OSError:
            pass  # a read-only cache: the timing is still in the table
    from tilegen.bench import TOLERANCE

    timing.correct = timing.rel_error is not None and timing.rel_error < TOLERANCE[fn.kernel.globals.c_dtype]
    if not timing.correct:
        timing.note = f"WRONG RESULT (relative error {timing.rel_error:.1e})"


# --------------------------------------------------------------------------------------------
# Dispatch
# --------------------------------------------------------------------------------------------


class TunedKernel:
    """``compile(table)``: a callable like ``CompiledKernel`` that runs, for each call, the best
    configuration the table found for the call's shape (the nearest tuned shape when the exact one
    was not tuned), among those that can run it."""

    def __init__(self, table: TuneTable, compile_one: Callable[[KernelIR], Any]) -> None:
        if not any(t.ms is not None and t.correct for t in table.timings):
            raise ValueError(f"the tune table of {table.name} has no timed, correct configuration to dispatch to")
        self.table = table
        self._compile_one = compile_one
        self._built: dict[int, Any] = {}
        self._choice: dict[Shape, int] = {}

    def choose(self, m: int, n: int, k: int) -> Config:
        """The configuration a call of M x N x K runs."""
        from ir.validate import check_problem

        shape = (m, n, k)
        if shape not in self._choice:
            def distance(tuned: Shape) -> float:
                return sum(abs(math.log2(a / b)) for a, b in zip(tuned, shape, strict=True))

            order = sorted(self.table.shapes, key=distance)
            for tuned in order:
                for timing in self.table.ranked(tuned):
                    if not (timing.correct and timing.ms is not None):
                        break
                    kernel = self._kernel(timing.config)
                    try:
                        check_problem(kernel, m, n, k)
                    except ValueError:
                        continue
                    self._choice[shape] = timing.config
                    break
                if shape in self._choice:
                    break
            else:
                raise ValueError(f"no tuned configuration of {self.table.name} can run M={m}, N={n}, K={k}")
        return self.table.configs[self._choice[shape]]

    def _kernel(self, index: int) -> KernelIR:
        config = self.table.configs[index]
        assert config.kernel_json is not None
        return KernelIR.model_validate_json(config.kernel_json)

    def __call__(self, a: Any, b: Any, c: Any = None, *, alpha: float = 1.0, beta: float = 0.0) -> Any:
        kernel = self._kernel(next(t.config for t in self.table.timings if t.correct))
        m, k = a.shape
        n = problem_n(kernel.globals.b_layout, *b.shape)
        config = self.choose(m, n, k)
        if config.index not in self._built:
            self._built[config.index] = self._compile_one(self._kernel(config.index))
        return self._built[config.index](a, b, c, alpha=alpha, beta=beta)

    def __repr__(self) -> str:
        best = {s: self.table.best(s) for s in self.table.shapes}
        text = "; ".join(f"{'x'.join(map(str, s))}: {c.label if c else 'none'}" for s, c in best.items())
        return f"TunedKernel({self.table.name!r}, target={self.table.target!r}, {text})"


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _prune(config: Config, rules: list[str], message: str) -> None:
    config.status, config.rules, config.message = "pruned", rules, _first_line(message)


def _count_rules(configs: list[Config]) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for config in configs:
        if config.status == "pruned":
            counts.update(set(config.rules))
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def _first_line(error: object) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _shape(shape: Sequence[int] | int) -> Shape:
    values = [shape] * 3 if isinstance(shape, int) else list(shape)
    if len(values) != 3 or any(not isinstance(v, int) or v < 1 for v in values):
        raise ValueError(f"tune: a shape is (M, N, K) with positive integers, got {shape!r}")
    return values[0], values[1], values[2]


def _defaults(factory: Callable[..., Any]) -> dict[str, Any]:
    import inspect

    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return {}
    return {p.name: p.default for p in parameters if p.default is not inspect.Parameter.empty}


def _text(value: Any) -> str:
    if isinstance(value, tuple):
        return "x".join(map(str, value))
    return str(value)


def _json_default(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"cannot store {value!r} in a tune table")


# --------------------------------------------------------------------------------------------
# `tilegen tune FILE.py --param block=128x128,128x256 --size 4096 --size 8192`
# --------------------------------------------------------------------------------------------


def add_command(commands: Any) -> None:
    """Register ``tilegen tune`` on the CLI's subcommand parser."""
    sub = commands.add_parser(
        "tune",
        help="find the fastest valid configuration per size (prune, build, time, rank)",
        description="Validate every configuration of the given parameter values (pruning the invalid ones, by "
        "rule), build the valid ones in parallel, time each on the GPU at each size, check it against float64, "
        "and print the ranked table. Without a GPU it prunes and builds, and says it cannot time.",
    )
    sub.add_argument("file", metavar="FILE.py", help="schedule module exposing kernel(**params)")
    sub.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=V1,V2",
        help="values to try for a kernel() parameter (repeatable; tuples as 128x256, e.g. block=128x128,128x256)",
    )
    sub.add_argument("--size", action="append", default=[], metavar="N|MxNxK", help="default: 4096 and 8192")
    sub.add_argument("--target", default=None, help="default: the GPU torch sees")
    sub.add_argument("--jobs", type=int, default=None, help="builds at once (default: the CPU count)")
    sub.add_argument("--warmup", type=int, default=10)
    sub.add_argument("--repeats", type=int, default=50)
    sub.add_argument("--top", type=int, default=10, help="rows shown per size")
    sub.add_argument("--json", default=None, metavar="PATH", help="write the table (tilegen.tuner.TuneTable) here")
    sub.add_argument("--cache-dir", default=None)
    sub.set_defaults(run=cmd_tune)


def cmd_tune(args: Any) -> int:
    import torch

    from tilegen.compiler import schedule_options
    from tilegen.schedule import ScheduleFileError, import_schedule, parse_params, parse_size, target_params

    path = Path(args.file)
    module = import_schedule(path)
    factory = getattr(module, "kernel", None)
    if not callable(factory):
        raise ScheduleFileError(f"{path} defines no kernel(**params) function returning a tilegen kernel")
    if args.target is None:
        from tilegen.device import detect_target

        args.target = detect_target()
    space: dict[str, list[Any]] = {}
    for item in args.param:
        name, sep, values = item.partition("=")
        if not sep or not name.strip() or not values.strip():
            raise ScheduleFileError(f"--param {item!r}: expected name=value1,value2,...")
        name = name.strip()
        space[name] = [parse_params(factory, [f"{name}={value}"])[name] for value in values.split(",") if value.strip()]
    if not space:
        raise ScheduleFileError("give at least one --param NAME=V1,V2 to tune over")
    shapes = [parse_size(s) for s in args.size] or [(4096, 4096, 4096), (8192, 8192, 8192)]
    base = {k: v for k, v in target_params(module, args.target).items() if k not in space}
    timer = GpuTimer(args.warmup, args.repeats) if torch.cuda.is_available() else None
    table = tune(
        factory,
        space,
        shapes,
        target=args.target,
        base=base,
        cache_dir=args.cache_dir,
        jobs=args.jobs,
        timer=timer,
        **schedule_options(path),
    )
    print(table.markdown(top=args.top))
    if args.json:
        table.save(args.json)
        print(f"\nwrote {args.json}")
    if table.timed:
        return 0 if all(table.best(shape) is not None for shape in table.shapes) else 1
    return 0 if any(c.status == "built" for c in table.configs) else 1
