"""What each op names: register tiles it reads / writes, shared tiles, stage buffers, expressions."""

from __future__ import annotations

from ir import models as m
from ir.expr import Expr


def register_reads(op: m.Stmt) -> list[m.RegRef]:
    if isinstance(op, m.Copy):
        return [op.src]
    if isinstance(op, m.Mma):
        return [op.a, op.b, op.c]
    if isinstance(op, (m.Store, m.StoreShared)):
        return [op.src]
    return []


def register_writes(op: m.Stmt) -> list[m.RegRef]:
    if isinstance(op, (m.Zero, m.Copy, m.LoadShared)):
        return [op.dst]
    if isinstance(op, m.Mma):
        return [op.d]
    return []


def register_refs(op: m.Stmt) -> list[m.RegRef]:
    return register_reads(op) + register_writes(op)


def shared_refs(op: m.Stmt) -> list[m.SharedRef]:
    if isinstance(op, (m.GroupLoad, m.StageStore, m.StoreShared)):
        return [op.dst]
    if isinstance(op, (m.LoadShared, m.GroupStore)):
        return [op.src]
    return []


def stage_refs(op: m.Stmt) -> list[str]:
    if isinstance(op, m.StageLoad):
        return [op.dst]
    if isinstance(op, m.StageStore):
        return [op.src]
    return []


def tile_names(op: m.Stmt) -> list[str]:
    """Every register tile and stage buffer ``op`` uses (register storage of a wave)."""
    return [r.tile for r in register_refs(op)] + stage_refs(op)


def expressions(op: m.Stmt) -> list[Expr]:
    """Every index expression of ``op`` itself (not of the ops nested in it)."""
    exprs: list[Expr] = []
    for ref in register_refs(op):
        if ref.index is not None:
            exprs.append(ref.index)
    for ref in shared_refs(op):
        if ref.buffer is not None:
            exprs.append(ref.buffer)
    if isinstance(op, (m.GroupLoad, m.StageLoad, m.LoadShared, m.StoreShared, m.Store, m.GroupStore)):
        exprs += [op.row, op.col]
    if isinstance(op, m.For):
        exprs += [op.start, op.stop]
    if isinstance(op, m.If):
        exprs.append(op.cond)
    return exprs
