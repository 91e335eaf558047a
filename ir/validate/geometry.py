"""Coverage sets over element rectangles, and the rectangles trace events touch.

What each op touches is ``ir.semantics``'s; this module evaluates it at a trace event.

Coordinates are element rows / columns, half-open. Shared-memory accesses are given inside their
shared tile (and pipeline buffer); global accesses inside the global matrix.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from math import gcd
from typing import Optional

from ir.expr import Expr, evaluate
from ir.semantics import Matrix, OpEffects, Rect, tile_rect
from ir.trace import Event

__all__ = ["GlobalAccess", "Grid", "Rect", "SharedAccess", "global_access", "shared_accesses", "tile_rect"]


# --------------------------------------------------------------------------------------------
# Coverage sets: cells of a granule fine enough for every rectangle boundary, as a Python int
# --------------------------------------------------------------------------------------------


class Grid:
    """A rows x cols area split into equal cells whose edges include every boundary of ``rects``.
    A set of cells is an int bitset, so unions, intersections and containment are single ops."""

    def __init__(self, rows: int, cols: int, rects: Iterable[Rect] = ()):
        row_granule, col_granule = rows, cols
        for rect in rects:
            clipped = rect.intersect(Rect(0, rows, 0, cols))
            if clipped is None:
                continue
            row_granule = gcd(row_granule, gcd(clipped.r0, clipped.r1))
            col_granule = gcd(col_granule, gcd(clipped.c0, clipped.c1))
        self.rows, self.cols = rows, cols
        self.row_granule, self.col_granule = max(1, row_granule), max(1, col_granule)
        self.cell_rows, self.cell_cols = rows // self.row_granule, cols // self.col_granule
        self.full = (1 << (self.cell_rows * self.cell_cols)) - 1
        self._cache: dict[Rect, int] = {}

    def bits(self, rect: Rect) -> int:
        """Cells of ``rect`` inside the area (parts outside are dropped)."""
        cached = self._cache.get(rect)
        if cached is not None:
            return cached
        clipped = rect.intersect(Rect(0, self.rows, 0, self.cols))
        bits = 0
        if clipped is not None:
            c0, c1 = clipped.c0 // self.col_granule, -(-clipped.c1 // self.col_granule)
            run = ((1 << (c1 - c0)) - 1) << c0
            for cell_row in range(clipped.r0 // self.row_granule, -(-clipped.r1 // self.row_granule)):
                bits |= run << (cell_row * self.cell_cols)
        self._cache[rect] = bits
        return bits

    def rects(self, bits: int) -> list[Rect]:
        """A cell set as element rectangles: runs along each cell row, merged down the rows."""
        open_runs: dict[tuple[int, int], int] = {}  # (first col, last col) -> first row
        done: list[Rect] = []
        row_mask = (1 << self.cell_cols) - 1
        for i in range(self.cell_rows + 1):
            runs: set[tuple[int, int]] = set()
            line = (bits >> (i * self.cell_cols)) & row_mask if i < self.cell_rows else 0
            j = 0
            while line >> j:
                if (line >> j) & 1:
                    start = j
                    while (line >> j) & 1:
                        j += 1
                    runs.add((start, j))
                else:
                    j += 1
            for run in list(open_runs):
                if run not in runs:
                    first = open_runs.pop(run)
                    done.append(
                        Rect(first * self.row_granule, i * self.row_granule,
                             run[0] * self.col_granule, run[1] * self.col_granule)
                    )
            for run in runs:
                open_runs.setdefault(run, i)
        return sorted(done, key=lambda r: (r.r0, r.c0))

    def describe(self, bits: int, limit: int = 3) -> str:
        """A cell set in words, e.g. ``rows 64-127, cols 0-31`` or several such pieces."""
        pieces = self.rects(bits)
        if not pieces:
            return "nothing"
        text = "; ".join(r.text() for r in pieces[:limit])
        return text + (f" (and {len(pieces) - limit} more pieces)" if len(pieces) > limit else "")


# --------------------------------------------------------------------------------------------
# What an event touches
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SharedAccess:
    """One wave's access to one pipeline buffer of one shared tile."""

    tile: str
    buffer: int
    rect: Rect
    write: bool
    wave: int
    event: Event
    position: int  # index of the event in the wave's trace


#: Evaluates an expression with an event's variables (``ValidationContext.value`` memoises it).
Evaluator = Callable[[Event, Expr], int]


def plain_value(event: Event, expr: Expr) -> int:
    """``expr`` with the event's variables."""
    return evaluate(expr, event.env)  # type: ignore[arg-type]


def shared_accesses(
    effects: OpEffects, wave: int, event: Event, position: int, value: Evaluator = plain_value
) -> list[SharedAccess]:
    """The shared-memory rectangles ``event`` reads or writes for wave ``wave`` (``ir.semantics``)."""
    at = partial(value, event)
    return [
        SharedAccess(use.ref.tile, use.buffer(at), use.rect(wave, at), use.write, wave, event, position)
        for use in effects.shared
    ]


@dataclass(frozen=True)
class GlobalAccess:
    matrix: Matrix
    rect: Rect
    tile_shape: tuple[int, int]
    row: int  # coordinates as written, in tiles
    col: int


def global_access(effects: OpEffects, event: Event, value: Evaluator = plain_value) -> Optional[GlobalAccess]:
    """The rectangle of A, B or C a load / stage load / store moves (the whole tile, every warp)."""
    use = effects.global_use
    if use is None or use.shape is None:
        return None
    at = partial(value, event)
    row, col = use.coords(at)
    return GlobalAccess(use.matrix, tile_rect(row, col, *use.shape), use.shape, row, col)
