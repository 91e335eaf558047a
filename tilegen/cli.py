"""tilegen: emit, check or bench a GEMM schedule file, and manage the kernel cache.

A schedule file is a Python module exposing ``kernel(**params) -> tilegen.KernelIR`` (like the
files under examples/); ``--param name=value`` sets its parameters, converted to the type of the
parameter's default.

This module is only the command line. The library parts live in ``tilegen.schedule`` (loading a
schedule file, parameters, sizes) and ``tilegen.bench`` (tolerances, operands, GPU timing); the
names below are re-exported for older imports. The command line never shows a traceback for a
mistake of the user's: every error names the bad value and what is accepted (exit 2), a schedule
or run failure prints its report (exit 1), and anything else is reported as an internal error
(exit 3; ``TILEGEN_TRACEBACK=1`` shows the traceback).

Adding a command: write ``cmd_x(args) -> int`` and register it in ``build_parser`` with
``add_schedule_args`` (FILE.py and --param) and ``add_target_arg`` (a checked --target).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional

from ir.diagnostics import ScheduleError
from ir.models import Kernel as KernelIR
from tilegen.bench import (  # re-exported: benchmarks, tests and scripts imported them from here
    TOLERANCE,
    BenchResult,
    bench_kernel,
    environment_line,
    gemm_operands,
    markdown_table,
    rotating_sets,
    time_gpu,
    torch_reference_call,
)
from tilegen.schedule import ScheduleFileError, load_schedule, parse_params, parse_size, target_params

__all__ = [
    "TOLERANCE",
    "BenchResult",
    "CliError",
    "bench_kernel",
    "build_parser",
    "environment_line",
    "gemm_operands",
    "load_schedule",
    "main",
    "markdown_table",
    "parse_params",
    "parse_size",
    "rotating_sets",
    "target_params",
    "time_gpu",
    "torch_reference_call",
]

#: The error of a bad argument or schedule file (printed as ``tilegen: error: ...``, exit 2).
CliError = ScheduleFileError

# --------------------------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------------------------


def cmd_emit(args: argparse.Namespace) -> int:
    from tilegen import emit

    output = _output_path(args.output, ".cpp") if args.output else None
    kernel = load_schedule(args.file, args.param, args.target)
    try:
        source = emit(kernel, target=args.target)
    except ScheduleError as error:
        print(error, file=sys.stderr)
        return 1
    if output is not None:
        _write(output, source)
        print(f"wrote {output} ({kernel.name}, {args.target})", file=sys.stderr)
    else:
        sys.stdout.write(source)
    return 0


def _output_path(text: str, suffix: str) -> Path:
    """``-o`` checked before any work: a file in an existing directory, not a directory."""
    path = Path(text)
    if path.is_dir():
        raise CliError(f"-o {text}: is a directory; give a file name, e.g. -o {path / ('kernel' + suffix)}")
    if not path.parent.is_dir():
        raise CliError(f"-o {text}: the directory {path.parent} does not exist; create it or choose another path")
    return path


def _write(path: Path, text: str) -> None:
    try:
        path.write_text(text)
    except OSError as error:
        raise CliError(f"-o {path}: cannot write it: {error.strerror or error}") from None


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


class _Progress:
    """``progress(done, total)`` for a long simulation: a line on stderr, updated at most twice a
    second, shown only once the run has taken more than a second (small checks stay quiet)."""

    def __init__(self, what: str, stream: Any = None):
        self.what = what
        self.stream = stream if stream is not None else sys.stderr
        self.start = time.monotonic()
        self.last = 0.0
        self.shown = False

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        elapsed = now - self.start
        if elapsed < 1.0 or (now - self.last < 0.5 and done < total):
            return
        self.last = now
        left = elapsed / done * (total - done)
        self.stream.write(
            f"\r{self.what}: block {done} of {total} ({100 * done // total}%), {elapsed:.0f} s, about {left:.0f} s left"
        )
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            self.stream.write("\n")
            self.stream.flush()


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
    progress = _Progress(f"simulating M={m}, N={n}, K={k} on the CPU")
    try:
        check_launch_size(kernel, args.target, m, n)
        out = simulate(
            capped_kernel(kernel), a, b, c, alpha=alpha, beta=beta, target=args.target, progress=progress
        )
    except (ScheduleError, ValueError) as error:  # a hazard, or a size the schedule cannot run
        progress.close()
        print(error)
        return 1
    progress.close()
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


def cmd_show(args: argparse.Namespace) -> int:
    from tilegen.show import build_picture, render_html

    output = _output_path(args.output, ".html")
    kernel = load_schedule(args.file, args.param, args.target)
    picture = build_picture(kernel, args.target, block=args.block, k_steps=args.k_steps)
    _write(output, render_html(picture))
    print(
        f"wrote {output}: {kernel.name} on {args.target}, block {args.block}, {len(picture.waves)} waves x "
        f"{picture.phases} phases, {len(picture.findings)} validator finding(s); open it in a browser",
        file=sys.stderr,
    )
    return 0


def cmd_trace(args: argparse.Namespace) -> int:
    from tilegen.show import trace_lines

    kernel = load_schedule(args.file, args.param, args.target)
    if args.wave >= kernel.launch.num_warps:
        raise CliError(f"--wave {args.wave}: {kernel.name} has waves 0-{kernel.launch.num_warps - 1}")
    print("\n".join(trace_lines(kernel, args.wave, block=args.block, k_steps=args.k_steps)))
    return 0


# --------------------------------------------------------------------------------------------
# Arguments: each checked where argparse reads it, so a typo is a usage error, never a traceback
# --------------------------------------------------------------------------------------------


def target_name(text: str) -> str:
    """argparse type of ``--target``: a known target, else the list of known ones."""
    from ir.targets import TARGETS

    if text not in TARGETS:
        raise argparse.ArgumentTypeError(f"unknown target {text!r}; choose one of: {', '.join(TARGETS)}")
    return text


def natural_int(text: str) -> int:
    """argparse type of an index (a wave, a block): an integer of at least 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer; give 0 or more, e.g. 0") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: must be 0 or more")
    return value


