"""Register rules: scope, waste, reads before writes, budgets; and the estimator in ir/resources.py."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_validate_schedules import VALID, baseline, producer_consumer

import tilegen as tg
from ir import models as m
from ir.diagnostics import Diagnostic, ScheduleError
from ir.resources import (
    FIXED_OVERHEAD_REGISTERS,
    register_estimate,
    register_limit,
    register_tile_registers,
    stage_buffer_registers,
)
from ir.targets import get_target
from ir.validate import diagnose
from ir.validate.context import ValidationContext
from ir.validate.rules import registers


def _diagnostics(kernel: m.Kernel, rule: str, target: str = "gfx942") -> list[Diagnostic]:
    return [d for d in diagnose(kernel, target) if d.rule == rule]


@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_schedules_pass_every_register_rule(name: str) -> None:
    ctx = ValidationContext(VALID[name](), get_target("gfx942"))
    for check in (registers.check_scope, registers.check_wasted, registers.check_read_before_write,
                  registers.check_budget):
        assert check(ctx) == [], check.__name__


def test_a_role_tile_used_outside_its_role_is_rejected() -> None:
    (error,) = _diagnostics(producer_consumer("role-tile-outside"), "registers.scope")
    assert "`C_accum` belongs to role `consumer` but is used at kernel scope" in error.message
    assert error.op == "zero(C_accum[0])" and "with consumer:" in error.fix


def test_a_role_tile_used_in_another_role_is_rejected() -> None:
    k = tg.Kernel("other_role", warps=8, block=(128, 128), k_step=32)
    producer, consumer = k.role("producer", range(0, 4)), k.role("consumer", range(4, 8))
    acc = k.accumulator("acc", 32, 32, scope=consumer)
    with producer:
        k.zero(acc)
    (error,) = _diagnostics(k.build(), "registers.scope")
    assert "used in role `producer`'s branch" in error.message


def test_kernel_scope_tiles_used_by_one_role_are_a_warning_with_the_waste() -> None:
    kernel = producer_consumer("kernel-scope-regs")
    warnings = _diagnostics(kernel, "registers.wasted")
    assert {w.buffer for w in warnings} == {"C_accum", "a_reg", "b_reg"}
    acc = next(w for w in warnings if w.buffer == "C_accum")
    assert acc.severity == "warning" and acc.waves == (0, 1, 2, 3)
    assert "64 registers per lane" in acc.message  # 4 x 32x32 f32 over 64 lanes
    assert "role `consumer`" in acc.message and "`producer`" in acc.message
    assert "with consumer:" in acc.fix
    report = tg.validate(kernel)  # warnings alone do not raise
    assert report.errors == [] and len(report.warnings) == 3


def test_a_tile_nothing_uses_is_a_warning() -> None:
    k = tg.Kernel("unused", warps=4, block=(128, 128), k_step=32)
    k.register("spare", 32, 32)
    (warning,) = _diagnostics(k.build(), "registers.wasted")
    assert "never used" in warning.message and "8 registers per lane" in warning.message


def test_accumulators_never_zeroed_are_read_before_written() -> None:
    (error,) = _diagnostics(baseline("no-zero"), "registers.read-before-write")
    assert error.op == "mma_AB(C_accum[0], a_reg[0], b_reg[0], C_accum[0])"
    assert "reads `C_accum[0]` before anything wrote it" in error.message and "k.zero(acc)" in error.fix


def test_a_stage_store_of_an_unfilled_stage_buffer_is_rejected() -> None:
    k = tg.Kernel("stage", warps=4, block=(128, 128), k_step=32)
    As = k.shared("As", 128, 32)
    s = k.stage("s", As)
    k.stage_store(As, s)
    (error,) = _diagnostics(k.build(), "registers.read-before-write")
    assert "before any stage load filled it" in error.message


def _accumulators(warps: int, side: int, count: int, *, min_blocks: int = 1) -> m.Kernel:
    k = tg.Kernel("regs", warps=warps, block=(128, 128), k_step=32, min_blocks_per_cu=min_blocks)
    acc = k.accumulator("acc", side, side, count=count)
    k.zero(acc)
    return k.build()


def test_the_kernel_estimate_is_checked_against_occupancy() -> None:
    # 4 x 64x64 f32 = 256 registers per lane (+16 overhead): fits one wave per SIMD, not two.
    assert _diagnostics(_accumulators(4, 64, 4), "registers.budget") == []
    (error,) = _diagnostics(_accumulators(8, 64, 4), "registers.budget")
    assert "about 272 registers per lane" in error.message and "acc 256" in error.message
    assert "2 wave(s) on a SIMD, 256 registers each" in error.message
    (error,) = _diagnostics(_accumulators(4, 64, 4, min_blocks=2), "registers.budget")
    assert "2 block(s) per CU" in error.message


def test_a_role_over_its_budget_is_rejected() -> None:
    k = tg.Kernel("budget", warps=8, block=(128, 128), k_step=32)
    producer = k.role("producer", range(0, 4), max_registers=40)
    k.role("consumer", range(4, 8), max_registers=232)
    acc = k.accumulator("acc", 64, 64, scope=producer)  # 64 registers on its own
    with producer:
        k.zero(acc)
    (error,) = _diagnostics(k.build(), "registers.budget")
    assert "role `producer` needs about 80 registers per lane" in error.message and "budget of 40" in error.message
    assert error.waves == (0, 1, 2, 3)


def test_nvidia_role_budgets_must_fit_the_register_file() -> None:
    k = tg.Kernel("sm", warps=12, block=(128, 128), k_step=32)
    k.role("producer", range(0, 4), max_registers=128)
    k.role("consumer", range(4, 12), max_registers=232)
    (error,) = _diagnostics(k.build(), "registers.budget", target="sm_90a")
    assert "75776 registers per block" in error.message and "wait forever" in error.message
    # Under 65536 but over the 384-thread launch's pool of 168 x 384 = 64512: still a hang.
    k1 = tg.Kernel("pool", warps=12, block=(128, 128), k_step=32)
    k1.role("producer", range(0, 4), max_registers=64)
    k1.role("consumer", range(4, 12), max_registers=224)
    (error,) = _diagnostics(k1.build(), "registers.budget", target="sm_90a")
    assert "65536 registers per block, more than the 64512" in error.message
    k2 = tg.Kernel("sm_ok", warps=12, block=(128, 128), k_step=32)
    k2.role("producer", range(0, 4), max_registers=40)
    k2.role("consumer", range(4, 12), max_registers=232)
    assert _diagnostics(k2.build(), "registers.budget", target="sm_90a") == []


def test_register_errors_raise_from_validate() -> None:
    with pytest.raises(ScheduleError) as caught:
        tg.validate(_accumulators(8, 64, 4))
    assert "registers.budget" in caught.value.rules
    assert "272 registers per lane" in str(caught.value)


# --------------------------------------------------------------------------------------------
# The estimator
# --------------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    rows=st.sampled_from([16, 32, 64, 128]),
    cols=st.sampled_from([16, 32, 64, 128]),
    count=st.integers(1, 4),
    dtype=st.sampled_from(["bf16", "f32"]),
    target=st.sampled_from(["gfx942", "sm_90a"]),
)
def test_property_tile_registers_follow_the_documented_formula(
    rows: int, cols: int, count: int, dtype: str, target: str
) -> None:
    tile = m.RegisterTile(name="t", rows=rows, cols=cols, dtype=dtype, count=count, loc=m.SourceLoc(file="x", line=1))
    lanes = get_target(target).wave_size
    per_lane = rows * cols // lanes  # elements
    expected = count * (per_lane // 2 if dtype == "bf16" else per_lane)
    assert register_tile_registers(tile, target) == expected


def test_stage_buffers_hold_one_warps_share() -> None:
    stage = m.StageBuffer(name="s", rows=128, cols=64, group_size=8, loc=m.SourceLoc(file="x", line=1))
    assert stage_buffer_registers(stage, "gfx942") == 128 * 64 // (8 * 64) // 2


def test_the_kernel_figure_is_the_largest_role() -> None:
    estimate = register_estimate(producer_consumer(), "gfx942")
    by_role = {r.role: r.registers for r in estimate.roles}
    assert by_role == {"producer": FIXED_OVERHEAD_REGISTERS, "consumer": 64 + 16 + 16 + FIXED_OVERHEAD_REGISTERS}
    assert estimate.kernel == by_role["consumer"]
    wasteful = register_estimate(producer_consumer("kernel-scope-regs"), "gfx942")
    assert {r.registers for r in wasteful.roles} == {by_role["consumer"]}  # the producers pay too


def test_warps_without_a_role_hold_the_kernel_scope_tiles() -> None:
    k = tg.Kernel("partial", warps=8, block=(128, 128), k_step=32)
    k.role("loaders", range(0, 2))
    k.register("shared_reg", 32, 32)
    estimate = register_estimate(k.build(), "gfx942")
    unassigned = next(r for r in estimate.roles if r.role == "(no role)")
    assert unassigned.warps == (2, 3, 4, 5, 6, 7) and unassigned.tiles == ("shared_reg",)


@pytest.mark.parametrize(
    ("warps", "min_blocks", "target", "limit"),
    [(4, 1, "gfx942", 512), (8, 1, "gfx942", 256), (8, 2, "gfx942", 128), (12, 1, "gfx942", 168),
     (4, 1, "sm_90a", 255), (12, 1, "sm_90a", 168), (16, 2, "sm_90a", 64)],
)
def test_register_limit_follows_occupancy(warps: int, min_blocks: int, target: str, limit: int) -> None:
    kernel = tg.Kernel("limit", warps=warps, block=(64, 64), k_step=16, min_blocks_per_cu=min_blocks).build()
    assert register_limit(kernel, target)[0] == limit


def test_sm90a_budgets_need_whole_warpgroups_and_a_setmaxnreg_value() -> None:
    k = tg.Kernel("split", warps=8, block=(128, 128), k_step=32)
    k.role("producer", range(0, 2), max_registers=40)
    k.role("consumer", range(2, 8), max_registers=230)
    kernel = k.build()
    messages = [d.message for d in _diagnostics(kernel, "registers.budget-warpgroups", target="sm_90a")]
    assert any("splits one" in text and "`producer`" in text for text in messages)
    assert any("budget of 230" in text for text in messages)
    # Not setmaxnreg elsewhere: the same roles are only held to their estimates.
    assert _diagnostics(kernel, "registers.budget-warpgroups", target="gfx942") == []
    ok = tg.Kernel("whole", warps=12, block=(128, 128), k_step=32)
    ok.role("producer", range(0, 4), max_registers=40)
    ok.role("consumer", range(4, 12), max_registers=232)
    assert _diagnostics(ok.build(), "registers.budget-warpgroups", target="sm_90a") == []

