"""Scheduling clusters (HipKittens-style schedules).

``structure.cluster-barrier``: a cluster is one block between two barriers, kept whole by the
scheduling fence that closes it; a barrier (or another cluster) inside it cuts it in two.

K-slice rings (``k.ring``) need no rule of their own: a ring slot one slice off makes an mma pair
different K ranges of A and B or sum one K range twice, which ``accumulators.operand-k`` and
``accumulators.foreign-sums`` report.
"""

from __future__ import annotations

from typing import Optional

from ir import models as m
from ir.diagnostics import Diagnostic
from ir.validate.context import ValidationContext
from ir.validate.findings import Findings


def check_cluster_barriers(ctx: ValidationContext) -> list[Diagnostic]:
    """A scheduling cluster holds no barrier and no other cluster: the cluster ends with its own
    barrier and scheduling fence, and a barrier inside would split the block the fence keeps whole
    (on AMD the compiler would also be free to move MFMAs across it)."""
    found = Findings("structure.cluster-barrier", ctx.kernel)

    def visit(body: list[m.Stmt], cluster: Optional[m.Cluster]) -> None:
        for op in body:
            if cluster is not None and isinstance(op, (m.Barrier, m.Cluster)):
                what = "a barrier" if isinstance(op, m.Barrier) else "another cluster"
                found.error(
                    f"{what} inside the scheduling cluster of line {cluster.loc.line}; a cluster runs from one "
                    "barrier to the next and its closing barrier and scheduling fence keep it whole",
                    op=op,
                    key="inside",
                    fix="end the cluster here (leave the `with k.cluster()` block) and open a new cluster for "
                    "the ops after the barrier",
                )
            inner = op if isinstance(op, m.Cluster) else cluster
            for child in m.children(op):
                visit(child, inner)

    visit(ctx.kernel.body, None)
    return found.diagnostics()
