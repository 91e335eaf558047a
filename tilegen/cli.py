"""tilegen: emit, check or bench a GEMM schedule file, and manage the kernel cache.

A schedule file is a Python module exposing ``kernel(**params) -> tilegen.KernelIR`` (like the
files under examples/); ``--param name=value`` sets its parameters, converted to the type of the
parameter's default.
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import math
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from ir.diagnostics import ScheduleError
from ir.models import Kernel as KernelIR

#: Relative error (||out - ref|| / ||ref|| against float64) a correct kernel stays under: f32
#: accumulation of bf16 products is good to ~1e-6; a bf16 C adds its own rounding (~1e-3).
TOLERANCE = {"f32": 1e-4, "bf16": 1e-2}


class CliError(Exception):
    """A problem with what the user asked for: printed as ``tilegen: error: ...``, exit 2."""


# --------------------------------------------------------------------------------------------
# Schedule files
# --------------------------------------------------------------------------------------------


def load_schedule(path: str | Path, params: Sequence[str] = (), target: Optional[str] = None) -> KernelIR:
    """Import ``path`` and call its ``kernel(**params)``; ``params`` are ``name=value`` strings.

    A schedule module may define ``TARGET_PARAMS``: defaults per target name or vendor ("amd",
    "nvidia"), applied for ``target`` before ``params``.
    """
    path = Path(path)
    if not path.is_file():
        raise CliError(f"{path}: no such file (expected a schedule module exposing kernel(**params))")
    module_name = f"tilegen_schedule_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise CliError(f"{path}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    # A schedule may import its sibling files, as the examples can.
    sys.path.insert(0, str(path.resolve().parent))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(path.resolve().parent))
    factory = getattr(module, "kernel", None)
    if not callable(factory):
        raise CliError(f"{path} defines no kernel(**params) function returning a tilegen kernel")
    values = dict(target_params(module, target)) if target else {}
    values.update(parse_params(factory, params))
    kernel = factory(**values)
    if not isinstance(kernel, KernelIR):
        raise CliError(
            f"{path}: kernel() returned {type(kernel).__name__}, expected the tilegen.KernelIR that "
            "tilegen.Kernel(...).build() returns"
        )
    return kernel


def target_params(module: Any, target: str) -> dict[str, Any]:
    """The module's ``TARGET_PARAMS`` entry for ``target``, else for its vendor, else none."""
    from ir.targets import get_target

    table = getattr(module, "TARGET_PARAMS", {}) or {}
    if target in table:
        return dict(table[target])
    return dict(table.get(get_target(target).vendor, {}))


def parse_params(factory: Callable[..., Any], params: Sequence[str]) -> dict[str, Any]:
    signature = inspect.signature(factory)
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values())
    values: dict[str, Any] = {}
    for item in params:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise CliError(f"--param {item!r}: expected name=value")
        parameter = signature.parameters.get(name)
        if parameter is None and not takes_any:
            known = ", ".join(
                f"{p.name}={p.default!r}" if p.default is not inspect.Parameter.empty else p.name
                for p in signature.parameters.values()
            )
            raise CliError(f"--param {name}: kernel() has no such parameter; it takes: {known or 'none'}")
        default = parameter.default if parameter is not None else inspect.Parameter.empty
        values[name] = _convert(name, text.strip(), default)
    return values


def _convert(name: str, text: str, default: Any) -> Any:
    if isinstance(default, tuple):  # e.g. block=(128, 256): accept 128x256 or 128,256
        items = [item for item in text.replace("x", ",").split(",") if item.strip()]
        try:
            return tuple(int(item) for item in items)
        except ValueError:
            raise CliError(f"--param {name}={text}: expected integers like {'x'.join(map(str, default))}") from None
    if isinstance(default, bool):
        lowered = text.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise CliError(f"--param {name}={text}: expected true or false")
    for kind in (int, float):
        if isinstance(default, kind) or default is inspect.Parameter.empty or default is None:
            try:
                return kind(text)
            except ValueError:
                if isinstance(default, kind):
                    raise CliError(f"--param {name}={text}: expected {kind.__name__} (default {default!r})") from None
    return text


