"""ir.plan: the decisions the emitted code embodies, made before validation and checked by it.

* uniform code / barrier kind: one notion (``splits_waves``) for the emitter and the validator,
  proven by ``barriers.aligned``;
* in-place epilogues: the emitter and the simulator both scale in place where the plan says so,
  proven by ``registers.scaled-in-place``;
* role chains, budgets, declarations: read by the emitter from the plan.
"""

from __future__ import annotations

import dataclasses

import torch
from test_emit_properties import barrier_kinds_kernel, store_then_reuse_kernel
from test_validate_schedules import baseline, producer_consumer

import tilegen as tg
from backends.hip.emitter import render
from backends.simulator.machine import BlockRun, Run
from ir import models as m
from ir.plan import plan, splits_waves
from ir.targets import get_target
from ir.validate import diagnose
from ir.validate.context import ValidationContext
from ir.validate.rules.barriers import check_aligned
from ir.validate.rules.registers import check_scaled_in_place


def _ops(kernel: m.Kernel, kind: type) -> list[m.Stmt]:
    return [op for op in m.walk(kernel.body) if isinstance(op, kind)]


def _with_plan(kernel: m.Kernel, **changes: object) -> ValidationContext:
    ctx = ValidationContext(kernel, get_target("gfx942"))
    ctx.__dict__["plan"] = dataclasses.replace(plan(kernel), **changes)  # a deliberately wrong plan
    return ctx


def test_splits_waves_is_role_branches_warp_conditions_and_warp_loops() -> None:
    kernel = barrier_kinds_kernel()
    loops = _ops(kernel, m.For)
    conds = _ops(kernel, m.If)
    assert any(splits_waves(op) for op in loops)  # k.loop(k.warp + 1)
    assert not any(splits_waves(op) for op in conds)  # k.when(num_k_tiles > 1): the same on every wave
    assert all(splits_waves(op) for op in _ops(producer_consumer(), m.RoleBranch))


def test_only_barriers_in_uniform_code_are_aligned_and_the_emitter_agrees() -> None:
    kernel = barrier_kinds_kernel()
    p = plan(kernel)
    barriers = _ops(kernel, m.Barrier)
    aligned = [b for b in barriers if p.aligned_barrier(b)]
    # the top-level k.sync() and the one in the K loop; not those under k.when or the warp loop
    assert aligned == [barriers[0], barriers[3]]
    source = render(kernel, "gfx942")
    assert source.count("__syncthreads();") == 2
    assert source.count("tg::barrier();") == len(barriers) - 2


def test_barriers_aligned_proves_the_plan() -> None:
    kernel = producer_consumer()
    assert not check_aligned(ValidationContext(kernel, get_target("gfx942")))
    # Barriers matched by count across roles are valid; a plan that wrongly called them aligned
    # (emitting __syncthreads() at two different places) is refused:
    k = tg.Kernel("role_sync", warps=2, block=(16, 16), k_step=16)
    first = k.role("first", range(0, 1))
    second = k.role("second", range(1, 2))
    with first:
        k.sync()
    with second:
        k.sync()
    role_sync = k.build()
    assert not [d for d in diagnose(role_sync) if d.rule == "barriers.aligned"]
    wrong = _with_plan(role_sync, uniform=frozenset(id(op) for op in m.walk(role_sync.body)))
    diagnostics = check_aligned(wrong)
    assert len(diagnostics) == 2
    assert all("__syncthreads()" in d.message and d.loc is not None for d in diagnostics)


def test_the_epilogue_scales_in_place_only_where_nothing_reads_the_tile_again() -> None:
    kernel = store_then_reuse_kernel()
    in_loop, final = _ops(kernel, m.Store)
    p = plan(kernel)
    assert id(in_loop) not in p.scale_in_place and id(final) in p.scale_in_place
    assert not check_scaled_in_place(ValidationContext(kernel, get_target("gfx942")))
    wrong = _with_plan(kernel, scale_in_place=frozenset({id(in_loop), id(final)}))
    diagnostics = check_scaled_in_place(wrong)
    assert diagnostics and "scaled it in place" in diagnostics[0].message
    assert diagnostics[0].buffer == "acc"


def _kernel_reading_after_its_store() -> m.Kernel:
    """The accumulator is stored, then copied to shared memory (read after the store)."""
    k = tg.Kernel("reread", warps=1, block=(16, 16), k_step=16)
    As = k.shared("As", 16, 16)
    Bs = k.shared("Bs", 16, 16)
    Cs = k.shared("Cs", 16, 16, dtype="f32")
    acc = k.accumulator("acc", 16, 16)
    a = k.register("a_reg", 16, 16)
    b = k.register("b_reg", 16, 16, layout="col")
    k.zero(acc)
    with k.k_loop() as kt:
        k.load_tile(As, "A", kt)
        k.load_tile(Bs, "B", kt)
        k.sync()
        k.load(a, As)
        k.load(b, Bs)
        k.mma(acc, a, b)
        k.sync()
    k.store(acc)
    k.store_shared(Cs, acc)
    return k.build()


def _shared_after(kernel: m.Kernel, forged: bool) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(16, 32, generator=generator)
    b = torch.randn(32, 16, generator=generator)
    run = Run(kernel, a.bfloat16().float(), b.bfloat16().float(), None, alpha=2.0, beta=0.0)
    if forged:
        run.plan = dataclasses.replace(run.plan, scale_in_place=frozenset(id(op) for op in _ops(kernel, m.Store)))
    block = BlockRun(run, 0)
    block.execute()
    return block.shared["Cs"][0], run.out


def test_the_simulator_scales_in_place_where_the_plan_says_so() -> None:
    kernel = _kernel_reading_after_its_store()
    assert not plan(kernel).scale_in_place  # the copy to shared memory reads it after the store
    plain, out = _shared_after(kernel, forged=False)
    scaled, out_forged = _shared_after(kernel, forged=True)
    assert torch.equal(out, out_forged)  # C is the same either way
    assert torch.allclose(scaled, 2.0 * plain)  # but a read after an in-place epilogue sees alpha * acc


def test_adjacent_branches_of_different_roles_are_chained() -> None:
    kernel = producer_consumer()
    p = plan(kernel)
    branches = _ops(kernel, m.RoleBranch)
    chained = [b for b in branches if id(b) in p.chained]
    # Twice the consumer branch directly follows the producer branch: at the tile's start and in
    # the K loop.
    assert [b.role for b in chained] == ["consumer", "consumer"]
    assert render(kernel, "gfx942").count("} else if (") == 2


def test_role_tiles_used_in_several_branches_are_declared_at_kernel_scope() -> None:
    kernel = producer_consumer()
    p = plan(kernel)
    assert set(p.hoisted) == {"C_accum", "a_reg", "b_reg"}
    assert all("branches" in why for why in p.hoisted.values())
    assert not p.declared_in_branch
    assert not plan(baseline()).hoisted
