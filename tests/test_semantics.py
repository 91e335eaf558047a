"""ir.semantics: one entry per op type, and the facts every layer reads from it."""

from __future__ import annotations

import typing

import pytest
from test_validate_schedules import baseline

from ir import models as m
from ir.expr import Const, Var
from ir.semantics import (
    ASYNC,
    Pending,
    Rect,
    Retire,
    Semantics,
    b_shape,
    effects,
    group_share,
    has_semantics,
    matrix_shape,
    missing_index,
    mma_shapes,
    problem_n,
    semantics_of,
)

LOC = m.SourceLoc(file="t.py", line=1)


def _stmt_types() -> list[type]:
    union = typing.get_args(typing.get_args(m.Stmt)[0])
    return list(union)


@pytest.mark.parametrize("op_type", _stmt_types(), ids=lambda t: t.__name__)
def test_every_ir_op_has_one_semantics_entry(op_type: type) -> None:
    assert has_semantics(op_type)


def test_a_second_entry_for_an_op_is_refused() -> None:
    with pytest.raises(ValueError, match="already defined"):
        semantics_of(m.Zero)(lambda kernel, op: None)  # type: ignore[arg-type,return-value]


def test_group_share_splits_rows_by_member_of_the_group() -> None:
    assert [group_share(128, 4, w) for w in range(4)] == [(0, 32), (32, 64), (64, 96), (96, 128)]
    # warp 5 is member 1 of group 1
    assert group_share(128, 4, 5) == (32, 64)
    assert group_share(64, 1, 3) == (0, 64)


def test_rect_overlap_and_intersection() -> None:
    a, b = Rect(0, 4, 0, 4), Rect(3, 8, 3, 8)
    assert a.overlaps(b) and b.overlaps(a)
    assert a.intersect(b) == Rect(3, 4, 3, 4)
    assert not a.overlaps(Rect(4, 8, 0, 4))  # half-open: touching edges do not overlap
    assert a.intersect(Rect(4, 8, 0, 4)) is None


def test_b_shape_follows_b_layout() -> None:
    assert b_shape("kn", 64, 256) == (64, 256)
    assert b_shape("nk", 64, 256) == (256, 64)
    assert problem_n("kn", 64, 256) == 256 and problem_n("nk", 256, 64) == 256


def test_mma_shapes_per_variant() -> None:
    ab = mma_shapes("AB", (32, 16), (16, 64))
    assert (ab.m, ab.k, ab.n, ab.b, ab.cd) == (32, 16, 64, (16, 64), (32, 64))
    abt = mma_shapes("ABt", (32, 16), (64, 16))
    assert (abt.n, abt.b, abt.cd) == (64, (64, 16), (32, 64))


def test_load_and_store_rectangles_of_the_baseline() -> None:
    kernel = baseline()
    sem = Semantics(kernel)
    ops = list(m.walk(kernel.body))
    load = next(op for op in ops if isinstance(op, m.GroupLoad) and op.src == "A")
    fx = sem.of(load)
    assert fx.group_size == 4 and fx.completes is None and fx.global_use is not None
    use = fx.shared[0]
    assert use.write and use.ref.tile == "As"
    # warp 2 of a group of 4 moves rows 64-95 of the 128 x 32 shared tile
    values = {"block_row": 1, "k": 3}
    assert use.rect(2, lambda e: _eval(e, values)) == Rect(64, 96, 0, 32)
    whole = fx.global_use.rect(lambda e: _eval(e, values))
    assert whole.r0 == 128 and whole.r1 == 256
    assert fx.global_use.wave_rect(2, lambda e: _eval(e, values)) == Rect(192, 224, whole.c0, whole.c1)
    mma = next(op for op in ops if isinstance(op, m.Mma))
    assert sem.of(mma).reads == (mma.a, mma.b, mma.c) and sem.of(mma).writes == (mma.d,)
    assert matrix_shape(kernel, "B", (256, 512, 64)) == (64, 512)


def _eval(expr: m.Expr, values: dict[str, int]) -> int:  # type: ignore[name-defined]
    from ir.expr import evaluate

    env = {"warp": 0, "num_k_tiles": 4, "block_col": 0, **values}
    return evaluate(expr, env)


def test_async_ops_are_pending_until_a_retire_on_their_counter() -> None:
    kernel = baseline()
    load = m.GroupLoad(dst=m.SharedRef(tile="As"), src="A", row=Const(value=0), col=Const(value=0),
                       group_size=4, is_async=True, loc=LOC)
    assert effects(kernel, load).completes == Pending(ASYNC)
    assert effects(kernel, m.AsyncWait(pending=1, loc=LOC)).retires == Retire(ASYNC, 1)
    assert effects(kernel, m.Barrier(loc=LOC)).barrier


def test_missing_index_names_arrays_used_whole() -> None:
    kernel = baseline()
    assert "array of 4" in (missing_index(kernel, m.RegRef(tile="C_accum")) or "")
    assert missing_index(kernel, m.RegRef(tile="C_accum", index=Var(name="i"))) is None
    assert missing_index(kernel, m.RegRef(tile="undeclared")) is None


def test_an_array_used_without_an_index_reads_the_same_in_every_layer() -> None:
    """Validator, simulator and emitter say it with ir.semantics' one wording (it used to be three
    rule names and four checks)."""
    import torch

    from backends.hip.emitter import UnvalidatedKernel, render
    from backends.simulator import simulate
    from ir.diagnostics import SimulationError
    from ir.validate import diagnose

    kernel = baseline()
    store = next(op for op in m.walk(kernel.body) if isinstance(op, m.Store))
    broken_store = store.model_copy(update={"src": m.RegRef(tile="C_accum")})

    def swap(body: list) -> list:
        out = []
        for op in body:
            if op is store:
                out.append(broken_store)
            elif hasattr(op, "body") and not isinstance(op, m.If):
                out.append(op.model_copy(update={"body": swap(op.body)}))
            else:
                out.append(op)
        return out

    broken = kernel.model_copy(update={"body": swap(kernel.body)})
    wording = missing_index(kernel, broken_store.src)
    assert wording is not None
    (found,) = [d for d in diagnose(broken) if d.rule == "structure.references"]
    assert found.message == wording
    launch = kernel.launch
    a = torch.randn(launch.block_m, launch.k_step)
    b = torch.randn(launch.k_step, launch.block_n)
    with pytest.raises(SimulationError) as caught:
        simulate(broken, a, b)
    (simulated,) = caught.value.diagnostics
    assert simulated.rule == "structure.references" and simulated.message == wording
    with pytest.raises(UnvalidatedKernel, match=r"structure\.references"):
        render(broken)
