"""validate(): the report, the error it raises, every example, speed, op text, the rule registry
and its documentation."""

from __future__ import annotations

import importlib
import time
from pathlib import Path

import pytest
from test_validate_schedules import BUGS, VALID, baseline, producer_consumer

import tilegen as tg
from ir import models as m
from ir.diagnostics import ScheduleError
from ir.targets import get_target
from ir.validate import ValidationReport, describe, diagnose, validate
from ir.validate.rules import RULES
from tilegen.testing import example_runs_on, example_target

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p.stem for p in (ROOT / "examples").glob("*.py") if not p.stem.startswith("_"))
#: Validating an example must take well under a second; this bound leaves room for a loaded CI.
MAX_SECONDS = 1.0


def _example(name: str, target: str) -> m.Kernel:
    module = importlib.import_module(name)
    params = getattr(module, "TARGET_PARAMS", {}).get(get_target(target).vendor, {})
    return module.kernel(**params)


def test_there_are_examples_to_check() -> None:
    assert "k01_baseline_4wave" in EXAMPLES and len(EXAMPLES) >= 2


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_example_validates_on_gfx942_quickly(name: str) -> None:
    if not example_runs_on(name, "gfx942"):
        pytest.skip(f"{name} is written for {example_target(name)} only (its module's TARGETS)")
    kernel = _example(name, "gfx942")
    start = time.perf_counter()
    report = validate(kernel, "gfx942")
    elapsed = time.perf_counter() - start
    assert report.errors == [], report
    assert elapsed < MAX_SECONDS, f"{name} took {elapsed:.2f} s to validate"


def test_the_h100_example_validates_on_its_own_target() -> None:
    report = validate(_example("h100_producer_consumer", "sm_90a"), "sm_90a")
    roles = {r.role: r for r in report.resources.registers.roles}
    assert roles["consumer"].budget == 232 and roles["consumer"].registers <= 232


def test_the_report_holds_target_diagnostics_and_resources() -> None:
    report = tg.validate(producer_consumer("kernel-scope-regs"), target="gfx950")
    assert isinstance(report, ValidationReport)
    assert report.target == "gfx950" and report.kernel == "producer_consumer" and report.ok
    assert {w.rule for w in report.warnings} == {"registers.wasted"}
    resources = report.resources
    assert resources.registers.kernel == max(r.registers for r in resources.registers.roles)
    assert resources.shared.limit_bytes == 160 * 1024
    assert resources.dynamic_shared_memory == resources.shared.total_bytes == 2 * 2 * 128 * 32 * 2
    assert resources.sizes.m_multiple == 128
    again = ValidationReport.model_validate_json(report.model_dump_json())
    assert again == report
    assert "valid (3 warning(s))" in report.summary()


def test_tilegen_validate_forwards_to_the_validator() -> None:
    kernel = baseline()
    assert tg.validate(kernel) == validate(kernel)


def test_errors_raise_with_every_diagnostic_attached() -> None:
    with pytest.raises(ScheduleError) as caught:
        tg.validate(baseline("store-twice"))
    error = caught.value
    assert "schedule `baseline` is invalid for gfx942" in str(error)
    # the two waves' stores collide (coverage) and one stores sums it does not hold (issue 9)
    assert error.rules == {"shapes.store-coverage", "accumulators.store-position"}
    assert len([d for d in error.errors if d.rule == "shapes.store-coverage"]) == 2
    assert all(d.loc is not None for d in error.diagnostics)


def test_an_unknown_target_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match="known targets: gfx942"):
        validate(baseline(), "gfx1100")


def test_diagnostics_are_reported_once_per_rule_and_line() -> None:
    for build, _ in BUGS.values():
        keys = [(d.rule, d.loc, d.op, d.message) for d in diagnose(build())]
        assert len(keys) == len(set(keys))


def test_every_reported_rule_is_registered() -> None:
    names = {rule.name for rule in RULES}
    for build, expected in BUGS.values():
        assert expected in names
        assert {d.rule for d in diagnose(build())} <= names | {"structure.traceable"}


def test_rule_names_are_unique_and_documented() -> None:
    names = [rule.name for rule in RULES]
    assert len(names) == len(set(names))
    assert all(rule.doc for rule in RULES)
    rules_md = (ROOT / "docs" / "rules.md").read_text()
    for name in [*names, "structure.traceable"]:
        assert f"`{name}`" in rules_md, f"docs/rules.md does not describe {name}"


# --------------------------------------------------------------------------------------------
# Op text
# --------------------------------------------------------------------------------------------


def _ops(kernel: m.Kernel) -> dict[str, str]:
    """The text of the first op of each kind."""
    texts: dict[str, str] = {}
    for op in m.walk(kernel.body):
        texts.setdefault(type(op).__name__, describe(op, kernel))
    return texts


def test_ops_read_like_the_hipkittens_calls_they_become() -> None:
    texts = _ops(baseline())
    assert texts["GroupLoad"] == "group<4>::load(As, g.a, {0, 0, block_row, k})"
    assert texts["Mma"] == "mma_AB(C_accum[0], a_reg[0], b_reg[0], C_accum[0])"
    assert texts["Store"] == "store(g.c, C_accum[0], {0, 0, block_row * 4 + warp // 2, block_col * 4 + warp % 2})"
    assert texts["Barrier"] == "__syncthreads()"
    assert texts["For"] == "for (k = 0; k < num_k_tiles; ++k)"
    assert texts["Zero"] == "zero(C_accum[0])"
    load = next(op for op in m.walk(baseline().body) if isinstance(op, m.LoadShared) and op.dst.tile == "a_reg")
    assert describe(load, baseline()) == "load(a_reg[0], subtile_inplace<32, 32>(As, {warp // 2, 0}))"


def test_pipeline_role_and_staging_ops_have_text() -> None:
    pc = _ops(producer_consumer())
    assert pc["RoleBranch"] == "role producer (warps 0-3)"
    assert pc["If"] == "if (k + 1 < num_k_tiles)"
    staged = _ops(VALID["staged"]())
    assert staged["StageLoad"] == "tg::stage_load<4>(a_stage, g.a, {0, 0, block_row, 0})"
    assert staged["StageStore"] == "tg::stage_store<4>(As, a_stage)"
    assert staged["AsyncWait"] == "tg::async_wait<0>()"
    asynchronous = _ops(VALID["async_pipeline"]())
    assert asynchronous["GroupLoad"] == "group<4>::load_async(As[0], g.a, {0, 0, block_row, 0})"
    epilogue = _ops(VALID["shared_epilogue"]())
    assert epilogue["StoreShared"] == "store(subtile_inplace<32, 32>(Cs, {warp // 2, warp % 2}), C_accum)"
    assert epilogue["GroupStore"] == "group<4>::store(g.c, Cs, {0, 0, block_row, block_col})"
    assert epilogue["ForTiles"] == "for each output tile of the block"


def test_register_copies_have_text() -> None:
    k = tg.Kernel("copy", warps=1, block=(32, 32), k_step=16)
    a, b = k.register("a", 32, 16, count=2), k.register("b", 32, 16, count=2)
    k.copy(a[0], b[1])
    assert _ops(k.build())["Copy"] == "a[0] = b[1]"
