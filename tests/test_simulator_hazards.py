"""The simulator catches each hazard class at run time and names the rule, the op's Python line,
the wave(s) and the buffer.

Every test builds a small 4-wave schedule whose one bug sits on a known line (``_next_line()``
marks it) and checks the first diagnostic against that line.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import torch

import tilegen as tg
from backends.simulator import RULES, simulate
from ir import models as m
from ir.diagnostics import Diagnostic, SimulationError
from ir.expr import Var

BLOCK, K_STEP, REG = 64, 16, 32  # 2 x 2 waves, one 32 x 32 accumulator each


def _next_line() -> int:
    """The line after the caller's: put it just above the op a test expects to be blamed."""
    frame = inspect.currentframe()
    assert frame is not None and frame.f_back is not None
    return frame.f_back.f_lineno + 1


@dataclass
class Tiles:
    As: tg.builder.SharedTile
    Bs: tg.builder.SharedTile
    acc: tg.builder.RegisterTile
    a: tg.builder.RegisterTile
    b: tg.builder.RegisterTile
    warp_row: m.Expr  # type: ignore[name-defined]
    warp_col: m.Expr  # type: ignore[name-defined]


def correct_step(k: tg.Kernel, t: Tiles, kt: m.Expr) -> None:  # type: ignore[name-defined]
    k.load_tile(t.As, "A", kt)
    k.load_tile(t.Bs, "B", kt)
    k.sync()
    k.load(t.a, t.As, row=t.warp_row)
    k.load(t.b, t.Bs, col=t.warp_col)
    k.mma(t.acc, t.a, t.b)
    k.sync()


def gemm(
    step: Callable[[tg.Kernel, Tiles, m.Expr], None] = correct_step,  # type: ignore[name-defined]
    *,
    zero: bool = True,
    store: Callable[[tg.Kernel, Tiles], None] | None = None,
    buffers: int = 1,
    acc_count: int = 1,
) -> m.Kernel:
    """A 64 x 64 block, 4 waves in 2 x 2, K step 16; ``step`` writes the body of the K loop."""
    k = tg.Kernel("hazard", warps=4, block=(BLOCK, BLOCK), k_step=K_STEP)
    tiles = Tiles(
        k.shared("As", BLOCK, K_STEP, buffers=buffers),
        k.shared("Bs", K_STEP, BLOCK, buffers=buffers),
        k.accumulator("acc", REG, REG, count=acc_count),
        k.register("a", REG, K_STEP),
        k.register("b", K_STEP, REG, layout="col"),
        *k.warp_grid(2, 2),
    )
    acc = tiles.acc if acc_count == 1 else tiles.acc[0]
    tiles.acc = acc  # type: ignore[assignment]
    if zero:
        k.zero(acc)
    with k.k_loop() as kt:
        step(k, tiles, kt)
    if store is None:
        k.store(acc, row=tiles.warp_row, col=tiles.warp_col)
    else:
        store(k, tiles)
    return k.build()


def run(kernel: m.Kernel, m_: int = BLOCK, n_: int = BLOCK, k_tiles: int = 3) -> torch.Tensor:
    k_ = K_STEP * k_tiles
    gen = torch.Generator().manual_seed(1)
    b_shape = (k_, n_) if kernel.globals.b_layout == "kn" else (n_, k_)
    return simulate(kernel, torch.randn((m_, k_), generator=gen), torch.randn(b_shape, generator=gen))


def caught(kernel: m.Kernel, **problem: int) -> Diagnostic:
    """The first diagnostic of the simulation; checks it is well formed."""
    with pytest.raises(SimulationError) as info:
        run(kernel, **problem)
    diagnostic = info.value.diagnostics[0]
    assert diagnostic.rule in RULES, f"{diagnostic.rule} is not a documented simulator rule"
    assert diagnostic.severity == "error" and diagnostic.fix, diagnostic
    assert diagnostic.loc is not None and diagnostic.loc.file.endswith("test_simulator_hazards.py"), diagnostic.loc
    return diagnostic


def test_the_baseline_schedule_is_clean() -> None:
    """The schedule every test below breaks in one place computes the GEMM."""
    kernel = gemm()
    gen = torch.Generator().manual_seed(1)
    a, b = torch.randn((128, 48), generator=gen), torch.randn((48, 128), generator=gen)
    got = simulate(kernel, a, b)
    assert torch.allclose(got.double(), a.bfloat16().double() @ b.bfloat16().double(), rtol=1e-5, atol=1e-4)


