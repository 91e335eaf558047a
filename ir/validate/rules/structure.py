"""Structure: roles, launch shape, the output-tile loop, variables and names. These rules gate
the others: a schedule that breaks them cannot be traced meaningfully."""

from __future__ import annotations

from ir import models as m
from ir.diagnostics import Diagnostic, format_waves
from ir.expr import BLOCK_COL, BLOCK_ROW, BUILTIN_VARS, K_DONE, NUM_K_TILES, WARP, free_vars, to_text
from ir.names import name_problem, rename_hint
from ir.semantics import missing_index, missing_index_fix, spurious_index
from ir.validate.context import ValidationContext
from ir.validate.findings import Findings


def check_roles(ctx: ValidationContext) -> list[Diagnostic]:
    """Role warp ranges lie inside the block and do not overlap; role branches and scopes name
    declared roles; role branches do not nest."""
    found = Findings("structure.roles", ctx.kernel)
    num_warps = ctx.kernel.launch.num_warps
    roles = ctx.kernel.roles
    for role in roles:
        if role.first + role.count > num_warps:
            found.error(
                f"role `{role.name}` covers warps {format_waves(list(role.warps))}, but the block has only "
                f"{num_warps} warps (0-{num_warps - 1})",
                key=("range", role.name),
                loc=role.loc,
                fix=f"shrink the role or launch more warps (`warps={role.first + role.count}`)",
            )
    for i, first in enumerate(roles):
        for second in roles[i + 1 :]:
            shared = sorted(set(first.warps) & set(second.warps))
            if shared:
                found.error(
                    f"roles `{first.name}` and `{second.name}` both claim warp(s) {format_waves(shared)}; a warp "
                    "belongs to at most one role",
                    key=("overlap", first.name, second.name),
                    waves=shared,
                    loc=second.loc,
                    fix="give each role its own contiguous range of warps",
                )
    names = {role.name for role in roles}
    for storage in [*ctx.kernel.registers, *ctx.kernel.stages]:
        if storage.scope != "kernel" and storage.scope not in names:
            found.error(
                f"`{storage.name}` is declared in scope `{storage.scope}`, which is neither `kernel` nor a role",
                key=("scope", storage.name),
                loc=storage.loc,
                fix=f"declare a role named `{storage.scope}` or use scope `kernel`",
            )

    def visit(body: list[m.Stmt], role: str | None) -> None:
        for op in body:
            inner = role
            if isinstance(op, m.RoleBranch):
                if op.role not in names:
                    found.error(
                        f"branch for role `{op.role}`, but no role of that name is declared",
                        op=op,
                        key="unknown",
                        fix=f"declare it with `k.role('{op.role}', range(...))`",
                    )
                if role is not None:
                    found.error(
                        f"role `{op.role}`'s branch is nested inside role `{role}`'s branch; a warp has one role, so "
                        "the inner branch runs on no warp or on every warp of the outer one",
                        op=op,
                        key="nested",
                        fix="close the outer role's `with` block before opening this one",
                    )
                inner = op.role
            for child in m.children(op):
                visit(child, inner)

    visit(ctx.kernel.body, None)
    return found.diagnostics()


def check_launch(ctx: ValidationContext) -> list[Diagnostic]:
    """Persistent launches use a linear grid; a 2d grid means row-major order without XCD remap;
    the block's threads fit the target."""
    found = Findings("structure.launch", ctx.kernel)
    launch, target, loc = ctx.kernel.launch, ctx.target, ctx.kernel.loc
    if launch.persistent_blocks is not None and launch.grid != "linear":
        found.error(
            f"a persistent launch ({launch.persistent_blocks} blocks striding over output tiles) needs a linear "
            "grid, but the grid is 2d",
            key="persistent",
            loc=loc,
            fix="drop `grid=\"2d\"` from `tg.Kernel(...)` (persistent kernels default to a linear grid)",
        )
    if launch.grid == "2d" and (launch.tile_order.kind != "row_major" or launch.xcd_remap is not None):
        what = [f"tile order `{launch.tile_order.kind}`"] if launch.tile_order.kind != "row_major" else []
        what += ["an XCD remap"] if launch.xcd_remap is not None else []
        found.error(
            f"a 2d grid maps blockIdx straight to (row, col) and cannot apply {' and '.join(what)}",
            key="order",
            loc=loc,
            fix="use `grid=\"linear\"` (the default whenever an order, remap or persistence is given)",
        )
    threads = launch.num_warps * target.wave_size
    if threads > target.max_threads:
        found.error(
            f"{launch.num_warps} warps x {target.wave_size} lanes = {threads} threads per block, more than "
            f"{target.name}'s {target.max_threads}",
            key="threads",
            loc=loc,
            fix=f"use at most {target.max_threads // target.wave_size} warps",
        )
    return found.diagnostics()


