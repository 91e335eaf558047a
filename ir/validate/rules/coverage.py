"""Output coverage: per output tile, the stores of all waves cover the block tile exactly once."""

from __future__ import annotations

from collections import defaultdict

from ir import models as m
from ir.diagnostics import Diagnostic
from ir.semantics import matrix_shape
from ir.trace import Event
from ir.validate.context import Sample, ValidationContext
from ir.validate.describe import where
from ir.validate.findings import Findings
from ir.validate.geometry import GlobalAccess, Grid, Rect, global_access


def _stores_by_tile(ctx: ValidationContext, sample: Sample) -> dict[int, list[tuple[int, Event, GlobalAccess]]]:
    """tile_iter -> (wave, event, access) of every store; a group store counts once per group
    (its lowest wave that ran it), since its warps write one tile together."""
    by_tile: dict[int, list[tuple[int, Event, GlobalAccess]]] = defaultdict(list)
    group_runs: dict[tuple[int, int, int], dict[int, list[Event]]] = defaultdict(lambda: defaultdict(list))
    for wave, events in sample.traces.items():
        for event in events:
            effects = ctx.effects(event.op)
            if effects.global_use is None or not effects.global_use.write:
                continue
            if effects.group_size is None:
                access = global_access(effects, event, ctx.value)
                if access is not None:
                    by_tile[event.tile_iter].append((wave, event, access))
            else:
                group = wave // effects.group_size
                group_runs[(id(event.op), group, event.tile_iter)][wave].append(event)
    for (_, _, tile_iter), runs in group_runs.items():
        wave = min(runs)
        for event in runs[wave]:
            access = global_access(ctx.effects(event.op), event, ctx.value)
            if access is not None:
                by_tile[tile_iter].append((wave, event, access))
    return by_tile


def check_store_coverage(ctx: ValidationContext) -> list[Diagnostic]:
    """The union of Store / GroupStore rectangles over all waves is the block tile, with no
    element stored twice and nothing stored outside it (a store in the wrong units lands in
    another block's tile)."""
    found = Findings("shapes.store-coverage", ctx.kernel)
    launch = ctx.kernel.launch
    bm, bn = launch.block_m, launch.block_n
    for sample in ctx.blocks:
        p = sample.problem
        c_rows, c_cols = matrix_shape(ctx.kernel, "C", (p.m, p.n, p.k))
        by_tile = _stores_by_tile(ctx, sample)
        for tile_iter, (tile_row, tile_col) in enumerate(sample.tiles):
            stores = by_tile.get(tile_iter, [])
            area = Rect(tile_row * bm, (tile_row + 1) * bm, tile_col * bn, (tile_col + 1) * bn)
            grid = Grid(bm, bn, [access.rect.shifted(area.r0, area.c0) for _, _, access in stores])
            covered = 0
            owners: list[tuple[int, Event, int]] = []
            for wave, event, access in stores:
                if access.rect.intersect(area) != access.rect:
                    if access.rect.inside(c_rows, c_cols):  # outside C altogether is shapes.global-bounds
                        found.error(
                            f"stores {access.rect.text()} of C, outside this block's output tile ({area.text()}, "
                            f"tile ({tile_row}, {tile_col})) at {sample.instance(event)}; that is another block's "
                            "tile. Store coordinates count tiles of the stored tile's shape",
                            op=event.op,
                            key="outside",
                            waves=(wave,),
                            buffer="C",
                            fix="place stores inside the block tile: `k.store(acc, row=..., col=...)` takes offsets "
                            "inside the block in units of the register tile and adds the block's position",
                        )
                bits = grid.bits(access.rect.shifted(area.r0, area.c0))
                twice = covered & bits
                if twice:
                    other = next(o for o in owners if o[2] & twice)
                    found.error(
                        f"wave {wave} stores {grid.describe(twice)} of the block tile, which wave {other[0]} "
                        f"already stored with {where(other[1].op, ctx.kernel)} ({sample.instance(event)}); C would "
                        "get two (racing) epilogues there and other parts of the tile none",
                        op=event.op,
                        key="twice",
                        waves=(wave, other[0]),
                        related=where(other[1].op, ctx.kernel),
                        buffer="C",
                        fix="give each wave its own part of the block tile: check the warp-row / warp-col terms "
                        "of the store coordinates",
                    )
                covered |= bits
                owners.append((wave, event, bits))
            missing = grid.full & ~covered
            if missing:
                first_store = next((op for op in ctx.ops if isinstance(op, (m.Store, m.GroupStore))), None)
                found.error(
                    f"no wave stores {grid.describe(missing)} of the {bm} x {bn} block tile (output tile "
                    f"({tile_row}, {tile_col}), {sample.label()}); those elements of C are never written",
                    op=first_store,
                    key="gap",
                    buffer="C",
                    loc=first_store.loc if first_store is not None else ctx.kernel.loc,
                    fix="store every accumulator of every wave once: the warps' register tiles must tile the "
                    "block tile exactly (check the accumulator count and the store offsets)",
                )
    return found.diagnostics()