def test_race_between_group_load_and_read_without_barrier() -> None:
    def step(k: tg.Kernel, t: Tiles, kt: m.Expr) -> None:  # type: ignore[name-defined]
        k.load_tile(t.As, "A", kt)
        k.load_tile(t.Bs, "B", kt)
        line = _next_line()
        k.load(t.a, t.As, row=t.warp_row)
        step.line = line  # type: ignore[attr-defined]
        k.load(t.b, t.Bs, col=t.warp_col)
        k.mma(t.acc, t.a, t.b)
        k.sync()

    d = caught(gemm(step))
    assert d.rule == "races.shared-race"
    assert d.loc.line == step.line  # type: ignore[attr-defined, union-attr]
    assert d.buffer == "As" and len(set(d.waves)) >= 2
    assert "group<4>::load(As, g.a" in d.message and "nothing orders them" in d.message


def test_race_when_the_next_step_overwrites_a_tile_still_being_read() -> None:
    def step(k: tg.Kernel, t: Tiles, kt: m.Expr) -> None:  # type: ignore[name-defined]
        k.load_tile(t.As, "A", kt)
        k.load_tile(t.Bs, "B", kt)
        k.sync()
        k.load(t.a, t.As, row=t.warp_row)
        k.load(t.b, t.Bs, col=t.warp_col)
        k.mma(t.acc, t.a, t.b)
        # no trailing barrier: the next iteration's group load races with these reads

    d = caught(gemm(step))
    assert d.rule == "races.shared-race"
    assert "barrier phase (#1)" in d.message


def test_uninitialised_shared_read_names_the_read() -> None:
    def step(k: tg.Kernel, t: Tiles, kt: m.Expr) -> None:  # type: ignore[name-defined]
        k.load_tile(t.As, "A", kt)  # Bs is never loaded
        k.sync()
        k.load(t.a, t.As, row=t.warp_row)
        step.line = _next_line()  # type: ignore[attr-defined]
        k.load(t.b, t.Bs, col=t.warp_col)
        k.mma(t.acc, t.a, t.b)
        k.sync()

    d = caught(gemm(step))
    assert d.rule == "races.uninitialised-read"
    assert d.loc.line == step.line and d.buffer == "Bs"  # type: ignore[attr-defined, union-attr]
    assert "were not written" in d.message


def test_barrier_inside_a_branch_diverges_and_names_the_branch() -> None:
    def step(k: tg.Kernel, t: Tiles, kt: m.Expr) -> None:  # type: ignore[name-defined]
        k.load_tile(t.As, "A", kt)
        k.load_tile(t.Bs, "B", kt)
        k.sync()
        k.load(t.a, t.As, row=t.warp_row)
        k.load(t.b, t.Bs, col=t.warp_col)
        k.mma(t.acc, t.a, t.b)
        with k.when(k.warp.eq(0)):
            step.line = _next_line()  # type: ignore[attr-defined]
            k.sync()

    d = caught(gemm(step))
    assert d.rule == "barriers.divergent"
    assert d.loc.line == step.line and d.waves == (0,)  # type: ignore[attr-defined, union-attr]
    assert "`if warp == 0`" in d.message and "waves 1-3 do not take" in d.message


def test_group_load_run_by_one_warp_is_an_incomplete_collective() -> None:
    def step(k: tg.Kernel, t: Tiles, kt: m.Expr) -> None:  # type: ignore[name-defined]
        with k.when(k.warp.eq(0)):
            step.line = _next_line()  # type: ignore[attr-defined]
            k.load_tile(t.As, "A", kt)
        k.load_tile(t.Bs, "B", kt)
        k.sync()
        k.load(t.a, t.As, row=t.warp_row)
        k.load(t.b, t.Bs, col=t.warp_col)
        k.mma(t.acc, t.a, t.b)
        k.sync()

    d = caught(gemm(step))
    assert d.rule == "collectives.incomplete-group"
    assert d.loc.line == step.line and d.waves == (0,)  # type: ignore[attr-defined, union-attr]
    assert "wave(s) 1-3 did not" in d.message and "`if warp == 0`" in d.message


def test_group_members_with_different_coordinates_mismatch() -> None:
    def step(k: tg.Kernel, t: Tiles, kt: m.Expr) -> None:  # type: ignore[name-defined]
        step.line = _next_line()  # type: ignore[attr-defined]
        k.load_tile(t.As, "A", col=kt + k.warp % 2)
        k.load_tile(t.Bs, "B", kt)
        k.sync()
        k.load(t.a, t.As, row=t.warp_row)
        k.load(t.b, t.Bs, col=t.warp_col)
        k.mma(t.acc, t.a, t.b)
        k.sync()

    d = caught(gemm(step))
    assert d.rule == "collectives.incomplete-group"
    assert d.loc.line == step.line and "different coordinates" in d.message  # type: ignore[attr-defined, union-attr]


