"""Text for simulator messages: branches, regions of tiles, the values an op ran with (ops
themselves are rendered by ``ir.validate.describe``, as in the validator's messages)."""

from __future__ import annotations

from collections.abc import Mapping

from ir import models as m
from ir.expr import NUM_K_TILES, WARP, evaluate, to_text
from ir.trace import Event


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
