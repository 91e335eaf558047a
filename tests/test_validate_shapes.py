"""Shape rules: tile sides, block dims, mma operands, dtypes, operand tiles, indices inside their
arrays / buffers / shared tiles / global matrices, and store coverage of the block tile."""

from __future__ import annotations

from typing import Optional

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_validate_schedules import VALID, baseline

import tilegen as tg
from ir import models as m
from ir.diagnostics import Diagnostic
from ir.targets import get_target
from ir.validate import diagnose
from ir.validate.context import ValidationContext
from ir.validate.rules import RULES

SHAPE_RULES = [rule for rule in RULES if rule.name.startswith("shapes.")]


def _errors(kernel: m.Kernel, rule: str, target: str = "gfx942") -> list[Diagnostic]:
    return [d for d in diagnose(kernel, target) if d.rule == rule and d.severity == "error"]


def _op_at(kernel: m.Kernel, kind: type, **fields: object) -> m.Stmt:
    """The first op of ``kind`` whose fields match (to compare a diagnostic's line with)."""
    for op in m.walk(kernel.body):
        if isinstance(op, kind) and all(getattr(op, k) == v for k, v in fields.items()):
            return op
    raise LookupError(kind)


@pytest.mark.parametrize("name", sorted(VALID))
def test_shape_rules_accept_every_valid_schedule(name: str) -> None:
    ctx = ValidationContext(VALID[name](), get_target("gfx942"))
    for rule in SHAPE_RULES:
        assert rule.check(ctx) == [], rule.name


def test_tile_sides_must_be_multiples_of_the_base_tile() -> None:
    k = tg.Kernel("odd", warps=4, block=(128, 128), k_step=32)
    k.register("r", 24, 32)
    tile = k.shared("S", 128, 40)
    (reg_error, shared_error) = _errors(k.build(), "shapes.tile-dims")
    assert "`r` is 24 x 32" in reg_error.message and "32 x 32" in reg_error.fix
    assert "`S` is 128 x 40" in shared_error.message and shared_error.loc == tile.tile.loc


def test_block_dims_must_be_multiples_of_16() -> None:
    errors = _errors(tg.Kernel("b", warps=4, block=(120, 128), k_step=24).build(), "shapes.block-dims")
    assert sorted(e.message.split()[0] for e in errors) == ["block_m", "k_step"]
    assert any("128" in e.fix for e in errors)


def _single_mma(
    a_shape: tuple[int, int], b_shape: tuple[int, int], d_shape: tuple[int, int], *, variant: str = "AB",
    b_layout: str = "col", a_dtype: str = "bf16", d_layout: Optional[str] = None,
) -> m.Kernel:
    k = tg.Kernel("mma", warps=1, block=(64, 64), k_step=32)
    a = k.register("a", *a_shape, dtype=a_dtype)  # type: ignore[arg-type]
    b = k.register("b", *b_shape, layout=b_layout)  # type: ignore[arg-type]
    if d_layout is None:
        d = k.accumulator("d", *d_shape)
    else:
        d = k.register("d", *d_shape, dtype="f32", layout=d_layout)  # type: ignore[arg-type]
    k.mma(d, a, b, variant=variant)  # type: ignore[arg-type]
    return k.build()


def test_mma_ab_operands_must_agree() -> None:
    assert _errors(_single_mma((32, 16), (16, 64), (32, 64)), "shapes.mma-shape") == []
    (error,) = _errors(_single_mma((32, 16), (32, 64), (32, 64)), "shapes.mma-shape")
    assert "k = 16" in error.message and error.op == "mma_AB(d, a, b, d)"
    (error,) = _errors(_single_mma((32, 16), (16, 64), (64, 32)), "shapes.mma-shape")
    assert "d `d` is 64 x 32 but a @ b is 32 x 64" in error.message


def test_mma_abt_takes_b_as_n_by_k() -> None:
    assert _errors(_single_mma((32, 16), (64, 16), (32, 64), variant="ABt", b_layout="row"), "shapes.mma-shape") == []
    assert _errors(_single_mma((32, 16), (16, 64), (32, 64), variant="ABt", b_layout="row"), "shapes.mma-shape")