def test_global_load_out_of_bounds_names_units() -> None:
    def step(k: tg.Kernel, t: Tiles, kt: m.Expr) -> None:  # type: ignore[name-defined]
        step.line = _next_line()  # type: ignore[attr-defined]
        k.load_tile(t.As, "A", col=kt * K_STEP)  # elements where tiles are meant
        k.load_tile(t.Bs, "B", kt)
        k.sync()

    d = caught(gemm(step))
    assert d.rule == "shapes.global-bounds" and d.buffer == "A"
    assert d.loc.line == step.line  # type: ignore[attr-defined, union-attr]
    assert "A is 64 x 48" in d.message and "whole 64 x 16 tiles" in d.fix


def test_store_in_element_units_is_out_of_bounds() -> None:
    def store(k: tg.Kernel, t: Tiles) -> None:
        store.line = _next_line()  # type: ignore[attr-defined]
        k.store(t.acc, row=t.warp_row * REG, col=t.warp_col * REG, absolute=True)

    d = caught(gemm(store=store))
    assert d.rule == "shapes.global-bounds" and d.buffer == "C"
    assert d.loc.line == store.line and d.waves == (1,)  # type: ignore[attr-defined, union-attr]


def test_subtile_past_its_shared_tile() -> None:
    def step(k: tg.Kernel, t: Tiles, kt: m.Expr) -> None:  # type: ignore[name-defined]
        correct_step_loads(k, t, kt)
        step.line = _next_line()  # type: ignore[attr-defined]
        k.load(t.a, t.As, row=t.warp_row + 2)  # As holds 2 subtiles of 32 rows
        k.load(t.b, t.Bs, col=t.warp_col)
        k.mma(t.acc, t.a, t.b)
        k.sync()

    d = caught(gemm(step))
    assert d.rule == "shapes.subtile-bounds" and d.buffer == "As"
    assert d.loc.line == step.line and d.waves == (0,)  # type: ignore[attr-defined, union-attr]
    assert "subtile (2, 0)" in d.message and "offsets 0-1 x 0-0" in d.fix


def correct_step_loads(k: tg.Kernel, t: Tiles, kt: m.Expr) -> None:  # type: ignore[name-defined]
    k.load_tile(t.As, "A", kt)
    k.load_tile(t.Bs, "B", kt)
    k.sync()


def test_register_array_index_out_of_range() -> None:
    def step(k: tg.Kernel, t: Tiles, kt: m.Expr) -> None:  # type: ignore[name-defined]
        correct_step_loads(k, t, kt)
        k.load(t.a, t.As, row=t.warp_row)
        k.load(t.b, t.Bs, col=t.warp_col)
        step.line = _next_line()  # type: ignore[attr-defined]
        k.mma(acc_array[k.warp], t.a, t.b)
        k.sync()

    k = tg.Kernel("hazard", warps=4, block=(BLOCK, BLOCK), k_step=K_STEP)
    tiles = Tiles(
        k.shared("As", BLOCK, K_STEP), k.shared("Bs", K_STEP, BLOCK), k.accumulator("acc", REG, REG),
        k.register("a", REG, K_STEP), k.register("b", K_STEP, REG, layout="col"), *k.warp_grid(2, 2),
    )
    acc_array = k.accumulator("acc2", REG, REG, count=2)
    k.zero(acc_array)
    with k.k_loop() as kt:
        step(k, tiles, kt)
    d = caught(k.build())
    assert d.rule == "shapes.register-index" and d.waves == (2,)
    assert d.loc.line == step.line  # type: ignore[attr-defined, union-attr]
    assert "acc2[2]" in d.message and "indices 0-1" in d.message


def test_accumulator_read_before_zero() -> None:
    def step(k: tg.Kernel, t: Tiles, kt: m.Expr) -> None:  # type: ignore[name-defined]
        correct_step_loads(k, t, kt)
        k.load(t.a, t.As, row=t.warp_row)
        k.load(t.b, t.Bs, col=t.warp_col)
        step.line = _next_line()  # type: ignore[attr-defined]
        k.mma(t.acc, t.a, t.b)
        k.sync()

    d = caught(gemm(step, zero=False))
    assert d.rule == "registers.read-before-write" and "acc[0]" in d.message
    assert d.loc.line == step.line  # type: ignore[attr-defined, union-attr]


