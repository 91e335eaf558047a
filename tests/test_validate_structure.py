"""Structure rules (they gate the others): roles, launch, the output-tile loop, variables, names."""

from __future__ import annotations

import pytest
from test_validate_schedules import VALID, baseline, producer_consumer

import tilegen as tg
from ir import models as m
from ir.diagnostics import Diagnostic, ScheduleError
from ir.expr import Var
from ir.targets import get_target
from ir.validate import diagnose
from ir.validate.context import ValidationContext
from ir.validate.rules import RULES, structure


def _errors(kernel: m.Kernel, rule: str, target: str = "gfx942") -> list[Diagnostic]:
    return [d for d in diagnose(kernel, target) if d.rule == rule and d.severity == "error"]


@pytest.mark.parametrize("name", sorted(VALID))
def test_gate_rules_accept_every_valid_schedule(name: str) -> None:
    ctx = ValidationContext(VALID[name](), get_target("gfx942"))
    for rule in RULES:
        if rule.gate:
            assert rule.check(ctx) == [], rule.name


def _with_roles(*roles: tuple[str, int, int], warps: int = 8) -> m.Kernel:
    k = tg.Kernel("roles", warps=warps, block=(128, 128), k_step=32)
    for name, first, count in roles:
        k.role(name, range(first, first + count))
    return k.build()


def test_roles_outside_the_block_are_rejected() -> None:
    errors = _errors(_with_roles(("consumer", 4, 8)), "structure.roles")
    assert len(errors) == 1
    assert "4-11" in errors[0].message and "only 8 warps" in errors[0].message
    assert "warps=12" in errors[0].fix


def test_overlapping_roles_are_rejected_with_the_shared_warps() -> None:
    errors = _errors(_with_roles(("producer", 0, 5), ("consumer", 4, 4)), "structure.roles")
    assert [e.waves for e in errors] == [(4,)]
    assert "`producer` and `consumer`" in errors[0].message


def test_disjoint_roles_with_unassigned_warps_are_accepted() -> None:
    assert _errors(_with_roles(("producer", 0, 2), ("consumer", 4, 4)), "structure.roles") == []


def test_a_register_scope_naming_no_role_is_rejected() -> None:
    kernel = baseline()
    bad = kernel.register_tile("a_reg").model_copy(update={"scope": "consumers"})
    kernel = kernel.model_copy(update={"registers": [bad if r.name == "a_reg" else r for r in kernel.registers]})
    (error,) = _errors(kernel, "structure.roles")
    assert "`consumers`" in error.message and error.loc == bad.loc


def test_a_branch_for_an_undeclared_role_is_rejected() -> None:
    kernel = producer_consumer()
    kernel = kernel.model_copy(update={"roles": [r for r in kernel.roles if r.name != "consumer"]})
    messages = [e.message for e in _errors(kernel, "structure.roles")]
    assert any("no role of that name" in text for text in messages)


def test_persistent_launch_needs_a_linear_grid() -> None:
    k = tg.Kernel("p", warps=4, block=(128, 128), k_step=32, persistent=4, grid="2d")
    (error,) = _errors(k.build(), "structure.launch")
    assert "linear grid" in error.message and error.loc is not None


def test_a_2d_grid_cannot_apply_a_tile_order_or_xcd_remap() -> None:
    k = tg.Kernel("g", warps=4, block=(128, 128), k_step=32, order=tg.grouped(4), xcd=tg.xcd_remap(), grid="2d")
    (error,) = _errors(k.build(), "structure.launch")
    assert "grouped" in error.message and "XCD remap" in error.message


def test_too_many_threads_for_the_target_are_rejected() -> None:
    k = tg.Kernel("big", warps=20, block=(128, 128), k_step=32)
    (error,) = _errors(k.build(), "structure.launch")
    assert "1280 threads" in error.message and "16 warps" in error.fix
    assert _errors(tg.Kernel("ok", warps=16, block=(128, 128), k_step=32).build(), "structure.launch") == []


def test_a_kernel_without_a_tile_loop_is_rejected() -> None:
    kernel = baseline().model_copy(update={"body": list(baseline().body[0].body)})
    (error,) = _errors(kernel, "structure.tile-loop")
    assert "no output-tile loop" in error.message


