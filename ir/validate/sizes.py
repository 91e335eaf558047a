"""Which problem sizes the traced rules check, chosen from the schedule's own index expressions.

The traced rules (bounds, coverage, races, waits, accumulators) run the schedule with concrete
values. What they see at these sizes holds at every size because the sizes exercise every case
each index expression can take (the argument is in docs/rules.md, "Which sizes are checked"):

* expressions are quasi-affine: sums of constant multiples of variables, ``//`` and ``%`` by
  constants, ``min`` / ``max`` and comparisons (``structure.index-form`` refuses the rest);
* ``warp`` and the variables of loops with constant bounds are enumerated completely in every
  trace; what remains is ``block_row`` / ``block_col`` and the K loop (``num_k_tiles`` and the
  variables of loops bounded by it);
* every divisor ``d`` applied to an expression of a block variable is exercised with that
  variable running over at least two full periods (``2 * lcm + 1`` block rows / cols), and past
  every constant it is compared with or clamped at (``c + 2`` block rows / cols); every
  divisor on a K variable, and the pipeline depth, with ``num_k_tiles`` running over every value
  from 1 to ``max(4, depth + 2, 2 * lcm)``;
* a persistent launch is traced with ``TRACED_PERSISTENT_BLOCKS`` blocks (the body sees the tile
  coordinates, never the block count) on a grid of at least ``2 * blocks + 1`` tiles, so every
  block walks two or more tiles and one walks three (wrap-around).

``checked_sizes(kernel)`` gives the problems and a sentence saying what they cover; the validator,
``tilegen check`` and ``tilegen.testing`` use the same function.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import lcm

from ir import models as m
from ir.expr import BLOCK_COL, BLOCK_ROW, NUM_K_TILES, Arith, BoolOp, Cmp, Const, Expr, Not, free_vars
from ir.semantics import effects
from ir.trace import Problem

#: Blocks a persistent launch is traced with, so blocks stride over several tiles.
TRACED_PERSISTENT_BLOCKS = 2
#: The grid every schedule is checked on (tile rows, tile cols), and the fewest K tiles.
BASE_TILES = (2, 2)
MIN_K_TILES = 4
#: Periods past this are not enumerated: the schedule is refused (structure.index-form).
MAX_PERIOD = 64


def divisors(expr: Expr, names: set[str]) -> set[int]:
    """Constant divisors of ``//`` and ``%`` applied to sub-expressions that read one of ``names``."""
    found: set[int] = set()
    if isinstance(expr, Arith):
        if expr.op in ("//", "%") and isinstance(expr.rhs, Const) and free_vars(expr.lhs) & names:
            found.add(abs(expr.rhs.value))
        found |= divisors(expr.lhs, names) | divisors(expr.rhs, names)
    elif isinstance(expr, Cmp):
        found |= divisors(expr.lhs, names) | divisors(expr.rhs, names)
    elif isinstance(expr, BoolOp):
        for arg in expr.args:
            found |= divisors(arg, names)
    elif isinstance(expr, Not):
        found |= divisors(expr.arg, names)
    return {d for d in found if d > 1}


def offsets(expr: Expr) -> set[int]:
    """Constants added to, subtracted from or compared with a variable (``kt + stages - 1``,
    ``step < num_k_tiles``): the breakpoints that give the pipeline depth. Factors and divisors
    are not offsets."""
    found: set[int] = set()
    if isinstance(expr, (Arith, Cmp)):
        if isinstance(expr, Cmp) or expr.op in ("+", "-", "min", "max"):
            found |= {abs(side.value) for side in (expr.lhs, expr.rhs) if isinstance(side, Const)}
        found |= offsets(expr.lhs) | offsets(expr.rhs)
    elif isinstance(expr, BoolOp):
        for arg in expr.args:
            found |= offsets(arg)
    elif isinstance(expr, Not):
        found |= offsets(expr.arg)
    return found


def breakpoints(expr: Expr, names: set[str]) -> set[int]:
    """Constants that a sub-expression reading ``names`` is compared with or clamped by (``==``,
    ``<``, ``min``, ``max``): the values where a piecewise expression changes piece."""
    found: set[int] = set()
    if isinstance(expr, (Arith, Cmp)):
        if isinstance(expr, Cmp) or expr.op in ("min", "max"):
            for side, other in ((expr.lhs, expr.rhs), (expr.rhs, expr.lhs)):
                if isinstance(side, Const) and free_vars(other) & names:
                    found.add(abs(side.value))
        found |= breakpoints(expr.lhs, names) | breakpoints(expr.rhs, names)
    elif isinstance(expr, BoolOp):
        for arg in expr.args:
            found |= breakpoints(arg, names)
    elif isinstance(expr, Not):
        found |= breakpoints(expr.arg, names)
    return found


def k_variables(kernel: m.Kernel) -> set[str]:
    """``num_k_tiles`` and the variables of loops whose bounds read it (or another K variable)."""
    names = {NUM_K_TILES}
    loops = [op for op in m.walk(kernel.body) if isinstance(op, m.For)]
    changed = True
    while changed:
        changed = False
        for loop in loops:
            if loop.var not in names and (free_vars(loop.start) | free_vars(loop.stop)) & names:
                names.add(loop.var)
                changed = True
    return names


