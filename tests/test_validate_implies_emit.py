"""Validate implies emit: a schedule the validator accepts for a target always emits for it.

The emitter has no rules of its own (names, group-store shares, references are validator rules),
so over Hypothesis-generated schedules of every example family and every target, ``validate``
passing means ``render`` succeeds. Kept small: CI runs the suite on 2 cores.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tilegen as tg
from backends.hip.emitter import render
from ir.diagnostics import ScheduleError
from ir.validate import diagnose, validate
from tilegen.testing import example_names, example_target, load_example, mutants, schedule_params

#: The targets ``ir.targets`` defines that the emitter writes for (AMD CDNA3/4, Hopper, Ampere).
TARGETS = ("gfx942", "gfx950", "sm_90a", "sm_80")

_SETTINGS = {
    "deadline": None,
    "max_examples": 4,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.filter_too_much],
}


@pytest.mark.parametrize("example", example_names())
@settings(**_SETTINGS)
@given(data=st.data())
def test_a_valid_schedule_of_every_family_emits_for_its_target(example: str, data: st.DataObject) -> None:
    target = data.draw(st.sampled_from(TARGETS), label="target")
    params = data.draw(schedule_params(example, target=target), label="params")
    kernel = load_example(example).kernel(**params)
    errors = [d for d in diagnose(kernel, target) if d.severity == "error"]
    if errors:
        return  # not valid for this target: the property says nothing
    source = render(kernel, target)
    assert f"void {kernel.name}_kernel(" in source


@pytest.mark.parametrize("example", example_names())
@settings(**{**_SETTINGS, "max_examples": 3})
@given(data=st.data())
def test_a_random_edit_the_validator_accepts_still_emits(example: str, data: st.DataObject) -> None:
    """Random edits of a hurried user (an op removed or duplicated, an offset off by one, a barrier
    moved into a branch, ...; ``tilegen.testing.mutants``) reach schedules no example holds: those
    the validator accepts must emit too."""
    target = example_target(example)
    kernel = load_example(example).kernel()
    _, mutant = data.draw(mutants(kernel), label="mutant")
    if any(d.severity == "error" for d in diagnose(mutant, target)):
        return
    assert f"void {mutant.name}_kernel(" in render(mutant, target)


@pytest.mark.parametrize("example", example_names())
def test_every_family_has_a_schedule_valid_on_some_target(example: str) -> None:
    """Keeps the property above from being vacuous: each family's defaults validate (and so emit)
    on at least one target."""
    kernel = load_example(example).kernel()
    valid = []
    for target in TARGETS:
        try:
            validate(kernel, target)
        except ScheduleError:
            continue
        valid.append(target)
        render(kernel, target)
    assert valid, f"{example}'s default schedule is valid on none of {TARGETS}"


def test_a_name_that_used_to_validate_and_then_fail_in_emit_is_a_validator_error() -> None:
    k = tg.Kernel("names", warps=1, block=(16, 16), k_step=16)
    band = k.accumulator("band", 16, 16)
    k.zero(band)
    k.store(band)
    rules = {d.rule for d in diagnose(k.build(), "gfx942") if d.severity == "error"}
    assert "structure.names" in rules