def test_a_tile_loop_inside_a_loop_is_rejected() -> None:
    k = tg.Kernel("nested", warps=4, block=(128, 128), k_step=32)
    with k.tiles(), k.loop(2, var="i"), k.tiles():
        pass
    errors = _errors(k.build(), "structure.tile-loop")
    assert any("inside a loop" in e.message for e in errors)


def test_a_warp_walking_the_tiles_twice_is_rejected() -> None:
    k = tg.Kernel("twice", warps=4, block=(128, 128), k_step=32)
    with k.tiles():
        pass
    with k.tiles():
        pass
    (error,) = _errors(k.build(), "structure.tile-loop")
    assert "second time" in error.message and error.waves == (0, 1, 2, 3)


def test_one_tile_loop_per_role_is_accepted() -> None:
    k = tg.Kernel("per_role", warps=8, block=(128, 128), k_step=32)
    producer, consumer = k.role("producer", range(0, 4)), k.role("consumer", range(4, 8))
    with producer, k.tiles():
        pass
    with consumer, k.tiles():
        pass
    assert _errors(k.build(), "structure.tile-loop") == []


def test_block_row_outside_the_tile_loop_is_rejected() -> None:
    k = tg.Kernel("outside", warps=4, block=(128, 128), k_step=32)
    As = k.shared("As", 128, 32)
    k.load_tile(As, "A", 0)  # before the tile loop: block_row is not set yet
    with k.tiles():
        k.sync()
    (error,) = _errors(k.build(), "structure.variables")
    assert "block_row" in error.message and "group<4>::load(As" in (error.op or "")
    assert error.loc is not None and error.loc.file.endswith("test_validate_structure.py")


def test_a_loop_variable_used_outside_its_loop_is_rejected() -> None:
    kernel = baseline()
    tiles = kernel.body[0]
    extra = m.Barrier(loc=tiles.loc)
    stray = m.Zero(dst=m.RegRef(tile="C_accum", index=Var(name="k")), loc=tiles.loc)
    kernel = kernel.model_copy(update={"body": [tiles.model_copy(update={"body": [*tiles.body, stray, extra]})]})
    (error,) = _errors(kernel, "structure.variables")
    assert "`k`" in error.message and error.op == "zero(C_accum[k])"


def test_undeclared_names_and_unindexed_arrays_are_rejected() -> None:
    kernel = baseline()
    tiles = kernel.body[0]
    loc = tiles.loc
    bad_ops = [
        m.Zero(dst=m.RegRef(tile="nowhere"), loc=loc),
        m.Zero(dst=m.RegRef(tile="C_accum"), loc=loc),  # an array of 4, no index
    ]
    kernel = kernel.model_copy(update={"body": [tiles.model_copy(update={"body": [*bad_ops, *tiles.body]})]})
    messages = sorted(e.message for e in _errors(kernel, "structure.references"))
    assert any("`nowhere` is not declared" in text for text in messages)
    assert any("array of 4" in text for text in messages)


def test_a_multi_buffered_tile_used_without_a_buffer_is_rejected() -> None:
    k = tg.Kernel("unbuffered", warps=4, block=(128, 128), k_step=32)
    As = k.shared("As", 128, 32, buffers=2)
    with k.k_loop() as kt:
        k.load_tile(As, "A", kt)
    (error,) = _errors(k.build(), "structure.references")
    assert "2 pipeline buffers" in error.message and "As[k % 2]" in error.fix


def test_gate_errors_stop_the_other_rules() -> None:
    k = tg.Kernel("gated", warps=4, block=(100, 128), k_step=32)  # block_m breaks shapes.block-dims too
    As = k.shared("As", 128, 32, buffers=2)
    k.load_tile(As, "A", 0, row=0, col=0)
    with pytest.raises(ScheduleError) as caught:
        tg.validate(k.build())
    assert caught.value.rules == {"structure.references"}


def test_a_runaway_loop_bound_is_reported_not_traced_forever() -> None:
    k = tg.Kernel("runaway", warps=1, block=(16, 16), k_step=16)
    with k.loop(10**9, var="i"):
        k.sync()
    with pytest.raises(ScheduleError) as caught:
        tg.validate(k.build())
    (error,) = caught.value.errors
    assert error.rule == "structure.traceable" and "loop bound" in error.message


def test_check_functions_are_the_registered_ones() -> None:
    registered = {rule.check for rule in RULES}
    for name in ("check_roles", "check_launch", "check_tile_loop", "check_variables", "check_references"):
        assert getattr(structure, name) in registered