def test_mma_layouts_and_dtypes_are_checked() -> None:
    (error,) = _errors(_single_mma((32, 16), (16, 64), (32, 64), b_layout="row"), "shapes.mma-layout")
    assert "b in col layout" in error.message and error.buffer == "b"
    (error,) = _errors(_single_mma((32, 16), (16, 64), (32, 64), d_layout="row"), "shapes.mma-layout")
    assert "c and d in col layout" in error.message
    (error,) = _errors(_single_mma((32, 16), (16, 64), (32, 64), a_dtype="f32"), "shapes.mma-dtype")
    assert "a as bf16" in error.message


def test_shared_to_register_loads_keep_the_dtype() -> None:
    k = tg.Kernel("dtype", warps=1, block=(64, 64), k_step=32)
    Cs = k.shared("Cs", 64, 64, dtype="f32")
    r = k.register("r", 32, 32)  # bf16
    k.load(r, Cs)
    (error,) = _errors(k.build(), "shapes.load-dtype")
    assert "f32 shared tile `Cs` into bf16" in error.message


def test_register_copies_need_identical_tiles() -> None:
    k = tg.Kernel("copy", warps=1, block=(64, 64), k_step=32)
    a, b = k.register("a", 32, 32), k.register("b", 32, 32, layout="col")
    k.copy(a, b)
    (error,) = _errors(k.build(), "shapes.load-dtype")
    assert "identical tiles" in error.message


def test_a_transposed_operand_tile_is_rejected() -> None:
    (error,) = _errors(baseline("transposed-b"), "shapes.operand-tile")
    assert "must split the block's 32 x 128 panel" in error.message
    assert "32 x 128" in error.fix and error.buffer == "Bs"


def test_a_stage_buffer_must_match_its_tile() -> None:
    k = tg.Kernel("stage", warps=4, block=(128, 128), k_step=32)
    As, other = k.shared("As", 128, 32), k.shared("Other", 64, 32)
    s = k.stage("s", other)
    k.stage_store(As, s)
    (error,) = _errors(k.build(), "shapes.operand-tile")
    assert "holds 64 x 32" in error.message


def test_an_accumulator_index_past_the_array_is_rejected() -> None:
    kernel = baseline("zero-count")
    (error,) = _errors(kernel, "shapes.register-index")
    assert "is 2, but `C_accum` is an array of 2" in error.message
    assert error.op == "zero(C_accum[i])" and error.waves == (0, 1, 2, 3)
    assert error.loc == _op_at(kernel, m.Zero).loc
    assert "count=3" in error.fix


def test_a_buffer_index_past_the_pipeline_is_rejected() -> None:
    k = tg.Kernel("buffers", warps=4, block=(128, 128), k_step=32)
    As = k.shared("As", 128, 32, buffers=2)
    with k.k_loop() as kt:
        k.load_tile(As[kt], "A", kt)
    (error,) = _errors(k.build(), "shapes.buffer-index")
    assert "is 2, but it has 2 buffer(s)" in error.message and "% 2" in error.fix


def test_a_subtile_past_its_shared_tile_is_rejected() -> None:
    kernel = baseline("subtile-past")
    (error,) = _errors(kernel, "shapes.subtile-bounds")
    assert "subtile {4, 0}" in error.message and "4 x 1 such subtiles" in error.message
    assert error.buffer == "As" and error.op == "load(a_reg[1], subtile_inplace<32, 32>(As, {warp // 2 + 4, 0}))"


def test_loads_past_k_are_rejected_at_one_k_tile() -> None:
    (a_error, b_error) = _errors(baseline("read-ahead"), "shapes.global-bounds")
    assert "(1 K tile)" in a_error.message and a_error.buffer == "A" and b_error.buffer == "B"
    assert "num_k_tiles = 1" in a_error.fix


def test_store_coordinates_in_elements_are_rejected() -> None:
    (error,) = _errors(baseline("store-elements"), "shapes.global-bounds")
    assert error.buffer == "C" and "units of the stored register tile" in error.fix


