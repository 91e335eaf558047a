"""Properties of the example families in examples/, with the helpers of tilegen.testing:

* every generated valid schedule (parameters x problem sizes) validates and simulates to the
  float64 reference;
* every generated mutation (one planted bug of a class the user has lost days to) is caught by
  the simulator on its own, and by the validator for the classes that break a static rule.

Each family runs a modest number of examples: CI runs the whole suite on 2 cores.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ir import models as m
from ir.diagnostics import ScheduleError
from tilegen import validate
from tilegen.testing import MUTATIONS, check_indexing, detect, example_names, example_target, schedule_cases

#: Mutation classes that always break a rule the validator checks statically (on its representative
#: problems). A shifted subtile only does when it leaves its shared tile; in bounds it reads wrong
#: data, which only the numerics catch.
STATIC_CLASSES = (
    "barrier_in_branch",
    "group_load_by_one_warp",
    "barrier_removed",
    "buffer_rotation_removed",
    "zero_dropped",
    "store_dropped",
    "store_in_elements",
    "cluster_spans_barrier",
    "ring_rotated",
)

FAMILIES = example_names()

_SETTINGS = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow, HealthCheck.filter_too_much]}


def _valid_schedule_simulates(case: tuple[dict[str, Any], m.Kernel, tuple[int, int, int], str]) -> None:
    params, kernel, shape, target = case
    try:
        validate(kernel, target=target)
    except ScheduleError as error:
        raise AssertionError(f"{kernel.name}({params}) should be valid:\n{error}") from error
    check_indexing(kernel, *shape, seed=sum(shape), target=target)


@pytest.mark.parametrize("example", FAMILIES)
@settings(max_examples=8, **_SETTINGS)
@given(data=st.data())
def test_valid_schedules_simulate_to_the_reference(example: str, data: st.DataObject) -> None:
    _valid_schedule_simulates((*data.draw(schedule_cases(example)), example_target(example)))


def _draw_mutant(
    example: str, data: st.DataObject, classes: tuple[str, ...] = tuple(MUTATIONS)
) -> tuple[str, m.Kernel, m.Kernel, tuple[int, int, int]]:
    # Four K steps and 2 x 2 tiles: enough for every pipeline here to refill each of its buffers, so a
    # bug in the steady state shows on this one problem.
    params, kernel, shape = data.draw(schedule_cases(example, max_k_tiles=4, min_k_tiles=4))
    name = data.draw(st.sampled_from([n for n in classes if MUTATIONS[n].sites(kernel)]))
    site = data.draw(st.integers(0, MUTATIONS[name].sites(kernel) - 1))
    try:
        validate(kernel, target=example_target(example))
    except ScheduleError as error:
        raise AssertionError(f"the unmutated {kernel.name}({params}) should be valid:\n{error}") from error
    return name, kernel, MUTATIONS[name](kernel, site), shape


@pytest.mark.parametrize("example", FAMILIES)
@settings(max_examples=12, **_SETTINGS)
@given(data=st.data())
def test_every_mutation_is_caught_by_the_simulator_alone(example: str, data: st.DataObject) -> None:
    name, _, mutant, shape = _draw_mutant(example, data)
    found = detect(mutant, *shape, validator=False, target=example_target(example))
    assert found is not None, f"{name} went unnoticed by the simulator"


@pytest.mark.parametrize("example", FAMILIES)
@settings(max_examples=12, **_SETTINGS)
@given(data=st.data())
def test_static_mutations_are_rejected_by_the_validator(example: str, data: st.DataObject) -> None:
    name, _, mutant, _ = _draw_mutant(example, data, STATIC_CLASSES)
    with pytest.raises(ScheduleError):
        validate(mutant, target=example_target(example))
        pytest.fail(f"the validator accepted a schedule with {MUTATIONS[name].description}")
