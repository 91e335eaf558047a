"""Performance findings (ir/validate/performance.py): each with a schedule that has it and one
that does not, the figures in the message, and the report carrying them beside the warnings."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ir.validate import validate
from ir.validate.performance import findings, occupancy
from tilegen.cli import load_schedule

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))
from k01_baseline_4wave import kernel as k01  # noqa: E402


def _rules(kernel, target):  # type: ignore[no-untyped-def]
    return [d.rule for d in findings(kernel, target)]


def test_occupancy_limited_by_shared_memory_is_reported_with_its_figures() -> None:
    bad = k01(k_step=128)  # 64 KiB of LDS per block: one 4-wave block per CU on MI300
    (finding,) = [d for d in findings(bad, "gfx942") if d.rule == "performance.occupancy"]
    assert "1 block(s) of 4 waves fit on a gfx942 CU: 1 wave(s) per SIMD" in finding.message
    assert "shared memory limit it" in finding.message and "shared memory (65536 bytes per block) 1" in finding.message
    assert "fewer or smaller shared buffers" in finding.fix
    occ = occupancy(bad, "gfx942")
    assert (occ.blocks, occ.by_shared, occ.limiter) == (1, 1, "shared memory")
    assert "performance.occupancy" not in _rules(k01(), "gfx942")  # 16 KiB: 4 blocks, 4 waves per SIMD


def test_registers_cap_at_the_launch_bounds_on_nvidia() -> None:
    # 12 warps with setmaxnreg budgets: ptxas holds the kernel to 65536 / 384 = 168 per thread.
    occ = occupancy(load_schedule(ROOT / "examples" / "h100_producer_consumer.py", [], "sm_90a"), "sm_90a")
    assert occ.registers == 168 and occ.blocks == 1 and occ.waves_per_simd == 3.0


def test_col_layout_b_on_amd_is_read_with_narrow_lds_loads() -> None:
    (finding,) = [d for d in findings(k01(), "gfx942") if d.rule == "performance.narrow-lds-reads"]
    assert "`b_reg` (32 x 32 bf16, col layout) is read from `Bs` with 16 two-byte LDS reads per lane" in finding.message
    assert "4 eight-byte reads" in finding.message and "b_layout='nk'" in finding.fix
    assert finding.loc is not None and finding.loc.line > 0
    assert "performance.narrow-lds-reads" not in _rules(k01(), "sm_90a")  # an AMD runtime fact


@pytest.mark.parametrize("example", ["k03_register_prefetch", "k06_async_staging"])
def test_row_layout_operands_read_wide(example: str) -> None:
    kernel = load_schedule(ROOT / "examples" / f"{example}.py", [], "gfx942")
    assert "performance.narrow-lds-reads" not in _rules(kernel, "gfx942")


def test_a_k_loop_without_overlap_is_reported() -> None:
    (finding,) = [d for d in findings(k01(), "sm_90a") if d.rule == "performance.no-overlap"]
    assert "loads 16384 bytes of operands per step with synchronous loads" in finding.message
    assert "runs 4 MMA op(s) in the same waves" in finding.message and finding.op == "for k"


@pytest.mark.parametrize(
    "example", ["k02_producer_consumer", "k03_register_prefetch", "k06_async_staging", "pingpong_8wave"]
)
def test_schedules_that_overlap_loads_and_mmas_are_not(example: str) -> None:
    for target in ("sm_90a", "gfx942"):
        kernel = load_schedule(ROOT / "examples" / f"{example}.py", [], target)
        assert "performance.no-overlap" not in _rules(kernel, target), (example, target)


def test_the_report_carries_the_findings_beside_the_warnings() -> None:
    report = validate(k01(), "gfx942")
    assert {d.rule for d in report.performance} == {"performance.narrow-lds-reads", "performance.no-overlap"}
    assert all(d.severity == "warning" for d in report.performance)
    assert not any(d.rule.startswith("performance.") for d in report.warnings)
    assert "performance (2 finding(s)):" in report.summary()
