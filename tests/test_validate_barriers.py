"""barriers.divergent: every wave reaches the same number of block barriers (matched by count)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from test_validate_schedules import VALID, producer_consumer, staggered

import tilegen as tg
from ir import models as m
from ir.diagnostics import Diagnostic
from ir.targets import get_target
from ir.validate import diagnose
from ir.validate.context import ValidationContext
from ir.validate.rules.barriers import check_barrier_counts


def _barrier_errors(kernel: m.Kernel) -> list[Diagnostic]:
    return [d for d in diagnose(kernel) if d.rule == "barriers.divergent"]


def test_valid_schedules_have_matching_barrier_counts() -> None:
    for build in VALID.values():
        assert check_barrier_counts(ValidationContext(build(), get_target("gfx942"))) == []


def test_staggered_barriers_match_by_count() -> None:
    assert _barrier_errors(staggered()) == []


def test_dropping_one_half_of_a_staggered_pair_names_the_other_half_branch() -> None:
    kernel = staggered("drop-late-sync")
    (error,) = _barrier_errors(kernel)
    early = next(op for op in m.walk(kernel.body) if isinstance(op, m.If))
    barrier = early.then[0]
    assert error.loc == barrier.loc
    assert f"inside `if (warp < 4)` ({early.loc})" in error.message
    assert "wave(s) 0-3: 1 time, wave(s) 4-7: 0 times" in error.message
    assert "wave(s) 0-3: 3 barriers, wave(s) 4-7: 2 barriers" in error.message
    assert error.op == "__syncthreads()" and error.waves == tuple(range(8))


def test_an_extra_barrier_in_one_role_is_rejected_with_the_roles_totals() -> None:
    kernel = producer_consumer("sync-in-role")
    (error,) = _barrier_errors(kernel)
    consumer = next(op for op in kernel.body[0].body if isinstance(op, m.For))
    role_barrier = next(op for op in m.walk(consumer.body) if isinstance(op, m.Barrier))
    assert error.loc == role_barrier.loc
    assert "role `producer` (waves 0-3): 1, role `consumer` (waves 4-7): 2" in error.message
    assert "same number of barriers" in error.fix


def test_an_uneven_barrier_inside_a_role_is_blamed_not_the_other_roles_barriers() -> None:
    k = tg.Kernel("roles", warps=8, block=(64, 64), k_step=16)
    producer, consumer = k.role("producer", range(0, 4)), k.role("consumer", range(4, 8))
    with producer:
        k.sync()  # the producers' own barrier: fine as long as the counts match
    with consumer, k.when(k.warp < 6):
        k.sync()
    (error,) = _barrier_errors(k.build())
    assert "inside `if (warp < 6)`" in error.message and error.waves == (4, 5, 6, 7)


def test_a_loop_whose_trip_count_depends_on_the_warp_is_named() -> None:
    k = tg.Kernel("uneven", warps=4, block=(64, 64), k_step=16)
    with k.loop(k.warp, var="i"):
        k.sync()
    (error,) = _barrier_errors(k.build())
    assert "inside `for (i = 0; i < warp; ++i)`" in error.message
    assert "wave(s) 3: 3 times" in error.message


@settings(max_examples=20, deadline=None)
@given(warps=st.sampled_from([2, 4, 8]), data=st.data())
def test_property_an_extra_barrier_for_some_warps_is_an_error_iff_not_all_reach_it(
    warps: int, data: st.DataObject
) -> None:
    threshold = data.draw(st.integers(0, warps))
    k = tg.Kernel("extra", warps=warps, block=(64, 64), k_step=16)
    k.sync()
    with k.when(k.warp < threshold):
        k.sync()
    errors = _barrier_errors(k.build())
    assert bool(errors) == (0 < threshold < warps)


@settings(max_examples=20, deadline=None)
@given(warps=st.sampled_from([2, 4, 8]), data=st.data())
def test_property_staggered_pairs_are_valid_for_any_split(warps: int, data: st.DataObject) -> None:
    split = data.draw(st.integers(0, warps))
    k = tg.Kernel("split", warps=warps, block=(64, 64), k_step=16)
    with k.when(k.warp < split):
        k.sync()
    with k.k_loop():
        k.sync()
    with k.when(k.warp >= split):
        k.sync()
    assert _barrier_errors(k.build()) == []