def check_tile_loop(ctx: ValidationContext) -> list[Diagnostic]:
    """Each warp walks its output tiles in exactly one loop (``ForTiles``): one at the top level
    of the kernel, or one at the top level of each role branch (warp-specialised kernels where
    producers and consumers each stride over the tiles); never inside a loop, a condition or
    another tile loop."""
    found = Findings("structure.tile-loop", ctx.kernel)
    kernel = ctx.kernel
    placed: list[tuple[m.ForTiles, m.RoleBranch | None]] = []
    for op in kernel.body:
        if isinstance(op, m.ForTiles):
            placed.append((op, None))
        elif isinstance(op, m.RoleBranch):
            placed += [(inner, op) for inner in op.body if isinstance(inner, m.ForTiles)]
    placed_ids = {id(op) for op, _ in placed}
    for op in ctx.ops:
        if isinstance(op, m.ForTiles) and id(op) not in placed_ids:
            found.error(
                "an output-tile loop inside a loop, a condition or another tile loop",
                op=op,
                key="nested",
                fix="open `with k.tiles():` at the top level of the kernel or of a role branch",
            )
    if not placed:
        found.error(
            "the kernel has no output-tile loop, so block_row / block_col are never set",
            key="missing",
            loc=kernel.loc,
            fix="put the per-tile work inside `with k.tiles():` (the builder adds it when the body has none)",
        )
    for warp in range(kernel.launch.num_warps):
        role = kernel.role_of_warp(warp)
        loops = [op for op, branch in placed if branch is None or (role is not None and branch.role == role.name)]
        for extra in loops[1:]:
            found.error(
                f"warp {warp} walks the output tiles a second time here; a block walks its tiles in one loop",
                op=extra,
                key="second",
                waves=(warp,),
                fix="merge the per-tile work into one `with k.tiles():` block (per role at most one)",
            )
    return found.diagnostics()


def check_variables(ctx: ValidationContext) -> list[Diagnostic]:
    """Every variable an expression uses is defined where it is used: ``warp`` and
    ``num_k_tiles`` everywhere, ``block_row`` / ``block_col`` inside the tile loop, a loop
    variable inside its loop. Loop variables do not shadow builtins or enclosing loops."""
    found = Findings("structure.variables", ctx.kernel)

    def visit(body: list[m.Stmt], defined: frozenset[str]) -> None:
        for op in body:
            for expr in ctx.effects(op).exprs:
                for name in sorted(free_vars(expr) - defined):
                    if name in (BLOCK_ROW, BLOCK_COL):
                        hint = "block_row / block_col exist only inside the output-tile loop (`with k.tiles():`)"
                    else:
                        hint = f"`{name}` is not a builtin ({', '.join(BUILTIN_VARS)}) nor an enclosing loop's variable"
                    used = f"`{name}`" if to_text(expr) == name else f"`{to_text(expr)}` uses `{name}`, which"
                    found.error(
                        f"{used} is not defined here: {hint}",
                        op=op,
                        key=name,
                        fix="use the variable inside the loop that defines it, or pass a Python int",
                    )
            inner = defined
            if isinstance(op, m.For):
                if op.var in defined:
                    found.error(
                        f"loop variable `{op.var}` shadows "
                        + ("a builtin" if op.var in BUILTIN_VARS else "an enclosing loop's variable"),
                        op=op,
                        key="shadow",
                        fix="name the loop variable differently (`var=...`)",
                    )
                inner = defined | {op.var}
            elif isinstance(op, m.ForTiles):
                inner = defined | {BLOCK_ROW, BLOCK_COL, K_DONE}
            for child in m.children(op):
                visit(child, inner)

    visit(ctx.kernel.body, frozenset({WARP, NUM_K_TILES}))
    return found.diagnostics()