def test_two_waves_storing_the_same_tile_are_rejected() -> None:
    errors = _errors(baseline("store-twice"), "shapes.store-coverage")
    overlap = next(e for e in errors if "already stored" in e.message)
    gap = next(e for e in errors if "no wave stores" in e.message)
    assert overlap.waves == (0, 1, 2, 3)
    assert "rows 0-31, cols 32-63" in gap.message


def test_a_missing_accumulator_store_leaves_a_gap() -> None:
    (error,) = _errors(baseline("store-missing"), "shapes.store-coverage")
    assert "no wave stores rows 64-127, cols 64-127" in error.message


def test_a_store_into_another_blocks_tile_is_rejected() -> None:
    k = tg.Kernel("shifted", warps=1, block=(32, 32), k_step=16)
    acc = k.accumulator("acc", 32, 32)
    k.zero(acc)
    k.store(acc, row=1, col=0)  # one block tile down: the neighbour's tile
    errors = _errors(k.build(), "shapes.store-coverage")
    assert any("outside this block's output tile" in e.message for e in errors)


# --------------------------------------------------------------------------------------------
# Property: any warp tiling built the k01 way covers the block exactly once; moving one store
# breaks coverage.
# --------------------------------------------------------------------------------------------


def _tiled(block_m: int, block_n: int, grid: tuple[int, int], per_wave: tuple[int, int], shift: bool) -> m.Kernel:
    rows, cols = grid
    ni, nj = per_wave
    reg_m, reg_n = block_m // (rows * ni), block_n // (cols * nj)
    k_step = 32
    k = tg.Kernel("tiled", warps=rows * cols, block=(block_m, block_n), k_step=k_step)
    As, Bs = k.shared("As", block_m, k_step), k.shared("Bs", k_step, block_n)
    acc = k.accumulator("acc", reg_m, reg_n, count=ni * nj)
    a = k.register("a", reg_m, k_step, count=ni)
    b = k.register("b", k_step, reg_n, layout="col", count=nj)
    warp_row, warp_col = k.warp_grid(rows, cols)
    k.zero(acc)
    with k.k_loop() as kt:
        k.load_tile(As, "A", kt)
        k.load_tile(Bs, "B", kt)
        k.sync()
        for i in range(ni):
            k.load(a[i], As, row=warp_row + rows * i)
        for j in range(nj):
            k.load(b[j], Bs, col=warp_col + cols * j)
        for i in range(ni):
            for j in range(nj):
                k.mma(acc[i * nj + j], a[i], b[j])
        k.sync()
    for i in range(ni):
        for j in range(nj):
            # Wave 0's first tile one row of tiles down: onto a neighbour's tile, leaving its own empty.
            moved = k.warp.eq(0) if shift and (i, j) == (0, 0) else 0
            k.store(acc[i * nj + j], row=warp_row + rows * i + moved, col=warp_col + cols * j)
    return k.build()


tilings = st.tuples(
    st.sampled_from([64, 128]),
    st.sampled_from([64, 128]),
    st.sampled_from([(1, 1), (1, 2), (2, 1), (2, 2), (1, 4), (4, 1), (2, 4), (4, 2)]),
    st.sampled_from([(1, 1), (1, 2), (2, 1), (2, 2)]),
).filter(lambda t: t[0] // (t[2][0] * t[3][0]) >= 16 and t[1] // (t[2][1] * t[3][1]) >= 16)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tilings)
def test_property_interleaved_tilings_cover_the_block_exactly_once(tiling: tuple) -> None:
    block_m, block_n, grid, per_wave = tiling
    report = tg.validate(_tiled(block_m, block_n, grid, per_wave, shift=False))
    assert report.errors == []
    assert report.resources.dynamic_shared_memory == (block_m * 32 + 32 * block_n) * 2


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tilings.filter(lambda t: t[2][0] * t[3][0] > 1))  # with one row of tiles a shift wraps onto itself
def test_property_moving_one_store_breaks_coverage(tiling: tuple) -> None:
    block_m, block_n, grid, per_wave = tiling
    errors = _errors(_tiled(block_m, block_n, grid, per_wave, shift=True), "shapes.store-coverage")
    assert any("already stored" in e.message for e in errors)
    assert any("no wave stores" in e.message for e in errors)
