"""Group collectives: all N warps of a group run a group<N> op together, with the same
coordinates, and the tile's rows split among them."""

from __future__ import annotations

import pytest
from test_validate_schedules import VALID, producer_consumer

import tilegen as tg
from ir import models as m
from ir.diagnostics import Diagnostic
from ir.targets import get_target
from ir.validate import diagnose
from ir.validate.context import ValidationContext
from ir.validate.rules.collectives import check_complete_groups, check_group_shape


def _errors(kernel: m.Kernel, rule: str) -> list[Diagnostic]:
    return [d for d in diagnose(kernel) if d.rule == rule]


@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_schedules_run_complete_groups(name: str) -> None:
    ctx = ValidationContext(VALID[name](), get_target("gfx942"))
    assert check_group_shape(ctx) == [] and check_complete_groups(ctx) == []


def test_a_group_load_under_warp_0_is_rejected_reference_kernel_02() -> None:
    kernel = producer_consumer("warp0-load")
    errors = _errors(kernel, "collectives.incomplete-group")
    branch = next(op for op in m.walk(kernel.body) if isinstance(op, m.If) and "warp" in str(op.cond))
    first = errors[0]
    assert first.op == "group<4>::load(As[0], g.a, {0, 0, block_row, 0})"
    assert first.waves == (0,)
    assert f"inside `if (warp == 0)` ({branch.loc})" in first.message
    assert "wave(s) 1-3 do not run it" in first.message
    # one diagnostic per source line: the helper's A load and B load (prologue and K loop merged)
    assert sorted(e.loc.line for e in errors if e.loc) == [branch.loc.line + 1, branch.loc.line + 2]


def _load_by(warps: int, group: int, role_warps: range | None, rows: int = 128) -> m.Kernel:
    k = tg.Kernel("groups", warps=warps, block=(128, 128), k_step=32)
    As = k.shared("As", rows, 32)
    if role_warps is None:
        k.load_tile(As, "A", 0, group=group)
    else:
        with k.role("loaders", role_warps):
            k.load_tile(As, "A", 0, group=group)
    return k.build()


def test_a_role_aligned_with_its_group_is_accepted() -> None:
    assert _errors(_load_by(8, 4, range(4, 8)), "collectives.incomplete-group") == []


def test_a_role_straddling_two_groups_is_rejected() -> None:
    (error,) = _errors(_load_by(8, 4, range(2, 6)), "collectives.incomplete-group")
    assert "only wave(s) 2-3 of its group (waves 0-3)" in error.message
    assert "inside `role loaders (warps 2-5)`" in error.message
    assert error.waves == (2, 3, 4, 5)  # both halves: waves 4-5 of group 1 run it alone too


def test_a_group_larger_than_the_block_is_rejected() -> None:
    (error,) = _errors(_load_by(4, 8, None), "collectives.group-shape")
    assert "group of 8 warps" in error.message and "only 4" in error.message
    (error,) = _errors(_load_by(4, 8, None), "collectives.incomplete-group")
    assert "warp(s) 4-7 do not exist" in error.message


def test_tile_rows_must_split_among_the_group() -> None:
    k = tg.Kernel("rows", warps=3, block=(48, 48), k_step=16)
    As = k.shared("As", 48, 16)
    Bs = k.shared("Bs", 16, 48)
    k.load_tile(As, "A", 0)
    k.load_tile(Bs, "B", 0)
    (error,) = _errors(k.build(), "collectives.group-shape")
    assert "`Bs` has 16 rows" in error.message and "3 warps" in error.message


def test_warps_of_a_group_with_different_coordinates_are_rejected() -> None:
    k = tg.Kernel("coords", warps=4, block=(128, 128), k_step=32)
    As = k.shared("As", 128, 32)
    k.load_tile(As, "A", 0, row=k.block_row, col=k.warp % 2)
    (error,) = _errors(k.build(), "collectives.incomplete-group")
    assert "disagree" in error.message and error.waves == (1, 3)


def test_warps_of_a_group_running_it_a_different_number_of_times_are_rejected() -> None:
    k = tg.Kernel("counts", warps=4, block=(128, 128), k_step=32)
    As = k.shared("As", 128, 32)
    with k.loop(k.warp % 2 + 1, var="i"):
        k.load_tile(As, "A", 0)
    (error,) = _errors(k.build(), "collectives.incomplete-group")
    assert "run it 2 time(s)" in error.message and "runs it 1 time(s)" in error.message
    assert "inside `for (i = 0; i < warp % 2 + 1; ++i)`" in error.message