_SPURIOUS_FIX = "drop the index, or declare the tile with count=... / buffers=... if it is meant to be several"


def check_references(ctx: ValidationContext) -> list[Diagnostic]:
    """Every tile and stage buffer an op names is declared; arrays are indexed and multi-buffered
    shared tiles name a buffer; a single tile or buffer is indexed by nothing but 0."""
    found = Findings("structure.references", ctx.kernel)
    kernel = ctx.kernel
    registers = {r.name: r for r in kernel.registers}
    shared = {s.name: s for s in kernel.shared}
    stages = {s.name for s in kernel.stages}
    for op in ctx.ops:
        effects = ctx.effects(op)
        for ref in effects.register_refs:
            tile = registers.get(ref.tile)
            if tile is None:
                found.error(
                    f"register tile `{ref.tile}` is not declared",
                    op=op,
                    key=("reg", ref.tile),
                    fix="declare it with `k.register(...)` / `k.accumulator(...)`",
                )
            elif (problem := missing_index(kernel, ref)) is not None:
                found.error(
                    problem, op=op, key=("index", ref.tile), buffer=ref.tile, fix=missing_index_fix(kernel, ref)
                )
            elif (problem := spurious_index(kernel, ref)) is not None:
                found.error(problem, op=op, key=("single", ref.tile), buffer=ref.tile, fix=_SPURIOUS_FIX)
        for ref in effects.shared_refs:
            tile = shared.get(ref.tile)
            if tile is None:
                found.error(
                    f"shared tile `{ref.tile}` is not declared",
                    op=op,
                    key=("shared", ref.tile),
                    fix="declare it with `k.shared(...)`",
                )
            elif (problem := missing_index(kernel, ref)) is not None:
                found.error(
                    problem, op=op, key=("buffer", ref.tile), buffer=ref.tile, fix=missing_index_fix(kernel, ref)
                )
            elif (problem := spurious_index(kernel, ref)) is not None:
                found.error(problem, op=op, key=("single", ref.tile), buffer=ref.tile, fix=_SPURIOUS_FIX)
        for name in effects.stages:
            if name not in stages:
                found.error(
                    f"stage buffer `{name}` is not declared",
                    op=op,
                    key=("stage", name),
                    fix="declare it with `k.stage(...)`",
                )
    return found.diagnostics()


def check_names(ctx: ValidationContext) -> list[Diagnostic]:
    """Every shared tile, register tile, stage buffer and loop variable has a name the emitted C++
    can hold: an identifier that is no C++ keyword, no reserved identifier, and no name the emitted
    code itself uses (``store``, ``g``, ``warp_id``, ``band``, ``G4``, ...; ``ir.names``)."""
    found = Findings("structure.names", ctx.kernel)
    kernel = ctx.kernel
    named: list[tuple[str, str, m.SourceLoc]] = []
    named += [("shared tile", t.name, t.loc) for t in kernel.shared]
    named += [("register tile", t.name, t.loc) for t in kernel.registers]
    named += [("stage buffer", t.name, t.loc) for t in kernel.stages]
    named += [("mbarrier", t.name, t.loc) for t in kernel.mbarriers]
    named += [("loop variable", op.var, op.loc) for op in ctx.ops if isinstance(op, m.For)]
    for what, name, loc in named:
        problem = name_problem(name)
        if problem is None:
            continue
        found.error(
            f"the {what} name `{name}` {problem}, so the emitted HIP would not compile",
            key=(what, name),
            loc=loc,
            buffer=name if what != "loop variable" else None,
            fix=rename_hint(name, what),
        )
    return found.diagnostics()
