"""Per-wave traces: roles, branches and loops run with concrete values."""

from __future__ import annotations

import tilegen as tg
from ir import models as m
from ir.trace import Problem, split_phases, wave_trace


def test_roles_and_conditions_select_ops_per_wave() -> None:
    k = tg.Kernel("t", warps=8, block=(64, 64), k_step=32)
    producers = k.role("p", range(0, 4))
    with producers:
        k.sync()
    with k.when(k.warp.eq(5)):
        k.sync()
    kernel = k.build()
    problem = Problem.smallest(kernel)
    counts = [sum(isinstance(e.op, m.Barrier) for e in wave_trace(kernel, w, 0, problem)) for w in range(8)]
    assert counts == [1, 1, 1, 1, 0, 1, 0, 0]


def test_k_loop_runs_num_k_tiles_times_and_phases_split_at_barriers() -> None:
    k = tg.Kernel("t", warps=4, block=(64, 64), k_step=32)
    acc = k.accumulator("acc", 16, 16)
    k.zero(acc)
    with k.k_loop():
        k.sync()
    kernel = k.build()
    trace = wave_trace(kernel, 0, 0, Problem(64, 64, 32 * 5))
    phases = split_phases(trace)
    assert len(phases) == 6
    assert [len(p) for p in phases] == [1, 0, 0, 0, 0, 0]


def test_events_record_the_branch_they_ran_in() -> None:
    k = tg.Kernel("t", warps=4, block=(64, 64), k_step=32)
    with k.when(k.warp < 2):
        k.sync()
    kernel = k.build()
    (event,) = wave_trace(kernel, 0, 0, Problem.smallest(kernel))
    assert isinstance(event.branches[-1], m.If)
