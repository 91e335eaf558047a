"""The hazard model: races within a phase, pipeline buffers refilled while read, reads of
unwritten shared memory, and asynchronous loads (in flight from issue to their wait)."""

from __future__ import annotations

import pytest
from test_validate_schedules import (
    VALID,
    async_pipeline,
    baseline,
    producer_consumer,
    shared_epilogue,
    staged,
)

import tilegen as tg
from ir import models as m
from ir.diagnostics import Diagnostic
from ir.targets import get_target
from ir.validate import diagnose
from ir.validate.context import ValidationContext
from ir.validate.rules import races

RACE_RULES = (
    races.check_shared_races,
    races.check_buffer_overwrite,
    races.check_uninitialised_reads,
    races.check_async_completion,
)


def _errors(kernel: m.Kernel, rule: str) -> list[Diagnostic]:
    return [d for d in diagnose(kernel) if d.rule == rule]


def _first(kernel: m.Kernel, kind: type, **fields: object) -> m.Stmt:
    return next(
        op for op in m.walk(kernel.body) if isinstance(op, kind) and all(getattr(op, k) == v for k, v in fields.items())
    )


@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_schedules_have_no_hazards(name: str) -> None:
    ctx = ValidationContext(VALID[name](), get_target("gfx942"))
    for check in RACE_RULES:
        assert check(ctx) == [], check.__name__


def test_reads_before_the_barrier_race_with_the_group_load() -> None:
    kernel = baseline("no-sync")
    errors = _errors(kernel, "races.shared-race")
    load_a = _first(kernel, m.GroupLoad, src="A")
    error = next(e for e in errors if e.loc == load_a.loc)
    assert error.op == "group<4>::load(As, g.a, {0, 0, block_row, k})"
    assert "wave 0 writes rows 0-31, cols 0-31 of `As` while wave 1 reads it" in error.message
    assert "before the first barrier" in error.message
    assert "Also with `load(a_reg[1]" in error.message  # the other conflicting read, same diagnostic
    assert error.buffer == "As" and "k.sync()" in error.fix
    assert len(errors) == 2  # one per loading line (A and B), not per wave pair or iteration


def test_the_next_steps_load_races_with_slow_readers_without_a_trailing_barrier() -> None:
    errors = _errors(baseline("no-trailing-sync"), "races.shared-race")
    assert errors and all("between barriers 1 and 2" in e.message for e in errors)


def test_refilling_the_buffer_being_read_is_named_a_pipeline_overwrite() -> None:
    kernel = producer_consumer("wrong-buffer")
    errors = _errors(kernel, "races.buffer-overwrite")
    assert errors and errors[0].buffer == "As[0]"
    assert "pipeline buffer `As[0]` is refilled by wave 0 while wave 4 may still read" in errors[0].message
    assert "buffers=" in errors[0].fix
    # the buffer the consumers then read next step was never loaded
    assert _errors(kernel, "races.uninitialised-read")


def test_a_group_store_needs_a_barrier_after_the_shared_stores() -> None:
    (error,) = _errors(shared_epilogue("no-sync-before-group-store"), "races.shared-race")
    assert "`Cs`" in error.message and "group<4>::store(g.c, Cs" in error.message


def test_reading_a_tile_nothing_loaded_is_an_uninitialised_read() -> None:
    k = tg.Kernel("unloaded", warps=4, block=(128, 128), k_step=32)
    As = k.shared("As", 128, 32)
    a = k.register("a", 32, 32)
    k.load(a, As, row=k.warp)
    (error,) = _errors(k.build(), "races.uninitialised-read")
    assert "rows 0-31, cols 0-31 of `As`, which nothing has written before" in error.message
    assert error.waves == (0, 1, 2, 3) and "prologue" in error.fix


def test_a_wave_reading_its_own_write_in_the_same_phase_is_fine() -> None:
    k = tg.Kernel("own", warps=4, block=(64, 64), k_step=16)
    Cs = k.shared("Cs", 64, 64, dtype="f32")
    acc = k.accumulator("acc", 32, 32)
    back = k.accumulator("back", 32, 32)
    warp_row, warp_col = k.warp_grid(2, 2)
    k.zero(acc)
    k.store_shared(Cs, acc, row=warp_row, col=warp_col)
    k.load(back, Cs, row=warp_row, col=warp_col)
    ctx = ValidationContext(k.build(), get_target("gfx942"))
    assert all(check(ctx) == [] for check in RACE_RULES)


def test_asynchronous_loads_that_are_never_waited_for_are_rejected() -> None:
    kernel = async_pipeline("no-wait")
    errors = _errors(kernel, "races.async-incomplete")
    never = [e for e in errors if "never waited" in e.message]
    assert {e.loc for e in never} >= {_first(kernel, m.GroupLoad, src="A").loc}
    assert all("k.wait()" in e.fix for e in never)
    # no cascade of races from loads that never complete
    assert _errors(kernel, "races.buffer-overwrite") == [] and _errors(kernel, "races.shared-race") == []


def test_reading_a_tile_whose_asynchronous_load_is_in_flight_is_rejected() -> None:
    kernel = async_pipeline("wait-after-read")
    own = [e for e in _errors(kernel, "races.async-incomplete") if "this wave's own" in e.message]
    assert own and own[0].op is not None and own[0].op.startswith("load(a_reg")
    others = [e for e in _errors(kernel, "races.shared-race") if "has not completed" in e.message]
    assert others and "issued before the first barrier" in others[0].message


def test_a_stage_store_before_its_stage_load_completed_is_rejected() -> None:
    kernel = staged("store-before-wait")
    errors = _errors(kernel, "races.async-incomplete")
    assert {e.buffer for e in errors} == {"a_stage", "b_stage"}
    assert "before its `tg::stage_load<4>(a_stage" in errors[0].message
    assert "k.wait()" in errors[0].fix


def test_a_wait_leaving_later_loads_in_flight_keeps_the_pipeline_valid() -> None:
    assert [d for d in diagnose(async_pipeline()) if d.rule.startswith("races.")] == []
    assert [d for d in diagnose(staged()) if d.rule.startswith("races.")] == []
