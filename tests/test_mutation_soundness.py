"""Issue 9, item 5: keep the validator sound. Random mutants of every example family (an op
removed or duplicated, an offset or loop bound off by one, a barrier moved into a branch, a
shared or register tile swapped, a buffer index rotated, a role's warps changed): every mutant
``validate`` accepts must compute the GEMM in the simulator at the covering problem (the largest
grid the validator checks, persistent wrap-around, K past the pipeline). ``validate`` must never
crash on one. A few examples per family keep it well under a minute on two cores; the GPU
version is ``scripts/gpu_mutants.py``."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ir import models as m
from tilegen.testing import accepted_mutant_simulates, example_names, load_example, mutants, schedule_params


@pytest.mark.parametrize("example", example_names())
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(data=st.data())
def test_every_accepted_mutant_computes_the_gemm(example: str, data: st.DataObject) -> None:
    module = load_example(example)
    target = getattr(module, "TARGETS", ("gfx942",))[0]  # a Hopper-only example runs on sm_90a
    params = data.draw(schedule_params(module, target=target))
    what, mutant = data.draw(mutants(module.kernel(**params)))
    try:
        accepted_mutant_simulates(mutant, seed=len(what), target=target)
    except AssertionError as error:
        raise AssertionError(f"validate accepted {example}({params}) with {what}, but:\n{error}") from error


def test_mutants_change_the_schedule_and_keep_it_well_formed() -> None:
    kernel = load_example("k02_producer_consumer").kernel()
    seen: set[str] = set()

    @settings(max_examples=30, deadline=None, database=None)
    @given(pair=mutants(kernel))
    def collect(pair: tuple[str, m.Kernel]) -> None:
        what, mutant = pair
        assert mutant != kernel, what
        m.Kernel.model_validate_json(mutant.model_dump_json())  # still IR
        seen.add(what.split(" ")[0])

    collect()
    assert len(seen) >= 4, seen


def test_a_known_bad_mutant_is_caught_by_the_property() -> None:
    """The property fails, with the simulator's message, on a mutant the validator would accept
    if its accumulator rules were missing: checked here by simulating it directly."""
    from tilegen.testing import check_indexing

    kernel = load_example("k01_baseline_4wave").kernel()
    stores = [i for i, op in enumerate(m.walk(kernel.body)) if isinstance(op, m.Store)]
    from tilegen.testing import _replace_at

    swapped = _replace_at(
        kernel, stores[0], lambda op: [op.model_copy(update={"row": op.col, "col": op.row})]
    )
    with pytest.raises(AssertionError):
        check_indexing(swapped, 256, 256, 64, alpha=1.0, beta=0.0)


def test_accepted_duplicates_of_k01_compute_the_gemm() -> None:
    """The accepted half of the property, deterministically: every op of k01 duplicated in turn;
    those ``validate`` accepts (a second barrier, a repeated load) must simulate correctly."""
    from tilegen.testing import _is_control, _replace_at

    kernel = load_example("k01_baseline_4wave").kernel(block=64, k_step=16)
    accepted = 0
    for index, op in enumerate(m.walk(kernel.body)):
        if _is_control(op):
            continue
        mutant = _replace_at(kernel, index, lambda o: [o, o])
        if accepted_mutant_simulates(mutant) == "ok":
            accepted += 1
    assert accepted >= 3  # barriers, shared loads, register loads