# --------------------------------------------------------------------------------------------
# Operands and timing (shared with benchmarks/gemm.py and the GPU tests)
# --------------------------------------------------------------------------------------------


def gemm_operands(
    kernel: KernelIR, m: int, n: int, k: int, *, device: Any = "cpu", seed: Optional[int] = None
) -> tuple[Any, Any, Any]:
    """Fresh random (A, B, C) for ``kernel``: bf16 A and B (B in the kernel's layout), C in its dtype."""
    import torch

    from tilegen.callable import TORCH_DTYPES

    generator = torch.Generator(device=device)
    generator.manual_seed(seed if seed is not None else int(time.time_ns() % (1 << 62)))
    b_shape = (k, n) if kernel.globals.b_layout == "kn" else (n, k)
    a = torch.randn((m, k), generator=generator, device=device).to(torch.bfloat16)
    b = torch.randn(b_shape, generator=generator, device=device).to(torch.bfloat16)
    c = torch.randn((m, n), generator=generator, device=device).to(TORCH_DTYPES[kernel.globals.c_dtype])
    return a, b, c


def torch_reference_call(kernel: KernelIR) -> Callable[..., Any]:
    """torch.matmul (cuBLAS / hipBLASLt) on the same operands, bf16 out, for speed comparisons."""
    import torch

    def run(a: Any, b: Any, out: Any) -> Any:
        return torch.matmul(a, b if kernel.globals.b_layout == "kn" else b.t(), out=out)

    return run


def time_gpu(run: Callable[[int], Any], *, sets: int, warmup: int = 10, repeats: int = 50) -> list[float]:
    """Milliseconds of each of ``repeats`` calls ``run(i % sets)``, measured with CUDA events.

    Calls are queued back to back with no synchronisation in between, so the GPU never waits for
    the host and each event pair measures GPU time; rotating over ``sets`` input sets keeps the
    inputs from sitting in L2 between calls.
    """
    import torch

    for i in range(warmup):
        run(i % sets)
    starts = [torch.cuda.Event(enable_timing=True) for _ in range(repeats)]
    ends = [torch.cuda.Event(enable_timing=True) for _ in range(repeats)]
    for i in range(repeats):
        starts[i].record()
        run(i % sets)
        ends[i].record()
    torch.cuda.synchronize()
    return [start.elapsed_time(end) for start, end in zip(starts, ends, strict=True)]


def rotating_sets(bytes_per_set: int) -> int:
    """How many input sets to rotate over so that together they are at least twice the L2."""
    import torch

    l2 = getattr(torch.cuda.get_device_properties(torch.cuda.current_device()), "L2_cache_size", 0) or (64 << 20)
    return max(2, min(8, math.ceil(2 * l2 / max(1, bytes_per_set))))


@dataclass
class BenchResult:
    kernel: str
    target: str
    m: int
    n: int
    k: int
    ms: float
    tflops: float
    torch_ms: float
    torch_tflops: float
    ratio: float
    rel_error: float
    correct: bool
    sets: int
    repeats: int


def bench_kernel(
    fn: Any, sizes: Sequence[tuple[int, int, int]], *, warmup: int = 10, repeats: int = 50
) -> list[BenchResult]:
    """Check ``fn`` (a CompiledKernel) against float64 at each size, then time it and torch.matmul
    on the same rotating inputs."""
    return [_bench_size(fn, m, n, k, warmup=warmup, repeats=repeats) for m, n, k in sizes]


