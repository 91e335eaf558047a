"""Rectangles of elements that ops touch, and fast coverage sets over them.

Coordinates are element rows / columns, half-open. Shared-memory accesses are given inside their
shared tile (and pipeline buffer); global accesses inside the global matrix.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from math import gcd
from typing import Literal, Optional

from ir import models as m
from ir.expr import Expr, evaluate
from ir.trace import Event, Problem

Matrix = Literal["A", "B", "C"]


@dataclass(frozen=True)
class Rect:
    r0: int
    r1: int
    c0: int
    c1: int

    def overlaps(self, other: Rect) -> bool:
        return self.r0 < other.r1 and other.r0 < self.r1 and self.c0 < other.c1 and other.c0 < self.c1

    def inside(self, rows: int, cols: int) -> bool:
        return 0 <= self.r0 and self.r1 <= rows and 0 <= self.c0 and self.c1 <= cols

    def intersect(self, other: Rect) -> Optional[Rect]:
        r = Rect(max(self.r0, other.r0), min(self.r1, other.r1), max(self.c0, other.c0), min(self.c1, other.c1))
        return r if r.r0 < r.r1 and r.c0 < r.c1 else None

    def shifted(self, rows: int, cols: int) -> Rect:
        return Rect(self.r0 - rows, self.r1 - rows, self.c0 - cols, self.c1 - cols)

    def text(self) -> str:
        return f"rows {self.r0}-{self.r1 - 1}, cols {self.c0}-{self.c1 - 1}"


def tile_rect(row: int, col: int, rows: int, cols: int) -> Rect:
    """The (row, col)-th tile of shape rows x cols (coordinates in tiles, as HipKittens counts)."""
    return Rect(row * rows, (row + 1) * rows, col * cols, (col + 1) * cols)


def group_share(rows: int, group_size: int, warp: int) -> tuple[int, int]:
    """Rows [first, last) of an R-row tile that warp ``warp`` moves in a group<N> op."""
    lane = warp % group_size
    return lane * rows // group_size, (lane + 1) * rows // group_size


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
    """``expr`` with the event's variables, without the copy of the environment Event.value makes."""
    return evaluate(expr, event.env)  # type: ignore[arg-type]


def buffer_index(ref: m.SharedRef, event: Event, value: Evaluator = plain_value) -> int:
    return 0 if ref.buffer is None else value(event, ref.buffer)


def shared_access(
    kernel: m.Kernel, wave: int, event: Event, position: int, value: Evaluator = plain_value
) -> Optional[SharedAccess]:
    """The shared-memory rectangle ``event`` reads or writes for wave ``wave``, if any."""
    op = event.op
    if isinstance(op, (m.LoadShared, m.StoreShared)):
        ref, reg = (op.src, op.dst) if isinstance(op, m.LoadShared) else (op.dst, op.src)
        tile = kernel.register_tile(reg.tile)
        rect = tile_rect(value(event, op.row), value(event, op.col), tile.rows, tile.cols)
        write = isinstance(op, m.StoreShared)
    elif isinstance(op, (m.GroupLoad, m.GroupStore, m.StageStore)):
        if isinstance(op, m.GroupLoad):
            ref, group, write = op.dst, op.group_size, True
        elif isinstance(op, m.GroupStore):
            ref, group, write = op.src, op.group_size, False
        else:
            ref, group, write = op.dst, kernel.stage_buffer(op.src).group_size, True
        shared = kernel.shared_tile(ref.tile)
        first, last = group_share(shared.rows, group, wave)
        rect = Rect(first, last, 0, shared.cols)
    else:
        return None
    return SharedAccess(ref.tile, buffer_index(ref, event, value), rect, write, wave, event, position)


def matrix_shape(kernel: m.Kernel, matrix: Matrix, problem: Problem) -> tuple[int, int]:
    if matrix == "A":
        return problem.m, problem.k
    if matrix == "C":
        return problem.m, problem.n
    return (problem.k, problem.n) if kernel.globals.b_layout == "kn" else (problem.n, problem.k)


@dataclass(frozen=True)
class GlobalAccess:
    matrix: Matrix
    rect: Rect
    tile_shape: tuple[int, int]
    row: int  # coordinates as written, in tiles
    col: int


def global_access(kernel: m.Kernel, event: Event, value: Evaluator = plain_value) -> Optional[GlobalAccess]:
    """The rectangle of A, B or C a load / stage load / store moves (the whole tile, every warp)."""
    op = event.op
    if isinstance(op, m.GroupLoad):
        tile = kernel.shared_tile(op.dst.tile)
        matrix, shape = op.src, (tile.rows, tile.cols)
    elif isinstance(op, m.StageLoad):
        stage = kernel.stage_buffer(op.dst)
        matrix, shape = op.src, (stage.rows, stage.cols)
    elif isinstance(op, m.Store):
        reg = kernel.register_tile(op.src.tile)
        matrix, shape = "C", (reg.rows, reg.cols)
    elif isinstance(op, m.GroupStore):
        tile = kernel.shared_tile(op.src.tile)
        matrix, shape = "C", (tile.rows, tile.cols)
    else:
        return None
    row, col = value(event, op.row), value(event, op.col)
    return GlobalAccess(matrix, tile_rect(row, col, *shape), shape, row, col)  # type: ignore[arg-type]
