"""Run-time shapes: the sizes a schedule handles, check_problem, and K coverage per output tile."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_validate_schedules import VALID, baseline

import tilegen as tg
from ir.targets import get_target
from ir.validate import check_problem, diagnose, supported_sizes
from ir.validate.context import ValidationContext
from ir.validate.rules.runtime_shapes import check_k_coverage


def _kernel(block_m: int = 128, block_n: int = 64, k_step: int = 32, edge: str = "refuse") -> tg.KernelIR:
    return tg.Kernel("sizes", warps=4, block=(block_m, block_n), k_step=k_step, edge=edge).build()  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(m=st.integers(1, 1000), n=st.integers(1, 1000), k=st.integers(1, 1000))
def test_property_check_problem_accepts_exactly_the_multiples(m: int, n: int, k: int) -> None:
    kernel = _kernel()
    bad = [name for name, size, multiple in (("M", m, 128), ("N", n, 64), ("K", k, 32)) if size % multiple]
    if not bad:
        check_problem(kernel, m, n, k)
        return
    with pytest.raises(ValueError) as caught:
        check_problem(kernel, m, n, k)
    text = str(caught.value)
    for name in bad:
        assert f"{name} = " in text
    assert "edge=\"pad\"" in text


@settings(max_examples=30, deadline=None)
@given(m=st.integers(1, 1000), n=st.integers(1, 1000), k=st.integers(1, 1000))
def test_property_a_padding_kernel_accepts_every_positive_size(m: int, n: int, k: int) -> None:
    check_problem(_kernel(edge="pad"), m, n, k)


@pytest.mark.parametrize(("m", "n", "k"), [(0, 64, 32), (128, -64, 32), (128, 64, 2.5), (True, 64, 32)])
def test_non_positive_or_non_integer_sizes_are_rejected(m: object, n: object, k: object) -> None:
    for edge in ("refuse", "pad"):
        with pytest.raises(ValueError, match="cannot run"):
            check_problem(_kernel(edge=edge), m, n, k)  # type: ignore[arg-type]


class _Index:
    """An integer type that is not ``int`` (as numpy's int64 is): usable through ``__index__``."""

    def __init__(self, value: int):
        self.value = value

    def __index__(self) -> int:
        return self.value

    def __repr__(self) -> str:
        return f"_Index({self.value})"


def test_integer_sizes_of_other_types_are_accepted() -> None:
    check_problem(_kernel(), _Index(256), _Index(64), 32)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="M = 255 is not a multiple"):
        check_problem(_kernel(), _Index(255), 64, 32)  # type: ignore[arg-type]


def test_the_message_suggests_the_nearest_multiples() -> None:
    with pytest.raises(ValueError) as caught:
        check_problem(_kernel(), 300, 64, 32)
    assert "M = 300 is not a multiple of block_m = 128 (e.g. 256 or 384)" in str(caught.value)


def test_the_report_states_the_sizes_the_schedule_handles() -> None:
    sizes = tg.validate(VALID["baseline"]()).resources.sizes
    assert (sizes.edge, sizes.m_multiple, sizes.n_multiple, sizes.k_multiple) == ("refuse", 128, 128, 32)
    padded = supported_sizes(_kernel(edge="pad"))
    assert (padded.m_multiple, padded.n_multiple, padded.k_multiple) == (1, 1, 1)
    assert "any M, N, K" in padded.description


@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_schedules_load_all_of_k_for_every_tile(name: str) -> None:
    assert check_k_coverage(ValidationContext(VALID[name](), get_target("gfx942"))) == []


def test_a_k_loop_that_skips_the_first_step_leaves_k_out() -> None:
    errors = [d for d in diagnose(baseline("skip-k")) if d.rule == "runtime-shapes.k-coverage"]
    assert {e.buffer for e in errors} == {"A", "B"}
    a_error = next(e for e in errors if e.buffer == "A")
    assert "never loads rows 0-127, cols 0-31 of its A panel" in a_error.message
    assert "(1 K tile)" in a_error.message  # the smallest problem shows it first


def test_a_pipeline_without_an_epilogue_misses_the_last_step() -> None:
    k = tg.Kernel("no_epilogue", warps=4, block=(128, 128), k_step=32)
    As, Bs = k.shared("As", 128, 32), k.shared("Bs", 32, 128)
    acc = k.accumulator("acc", 32, 32, count=4)
    a = k.register("a", 32, 32, count=2)
    b = k.register("b", 32, 32, layout="col", count=2)
    warp_row, warp_col = k.warp_grid(2, 2)
    k.zero(acc)
    with k.k_loop(0, k.num_k_tiles - 1) as kt:  # forgets the last K step
        k.load_tile(As, "A", kt)
        k.load_tile(Bs, "B", kt)
        k.sync()
        for i in range(2):
            k.load(a[i], As, row=warp_row + 2 * i)
            k.load(b[i], Bs, col=warp_col + 2 * i)
        for i in range(2):
            for j in range(2):
                k.mma(acc[2 * i + j], a[i], b[j])
        k.sync()
    for i in range(2):
        for j in range(2):
            k.store(acc[2 * i + j], row=warp_row + 2 * i, col=warp_col + 2 * j)
    rules = {d.rule for d in diagnose(k.build())}
    assert "runtime-shapes.k-coverage" in rules