def _bench_size(fn: Any, m: int, n: int, k: int, *, warmup: int, repeats: int) -> BenchResult:
    import torch

    from tilegen.callable import reference_gemm, relative_error

    kernel = fn.kernel
    a, b, c = gemm_operands(kernel, m, n, k, device="cuda")
    c.fill_(float("nan"))  # beta = 0: nothing of the old C may leak into the result
    error = relative_error(fn(a, b, c), reference_gemm(kernel.globals.b_layout, a, b))
    bytes_per_set = (a.numel() + b.numel()) * a.element_size() + c.numel() * c.element_size()
    sets = rotating_sets(bytes_per_set)
    inputs = [(a, b, c)] + [gemm_operands(kernel, m, n, k, device="cuda") for _ in range(sets - 1)]
    torch_out = [torch.empty((m, n), dtype=torch.bfloat16, device="cuda") for _ in range(sets)]
    reference_call = torch_reference_call(kernel)

    def run_kernel(i: int) -> Any:
        return fn(*inputs[i])

    def run_torch(i: int) -> Any:
        return reference_call(inputs[i][0], inputs[i][1], torch_out[i])

    ms = statistics.median(time_gpu(run_kernel, sets=sets, warmup=warmup, repeats=repeats))
    torch_ms = statistics.median(time_gpu(run_torch, sets=sets, warmup=warmup, repeats=repeats))
    flops = 2.0 * m * n * k
    return BenchResult(
        kernel=kernel.name,
        target=fn.target,
        m=m,
        n=n,
        k=k,
        ms=ms,
        tflops=flops / ms / 1e9,
        torch_ms=torch_ms,
        torch_tflops=flops / torch_ms / 1e9,
        ratio=torch_ms / ms,
        rel_error=error,
        correct=error < TOLERANCE[kernel.globals.c_dtype],
        sets=sets,
        repeats=repeats,
    )


