"""Registers: scope, waste, reads before writes, and the estimate against the target's budget."""

from __future__ import annotations

from collections import defaultdict
from typing import Optional, Union

from ir import models as m
from ir.diagnostics import Diagnostic, format_waves
from ir.expr import Const
from ir.resources import (
    NVIDIA_REGISTERS_PER_SM,
    launch_register_share,
    register_estimate,
    register_tile_registers,
    stage_buffer_registers,
)
from ir.trace import Event
from ir.validate.context import ValidationContext
from ir.validate.describe import reg_text, where
from ir.validate.findings import Findings

Storage = Union[m.RegisterTile, m.StageBuffer]


def _storage(kernel: m.Kernel) -> dict[str, Storage]:
    return {**{r.name: r for r in kernel.registers}, **{s.name: s for s in kernel.stages}}


def _registers(storage: Storage, ctx: ValidationContext) -> int:
    if isinstance(storage, m.RegisterTile):
        return register_tile_registers(storage, ctx.target)
    return stage_buffer_registers(storage, ctx.target)


def check_scope(ctx: ValidationContext) -> list[Diagnostic]:
    """A register tile or stage buffer declared in a role is used only inside that role's branch."""
    found = Findings("registers.scope", ctx.kernel)
    storage = _storage(ctx.kernel)

    def visit(body: list[m.Stmt], role: Optional[str]) -> None:
        for op in body:
            for name in ctx.effects(op).storage:
                tile = storage.get(name)
                if tile is None or tile.scope in ("kernel", role):
                    continue
                here = f"in role `{role}`'s branch" if role else "at kernel scope, outside any role branch"
                found.error(
                    f"`{name}` belongs to role `{tile.scope}` but is used {here}; its registers exist only in "
                    f"`{tile.scope}`'s waves",
                    op=op,
                    key=name,
                    buffer=name,
                    fix=f"use it only inside `with {tile.scope}:`, or declare it at kernel scope if other waves "
                    "need it too",
                )
            inner = op.role if isinstance(op, m.RoleBranch) else role
            for child in m.children(op):
                visit(child, inner)

    visit(ctx.kernel.body, None)
    return found.diagnostics()


def check_wasted(ctx: ValidationContext) -> list[Diagnostic]:
    """A kernel-scope tile that only some waves use (e.g. only one role's branch) costs its
    registers in every wave, since every wave of an AMD kernel gets the same allocation: warn
    with the registers per lane it wastes; a tile nothing uses is wasted everywhere."""
    found = Findings("registers.wasted", ctx.kernel)
    kernel = ctx.kernel
    users: dict[str, set[int]] = defaultdict(set)
    for sample in ctx.samples:
        for wave, events in sample.traces.items():
            for event in events:
                for name in ctx.effects(event.op).storage:
                    users[name].add(wave)
    named = {name for op in ctx.ops for name in ctx.effects(op).storage}
    all_waves = set(range(kernel.launch.num_warps))
    for tile in _storage(kernel).values():
        if tile.scope != "kernel":
            continue
        cost = _registers(tile, ctx)
        waves = users.get(tile.name, set())
        if not waves:
            why = "is declared but never used" if tile.name not in named else "is used only by ops no wave runs"
            found.warning(
                f"`{tile.name}` {why}; it still takes {cost} registers per lane in every wave",
                key=tile.name,
                buffer=tile.name,
                loc=tile.loc,
                fix=f"remove `{tile.name}`",
            )
            continue
        idle = sorted(all_waves - waves)
        if not idle:
            continue
        role = next((r for r in kernel.roles if set(r.warps) == waves), None)
        owner = f" (role `{role.name}`)" if role else ""
        others = sorted({r.name for w in idle if (r := kernel.role_of_warp(w)) is not None})
        in_roles = f", role(s) {', '.join(f'`{n}`' for n in others)}" if others else ""
        found.warning(
            f"`{tile.name}` is declared at kernel scope but only wave(s) {format_waves(sorted(waves))}{owner} use "
            f"it; wave(s) {format_waves(idle)}{in_roles} hold its {cost} registers per lane for nothing (every "
            "wave of a kernel gets the same register allocation on AMD)",
            key=tile.name,
            waves=idle,
            buffer=tile.name,
            loc=tile.loc,
            fix=f"declare it inside `with {role.name}:` (or with scope={role.name})"
            if role
            else "declare it in the role whose waves use it",
        )
    return found.diagnostics()


