"""Shapes and types that can be checked without running the schedule: tile sides, the block
tile, mma operands, load dtypes and what a global load moves."""

from __future__ import annotations

from ir import models as m
from ir.diagnostics import Diagnostic
from ir.semantics import b_shape, b_text, mma_shapes
from ir.validate.context import ValidationContext
from ir.validate.describe import reg_text
from ir.validate.findings import Findings


def check_tile_dims(ctx: ValidationContext) -> list[Diagnostic]:
    """Register tiles, shared tiles and stage buffers are built from the target's base tile."""
    found = Findings("shapes.tile-dims", ctx.kernel)
    base = ctx.target.base_tile
    storages: list[tuple[str, m.RegisterTile | m.SharedTile | m.StageBuffer]] = [
        *(("register tile", r) for r in ctx.kernel.registers),
        *(("shared tile", s) for s in ctx.kernel.shared),
        *(("stage buffer", s) for s in ctx.kernel.stages),
    ]
    for kind, tile in storages:
        if tile.rows % base or tile.cols % base:
            found.error(
                f"{kind} `{tile.name}` is {tile.rows} x {tile.cols}; both sides must be multiples of the "
                f"{base} x {base} base tile on {ctx.target.name}",
                key=tile.name,
                buffer=tile.name,
                loc=tile.loc,
                fix=f"round the sides to multiples of {base} (e.g. {_round_up(tile.rows, base)} x "
                f"{_round_up(tile.cols, base)})",
            )
    return found.diagnostics()


def check_block_dims(ctx: ValidationContext) -> list[Diagnostic]:
    """block_m, block_n and k_step are multiples of the base tile."""
    found = Findings("shapes.block-dims", ctx.kernel)
    base = ctx.target.base_tile
    launch = ctx.kernel.launch
    for name, value in (("block_m", launch.block_m), ("block_n", launch.block_n), ("k_step", launch.k_step)):
        if value % base:
            found.error(
                f"{name} = {value} is not a multiple of the {base} x {base} base tile",
                key=name,
                loc=ctx.kernel.loc,
                fix=f"use {name} = {_round_up(value, base)} (or another multiple of {base})",
            )
    return found.diagnostics()


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def _shape(tile: m.RegisterTile) -> str:
    return f"{tile.rows} x {tile.cols}"


def check_mma_shapes(ctx: ValidationContext) -> list[Diagnostic]:
    """mma operands agree: AB: a m x k, b k x n, d m x n; ABt: a m x k, b n x k, d m x n; c like d."""
    found = Findings("shapes.mma-shape", ctx.kernel)
    for op in ctx.ops:
        if not isinstance(op, m.Mma):
            continue
        d, a, b, c = (ctx.kernel.register_tile(r.tile) for r in (op.d, op.a, op.b, op.c))
        want = mma_shapes(op.variant, (a.rows, a.cols), (b.rows, b.cols))
        m_, k_, n_ = want.m, want.k, want.n
        problems = []
        if (b.rows, b.cols) != want.b:
            expect = f"{want.b[0]} x {want.b[1]}"
            layout = want.b_text.lower()
            problems.append(
                f"b `{reg_text(op.b)}` is {_shape(b)} but mma_{op.variant} needs b as {layout} with k = {k_} "
                f"from a `{reg_text(op.a)}` ({_shape(a)}), e.g. {expect}"
            )
        if (d.rows, d.cols) != (m_, n_):
            problems.append(f"d `{reg_text(op.d)}` is {_shape(d)} but a @ b is {m_} x {n_}")
        if (c.rows, c.cols) != (d.rows, d.cols):
            problems.append(f"c `{reg_text(op.c)}` is {_shape(c)} but d is {_shape(d)}")
        for problem in problems:
            found.error(
                f"mma operand shapes disagree: {problem}",
                op=op,
                key=problem,
                fix="mma_AB: a (m x k), b (k x n), c/d (m x n); mma_ABt: a (m x k), b (n x k), c/d (m x n). "
                "Resize the register tiles, or use the other variant (b_layout='nk' gives mma_ABt)",
            )
    return found.diagnostics()


def check_mma_layouts(ctx: ValidationContext) -> list[Diagnostic]:
    """mma layouts: a row; b col for mma_AB, row for mma_ABt; c and d col."""
    found = Findings("shapes.mma-layout", ctx.kernel)
    for op in ctx.ops:
        if not isinstance(op, m.Mma):
            continue
        wanted = {"a": "row", "b": "col" if op.variant == "AB" else "row", "c": "col", "d": "col"}
        wrong: dict[str, list[str]] = {}  # tile -> the operands it is passed as
        for operand, want in wanted.items():
            tile = ctx.kernel.register_tile(getattr(op, operand).tile)
            if tile.layout != want:
                wrong.setdefault(tile.name, []).append(operand)
        for name, operands in wrong.items():
            tile = ctx.kernel.register_tile(name)
            want = wanted[operands[0]]
            found.error(
                f"mma_{op.variant} needs {' and '.join(operands)} in {want} layout, but `{name}` is declared "
                f"{tile.layout}",
                op=op,
                key=name,
                buffer=name,
                fix=f"declare `{name}` with layout=\"{want}\""
                + (" (k.accumulator(...) does this)" if operands[0] in "cd" else ""),
            )
    return found.diagnostics()