def markdown_table(results: Sequence[BenchResult]) -> str:
    lines = [
        "| kernel | M x N x K | ms | TFLOP/s | torch.matmul ms | torch.matmul TFLOP/s | ratio | rel. error | correct |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in results:
        lines.append(
            f"| {r.kernel} | {r.m} x {r.n} x {r.k} | {r.ms:.3f} | {r.tflops:.1f} | {r.torch_ms:.3f} | "
            f"{r.torch_tflops:.1f} | {r.ratio:.2f} | {r.rel_error:.2e} | {'yes' if r.correct else 'NO'} |"
        )
    return "\n".join(lines)


def environment_line() -> str:
    """Date, GPU, torch and CUDA / ROCm versions: the header every benchmark table carries."""
    import torch

    gpu = torch.cuda.get_device_name(torch.cuda.current_device()) if torch.cuda.is_available() else "no GPU"
    runtime = f"HIP {torch.version.hip}" if getattr(torch.version, "hip", None) else f"CUDA {torch.version.cuda}"
    return f"{time.strftime('%Y-%m-%d %H:%M %Z')}, {gpu}, torch {torch.__version__}, {runtime}"


def parse_size(text: str) -> tuple[int, int, int]:
    """``4096`` (a cube) or ``4096x4096x8192`` (M x N x K)."""
    parts = text.lower().replace("*", "x").split("x")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise CliError(f"size {text!r}: expected N or MxNxK, e.g. 4096 or 4096x4096x8192") from None
    if len(values) == 1:
        values *= 3
    if len(values) != 3 or min(values) < 1:
        raise CliError(f"size {text!r}: expected N or MxNxK with positive sizes")
    return values[0], values[1], values[2]


# --------------------------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------------------------


def cmd_emit(args: argparse.Namespace) -> int:
    from tilegen import emit

    kernel = load_schedule(args.file, args.param, args.target)
    try:
        source = emit(kernel, target=args.target)
    except ScheduleError as error:
        print(error, file=sys.stderr)
        return 1
    if args.output:
        Path(args.output).write_text(source)
        print(f"wrote {args.output} ({kernel.name}, {args.target})", file=sys.stderr)
    else:
        sys.stdout.write(source)
    return 0


def block_order_report(kernel: KernelIR, target: str, size: int = 8192) -> str:
    """How much the blocks that run together share A and B panels at a large square size, beside
    what a grouped order would give: a block order with poor reuse is visible before any run."""
    from ir.block_order import panel_reuse
    from ir.models import TileOrder
    from ir.targets import get_target

    launch = kernel.launch
    m, n = size // launch.block_m * launch.block_m, size // launch.block_n * launch.block_n
    resident = get_target(target).compute_units * launch.min_blocks_per_cu
    tiles, a_panels, b_panels = panel_reuse(launch, m, n, resident)
    line = (
        f"  block order at M={m}, N={n}: the first {tiles} blocks ({resident} resident on {target}) read "
        f"{a_panels} A panels and {b_panels} B panels: {(a_panels + b_panels) / tiles:.2f} panels per tile"
    )
    group = max(1, round(tiles**0.5 * launch.block_n / launch.block_m))
    grouped = launch.model_copy(update={"grid": "linear", "tile_order": TileOrder(kind="grouped", group_m=group)})
    g_tiles, g_a, g_b = panel_reuse(grouped, m, n, resident)
    if (g_a + g_b) / g_tiles < 0.8 * (a_panels + b_panels) / tiles:
        line += (
            f"; a grouped order (`order=tg.grouped({group})`) would read {(g_a + g_b) / g_tiles:.2f} per tile "
            f"({g_a} A + {g_b} B panels)"
        )
    return line


def cmd_check(args: argparse.Namespace) -> int:
    from ir.validate import check_launch_size
    from ir.validate.sizes import capped_kernel, checked_sizes, covering_problem
    from tilegen import simulate, validate
    from tilegen.callable import reference_gemm, relative_error

    kernel = load_schedule(args.file, args.param, args.target)
    try:
        report = validate(kernel, target=args.target)
    except ScheduleError as error:
        print(error)
        return 1
    print(report.summary())
    print(block_order_report(kernel, args.target))
    # Issue 9: the sizes the validator covered, and by default the problem that exercises the most
    # of them; a persistent launch is simulated capped so its blocks wrap (ir.validate.sizes).
    print(f"  validated at {checked_sizes(kernel).describe()}")
    default = covering_problem(kernel)
    m, n, k = args.size or (default.m, default.n, default.k)
    a, b, c = gemm_operands(kernel, m, n, k, seed=args.seed)
    alpha, beta = 1.0, 0.5
    try:
        check_launch_size(kernel, args.target, m, n)
        out = simulate(capped_kernel(kernel), a, b, c, alpha=alpha, beta=beta, target=args.target)
    except (ScheduleError, ValueError) as error:  # a hazard, or a size the schedule cannot run
        print(error)
        return 1
    ref = reference_gemm(kernel.globals.b_layout, a, b, c, alpha=alpha, beta=beta)
    error = relative_error(out, ref)
    max_abs = float((out.double() - ref).abs().max())
    tolerance = TOLERANCE[kernel.globals.c_dtype]
    verdict = "ok" if error < tolerance else "FAILED"
    print(
        f"simulated C = {alpha} * A @ B + {beta} * C at M={m}, N={n}, K={k} on the CPU: max |error| {max_abs:.3e}, "
        f"relative error {error:.3e} (tolerance {tolerance:.0e} for {kernel.globals.c_dtype} C): {verdict}"
    )
    return 0 if error < tolerance else 1


def cmd_bench(args: argparse.Namespace) -> int:
    from tilegen.compiler import compile, detect_target, schedule_options

    target = args.target or detect_target()
    kernel = load_schedule(args.file, args.param, target)
    options = schedule_options(args.file)  # the schedule's COMPILE_OPTIONS (allow_spills)
    fn = compile(
        kernel, target, kittens_root=args.kittens_root, cache_dir=args.cache_dir, verbose=args.verbose, **options
    )
    results = bench_kernel(fn, args.sizes, warmup=args.warmup, repeats=args.repeats)
    print(f"{environment_line()}; median of {args.repeats} calls, torch.matmul with bf16 output")
    print(markdown_table(results))
    return 0 if all(r.correct for r in results) else 1


def cmd_cache(args: argparse.Namespace) -> int:
    from tilegen import cache

    root = cache.cache_root(args.cache_dir)
    if args.action == "path":
        print(root)
    elif args.action == "clear":
        removed = cache.clear(root)
        print(f"removed {removed} entr{'y' if removed == 1 else 'ies'} from {root}")
    else:
        entries = cache.list_entries(root)
        if not entries:
            print(f"no entries in {root}")
        for path, entry, why in entries:
            if entry is None:
                print(f"{path.name}  INVALID ({why}); rebuilt on next use")
                continue
            manifest = entry.manifest
            age_h = (time.time() - manifest.get("created", time.time())) / 3600
            print(
                f"{path.name}  {manifest.get('kernel', '?'):<24} {manifest.get('target', '?'):<8} "
                f"{entry.size_bytes / 1e6:7.2f} MB  {age_h:7.1f} h old"
            )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tilegen", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def schedule_args(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("file", metavar="FILE.py", help="schedule module exposing kernel(**params)")
        sub.add_argument(
            "--param", action="append", default=[], metavar="NAME=VALUE", help="a kernel() parameter (repeatable)"
        )

    emit = commands.add_parser("emit", help="write the HIP source of a schedule", description="Validate and emit.")
    schedule_args(emit)
    emit.add_argument("--target", default="gfx942", help="target to emit for (default gfx942)")
    emit.add_argument("-o", "--output", help="write to this file instead of stdout")
    emit.set_defaults(run=cmd_emit)

    check = commands.add_parser(
        "check",
        help="validate a schedule and simulate a small GEMM on the CPU (no GPU needed)",
        description="Validate (print the report: resources, warnings), then simulate a small GEMM on the CPU "
        "and compare it with float64. Exit 1 on any failure.",
    )
    schedule_args(check)
    check.add_argument("--target", default="gfx942", help="target to validate for (default gfx942)")
    check.add_argument(
        "--size",
        nargs=3,
        type=int,
        metavar=("M", "N", "K"),
        help="problem size (default: the validator's covering problem, printed)",
    )
    check.add_argument("--seed", type=int, default=0, help="random seed of the inputs")
    check.set_defaults(run=cmd_check)

    bench = commands.add_parser(
        "bench",
        help="compile, check and time a schedule against torch.matmul (needs a GPU)",
        description="Compile for the local GPU, check correctness against float64, and time against torch.matmul.",
    )
    schedule_args(bench)
    bench.add_argument(
        "--sizes",
        nargs="+",
        type=parse_size,
        default=[(4096,) * 3, (8192,) * 3],
        metavar="SIZE",
        help="N (a cube) or MxNxK, several allowed (default 4096 8192)",
    )
    bench.add_argument("--target", default=None, help="default: the GPU torch sees")
    bench.add_argument("--warmup", type=int, default=10)
    bench.add_argument("--repeats", type=int, default=50)
    bench.add_argument("--kittens-root", default=None, help="HipKittens / ThunderKittens include dir to build against")
    bench.add_argument("--cache-dir", default=None)
    bench.add_argument("-v", "--verbose", action="store_true")
    bench.set_defaults(run=cmd_bench)

    cache_cmd = commands.add_parser(
        "cache", help="show, list or clear the kernel cache", description="Manage the on-disk cache of built kernels."
    )
    cache_cmd.add_argument("action", choices=["path", "list", "clear"])
    cache_cmd.add_argument("--cache-dir", default=None, help="default: TILEGEN_CACHE_DIR or ~/.cache/tilegen")
    cache_cmd.set_defaults(run=cmd_cache)
    from tilegen.tuner import add_command as add_tune  # `tilegen tune` lives in tilegen/tuner.py

    add_tune(commands)
    return parser


def _reported_errors() -> tuple[type[Exception], ...]:
    """Failures with a message written for the user: printed without a traceback."""
    from backends.drivers.common import CompileError, CompilerNotFound
    from tilegen.cache import CacheError
    from tilegen.compiler import LaunchError, NoGPUError

    return (ScheduleError, CompileError, CompilerNotFound, NoGPUError, LaunchError, CacheError, FileNotFoundError)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except CliError as error:
        print(f"tilegen: error: {error}", file=sys.stderr)
        return 2
    except Exception as error:
        if not isinstance(error, _reported_errors()):
            raise
        print(f"tilegen: {type(error).__name__}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
