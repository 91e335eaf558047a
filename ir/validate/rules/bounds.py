"""Indices checked with concrete values on the representative problems: register-array indices,
pipeline-buffer indices, subtiles inside their shared tile, loads and stores inside the global
matrices (a pipelined prologue at num_k_tiles = 1 is caught here)."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Optional

from ir.diagnostics import Diagnostic
from ir.expr import to_text
from ir.semantics import SharedUse, matrix_shape, tile_rect
from ir.trace import Event
from ir.validate.context import Sample, ValidationContext
from ir.validate.findings import Findings
from ir.validate.geometry import global_access


def _events(ctx: ValidationContext, samples: Optional[list[Sample]] = None) -> Iterator[tuple[Sample, int, Event]]:
    for sample in ctx.samples if samples is None else samples:
        for wave, events in sample.traces.items():
            for event in events:
                yield sample, wave, event


def check_register_index(ctx: ValidationContext) -> list[Diagnostic]:
    """Every register-array index lies in [0, count) (``C_accum[2]`` zeroed with ``i < 4``)."""
    found = Findings("shapes.register-index", ctx.kernel)
    for sample, wave, event in _events(ctx):
        for ref in ctx.effects(event.op).register_refs:
            if ref.index is None:
                continue
            tile = ctx.kernel.register_tile(ref.tile)
            index = ctx.value(event, ref.index)
            if 0 <= index < tile.count:
                continue
            what = f"an array of {tile.count}" if tile.count > 1 else "a single tile (only index 0 exists)"
            found.error(
                f"index `{to_text(ref.index)}` of `{tile.name}` is {index}, but `{tile.name}` is {what} "
                f"(first at {sample.instance(event)})",
                op=event.op,
                key=ref.tile,
                waves=(wave,),
                buffer=tile.name,
                fix=f"declare `{tile.name}` with count={index + 1} or more if the tiling needs it, or fix the loop "
                "bound / index that produced it (halving a warp tile needs 4x the accumulators)",
            )
    return found.diagnostics()


def check_buffer_index(ctx: ValidationContext) -> list[Diagnostic]:
    """Every pipeline-buffer index lies in [0, buffers)."""
    found = Findings("shapes.buffer-index", ctx.kernel)
    for sample, wave, event in _events(ctx):
        for ref in ctx.effects(event.op).shared_refs:
            if ref.buffer is None:
                continue
            tile = ctx.kernel.shared_tile(ref.tile)
            index = ctx.value(event, ref.buffer)
            if 0 <= index < tile.buffers:
                continue
            found.error(
                f"buffer index `{to_text(ref.buffer)}` of `{tile.name}` is {index}, but it has {tile.buffers} "
                f"buffer(s) (first at {sample.instance(event)})",
                op=event.op,
                key=ref.tile,
                waves=(wave,),
                buffer=tile.name,
                fix=f"rotate buffers with `% {tile.buffers}`, or declare `{tile.name}` with buffers={index + 1}",
            )
    return found.diagnostics()


def check_subtile_bounds(ctx: ValidationContext) -> list[Diagnostic]:
    """A subtile loaded from / stored to shared memory stays inside its shared tile."""
    found = Findings("shapes.subtile-bounds", ctx.kernel)
    value = ctx.value
    for sample, wave, event in _events(ctx):
        for use in ctx.effects(event.op).shared:
            if use.subtile is None or use.tile_shape is None:
                continue
            rect = tile_rect(value(event, use.row), value(event, use.col), *use.subtile)  # type: ignore[arg-type]
            if not rect.inside(*use.tile_shape):
                _subtile_bounds(ctx, found, sample, wave, event, use)
    return found.diagnostics()


def _subtile_bounds(
    ctx: ValidationContext, found: Findings, sample: Sample, wave: int, event: Event, use: SharedUse
) -> None:
    op = event.op
    assert use.subtile is not None and use.tile_shape is not None and use.row is not None and use.col is not None
    rows, cols = use.tile_shape
    sub_rows, sub_cols = use.subtile
    row, col = ctx.value(event, use.row), ctx.value(event, use.col)
    rect = use.rect(wave, partial(ctx.value, event))
    if not rect.inside(rows, cols):
        grid = f"{rows // sub_rows} x {cols // sub_cols}"
        found.error(
            f"subtile {{{row}, {col}}} of shape {sub_rows} x {sub_cols} covers {rect.text()}, outside shared tile "
            f"`{use.ref.tile}` ({rows} x {cols}, i.e. {grid} such subtiles); offsets count subtiles, "
            f"not elements (first at {sample.instance(event)})",
            op=op,
            waves=(wave,),
            buffer=use.ref.tile,
            fix="keep the offsets below the subtile grid: check the warp-row / warp-col arithmetic and the tile "
            "sizes after changing the block or warp tile",
        )


_LOAD_FIX = (
    "guard loads of a later K step with `k.when(kt + 1 < k.num_k_tiles)` (the schedule must hold for "
    "num_k_tiles = 1), and count coordinates in tiles of the loaded tile, not in elements or block tiles"
)
_STORE_FIX = (
    "`k.store(acc, row=..., col=...)` takes offsets inside the block tile in units of the stored register tile "
    "and adds the block's position itself: pass warp_row + 2 * i, not element offsets or block-tile units"
)


def check_global_bounds(ctx: ValidationContext) -> list[Diagnostic]:
    """Every global load, stage load and store stays inside A, B or C (coordinates count whole
    tiles of the moved tile)."""
    found = Findings("shapes.global-bounds", ctx.kernel)
    for sample, wave, event in _events(ctx, ctx.blocks):
        access = global_access(ctx.effects(event.op), event, ctx.value)
        if access is None:
            continue
        p = sample.problem
        rows, cols = matrix_shape(ctx.kernel, access.matrix, (p.m, p.n, p.k))
        if access.rect.inside(rows, cols):
            continue
        tile_rows, tile_cols = access.tile_shape
        found.error(
            f"tile {{{access.row}, {access.col}}} of shape {tile_rows} x {tile_cols} is {access.rect.text()} of "
            f"{access.matrix}, which is only {rows} x {cols} at {sample.instance(event)}; coordinates count whole "
            f"{tile_rows} x {tile_cols} tiles",
            op=event.op,
            waves=(wave,),
            buffer=access.matrix,
            fix=_STORE_FIX if access.matrix == "C" else _LOAD_FIX,
        )
    return found.diagnostics()
