"""Text for simulator messages: ops as the user would read them in the emitted HIP, branches,
regions of tiles. Kept apart from the machine so every message names things the same way."""

from __future__ import annotations

from collections.abc import Mapping

from ir import models as m
from ir.expr import NUM_K_TILES, WARP, evaluate, to_text
from ir.trace import Event


def ref_text(ref: m.RegRef | m.SharedRef) -> str:
    """``C_accum[2]``, ``As[k % 2]``, ``a_reg``."""
    index = ref.index if isinstance(ref, m.RegRef) else ref.buffer
    return ref.tile if index is None else f"{ref.tile}[{to_text(index)}]"


def _coords(row: m.Expr, col: m.Expr) -> str:  # type: ignore[name-defined]
    return f"{{0, 0, {to_text(row)}, {to_text(col)}}}"


def op_text(kernel: m.Kernel, op: m.Stmt) -> str:
    """One leaf op (or the head of a control-flow op) as the HipKittens call it becomes."""
    if isinstance(op, m.Zero):
        return f"zero({ref_text(op.dst)})"
    if isinstance(op, m.Copy):
        return f"{ref_text(op.dst)} = {ref_text(op.src)}"
    if isinstance(op, m.GroupLoad):
        call = "load_async" if op.is_async else "load"
        return f"group<{op.group_size}>::{call}({ref_text(op.dst)}, g.{op.src.lower()}, {_coords(op.row, op.col)})"
    if isinstance(op, m.StageLoad):
        group = _stage_group(kernel, op.dst)
        return f"tg::stage_load<{group}>({op.dst}, g.{op.src.lower()}, {_coords(op.row, op.col)})"
    if isinstance(op, m.StageStore):
        return f"tg::stage_store<{_stage_group(kernel, op.src)}>({ref_text(op.dst)}, {op.src})"
    if isinstance(op, m.AsyncWait):
        return f"tg::async_wait<{op.pending}>()"
    if isinstance(op, m.LoadShared):
        rows, cols = _reg_shape(kernel, op.dst.tile)
        sub = f"subtile_inplace<{rows}, {cols}>({ref_text(op.src)}, {{{to_text(op.row)}, {to_text(op.col)}}})"
        return f"load({ref_text(op.dst)}, {sub})"
    if isinstance(op, m.StoreShared):
        rows, cols = _reg_shape(kernel, op.src.tile)
        sub = f"subtile_inplace<{rows}, {cols}>({ref_text(op.dst)}, {{{to_text(op.row)}, {to_text(op.col)}}})"
        return f"store({sub}, {ref_text(op.src)})"
    if isinstance(op, m.Mma):
        args = ", ".join(ref_text(r) for r in (op.d, op.a, op.b, op.c))
        return f"mma_{op.variant}({args})"
    if isinstance(op, m.Store):
        return f"store(g.c, {ref_text(op.src)}, {_coords(op.row, op.col)})"
    if isinstance(op, m.GroupStore):
        return f"group<{op.group_size}>::store(g.c, {ref_text(op.src)}, {_coords(op.row, op.col)})"
    if isinstance(op, m.Barrier):
        return "__syncthreads()"
    if isinstance(op, m.For):
        return f"for {op.var} in range({to_text(op.start)}, {to_text(op.stop)})"
    if isinstance(op, m.If):
        return f"if {to_text(op.cond)}"
    if isinstance(op, m.RoleBranch):
        return f"role `{op.role}`"
    if isinstance(op, m.ForTiles):
        return "for each output tile"
    raise TypeError(f"not an op: {op!r}")


def branch_text(kernel: m.Kernel, branch: m.Stmt, env: Mapping[str, int]) -> str:
    """An enclosing branch as a wave took it: ``if warp == 0`` (line 12), ``the else of ...``."""
    if isinstance(branch, m.RoleBranch):
        warps = kernel.role(branch.role).warps
        return f"role `{branch.role}` (warps {warps.start}-{warps.stop - 1}, line {branch.loc.line})"
    assert isinstance(branch, m.If)
    taken = evaluate(branch.cond, dict(env))
    side = "" if taken else "the else branch of "
    return f"{side}`if {to_text(branch.cond)}` (line {branch.loc.line})"


def separating_branch(kernel: m.Kernel, event: Event, warps: list[int]) -> m.Stmt | None:
    """The innermost branch around ``event`` that some of ``warps`` would not take: the reason
    they did not run it (judged with the event's own loop values)."""
    for branch in reversed(event.branches):
        if isinstance(branch, m.RoleBranch):
            if any(w not in kernel.role(branch.role).warps for w in warps):
                return branch
            continue
        assert isinstance(branch, m.If)
        taken = bool(evaluate(branch.cond, dict(event.env)))
        for warp in warps:
            try:
                if bool(evaluate(branch.cond, {**event.env, WARP: warp})) != taken:
                    return branch
            except (KeyError, ZeroDivisionError):
                continue
    return None


def placement_text(kernel: m.Kernel, event: Event, warps: list[int]) -> str:
    """"It runs inside <branch>, which those waves do not take." for an op some waves skipped."""
    branch = separating_branch(kernel, event, warps)
    if branch is not None:
        return f"It runs inside {branch_text(kernel, branch, event.env)}, which those waves do not take."
    if event.branches:
        return f"It runs inside {branch_text(kernel, event.branches[-1], event.env)}."
    return ""


def env_text(env: Mapping[str, int]) -> str:
    """The values an op ran with, builtins first: ``warp=1, block_row=0, block_col=1, k=3``."""
    return ", ".join(f"{name}={value}" for name, value in env.items() if name != NUM_K_TILES)


def region_text(r0: int, r1: int, c0: int, c1: int) -> str:
    """Half-open element ranges as inclusive text: ``rows 0-31, cols 32-63``."""
    return f"rows {r0}-{r1 - 1}, cols {c0}-{c1 - 1}"


def buffer_text(tile: m.SharedTile, buffer: int) -> str:
    return f"{tile.name}[{buffer}]" if tile.buffers > 1 else tile.name


def _reg_shape(kernel: m.Kernel, name: str) -> tuple[int, int]:
    try:
        tile = kernel.register_tile(name)
    except KeyError:
        return (0, 0)
    return tile.rows, tile.cols


def _stage_group(kernel: m.Kernel, name: str) -> int | str:
    try:
        return kernel.stage_buffer(name).group_size
    except KeyError:
        return "?"
