"""Index expressions the validator can vouch for at every size (``ir.validate.sizes``).

The traced rules check every size only because the checked sizes exercise every case of each
index expression, which holds for quasi-affine expressions: constant multiples of variables,
``//`` and ``%`` by constants, ``min`` / ``max``, comparisons. A product of two variables or a
division by a variable has no period the checked sizes could cover, so it is refused rather than
assumed; so is a divisor of a block or K index larger than the sizes enumerate.
"""

from __future__ import annotations

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