def check_read_before_write(ctx: ValidationContext) -> list[Diagnostic]:
    """No register tile (mma operand, store or copy source) or stage buffer is read before
    something wrote it in the same wave."""
    found = Findings("registers.read-before-write", ctx.kernel)
    for sample in ctx.samples:
        for wave, events in sample.traces.items():
            written: set[tuple[str, int]] = set()
            for event in events:
                op = event.op
                info = ctx.effects(op)
                for ref in info.reads:
                    index = 0 if ref.index is None else ctx.value(event, ref.index)
                    if (ref.tile, index) in written:
                        continue
                    value = "" if ref.index is None or isinstance(ref.index, Const) else f" (= {ref.tile}[{index}])"
                    found.error(
                        f"reads `{reg_text(ref)}`{value} before anything wrote it in this wave "
                        f"({sample.instance(event)})",
                        op=op,
                        key=ref.tile,
                        waves=(wave,),
                        buffer=ref.tile,
                        fix="zero accumulators first (`k.zero(acc)` covers the whole array), and load input tiles "
                        "before the mma that uses them; check the array's count against the loop that fills it",
                    )
                for stage in info.stage_reads:
                    if (stage, 0) in written:
                        continue
                    found.error(
                        f"stores stage buffer `{stage}` before any stage load filled it ({sample.instance(event)})",
                        op=op,
                        key=stage,
                        waves=(wave,),
                        buffer=stage,
                        fix="issue `k.stage_load(...)` (and `k.wait()`) before the stage store",
                    )
                for ref in info.writes:
                    written.add((ref.tile, 0 if ref.index is None else ctx.value(event, ref.index)))
                written.update((name, 0) for name in info.stage_writes)
    return found.diagnostics()


def check_budget(ctx: ValidationContext) -> list[Diagnostic]:
    """The register estimate fits: each role within its ``max_registers`` budget, and the kernel
    within what a wave may have at this launch's occupancy on the target."""
    found = Findings("registers.budget", ctx.kernel)
    kernel, target = ctx.kernel, ctx.target
    estimate = register_estimate(kernel, target)
    costs = {tile.name: tile.registers for tile in estimate.tiles}
    roles = {role.name: role for role in kernel.roles}

    def breakdown(tiles: tuple[str, ...]) -> str:
        parts = [f"{name} {costs[name]}" for name in sorted(tiles, key=lambda n: -costs[n])]
        return ", ".join([*parts, f"overhead {estimate.overhead}"])

    for role in estimate.roles:
        if role.budget is None:
            continue
        loc = roles[role.role].loc
        if role.budget > target.max_registers:
            found.error(
                f"role `{role.role}` has a budget of {role.budget} registers per lane, more than {target.name}'s "
                f"{target.max_registers}",
                key=("budget", role.role),
                loc=loc,
                fix=f"set max_registers to at most {target.max_registers}",
            )
        if role.registers > role.budget:
            found.error(
                f"role `{role.role}` needs about {role.registers} registers per lane ({breakdown(role.tiles)}), more "
                f"than its budget of {role.budget}",
                key=("over", role.role),
                waves=role.warps,
                loc=loc,
                fix="raise the role's max_registers, or shrink / move its register tiles",
            )

    budgets_split = not target.is_amd and any(role.budget is not None for role in estimate.roles)
    if budgets_split:
        # setmaxnreg moves registers between warps of one block: the warps start with the launch's
        # share each, and an increase waits until decreases have freed enough. Budgets that add up
        # to more than the block's pool leave an increase waiting forever (a hang, not a spill).
        threads = kernel.launch.num_warps * target.wave_size
        share = launch_register_share(threads, kernel.launch.min_blocks_per_cu)
        budgeted = {w for r in estimate.roles if r.budget is not None for w in r.warps}
        total = sum(len(r.warps) * target.wave_size * r.budget for r in estimate.roles if r.budget is not None)
        total += (kernel.launch.num_warps - len(budgeted)) * target.wave_size * share
        if total > share * threads:
            found.error(
                f"the roles' register budgets add up to {total} registers per block, more than the {share * threads} "
                f"the launch gives the block ({threads} threads x {share}, the per-thread share of the "
                f"{NVIDIA_REGISTERS_PER_SM}-register SM at {kernel.launch.min_blocks_per_cu} block(s) per SM, rounded "
                "down to 8): a role's setmaxnreg.inc would wait forever for registers no one frees",
                key="sm",
                loc=kernel.loc,
                fix="lower the roles' max_registers (e.g. the producers to 40, as ThunderKittens does) so that "
                "sum(max_registers x threads) fits",
            )
    elif estimate.kernel > estimate.limit:
        worst = max(estimate.roles, key=lambda r: r.registers)
        found.error(
            f"the kernel needs about {estimate.kernel} registers per lane (role `{worst.role}`: "
            f"{breakdown(worst.tiles)}), more than the {estimate.limit} available: {estimate.limit_reason}; it "
            "would spill to scratch memory",
            key="kernel",
            waves=worst.warps,
            loc=kernel.loc,
            fix="use smaller warp tiles or fewer register-tile arrays, move tiles used by one role into that role, "
            "or run fewer waves / blocks per CU (`warps=`, `min_blocks_per_cu=`)",
        )
    return found.diagnostics()