def positive_int(text: str) -> int:
    """argparse type of a size or count: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer; give a positive integer, e.g. 256") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: sizes and counts must be at least 1, e.g. 256")
    return value


def size_arg(text: str) -> tuple[int, int, int]:
    """argparse type of ``--sizes``: N (a cube) or MxNxK, positive."""
    try:
        return parse_size(text)
    except ScheduleFileError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_schedule_args(sub: argparse.ArgumentParser) -> None:
    """FILE.py and --param NAME=VALUE (repeatable), as every schedule command takes them."""
    sub.add_argument("file", metavar="FILE.py", help="schedule module exposing kernel(**params)")
    sub.add_argument(
        "--param", action="append", default=[], metavar="NAME=VALUE", help="a kernel() parameter (repeatable)"
    )


def add_target_arg(sub: argparse.ArgumentParser, default: Optional[str] = "gfx942", what: str = "target") -> None:
    from ir.targets import TARGETS

    sub.add_argument(
        "--target",
        type=target_name,
        default=default,
        metavar="TARGET",
        help=f"{what} ({', '.join(TARGETS)}; default {default or 'the GPU torch sees'})",
    )


def _version() -> str:
    import tilegen

    return f"tilegen {tilegen.__version__} (python {sys.version.split()[0]})"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tilegen", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=_version())
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    emit = commands.add_parser("emit", help="write the HIP source of a schedule", description="Validate and emit.")
    add_schedule_args(emit)
    add_target_arg(emit, what="target to emit for")
    emit.add_argument("-o", "--output", metavar="FILE", help="write to this file instead of stdout")
    emit.set_defaults(run=cmd_emit)

    check = commands.add_parser(
        "check",
        help="validate a schedule and simulate a small GEMM on the CPU (no GPU needed)",
        description="Validate (print the report: resources, warnings), then simulate a GEMM on the CPU "
        "and compare it with float64. Exit 1 on any failure. Simulates one problem size per run "
        "(--size; default the validator's covering problem); tilegen.testing covers many.",
    )
    add_schedule_args(check)
    add_target_arg(check, what="target to validate for")
    check.add_argument(
        "--size",
        nargs=3,
        type=positive_int,
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
    add_schedule_args(bench)
    bench.add_argument(
        "--sizes",
        nargs="+",
        type=size_arg,
        default=[(4096,) * 3, (8192,) * 3],
        metavar="SIZE",
        help="N (a cube) or MxNxK, several allowed (default 4096 8192)",
    )
    add_target_arg(bench, default=None, what="target to compile for")
    bench.add_argument("--warmup", type=positive_int, default=10)
    bench.add_argument("--repeats", type=positive_int, default=50)
    bench.add_argument("--kittens-root", default=None, help="HipKittens / ThunderKittens include dir to build against")
    bench.add_argument("--cache-dir", default=None)
    bench.add_argument("-v", "--verbose", action="store_true")
    bench.set_defaults(run=cmd_bench)

    show = commands.add_parser(
        "show",
        help="draw one block of a schedule as HTML + SVG: waves x barrier phases, buffers, findings",
        description="Write a picture of one block: waves as rows, barrier phases as columns, each cell the "
        "ops that wave runs in that phase (hover / click for the Python line), shared buffers written and "
        "read per phase, asynchronous loads in flight, validator findings where they happen. One HTML "
        "file; open it in a browser.",
    )
    add_schedule_args(show)
    add_target_arg(show, what="target to validate for")
    show.add_argument("-o", "--output", metavar="FILE.html", default="schedule.html", help="default schedule.html")
    show.add_argument("--block", type=natural_int, default=0, help="which block (default 0)")
    show.add_argument("--k-steps", type=positive_int, default=3, help="K steps of the problem drawn (default 3)")
    show.set_defaults(run=cmd_show)

    trace = commands.add_parser(
        "trace",
        help="print one wave's op sequence, phase by phase",
        description="Print the ops one wave runs, with the values it runs them with and their Python lines, "
        "split at barriers.",
    )
    add_schedule_args(trace)
    add_target_arg(trace, what="target (for the schedule's TARGET_PARAMS)")
    trace.add_argument("--wave", type=natural_int, required=True, help="which wave")
    trace.add_argument("--block", type=natural_int, default=0, help="which block (default 0)")
    trace.add_argument("--k-steps", type=positive_int, default=3, help="K steps of the problem (default 3)")
    trace.set_defaults(run=cmd_trace)

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
    from tilegen.builder import BuildError
    from tilegen.cache import CacheError
    from tilegen.compiler import LaunchError, NoGPUError

    return (
        ScheduleError,
        BuildError,
        CompileError,
        CompilerNotFound,
        NoGPUError,
        LaunchError,
        CacheError,
        FileNotFoundError,
        ValueError,
    )


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 the schedule or run failed, 2 a bad
    argument or schedule file, 3 an internal error of tilegen's, 130 interrupted)."""
    args = build_parser().parse_args(argv)  # usage errors exit 2 with argparse's message
    try:
        return int(args.run(args))
    except ScheduleFileError as error:
        print(f"tilegen: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tilegen: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `tilegen trace ... | head`: the reader has all it wants
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except Exception as error:
        if os.environ.get("TILEGEN_TRACEBACK"):
            raise
        if isinstance(error, _reported_errors()):
            print(f"tilegen: {type(error).__name__}: {error}", file=sys.stderr)
            return 1
        print(
            f"tilegen: internal error: {type(error).__name__}: {error}\n"
            "  this is a bug in tilegen, not in your schedule: run again with TILEGEN_TRACEBACK=1 and report "
            "the traceback",
            file=sys.stderr,
        )
        return 3


if __name__ == "__main__":
    sys.exit(main())
