"""Run-time shapes: which M, N, K a schedule handles, the check the compiled function and the
simulator run on real sizes, and the rule that every output tile reads all of K."""

from __future__ import annotations

import operator

from ir import models as m
from ir.diagnostics import Diagnostic
from ir.semantics import b_rect
from ir.validate.context import ValidationContext
from ir.validate.findings import Findings
from ir.validate.geometry import Grid, Rect, global_access
from ir.validate.report import ProblemSizes


def supported_sizes(kernel: m.Kernel) -> ProblemSizes:
    """The M, N, K the schedule handles."""
    launch = kernel.launch
    if kernel.edge == "pad":
        return ProblemSizes(
            edge="pad",
            m_multiple=1,
            n_multiple=1,
            k_multiple=1,
            description=f"any M, N, K >= 1 (operands are padded to multiples of {launch.block_m}, "
            f"{launch.block_n}, {launch.k_step})",
        )
    return ProblemSizes(
        edge="refuse",
        m_multiple=launch.block_m,
        n_multiple=launch.block_n,
        k_multiple=launch.k_step,
        description=f"M a multiple of {launch.block_m}, N of {launch.block_n}, K of {launch.k_step} (all >= 1 "
        "tile; num_k_tiles = 1 included)",
    )


def check_problem(kernel: m.Kernel, M: int, N: int, K: int) -> None:
    """Raise ``ValueError`` naming every size ``kernel`` cannot handle; return None otherwise.
    Sizes may be any integer type (``__index__``: Python or numpy ints), not bools or floats."""
    launch = kernel.launch
    problems = []
    sizes: dict[str, int] = {}
    for name, size in (("M", M), ("N", N), ("K", K)):
        try:
            if isinstance(size, bool):
                raise TypeError
            sizes[name] = operator.index(size)
        except TypeError:
            problems.append(f"{name} must be an integer, got {type(size).__name__} {size!r}")
            continue
        if sizes[name] < 1:
            problems.append(f"{name} = {sizes[name]}: every dimension must be at least 1")
    if not problems and kernel.edge == "refuse":
        for name, multiple, what in (("M", launch.block_m, "block_m"), ("N", launch.block_n, "block_n"),
                                     ("K", launch.k_step, "k_step")):
            size = sizes[name]
            if size % multiple:
                lower, upper = size // multiple * multiple, (size // multiple + 1) * multiple
                hint = f"{lower} or {upper}" if lower else f"{upper}"
                problems.append(f"{name} = {size} is not a multiple of {what} = {multiple} (e.g. {hint})")
    if problems:
        fix = (
            "pad the operands to the block multiples, or build the kernel with `edge=\"pad\"`"
            if kernel.edge == "refuse"
            else "pass positive integer sizes"
        )
        raise ValueError(
            f"kernel `{kernel.name}` cannot run M={M}, N={N}, K={K}: " + "; ".join(problems) + f". Fix: {fix}."
        )


def check_k_coverage(ctx: ValidationContext) -> list[Diagnostic]:
    """For every output tile a block computes, the block loads its whole A panel (block rows x K)
    and B panel (K x block cols): a K loop that skips a step, or a pipeline whose prologue or
    epilogue drops a tile at some num_k_tiles, leaves part of K out of the product."""
    found = Findings("runtime-shapes.k-coverage", ctx.kernel)
    kernel = ctx.kernel
    launch = kernel.launch
    first_op: dict[str, m.Stmt] = {}
    for op in ctx.ops:
        use = ctx.effects(op).global_use
        if use is not None and not use.write:
            first_op.setdefault(use.matrix, op)
    for sample in ctx.blocks:
        loads: dict[str, list[Rect]] = {"A": [], "B": []}
        for events in sample.traces.values():
            for event in events:
                effects = ctx.effects(event.op)
                if effects.global_use is not None and not effects.global_use.write:
                    access = global_access(effects, event, ctx.value)
                    if access is not None:
                        loads[access.matrix].append(access.rect)
        k = sample.problem.k
        for tile_row, tile_col in sample.tiles:
            rows = Rect(tile_row * launch.block_m, (tile_row + 1) * launch.block_m, 0, k)
            cols = (tile_col * launch.block_n, (tile_col + 1) * launch.block_n)
            panels = {"A": rows, "B": b_rect(kernel.globals.b_layout, (0, k), cols)}
            for operand, panel in panels.items():
                pieces = [r.shifted(panel.r0, panel.c0) for r in loads[operand]]
                grid = Grid(panel.r1 - panel.r0, panel.c1 - panel.c0, pieces)
                loaded = 0
                for piece in pieces:
                    loaded |= grid.bits(piece)
                missing = grid.full & ~loaded
                if not missing:
                    continue
                found.error(
                    f"output tile ({tile_row}, {tile_col}) never loads {grid.describe(missing)} of its {operand} panel "
                    f"({panel.text()} of {operand}) for {sample.label()}; that part of K is left out of the product",
                    op=first_op.get(operand),
                    key=operand,
                    buffer=operand,
                    loc=first_op[operand].loc if operand in first_op else kernel.loc,
                    fix="every K step must be loaded once per output tile: check the K loop bounds and that the "
                    "pipeline prologue / epilogue load the first and last steps for every num_k_tiles >= 1",
                )
    return found.diagnostics()