def check_budget_warpgroups(ctx: ValidationContext) -> list[Diagnostic]:
    """On sm_90a a register budget is ``setmaxnreg``: a warpgroup-wide instruction (all four warps
    of an aligned warpgroup run it together) taking a multiple of 8 from 24 to 256. A role with a
    budget must therefore be whole warpgroups, and its budget a value setmaxnreg accepts."""
    found = Findings("registers.budget-warpgroups", ctx.kernel)
    if ctx.target.name != "sm_90a":
        return found.diagnostics()  # elsewhere a budget is only checked against the estimate
    for role in ctx.kernel.roles:
        if role.max_registers is None:
            continue
        waves = tuple(role.warps)
        if role.first % 4 or role.count % 4:
            found.error(
                f"role `{role.name}` (warps {format_waves(waves)}) has a register budget, but setmaxnreg acts on "
                "whole warpgroups (4 consecutive warps starting at a multiple of 4) and this role splits one",
                key=("warpgroups", role.name),
                waves=waves,
                loc=role.loc,
                fix="make the role whole warpgroups (e.g. `range(0, 4)`, `range(4, 12)`) or drop its max_registers",
            )
        if not (24 <= role.max_registers <= 256 and role.max_registers % 8 == 0):
            found.error(
                f"role `{role.name}` has a register budget of {role.max_registers}; setmaxnreg takes a multiple of 8 "
                "from 24 to 256",
                key=("value", role.name),
                waves=waves,
                loc=role.loc,
                fix=f"use {min(256, max(24, role.max_registers // 8 * 8))}",
            )
    return found.diagnostics()



def check_scaled_in_place(ctx: ValidationContext) -> list[Diagnostic]:
    """A ``Store`` whose epilogue scales its accumulator in place (``ir.plan``: nothing reads it
    afterwards) leaves alpha * acc + beta * C in the tile: no later op of the wave may read that
    tile before writing it again."""
    found = Findings("registers.scaled-in-place", ctx.kernel)
    in_place = ctx.plan.scale_in_place
    if not in_place:
        return []
    for sample in ctx.samples:
        for wave, events in sample.traces.items():
            scaled: dict[tuple[str, int], Event] = {}
            for event in events:
                info = ctx.effects(event.op)
                for ref in info.reads:
                    element = (ref.tile, 0 if ref.index is None else ctx.value(event, ref.index))
                    store = scaled.get(element)
                    if store is None:
                        continue
                    found.error(
                        f"reads `{reg_text(ref)}` after the epilogue of {where(store.op, ctx.kernel)} scaled it in "
                        f"place (it now holds alpha * acc + beta * C, not the sum) ({sample.instance(event)})",
                        op=event.op,
                        key=ref.tile,
                        waves=(wave,),
                        buffer=ref.tile,
                        related=where(store.op, ctx.kernel),
                        fix="zero or reload the tile before reading it again; if nothing in the schedule should "
                        "read it, report this to tilegen (the in-place decision is ir/plan.py's liveness)",
                    )
                for ref in info.writes:
                    scaled.pop((ref.tile, 0 if ref.index is None else ctx.value(event, ref.index)), None)
                if id(event.op) in in_place:
                    src = event.op.src  # type: ignore[union-attr]
                    scaled[(src.tile, 0 if src.index is None else ctx.value(event, src.index))] = event
    return found.diagnostics()