@dataclass(frozen=True)
class CheckedSizes:
    """The problems the traced rules run, and why these."""

    problems: tuple[Problem, ...]
    k_tiles: tuple[int, ...]
    grids: tuple[tuple[int, int], ...]
    block_period: tuple[int, int]  # lcm of the divisors on block_row, block_col
    k_period: int  # lcm of the divisors on K variables
    depth: int  # pipeline depth: buffers and K offsets
    persistent_blocks: int | None  # blocks traced for a persistent launch

    def describe(self) -> str:
        grids = ", ".join(f"{r} x {c}" for r, c in self.grids)
        k = self.k_tiles
        text = (
            f"{len(self.problems)} problems: output-tile grids {grids}, K tiles {k[0]}-{k[-1]} (every num_k_tiles "
            f"up to max({MIN_K_TILES}, pipeline depth {self.depth} + 2, 2 x K period {self.k_period}))"
        )
        rows, cols = self.block_period
        if rows > 1 or cols > 1:
            text += f"; block rows / cols cover 2 periods of {rows} / {cols} (the divisors on block_row / block_col)"
        if self.persistent_blocks is not None:
            text += (
                f"; the persistent launch traced with {self.persistent_blocks} blocks, each walking 2 or more tiles "
                "(wrap-around)"
            )
        return text


def capped_kernel(kernel: m.Kernel) -> m.Kernel:
    """``kernel`` with a persistent launch capped to ``TRACED_PERSISTENT_BLOCKS`` blocks (same op
    objects): the body sees only the tiles it is given, so fewer blocks walk more tiles each."""
    launch = kernel.launch
    if launch.persistent_blocks is None or launch.persistent_blocks <= TRACED_PERSISTENT_BLOCKS:
        return kernel
    capped = launch.model_copy(update={"persistent_blocks": TRACED_PERSISTENT_BLOCKS})
    return kernel.model_copy(update={"launch": capped})


def checked_sizes(kernel: m.Kernel) -> CheckedSizes:
    """The problem sizes that exercise every case of ``kernel``'s index expressions."""
    exprs = [e for op in m.walk(kernel.body) for e in effects(kernel, op).exprs]
    k_names = k_variables(kernel)
    row_period = lcm(1, *(d for e in exprs for d in divisors(e, {BLOCK_ROW})))
    col_period = lcm(1, *(d for e in exprs for d in divisors(e, {BLOCK_COL})))
    k_period = lcm(1, *(d for e in exprs for d in divisors(e, k_names)))
    k_offsets = [c for e in exprs if free_vars(e) & k_names for c in offsets(e)]
    depth = max([1, *(t.buffers for t in kernel.shared), *(c for c in k_offsets if c <= MAX_PERIOD)])
    k_max = max(MIN_K_TILES, depth + 2, 2 * min(k_period, MAX_PERIOD))
    k_tiles = tuple(range(1, k_max + 1))
    launch = kernel.launch
    base_rows, base_cols = BASE_TILES
    grids = [BASE_TILES]
    rows = max(base_rows, 2 * min(row_period, MAX_PERIOD) + 1) if row_period > 1 else base_rows
    cols = max(base_cols, 2 * min(col_period, MAX_PERIOD) + 1) if col_period > 1 else base_cols
    # A block index compared with (or clamped at) a constant c: blocks on both sides of c.
    row_breaks = [c for e in exprs for c in breakpoints(e, {BLOCK_ROW}) if c <= MAX_PERIOD]
    col_breaks = [c for e in exprs for c in breakpoints(e, {BLOCK_COL}) if c <= MAX_PERIOD]
    rows = max([rows, *(c + 2 for c in row_breaks)])
    cols = max([cols, *(c + 2 for c in col_breaks)])
    persistent = None
    if launch.persistent_blocks is not None:
        persistent = min(launch.persistent_blocks, TRACED_PERSISTENT_BLOCKS)
        while rows * cols < 2 * persistent + 1:
            cols += 1
    if (rows, cols) != BASE_TILES:
        grids.append((rows, cols))
    problems = [Problem.smallest(kernel, k_tiles=k, tiles=BASE_TILES) for k in k_tiles]
    for grid in grids[1:]:  # the larger grid with the K tiles that change the prologue / epilogue
        problems += [Problem.smallest(kernel, k_tiles=k, tiles=grid) for k in k_tiles[: max(2, depth + 1)]]
    return CheckedSizes(
        tuple(problems), k_tiles, tuple(grids), (row_period, col_period), k_period, depth, persistent
    )


def covering_problem(kernel: m.Kernel) -> Problem:
    """One problem that exercises the most at once, for a simulation with data: the largest
    checked grid (block periods, persistent wrap-around) with the most K tiles checked. Simulate
    ``capped_kernel(kernel)`` so a persistent launch wraps at this size."""
    sizes = checked_sizes(kernel)
    rows, cols = max(sizes.grids, key=lambda g: g[0] * g[1])
    return Problem.smallest(kernel, k_tiles=sizes.k_tiles[-1], tiles=(rows, cols))
