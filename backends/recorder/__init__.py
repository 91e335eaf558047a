"""The emitted code does what was validated: run an emitted kernel on the host, wave by wave,
against a recording kittens API (``include/kittens.cuh``), and compare each wave's log with the
validated per-wave trace (``ir.trace``). g++ only, no GPU. docs/recorder.md has the design.

    from backends.recorder import check_emitted
    check_emitted(kernel, "gfx942")          # raises EmittedMismatch at the first difference
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional

from ir import models as m
from ir.block_order import num_blocks
from ir.targets import get_target
from ir.trace import Problem

from .build import MissingOp, Recorded, RecorderError, build, run
from .compare import EXPECT, EmittedMismatch, compare

__all__ = [
    "EXPECT",
    "CheckSummary",
    "EmittedMismatch",
    "MissingOp",
    "Recorded",
    "RecorderError",
    "check_emitted",
    "default_blocks",
    "default_problem",
]

#: (alpha, beta) of each run: the plain store (where a group may store its shared tile whole), the
#: scaled epilogue that reads old C, and each scalar alone (so a test of only one of them shows).
SCALARS: tuple[tuple[float, float], ...] = ((1.0, 0.0), (2.0, 3.0), (1.0, 3.0), (2.0, 0.0))


@dataclass(frozen=True)
class CheckSummary:
    problem: Problem
    blocks: tuple[int, ...]
    waves: int
    ops: int


def _fits(kernel: m.Kernel, problem: Problem) -> bool:
    from ir.validate import check_problem  # the validator's own size rule

    try:
        check_problem(kernel, problem.m, problem.n, problem.k)
    except ValueError:
        return False
    return True


def default_problem(kernel: m.Kernel, k_tiles: int = 3) -> Problem:
    """A size that exercises what the emitted code computes from it: a non-square tile grid (rows
    and columns differ, so a swap shows); for a persistent launch more tiles than blocks, so
    blocks wrap around; a grouped order with a partial last band; a few K steps."""
    launch = kernel.launch
    if launch.persistent_blocks is not None:
        want = launch.persistent_blocks + max(2, launch.persistent_blocks // 4)
        cols = max(2, math.isqrt(want))
        rows = -(-want // cols)
    else:
        rows, cols = 3, 2
    group = launch.tile_order.group_m
    if group > 1 and rows % group == 0:
        rows += 1
    if rows == cols:
        rows += 1
    for k in (k_tiles, k_tiles + 1, k_tiles + 2, 2, 1):
        problem = Problem(rows * launch.block_m, cols * launch.block_n, k * launch.k_step)
        if _fits(kernel, problem):
            return problem
    raise RecorderError(f"no problem size of {rows} x {cols} tiles fits kernel `{kernel.name}`")


def default_blocks(kernel: m.Kernel, problem: Problem) -> tuple[int, ...]:
    """Every block of a small grid; else the first three (a persistent block 0 wraps around the
    tiles), one in the middle and the last three."""
    count = num_blocks(kernel.launch, problem.m, problem.n)
    if count <= 8:
        return tuple(range(count))
    return tuple(sorted({0, 1, 2, count // 2, count - 3, count - 2, count - 1}))


def check_emitted(
    kernel: m.Kernel,
    target: str,
    *,
    source: Optional[str] = None,
    problem: Optional[Problem] = None,
    blocks: Optional[Sequence[int]] = None,
    scalars: Sequence[tuple[float, float]] = SCALARS,
) -> CheckSummary:
    """Build ``source`` (default: ``emit(kernel, target)``) against the recording API, run every
    wave of ``blocks`` of ``problem`` and compare each with the validated trace. Raises
    ``EmittedMismatch`` naming the first op that differs, or ``RecorderError`` / ``MissingOp``
    when the check itself cannot run.

    Without ``problem``: ``default_problem``'s size with every ``scalars`` pair, then every K the
    validator checks (``ir.validate.sizes``: 1 K tile up past the pipeline depth) on the first and
    last block."""
    if source is None:
        from backends.hip.emitter import emit

        source = emit(kernel, target)
    runs: list[tuple[Problem, tuple[int, ...], Sequence[tuple[float, float]]]] = []
    main = problem or default_problem(kernel)
    chosen = tuple(blocks) if blocks is not None else default_blocks(kernel, main)
    for index, pair in enumerate(scalars):
        # The scalars change only the epilogue: the first pair runs every chosen block, the others
        # the first and the last.
        runs.append((main, chosen if index == 0 else tuple(dict.fromkeys((chosen[0], chosen[-1]))), [pair]))
    if problem is None:
        from ir.validate.sizes import checked_sizes

        step = kernel.launch.k_step
        for k in checked_sizes(kernel).k_tiles:
            if k * step != main.k and _fits(kernel, Problem(main.m, main.n, k * step)):
                runs.append((Problem(main.m, main.n, k * step), (0, -1), scalars[:1]))
    wave_size = get_target(target).wave_size
    binary = build(source, wave_size)
    ops = waves = 0
    traces: dict[Problem, dict] = {}
    for size, run_blocks, pairs in runs:
        for alpha, beta in pairs:
            recorded = run(binary, size.m, size.n, size.k, kernel.globals.b_layout, alpha, beta, list(run_blocks))
            ops += compare(kernel, size, recorded, run_blocks, alpha, beta, traces.setdefault(size, {}), wave_size)
            waves += len(run_blocks) * kernel.launch.num_warps
    return CheckSummary(main, chosen, waves, ops)