def check_mma_dtypes(ctx: ValidationContext) -> list[Diagnostic]:
    """mma inputs a, b are bf16; accumulators c, d are f32."""
    found = Findings("shapes.mma-dtype", ctx.kernel)
    for op in ctx.ops:
        if not isinstance(op, m.Mma):
            continue
        for role, want in (("a", "bf16"), ("b", "bf16"), ("c", "f32"), ("d", "f32")):
            tile = ctx.kernel.register_tile(getattr(op, role).tile)
            if tile.dtype != want:
                found.error(
                    f"mma_{op.variant} needs {role} as {want}, but `{tile.name}` is {tile.dtype}",
                    op=op,
                    key=role,
                    buffer=tile.name,
                    fix="declare bf16 inputs with k.register(...) and f32 accumulators with k.accumulator(...)",
                )
    return found.diagnostics()


def check_register_moves(ctx: ValidationContext) -> list[Diagnostic]:
    """Shared -> register loads keep the dtype (bf16 shared into bf16 registers); register copies
    keep shape, dtype and layout."""
    found = Findings("shapes.load-dtype", ctx.kernel)
    for op in ctx.ops:
        if isinstance(op, m.LoadShared):
            shared = ctx.kernel.shared_tile(op.src.tile)
            reg = ctx.kernel.register_tile(op.dst.tile)
            if shared.dtype != reg.dtype:
                found.error(
                    f"loads {shared.dtype} shared tile `{shared.name}` into {reg.dtype} register tile `{reg.name}`; "
                    "a shared-to-register load does not convert",
                    op=op,
                    buffer=shared.name,
                    fix=f"declare `{reg.name}` as {shared.dtype} (or the shared tile as {reg.dtype})",
                )
        elif isinstance(op, m.Copy):
            dst, src = ctx.kernel.register_tile(op.dst.tile), ctx.kernel.register_tile(op.src.tile)
            mine = (dst.rows, dst.cols, dst.dtype, dst.layout)
            theirs = (src.rows, src.cols, src.dtype, src.layout)
            if mine != theirs:
                found.error(
                    f"copies `{src.name}` ({src.rows} x {src.cols} {src.dtype} {src.layout}) into `{dst.name}` "
                    f"({dst.rows} x {dst.cols} {dst.dtype} {dst.layout}); a register copy needs identical tiles",
                    op=op,
                    buffer=dst.name,
                    fix="declare both tiles with the same shape, dtype and layout",
                )
    return found.diagnostics()


def _operand_extents(kernel: m.Kernel, operand: str) -> tuple[tuple[str, int], tuple[str, int], str]:
    """((name, size) along the tile's rows, (name, size) along its cols, the matrix's shape)."""
    launch = kernel.launch
    if operand == "A":
        return ("block_m", launch.block_m), ("k_step", launch.k_step), "A is M x K"
    layout = kernel.globals.b_layout
    rows, cols = b_shape(layout, ("k_step", launch.k_step), ("block_n", launch.block_n))
    return rows, cols, f"B is {b_text(layout)}"


def check_operand_tiles(ctx: ValidationContext) -> list[Diagnostic]:
    """A tile loaded from A or B is a piece of the block's panel: its rows divide the panel's row
    extent and its cols the col extent (this catches transposed tiles); a stage store writes a
    shared tile of the stage buffer's shape; loads from A / B (bf16) fill bf16 tiles."""
    found = Findings("shapes.operand-tile", ctx.kernel)
    kernel = ctx.kernel
    for op in ctx.ops:
        if isinstance(op, (m.GroupLoad, m.StageLoad)):
            if isinstance(op, m.GroupLoad):
                tile = kernel.shared_tile(op.dst.tile)
                name, rows, cols = tile.name, tile.rows, tile.cols
                if tile.dtype != "bf16":
                    found.error(
                        f"loads bf16 {op.src} into {tile.dtype} shared tile `{name}`",
                        op=op,
                        key="dtype",
                        buffer=name,
                        fix=f"declare `{name}` as bf16",
                    )
            else:
                stage = kernel.stage_buffer(op.dst)
                name, rows, cols = stage.name, stage.rows, stage.cols
            (row_name, row_extent), (col_name, col_extent), matrix = _operand_extents(kernel, op.src)
            if row_extent % rows or col_extent % cols:
                found.error(
                    f"`{name}` is {rows} x {cols}, but a tile of {op.src} ({matrix}) must split the block's "
                    f"{row_extent} x {col_extent} panel: its rows must divide {row_name} = {row_extent} and its "
                    f"cols {col_name} = {col_extent}",
                    op=op,
                    key="panel",
                    buffer=name,
                    fix=f"declare `{name}` as {row_extent} x {col_extent} (or a piece that divides it)"
                    + (f"; {cols} x {rows} would be the transposed shape" if (cols, rows) == (row_extent, col_extent)
                       or (row_extent % cols == 0 and col_extent % rows == 0) else ""),
                )
        elif isinstance(op, m.StageStore):
            stage = kernel.stage_buffer(op.src)
            tile = kernel.shared_tile(op.dst.tile)
            if (stage.rows, stage.cols) != (tile.rows, tile.cols):
                found.error(
                    f"stage buffer `{stage.name}` holds {stage.rows} x {stage.cols} but shared tile `{tile.name}` is "
                    f"{tile.rows} x {tile.cols}",
                    op=op,
                    key="stage",
                    buffer=tile.name,
                    fix=f"declare the stage buffer like its tile: `k.stage('{stage.name}', {tile.name})`",
                )
    return found.diagnostics()
