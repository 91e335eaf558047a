"""Index expressions the validator can vouch for at every size (``ir.validate.sizes``).

The traced rules check every size only because the checked sizes exercise every case of each
index expression, which holds for quasi-affine expressions: constant multiples of variables,
``//`` and ``%`` by constants, ``min`` / ``max``, comparisons. A product of two variables or a
division by a variable has no period the checked sizes could cover, so it is refused rather than
assumed; so is a divisor of a block or K index larger than the sizes enumerate.
"""

from __future__ import annotations

from ir import models as m
from ir.diagnostics import Diagnostic
from ir.expr import Arith, BoolOp, Cmp, Const, Expr, Not, free_vars, to_text
from ir.semantics import effects
from ir.validate.context import ValidationContext
from ir.validate.findings import Findings
from ir.validate.sizes import MAX_PERIOD, k_variables


def _problem(expr: Expr, sized: set[str]) -> str | None:
    """Why ``expr`` is outside the forms the checked sizes cover, or None."""
    if isinstance(expr, Arith):
        lhs, rhs = free_vars(expr.lhs), free_vars(expr.rhs)
        if expr.op == "*" and lhs and rhs:
            return f"`{to_text(expr)}` multiplies two variables"
        if expr.op in ("//", "%") and rhs:
            return f"`{to_text(expr)}` divides by a variable"
        if expr.op in ("//", "%") and isinstance(expr.rhs, Const) and abs(expr.rhs.value) > MAX_PERIOD and lhs & sized:
            return (
                f"`{to_text(expr)}` divides a block or K index by {expr.rhs.value}, more than the {MAX_PERIOD} the "
                "checked sizes enumerate"
            )
        return _problem(expr.lhs, sized) or _problem(expr.rhs, sized)
    if isinstance(expr, Cmp):
        return _problem(expr.lhs, sized) or _problem(expr.rhs, sized)
    if isinstance(expr, BoolOp):
        return next((p for p in (_problem(a, sized) for a in expr.args) if p), None)
    if isinstance(expr, Not):
        return _problem(expr.arg, sized)
    return None


def check_index_form(ctx: ValidationContext) -> list[Diagnostic]:
    """Every index expression is quasi-affine (constant factors and divisors, min / max,
    comparisons), so the checked sizes exercise all its cases; anything else is refused."""
    found = Findings("structure.index-form", ctx.kernel)
    sized = k_variables(ctx.kernel) | {"block_row", "block_col"}
    for op in ctx.ops:
        for expr in effects(ctx.kernel, op).exprs:
            problem = _problem(expr, sized)
            if problem is None:
                continue
            found.error(
                f"{problem}: the validator proves bounds, coverage and races at every size only for indices built "
                "from constant multiples of variables, `//` and `%` by constants, min / max and comparisons",
                op=op,
                key=problem,
                fix="fold one factor into a Python int (tile counts are known when the schedule is built), or "
                "restructure the loop so the index is a constant multiple of its variable",
            )
    return found.diagnostics()


def _growing(expr: Expr, names: set[str]) -> set[str]:
    """Variables of ``names`` that ``expr`` reads outside every ``% constant`` (so it can grow
    with them without bound)."""
    if isinstance(expr, Arith):
        if expr.op == "%" and isinstance(expr.rhs, Const):
            return set()
        return _growing(expr.lhs, names) | _growing(expr.rhs, names)
    if isinstance(expr, (Cmp, BoolOp, Not)):
        return set()  # a condition is 0 or 1
    return free_vars(expr) & names


def _bounded_indices(ctx: ValidationContext, op: m.Stmt) -> list[tuple[Expr, str]]:
    """(index, what bounds it) for the indices of ``op`` whose bound does not grow with the
    problem: subtile offsets (the shared tile), register-array indices, pipeline buffers."""
    result: list[tuple[Expr, str]] = []
    if isinstance(op, (m.LoadShared, m.StoreShared)):
        tile = (op.src if isinstance(op, m.LoadShared) else op.dst).tile
        result += [(op.row, f"the subtile offset inside `{tile}`"), (op.col, f"the subtile offset inside `{tile}`")]
    eff = effects(ctx.kernel, op)
    result += [(ref.index, f"the index into `{ref.tile}`") for ref in eff.register_refs if ref.index is not None]
    result += [
        (ref.buffer, f"the pipeline buffer of `{ref.tile}`") for ref in eff.shared_refs if ref.buffer is not None
    ]
    return result


def check_index_growth(ctx: ValidationContext) -> list[Diagnostic]:
    """An index with a fixed bound (a subtile offset, a register-array index, a pipeline buffer)
    reads the block or K variables only through ``% n``: otherwise it grows with M, N or K and
    leaves its bound at some size past the ones checked."""
    found = Findings("shapes.index-growth", ctx.kernel)
    sized = k_variables(ctx.kernel) | {"block_row", "block_col"}
    for op in ctx.ops:
        for expr, what in _bounded_indices(ctx, op):
            growing = _growing(expr, sized)
            if not growing:
                continue
            names = ", ".join(f"`{name}`" for name in sorted(growing))
            found.error(
                f"{what} is `{to_text(expr)}`, which grows with {names}: it has a fixed bound but keeps growing "
                "as M, N or K grow, so it leaves the bound at a large enough size even where the checked sizes "
                "stay inside",
                op=op,
                key=to_text(expr),
                fix="take the growing part modulo the bound (`kt % buffers`), or compute this from the warp and "
                "loop variables of constant range only (the block's position goes into global coordinates)",
            )
    return found.diagnostics()
