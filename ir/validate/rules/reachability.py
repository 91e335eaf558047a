"""Ops that no wave can run: a branch whose warp condition no wave of its role satisfies.

Which waves reach an op is decided statically from the conditions on its path that depend on
the warp alone (role branches, ``k.when`` on ``warp`` / constants, loops whose bounds depend on
the warp only): a branch that holds for none of the waves that reach it is dead code, and the
ops in it (a store, a load, a barrier) silently never happen. A condition that also reads other
variables (K step, block) is left to the traced rules.
"""

from __future__ import annotations

from ir import models as m
from ir.diagnostics import Diagnostic, format_waves
from ir.expr import WARP, evaluate, free_vars, to_text
from ir.validate.context import ValidationContext
from ir.validate.findings import Findings


def _warp_only(*exprs: m.Expr) -> bool:  # type: ignore[name-defined]
    return all(free_vars(e) <= {WARP} for e in exprs)


def _leaves(body: list[m.Stmt]) -> bool:
    """Whether ``body`` holds any op at all (an empty else branch is not dead code)."""
    return any(True for _ in m.walk(body))


def check_unreachable(ctx: ValidationContext) -> list[Diagnostic]:
    """A branch (or loop) whose warp condition holds for no wave of the role that reaches it:
    every op inside is dead (``k.when(k.warp == 0)`` built ``if (0)``; a warp range past the role)."""
    found = Findings("structure.unreachable", ctx.kernel)
    everyone = frozenset(range(ctx.kernel.launch.num_warps))

    def report(site: m.Stmt, body: list[m.Stmt], waves: frozenset[int], role: str, what: str) -> None:
        first = next(iter(m.walk(body)))
        found.error(
            f"no wave runs the {what} of `{ctx.describe(site)}`: it holds for none of {role}'s wave(s) "
            f"{format_waves(sorted(waves))}, so `{ctx.describe(first)}` ({first.loc}) and everything else in it "
            "never happen",
            op=site,
            key=what,
            waves=sorted(waves),
            fix="compare schedule expressions with `.eq()` / `.ne()` / `<` (Python `==` gives a constant bool), and "
            "check the condition against the warps of the role (role-relative warp numbers start at the role's "
            "first warp)",
        )

    def visit(body: list[m.Stmt], waves: frozenset[int], role: str) -> None:
        for op in body:
            if isinstance(op, m.RoleBranch):
                try:
                    inner = frozenset(ctx.kernel.role(op.role).warps) & waves
                except KeyError:
                    continue
                visit(op.body, inner, f"role `{op.role}`")
            elif isinstance(op, m.If) and _warp_only(op.cond):
                then = frozenset(w for w in waves if evaluate(op.cond, {WARP: w}))
                for branch, taken, what in ((op.then, then, "then-branch"), (op.orelse, waves - then, "else-branch")):
                    if waves and not taken and _leaves(branch):
                        report(op, branch, waves, role, what)
                    elif taken:
                        visit(branch, taken, role)
            elif isinstance(op, m.For) and _warp_only(op.start, op.stop):
                runs = frozenset(w for w in waves if evaluate(op.start, {WARP: w}) < evaluate(op.stop, {WARP: w}))
                if waves and not runs and _leaves(op.body):
                    report(op, op.body, waves, role, f"body (`{to_text(op.start)}` >= `{to_text(op.stop)}`)")
                visit(op.body, runs, role)
            else:
                for child in m.children(op):
                    visit(child, waves, role)

    visit(ctx.kernel.body, everyone, "the kernel")
    return found.diagnostics()