def test_pipeline_buffer_index_out_of_range() -> None:
    def step(k: tg.Kernel, t: Tiles, kt: m.Expr) -> None:  # type: ignore[name-defined]
        step.line = _next_line()  # type: ignore[attr-defined]
        k.load_tile(t.As[kt], "A", kt)  # kt instead of kt % 2
        k.load_tile(t.Bs[kt % 2], "B", kt)
        k.sync()
        k.load(t.a, t.As[kt % 2], row=t.warp_row)
        k.load(t.b, t.Bs[kt % 2], col=t.warp_col)
        k.mma(t.acc, t.a, t.b)
        k.sync()

    d = caught(gemm(step, buffers=2))
    assert d.rule == "shapes.buffer-index" and d.buffer == "As"
    assert d.loc.line == step.line and "is buffer 2" in d.message  # type: ignore[attr-defined, union-attr]


def test_mma_operand_shapes_must_fit() -> None:
    def step(k: tg.Kernel, t: Tiles, kt: m.Expr) -> None:  # type: ignore[name-defined]
        correct_step_loads(k, t, kt)
        k.load(t.a, t.As, row=t.warp_row)
        step.line = _next_line()  # type: ignore[attr-defined]
        k.mma(t.acc, t.a, t.a)  # a (32 x 16) where b (16 x 32) belongs
        k.sync()

    d = caught(gemm(step))
    assert d.rule == "shapes.mma-shape" and "should be 16 x N" in d.message
    assert d.loc.line == step.line  # type: ignore[attr-defined, union-attr]


def _async_step(wait: bool, sync_after_wait: bool) -> Callable[[tg.Kernel, Tiles, m.Expr], None]:  # type: ignore[name-defined]
    def step(k: tg.Kernel, t: Tiles, kt: m.Expr) -> None:  # type: ignore[name-defined]
        k.load_tile(t.As, "A", kt, is_async=True)
        k.load_tile(t.Bs, "B", kt, is_async=True)
        if wait:
            k.wait(0)
        if sync_after_wait:
            k.sync()
        step.line = _next_line()  # type: ignore[attr-defined]
        k.load(t.a, t.As, row=t.warp_row)
        k.load(t.b, t.Bs, col=t.warp_col)
        k.mma(t.acc, t.a, t.b)
        k.sync()

    return step


def test_async_load_waited_and_synced_is_clean() -> None:
    gen = torch.Generator().manual_seed(2)
    a, b = torch.randn((64, 48), generator=gen), torch.randn((48, 128), generator=gen)
    got = simulate(gemm(_async_step(wait=True, sync_after_wait=True)), a, b)
    assert torch.allclose(got.double(), a.bfloat16().double() @ b.bfloat16().double(), rtol=1e-5, atol=1e-4)


def test_reading_own_async_target_before_the_wait() -> None:
    step = _async_step(wait=False, sync_after_wait=True)
    d = caught(gemm(step))
    assert d.rule == "races.async-incomplete" and d.waves == (0,)
    assert d.loc.line == step.line and "is still writing it" in d.message  # type: ignore[attr-defined, union-attr]


def test_reading_another_waves_async_target_without_a_barrier_races() -> None:
    step = _async_step(wait=True, sync_after_wait=False)
    d = caught(gemm(step))
    assert d.rule == "races.shared-race" and "load_async" in d.message


def test_async_load_never_waited_for() -> None:
    def store(k: tg.Kernel, t: Tiles) -> None:
        k.store(t.acc, row=t.warp_row, col=t.warp_col)
        store.line = _next_line()  # type: ignore[attr-defined]
        k.load_tile(t.As, "A", 0, is_async=True)

    d = caught(gemm(store=store))
    assert d.rule == "races.async-incomplete" and "still in flight" in d.message
    assert d.loc.line == store.line  # type: ignore[attr-defined, union-attr]


def _staged(bug: str = "") -> tuple[m.Kernel, dict[str, int]]:
    """K loop of global -> stage registers -> shared; ``bug`` skips the wait or the stage load."""
    k = tg.Kernel("staged", warps=4, block=(BLOCK, BLOCK), k_step=K_STEP)
    As, Bs = k.shared("As", BLOCK, K_STEP), k.shared("Bs", K_STEP, BLOCK)
    a_stage = k.stage("a_next", As)
    acc, a = k.accumulator("acc", REG, REG), k.register("a", REG, K_STEP)
    b = k.register("b", K_STEP, REG, layout="col")
    warp_row, warp_col = k.warp_grid(2, 2)
    lines = {}
    k.zero(acc)
    with k.k_loop() as kt:
        if bug != "no-stage-load":
            k.stage_load(a_stage, "A", kt)
        k.load_tile(Bs, "B", kt)
        if bug != "no-wait":
            k.wait(0)
        lines["stage_store"] = _next_line()
        k.stage_store(As, a_stage)
        k.sync()
        k.load(a, As, row=warp_row)
        k.load(b, Bs, col=warp_col)
        k.mma(acc, a, b)
        k.sync()
    k.store(acc, row=warp_row, col=warp_col)
    return k.build(), lines


