"""The builder derives coordinates so schedules need no index arithmetic in the common case."""

from __future__ import annotations

import pytest

import tilegen as tg
from ir import models as m
from ir.expr import evaluate


def _ops(kernel: m.Kernel, kind: type) -> list:
    return [op for op in m.walk(kernel.body) if isinstance(op, kind)]


@pytest.mark.parametrize("b_layout", ["kn", "nk"])
def test_load_tile_coordinates_are_in_units_of_the_moved_tile(b_layout: str) -> None:
    k = tg.Kernel("t", warps=4, block=(128, 64), k_step=32, b_layout=b_layout)
    As = k.shared("As", 64, 32)  # half of the block's A panel
    Bs = k.shared("Bs", 32, 64) if b_layout == "kn" else k.shared("Bs", 64, 32)
    with k.k_loop() as kt:
        k.load_tile(As, "A", kt, part=(1, 0))
        k.load_tile(Bs, "B", kt)
    a_load, b_load = _ops(k.build(), m.GroupLoad)
    env = {"block_row": 3, "block_col": 5, "k": 7}
    # A tile (64 x 32): block row 3 of 128 rows = tile row 6, plus part 1; K step 7 of 32 = col 7.
    assert (evaluate(a_load.row, env), evaluate(a_load.col, env)) == (7, 7)
    expected_b = (7, 5) if b_layout == "kn" else (5, 7)
    assert (evaluate(b_load.row, env), evaluate(b_load.col, env)) == expected_b


def test_store_adds_the_block_offset_in_register_tile_units() -> None:
    k = tg.Kernel("t", warps=4, block=(128, 128), k_step=32)
    acc = k.accumulator("acc", 32, 32)
    k.zero(acc)
    k.store(acc, row=1, col=2)
    (store,) = _ops(k.build(), m.Store)
    assert evaluate(store.row, {"block_row": 2, "block_col": 3}) == 2 * 4 + 1
    assert evaluate(store.col, {"block_row": 2, "block_col": 3}) == 3 * 4 + 2


def test_warp_grid_matches_row_major_warp_arrangement() -> None:
    k = tg.Kernel("t", warps=8, block=(128, 128), k_step=32)
    consumers = k.role("consumers", range(4, 8))
    row, col = k.warp_grid(2, 2, role=consumers)
    assert [(evaluate(row, {"warp": w}), evaluate(col, {"warp": w})) for w in range(4, 8)] == [
        (0, 0),
        (0, 1),
        (1, 0),
        (1, 1),
    ]


def test_registers_declared_inside_a_role_belong_to_it() -> None:
    k = tg.Kernel("t", warps=8, block=(64, 64), k_step=32)
    consumers = k.role("consumers", range(4, 8))
    outside = k.register("outside", 16, 16)
    with consumers:
        inside = k.register("inside", 16, 16)
    kernel = k.build()
    assert kernel.register_tile(outside.name).scope == "kernel"
    assert kernel.register_tile(inside.name).scope == "consumers"


def test_group_size_defaults_to_the_running_role() -> None:
    k = tg.Kernel("t", warps=8, block=(64, 64), k_step=32)
    As = k.shared("As", 64, 32)
    producers = k.role("producers", range(0, 4))
    with producers:
        k.load_tile(As, "A", 0)
    k.load_tile(As, "A", 0)
    in_role, whole_block = _ops(k.build(), m.GroupLoad)
    assert (in_role.group_size, whole_block.group_size) == (4, 8)


def test_otherwise_attaches_to_the_preceding_when() -> None:
    k = tg.Kernel("t", warps=4, block=(64, 64), k_step=32)
    with k.when(k.warp.eq(0)):
        k.sync()
    with k.otherwise():
        k.sync()
    (branch,) = _ops(k.build(), m.If)
    assert len(branch.then) == 1 and len(branch.orelse) == 1


def test_misuse_is_reported_at_build_time() -> None:
    k = tg.Kernel("t", warps=4, block=(128, 128), k_step=32)
    with pytest.raises(tg.BuildError, match="does not divide"):
        k.load_tile(k.shared("As", 48, 32), "A", 0)
    with pytest.raises(tg.BuildError, match="needs 6 warps"):
        k.warp_grid(2, 3)
    acc = k.accumulator("acc", 32, 32, count=2)
    with pytest.raises(tg.BuildError, match="index it"):
        k.store(acc)
    with pytest.raises(tg.BuildError, match="directly follow"):
        with k.otherwise():
            pass
    with pytest.raises(TypeError, match="no Python truth value"):
        if k.warp < 2:
            pass
    with pytest.raises(tg.BuildError, match="already used"), k.loop(2, var="i"), k.loop(2, var="i"):
        pass


def test_source_lines_point_at_the_user_code() -> None:
    k = tg.Kernel("t", warps=4, block=(64, 64), k_step=32)
    k.sync()
    line = test_source_lines_point_at_the_user_code.__code__.co_firstlineno + 2
    (barrier,) = _ops(k.build(), m.Barrier)
    assert barrier.loc.line == line
    assert barrier.loc.file.endswith("test_builder.py")


def test_persistent_or_reordered_launch_uses_a_linear_grid() -> None:
    assert tg.Kernel("t", warps=4, block=(64, 64), k_step=32).launch.grid == "2d"
    assert tg.Kernel("t", warps=4, block=(64, 64), k_step=32, order=tg.grouped(4)).launch.grid == "linear"
    assert tg.Kernel("t", warps=4, block=(64, 64), k_step=32, persistent=8).launch.grid == "linear"
