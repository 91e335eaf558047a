"""Group collectives: a group<N> op (group load / store, stage load / store) is run by all N
warps of each group that runs it ([g*N, (g+1)*N), g = warp // N), the same number of times with
the same coordinates; its tile's rows split evenly over the N warps."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable
from functools import partial

from ir import models as m
from ir.diagnostics import Diagnostic, format_waves
from ir.semantics import OpEffects
from ir.trace import Event
from ir.validate.context import ValidationContext
from ir.validate.findings import Findings


def _moved_tile(effects: OpEffects) -> tuple[str, int]:
    """(name, rows) of the tile a group op moves: its shared tile, else its stage buffer."""
    for use in (*effects.shared, *effects.async_shared):  # async: a TMA-store epilogue's staging
        if use.tile_shape is not None:
            return use.ref.tile, use.tile_shape[0]
    assert effects.global_use is not None and effects.global_use.shape is not None
    return effects.stages[0], effects.global_use.shape[0]


def check_group_shape(ctx: ValidationContext) -> list[Diagnostic]:
    """A group fits in the block, and the moved tile's rows split evenly among its N warps."""
    found = Findings("collectives.group-shape", ctx.kernel)
    num_warps = ctx.kernel.launch.num_warps
    for op in ctx.ops:
        effects = ctx.effects(op)
        if effects.group_size is None:
            continue
        size = effects.group_size
        name, rows = _moved_tile(effects)
        if size > num_warps:
            found.error(
                f"a group of {size} warps, but the block has only {num_warps}",
                op=op,
                key="size",
                buffer=name,
                fix=f"use a group of at most {num_warps} warps (`group=...`)",
            )
        if rows % size:
            found.error(
                f"`{name}` has {rows} rows, which do not split evenly among the {size} warps of the group",
                op=op,
                key="rows",
                buffer=name,
                fix=f"use a group size that divides {rows}, or resize the tile",
            )
    return found.diagnostics()


def _coordinates(ctx: ValidationContext, effects: OpEffects, event: Event) -> tuple[Hashable, ...]:
    """What every warp of the group must agree on for one run of an op: its global coordinates
    (row, col) and its shared buffer, where it has them."""
    at = partial(ctx.value, event)
    coords: tuple[Hashable, ...] = () if effects.global_use is None else effects.global_use.coords(at)
    return coords + tuple(use.buffer(at) for use in effects.shared)


def _runs_text(runs: list[tuple[Hashable, ...]]) -> str:
    shown = ", ".join(str(r) for r in runs[:3]) + (", ..." if len(runs) > 3 else "")
    return f"{len(runs)} time(s) with {shown}" if runs else "0 times"


def check_complete_groups(ctx: ValidationContext) -> list[Diagnostic]:
    """Every warp of a group runs each group op the same number of times with the same coordinates."""
    found = Findings("collectives.incomplete-group", ctx.kernel)
    num_warps = ctx.kernel.launch.num_warps
    for sample in ctx.samples:
        runs: dict[int, dict[int, list[tuple[Hashable, ...]]]] = defaultdict(lambda: defaultdict(list))
        ops: dict[int, m.Stmt] = {}
        for wave, events in sample.traces.items():
            for event in events:
                effects = ctx.effects(event.op)
                if effects.group_size is not None:
                    runs[id(event.op)][wave].append(_coordinates(ctx, effects, event))
                    ops[id(event.op)] = event.op
        for op_id, by_wave in runs.items():
            op = ops[op_id]
            size = ctx.effects(op).group_size
            assert size is not None
            for group in sorted({w // size for w in by_wave}):
                members = list(range(group * size, (group + 1) * size))
                absent = [w for w in members if w not in by_wave]
                present = [w for w in members if w in by_wave]
                if absent:
                    beyond = [w for w in absent if w >= num_warps]
                    why = (
                        f"warp(s) {format_waves(beyond)} do not exist (the block has {num_warps})"
                        if beyond
                        else f"wave(s) {format_waves(absent)} do not run it"
                    )
                    found.error(
                        f"group<{size}> op run by only wave(s) {format_waves(present)} of its group (waves "
                        f"{format_waves(members)}){ctx.site_text(op)}; {why}, so their share of the tile is never "
                        f"moved ({sample.label()})",
                        op=op,
                        key="absent",
                        waves=present,
                        fix=f"run it on all {size} warps of the group (take it out of the branch that only some "
                        "warps enter), or give it the group size of the warps that do run it (`group=...`)",
                    )
                    continue
                reference = max((by_wave[w] for w in present), key=len)
                differ = [w for w in present if by_wave[w] != reference]
                if differ:
                    first = differ[0]
                    agree = [w for w in present if by_wave[w] == reference]
                    found.error(
                        f"the warps of group<{size}> (waves {format_waves(members)}) disagree{ctx.site_text(op)}: "
                        f"wave(s) {format_waves(agree)} run it {_runs_text(reference)}, wave {first} runs it "
                        f"{_runs_text(by_wave[first])} (row, col[, buffer]) ({sample.label()})",
                        op=op,
                        key="differ",
                        waves=differ,
                        fix="every warp of the group must run the op together with the same coordinates: make "
                        "the loop bounds and the coordinates independent of the warp inside the group",
                    )
    return found.diagnostics()


def check_group_store_share(ctx: ValidationContext) -> list[Diagnostic]:
    """A group store's epilogue (C = alpha * tile + beta * C) has each of its N waves scale its
    rows / N rows of the shared tile in registers, so that share is a whole number of the target's
    base tiles (16 rows)."""
    found = Findings("collectives.group-store-share", ctx.kernel)
    base = ctx.target.base_tile
    for op in ctx.ops:
        if not isinstance(op, m.GroupStore):
            continue
        name, rows = _moved_tile(ctx.effects(op))
        n = op.group_size
        if rows % n == 0 and (rows // n) % base == 0:
            continue
        fits = [g for g in range(1, n + 1) if rows % g == 0 and (rows // g) % base == 0]
        suggestion = f"group={fits[-1]}" if fits else f"a shared tile of at least {base} rows"
        found.error(
            f"the alpha/beta epilogue of this group store has each of its {n} waves scale its {rows}/{n} rows of "
            f"`{name}`, which must be a whole multiple of {base} rows (a base register tile)",
            op=op,
            key=name,
            buffer=name,
            fix=f"store with a group whose size divides {rows} into multiples of {base} rows ({suggestion}), or "
            "use a taller shared tile",
        )
    return found.diagnostics()