def test_staging_through_registers_is_clean() -> None:
    kernel, _ = _staged()
    gen = torch.Generator().manual_seed(3)
    a, b = torch.randn((128, 32), generator=gen), torch.randn((32, 64), generator=gen)
    got = simulate(kernel, a, b)
    assert torch.allclose(got.double(), a.bfloat16().double() @ b.bfloat16().double(), rtol=1e-5, atol=1e-4)


def test_stage_store_before_its_load_completes() -> None:
    kernel, lines = _staged("no-wait")
    d = caught(kernel)
    assert d.rule == "races.async-incomplete" and "has not completed" in d.message
    assert d.loc.line == lines["stage_store"]  # type: ignore[union-attr]


def test_stage_store_of_a_stage_never_loaded() -> None:
    kernel, lines = _staged("no-stage-load")
    d = caught(kernel)
    assert d.rule == "registers.read-before-write" and "never loaded" in d.message
    assert d.loc.line == lines["stage_store"]  # type: ignore[union-attr]


def test_c_element_written_twice_names_both_stores() -> None:
    def store(k: tg.Kernel, t: Tiles) -> None:
        store.line = _next_line()  # type: ignore[attr-defined]
        k.store(t.acc, row=0, col=t.warp_col)  # waves 0 and 2 both store tile row 0

    d = caught(gemm(store=store))
    assert d.rule == "shapes.store-coverage" and d.buffer == "C"
    assert d.loc.line == store.line and d.waves == (2,)  # type: ignore[attr-defined, union-attr]
    assert "already written by wave 0 of block 0" in d.message


def test_c_elements_never_written_name_their_tiles() -> None:
    def store(k: tg.Kernel, t: Tiles) -> None:
        with k.when(k.warp < 3):
            k.store(t.acc, row=t.warp_row, col=t.warp_col)

    with pytest.raises(SimulationError) as info:
        run(gemm(store=store), m_=128, n_=64)
    d = info.value.diagnostics[0]
    assert d.rule == "shapes.store-coverage"
    assert "2048 of 8192 elements of C are never written" in d.message
    assert "output tile (0, 0), block 0: 1024 elements, within rows 32-63, cols 32-63" in d.message
    assert "output tile (1, 0), block 1: 1024 elements, within rows 96-127, cols 32-63" in d.message


def test_register_of_another_role() -> None:
    k = tg.Kernel("roles", warps=4, block=(BLOCK, BLOCK), k_step=K_STEP)
    k.shared("As", BLOCK, K_STEP)
    k.role("producer", range(0, 2))
    consumer = k.role("consumer", range(2, 4))
    acc = k.accumulator("acc", REG, REG, scope=consumer)
    line = _next_line()
    k.zero(acc)  # at kernel level: the producer waves run it too
    d = caught(k.build())
    assert d.rule == "registers.scope" and d.loc.line == line and d.waves == (0,)
    assert "role `consumer` (warps 2-3)" in d.message


def test_undefined_variable_in_an_expression() -> None:
    kernel = gemm()
    body = kernel.body[0].body  # type: ignore[union-attr]
    zero = body[0]
    broken = zero.model_copy(update={"dst": zero.dst.model_copy(update={"index": Var(name="nope")})})
    kernel = kernel.model_copy(update={"body": [kernel.body[0].model_copy(update={"body": [broken, *body[1:]]})]})
    with pytest.raises(SimulationError) as info:
        run(kernel)
    d = info.value.diagnostics[0]
    assert d.rule == "structure.variables" and "`nope`" in d.message and d.loc == zero.loc


def test_one_bug_is_one_message_however_often_it_fires() -> None:
    """The uninitialised read fires on every wave; the report holds it once, with every wave."""

    def step(k: tg.Kernel, t: Tiles, kt: m.Expr) -> None:  # type: ignore[name-defined]
        k.load_tile(t.As, "A", kt)
        k.sync()
        k.load(t.a, t.As, row=t.warp_row)
        k.load(t.b, t.Bs, col=t.warp_col)
        k.mma(t.acc, t.a, t.b)
        k.sync()

    with pytest.raises(SimulationError) as info:
        run(gemm(step))
    assert [d.rule for d in info.value.diagnostics] == ["races.uninitialised-read"]
    assert info.value.diagnostics[0].waves == (0, 1, 2, 3)
    assert str(info.value).count("error[") == 1
