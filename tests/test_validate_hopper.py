"""The Hopper rules (ir/validate/rules/mbarriers.py): the example's schedule is valid, and each
hazard planted into it is reported by its rule, with the op, the wave and the line."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import tilegen as tg
from ir.diagnostics import ScheduleError

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
import hopper_tma_wgmma


def schedule(
    *,
    producer_parity: int = 1,
    consumer_parity: int = 0,
    empty_arrivals: int = 8,
    expect_extra: int = 0,
    full_wait: bool = True,
    empty_wait: bool = True,
    release_first: bool = False,
    consumers_from: int = 4,
    fence: bool = True,
    stray_store: bool = False,
) -> tg.KernelIR:
    """The example's schedule (small: 2 stages), with knobs that plant one hazard each."""
    stages = 2
    k = tg.Kernel("hop", warps=12, block=(128, 128), k_step=64, c_dtype="bf16", order=tg.grouped(2), persistent=2)
    As = k.shared("As", 128, 64, buffers=stages, layout="tma")
    Bs = k.shared("Bs", 64, 128, buffers=stages, layout="tma")
    full = k.mbarrier("full", arrivals=1, count=stages)
    empty = k.mbarrier("empty", arrivals=empty_arrivals, count=stages)
    producer = k.role("producer", range(0, consumers_from), max_registers=40 if consumers_from % 4 == 0 else None)
    consumers = k.role("consumer", range(consumers_from, 12))
    with producer, k.tiles(), k.one_thread(), k.k_loop() as kt:
        step = k.k_done + kt
        if empty_wait:
            k.wait_barrier(empty[step % stages], (step // stages + producer_parity) % 2)
        k.arrive(full[step % stages], expect_bytes=k.tile_bytes(As, Bs) + expect_extra)
        k.tma_load(As[step % stages], "A", kt, barrier=full[step % stages])
        k.tma_load(Bs[step % stages], "B", kt, barrier=full[step % stages])
    with consumers:
        acc = k.accumulator("acc", 16, 128)
        with k.tiles():
            k.zero(acc)
            with k.k_loop() as kt:
                step = k.k_done + kt
                if full_wait:
                    k.wait_barrier(full[step % stages], (step // stages + consumer_parity) % 2)
                if stray_store:
                    k.store_shared(As[step % stages], acc, row=consumers.warp % 8)
                    if fence:
                        k.proxy_fence()
                k.wgmma(acc, As[step % stages], Bs[step % stages], a_slice=(k.warp // 4) - 1)
                if release_first:
                    k.arrive(empty[step % stages])
                k.wgmma_wait(acc, 0)
                if not release_first:
                    k.arrive(empty[step % stages])
            k.store(acc, row=k.warp - 4)
    return k.build()


def rules_of(kernel: tg.KernelIR, target: str = "sm_90a") -> set[str]:
    try:
        tg.validate(kernel, target=target)
    except ScheduleError as error:
        return set(error.rules)
    return set()


def test_the_example_is_valid_in_both_layouts_and_dtypes() -> None:
    for kwargs in ({}, {"b_layout": "nk", "c_dtype": "f32"}, {"stages": 2, "block_n": 128}):
        tg.validate(hopper_tma_wgmma.kernel(**kwargs), target="sm_90a")
    tg.validate(schedule(), target="sm_90a")


@pytest.mark.parametrize(
    ("knobs", "rule"),
    [
        ({"producer_parity": 0}, "mbarrier.hang"),  # the producer's first wait on a fresh empty barrier
        ({"consumer_parity": 1}, "mbarrier.read-before-wait"),  # passes at once, before the load
        ({"empty_arrivals": 9}, "mbarrier.hang"),  # one arrival per consumer wave is 8
        ({"expect_extra": 512}, "mbarrier.expect-bytes"),
        ({"expect_extra": -512}, "mbarrier.expect-bytes"),
        ({"full_wait": False}, "mbarrier.read-before-wait"),
        ({"empty_wait": False}, "mbarrier.refill-before-release"),
        ({"release_first": True}, "mbarrier.release-before-complete"),
        ({"consumers_from": 6, "empty_arrivals": 6}, "hopper.warpgroup"),
    ],
)
def test_each_hazard_is_reported_by_its_rule(knobs: dict, rule: str) -> None:
    assert rule in rules_of(schedule(**knobs))


def test_a_hazard_names_the_op_the_wave_and_the_line() -> None:
    with pytest.raises(ScheduleError) as raised:
        tg.validate(schedule(full_wait=False), target="sm_90a")
    found = [d for d in raised.value.diagnostics if d.rule == "mbarrier.read-before-wait"]
    assert found
    diagnostic = found[0]
    assert diagnostic.loc is not None and diagnostic.loc.file.endswith("test_validate_hopper.py")
    assert "wgmma" in (diagnostic.op or "") and diagnostic.waves
    assert "full" in diagnostic.message and diagnostic.fix


def test_ordinary_writes_need_the_proxy_fence() -> None:
    assert "hopper.proxy-fence" in rules_of(schedule(stray_store=True, fence=False))
    assert "hopper.proxy-fence" not in rules_of(schedule(stray_store=True, fence=True))


def test_hopper_ops_are_refused_off_sm_90a() -> None:
    assert "hopper.target" in rules_of(schedule(), target="gfx942")
    assert "hopper.target" in rules_of(schedule(), target="sm_80")


def test_the_tma_store_epilogue_is_checked() -> None:
    kernel = hopper_tma_wgmma.kernel(stages=2, block_n=128)
    tg.validate(kernel, target="sm_90a")
    # its staging tile must be C's dtype and 64 rows
    wrong = [t.model_copy(update={"dtype": "f32"}) if t.name == "Cs" else t for t in kernel.shared]
    assert "hopper.operands" in rules_of(kernel.model_copy(update={"shared": wrong}))
    short = [t.model_copy(update={"rows": 32}) if t.name == "Cs" else t for t in kernel.shared]
    assert "hopper.operands" in rules_of(kernel.model_copy(update={"shared": short}))


def test_operands_need_the_tma_layout() -> None:
    kernel = schedule()
    plain = [t.model_copy(update={"layout": "kittens"}) for t in kernel.shared]
    assert "hopper.operands" in rules_of(kernel.model_copy(update={"shared": plain}))


def test_the_launch_spec_carries_one_tensor_map_per_tma_tile() -> None:
    """tilegen.compile's launcher packs the CUtensorMaps where the emitted globals struct has them."""
    from backends.hip.launch import launch_spec

    spec = launch_spec(hopper_tma_wgmma.kernel(), "sm_90a")
    maps = {p.name: p for p in spec.params if p.kind == "tensor_map"}
    assert list(maps) == ["tma_As", "tma_Bs", "tma_Cs"]
    assert (maps["tma_As"].operand, maps["tma_As"].box) == ("a", (128, 64))
    assert (maps["tma_Bs"].operand, maps["tma_Bs"].box) == ("b", (64, 64))
    assert (maps["tma_Cs"].operand, maps["tma_Cs"].box) == ("c", (64, 64))
    assert all(p.offset % 64 == 0 and p.swizzle == 128 for p in maps.values())
    assert "static_assert(offsetof(hopper_tma_wgmma_globals, tma_Cs) == 384" in spec.static_asserts()
