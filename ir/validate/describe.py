"""Ops as the user reads them: the HipKittens call each op becomes, for diagnostics.

``describe(op, kernel)`` gives e.g. ``load(a_reg[1], subtile_inplace<32, 32>(As, {warp // 2 + 2, 0}))``.
It never raises: a reference to an undeclared tile is printed as written.
"""

from __future__ import annotations

from ir import models as m
from ir.diagnostics import format_waves
from ir.expr import to_text


def reg_text(ref: m.RegRef) -> str:
    return ref.tile if ref.index is None else f"{ref.tile}[{to_text(ref.index)}]"


def shared_text(ref: m.SharedRef) -> str:
    return ref.tile if ref.buffer is None else f"{ref.tile}[{to_text(ref.buffer)}]"


def bar_text(ref: m.BarRef) -> str:
    return ref.barrier if ref.index is None else f"{ref.barrier}[{to_text(ref.index)}]"


def _coords(row: m.Expr, col: m.Expr) -> str:  # type: ignore[name-defined]
    return f"{{0, 0, {to_text(row)}, {to_text(col)}}}"


def _reg_shape(kernel: m.Kernel, name: str) -> str:
    try:
        tile = kernel.register_tile(name)
    except KeyError:
        return "?, ?"
    return f"{tile.rows}, {tile.cols}"


def _stage_group(kernel: m.Kernel, name: str) -> str:
    try:
        return str(kernel.stage_buffer(name).group_size)
    except KeyError:
        return "?"


def describe(op: m.Stmt, kernel: m.Kernel) -> str:
    """One line of HipKittens-like text for ``op``."""
    if isinstance(op, m.Zero):
        return f"zero({reg_text(op.dst)})"
    if isinstance(op, m.Copy):
        return f"{reg_text(op.dst)} = {reg_text(op.src)}"
    if isinstance(op, m.GroupLoad):
        call = "load_async" if op.is_async else "load"
        operand = op.src.lower()
        return f"group<{op.group_size}>::{call}({shared_text(op.dst)}, g.{operand}, {_coords(op.row, op.col)})"
    if isinstance(op, m.StageLoad):
        group = _stage_group(kernel, op.dst)
        return f"tg::stage_load<{group}>({op.dst}, g.{op.src.lower()}, {_coords(op.row, op.col)})"
    if isinstance(op, m.StageStore):
        return f"tg::stage_store<{_stage_group(kernel, op.src)}>({shared_text(op.dst)}, {op.src})"
    if isinstance(op, m.AsyncWait):
        return f"tg::async_wait<{op.pending}>()"
    if isinstance(op, m.LoadShared):
        shape = _reg_shape(kernel, op.dst.tile)
        sub = f"subtile_inplace<{shape}>({shared_text(op.src)}, {{{to_text(op.row)}, {to_text(op.col)}}})"
        return f"load({reg_text(op.dst)}, {sub})"
    if isinstance(op, m.StoreShared):
        shape = _reg_shape(kernel, op.src.tile)
        sub = f"subtile_inplace<{shape}>({shared_text(op.dst)}, {{{to_text(op.row)}, {to_text(op.col)}}})"
        return f"store({sub}, {reg_text(op.src)})"
    if isinstance(op, m.Mma):
        args = ", ".join(reg_text(r) for r in (op.d, op.a, op.b, op.c))
        return f"mma_{op.variant}({args})"
    if isinstance(op, m.Store):
        return f"store(g.c, {reg_text(op.src)}, {_coords(op.row, op.col)})"
    if isinstance(op, m.GroupStore):
        return f"group<{op.group_size}>::store(g.c, {shared_text(op.src)}, {_coords(op.row, op.col)})"
    if isinstance(op, m.Barrier):
        return "__syncthreads()"
    if isinstance(op, m.For):
        return f"for ({op.var} = {to_text(op.start)}; {op.var} < {to_text(op.stop)}; ++{op.var})"
    if isinstance(op, m.If):
        return f"if ({to_text(op.cond)})"
    if isinstance(op, m.RoleBranch):
        try:
            warps = format_waves(list(kernel.role(op.role).warps))
        except KeyError:
            warps = "?"
        return f"role {op.role} (warps {warps})"
    if isinstance(op, m.ForTiles):
        return "for each output tile of the block"
    if isinstance(op, m.TmaLoad):
        where_to = f"{bar_text(op.barrier)}, {to_text(op.row)}, {to_text(op.col)}"
        return f"tg::tma::load_async({shared_text(op.dst)}, g.tma_{op.dst.tile}, {where_to})"
    if isinstance(op, m.Arrive):
        if op.expect_bytes:
            return f"tg::arrive_expect_tx({bar_text(op.barrier)}, {op.expect_bytes})"
        return f"tg::arrive({bar_text(op.barrier)})"
    if isinstance(op, m.WaitBarrier):
        return f"tg::wait({bar_text(op.barrier)}, {to_text(op.parity)})"
    if isinstance(op, m.Wgmma):
        args = f"{reg_text(op.d)}, {shared_text(op.a)}, {to_text(op.a_slice)}, {shared_text(op.b)}"
        return f"tg::wgmma::mma_{op.variant}({args})"
    if isinstance(op, m.WgmmaWait):
        return f"tg::wgmma::wait<{op.pending}>({reg_text(op.d)})"
    if isinstance(op, m.ProxyFence):
        return "tg::fence_proxy_async()"
    if isinstance(op, m.StoreTma):
        args = f"{shared_text(op.staging)}, {reg_text(op.src)}, g.c, {to_text(op.row)}, {to_text(op.col)}"
        return f"tg::tma::store_accumulators(g.tma_{op.staging.tile}, {args})"
    if isinstance(op, m.OneThread):
        return "one thread (lane 0 of the role's first wave)"
    return type(op).__name__  # pragma: no cover - every op kind is handled above


def where(op: m.Stmt, kernel: m.Kernel) -> str:
    """``describe`` plus the user's line, for naming a second op inside a message."""
    return f"`{describe(op, kernel)}` ({op.loc})"
