"""Shared memory: the footprint (aligned allocations), the derived dynamic shared memory, and the
capacity rule against each target."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_validate_schedules import VALID, big_shared

import tilegen as tg
from ir import models as m
from ir.diagnostics import Diagnostic
from ir.resources import dynamic_shared_memory, shared_footprint
from ir.targets import TARGETS, get_target
from ir.validate.context import ValidationContext
from ir.validate.rules.shared_memory import check_capacity


def _capacity(kernel: m.Kernel, target: str) -> list[Diagnostic]:
    return check_capacity(ValidationContext(kernel, get_target(target)))


@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_schedules_fit_gfx942(name: str) -> None:
    assert _capacity(VALID[name](), "gfx942") == []


def test_over_64_kib_is_rejected_on_gfx942_but_fits_sm_90a_and_gfx950() -> None:
    kernel = big_shared()
    (error,) = _capacity(kernel, "gfx942")
    assert "196608 bytes (192 KiB: As 96 KiB, Bs 96 KiB)" in error.message
    assert "64 KiB" in error.message and error.buffer == "As"
    assert error.loc == kernel.shared_tile("As").loc
    assert _capacity(kernel, "sm_90a") == []
    assert _capacity(big_shared(buffers=2), "gfx950") == []  # 128 KiB of 160
    assert _capacity(kernel, "gfx950")  # 192 KiB of 160


def test_exactly_the_limit_is_accepted() -> None:
    k = tg.Kernel("full", warps=4, block=(256, 256), k_step=64)
    k.shared("As", 256, 64)
    k.shared("Bs", 64, 256)  # 2 x 32 KiB = 64 KiB
    assert _capacity(k.build(), "gfx942") == []


def test_blocks_per_cu_that_cannot_share_the_lds_are_a_warning() -> None:
    k = tg.Kernel("two_blocks", warps=4, block=(128, 128), k_step=64, min_blocks_per_cu=2)
    k.shared("As", 128, 64, buffers=2)  # 32 KiB
    k.shared("Bs", 64, 128)  # 16 KiB
    (warning,) = _capacity(k.build(), "gfx942")
    assert warning.severity == "warning" and "at most 1 fit" in warning.message


@settings(max_examples=50, deadline=None)
@given(
    tiles=st.lists(
        st.tuples(st.integers(1, 12), st.integers(1, 12), st.sampled_from(["bf16", "f32"]), st.integers(1, 3)),
        min_size=1,
        max_size=5,
    ),
    target=st.sampled_from(sorted(TARGETS)),
)
def test_property_footprint_is_the_sum_of_aligned_allocations(tiles: list, target: str) -> None:
    loc = m.SourceLoc(file="x", line=1)
    shared = [
        m.SharedTile(name=f"S{i}", rows=16 * r, cols=8 * c, dtype=d, buffers=b, loc=loc)
        for i, (r, c, d, b) in enumerate(tiles)
    ]
    kernel = m.Kernel(
        name="k", launch=m.Launch(num_warps=1, block_m=16, block_n=16, k_step=16), shared=shared, body=[], loc=loc
    )
    footprint = shared_footprint(kernel, target)
    align = get_target(target).shared_align
    offset = 0
    for tile, allocation in zip(shared, footprint.allocations, strict=True):
        size = tile.rows * tile.cols * (2 if tile.dtype == "bf16" else 4) * tile.buffers
        assert allocation.offset == offset and allocation.offset % align == 0
        assert allocation.bytes == size and allocation.padded_bytes == -(-size // align) * align
        offset += allocation.padded_bytes
    assert footprint.total_bytes == offset == dynamic_shared_memory(kernel, target)
    assert bool(_capacity(kernel, target)) == (offset > get_target(target).shared_bytes)


def test_the_report_carries_the_derived_dynamic_shared_memory() -> None:
    report = tg.validate(VALID["async_pipeline"]())
    assert report.resources.dynamic_shared_memory == 2 * (128 * 32 + 32 * 128) * 2
    assert report.resources.shared.limit_bytes == 64 * 1024
    assert [a.name for a in report.resources.shared.allocations] == ["As", "Bs"]


def test_over_capacity_fails_validation_for_the_whole_schedule() -> None:
    kernel = VALID["baseline"]()
    pad = m.SharedTile(name="Pad", rows=256, cols=128, loc=kernel.loc)  # + 64 KiB nobody uses
    grown = kernel.model_copy(update={"shared": [*kernel.shared, pad]})
    with pytest.raises(tg.ScheduleError) as caught:
        tg.validate(grown)
    assert caught.value.rules == {"shared-memory.capacity"}
