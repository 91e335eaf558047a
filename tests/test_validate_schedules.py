"""Schedules the validator tests share: valid ones, and each user bug as a small variant.

Every builder returns an ``ir.Kernel``; ``bug=...`` selects a broken variant. The tests at the
bottom check the library itself: every valid schedule validates, and every bug is rejected by the
rule it is meant to exercise (the per-family test files check the messages in detail).
"""

from __future__ import annotations

from typing import Optional

import pytest

import tilegen as tg
from ir import models as m
from ir.diagnostics import ScheduleError
from ir.validate import diagnose

# --------------------------------------------------------------------------------------------
# 4 waves, one 128 x 128 tile, k01 style, with a switch per classic bug
# --------------------------------------------------------------------------------------------


def baseline(
    bug: Optional[str] = None,
    *,
    block: int = 128,
    k_step: int = 32,
    persistent: Optional[int] = None,
    order: Optional[m.TileOrder] = None,
    b_layout: str = "kn",
) -> m.Kernel:
    """Kernel 01: each of 4 waves holds 2 x 2 accumulators of (block/4)^2, interleaved.

    Bugs: "zero-count" (C_accum[2] zeroed with i < 4), "store-elements" (store offsets in
    elements), "store-twice" (two waves store the same tile), "store-missing" (one accumulator
    never stored), "subtile-past" (a subtile offset past the shared tile), "no-sync" (no barrier
    between the loads and the reads), "no-trailing-sync" (the next K step's load overwrites what
    other waves read), "no-zero" (accumulators never zeroed), "read-ahead" (loads K step kt + 1),
    "skip-k" (the K loop starts at 1), "transposed-b" (Bs declared N x K)."""
    reg = block // 4
    k = tg.Kernel(
        "baseline", warps=4, block=(block, block), k_step=k_step, persistent=persistent, order=order,
        b_layout=b_layout,  # type: ignore[arg-type]
    )
    As = k.shared("As", block, k_step)
    Bs = k.shared("Bs", block, k_step) if (b_layout == "nk") != (bug == "transposed-b") else k.shared(
        "Bs", k_step, block
    )
    acc = k.accumulator("C_accum", reg, reg, count=2 if bug == "zero-count" else 4)
    a = k.register("a_reg", reg, k_step, count=2)
    b_layout_reg = "row" if b_layout == "nk" else "col"
    b = (
        k.register("b_reg", reg, k_step, count=2)
        if b_layout == "nk"
        else k.register("b_reg", k_step, reg, layout=b_layout_reg, count=2)  # type: ignore[arg-type]
    )
    warp_row, warp_col = k.warp_grid(2, 2)
    with k.tiles():
        if bug == "zero-count":
            with k.loop(4, var="i") as i:
                k.zero(acc[i])
        elif bug != "no-zero":
            k.zero(acc)
        with k.k_loop(1 if bug == "skip-k" else 0) as kt:
            step = kt + 1 if bug == "read-ahead" else kt
            k.load_tile(As, "A", step)
            if bug == "transposed-b":  # explicit coordinates: the builder cannot derive them for this shape
                k.load_tile(Bs, "B", row=step, col=k.block_col)
            else:
                k.load_tile(Bs, "B", step)
            if bug != "no-sync":
                k.sync()
            for i in range(2):
                k.load(a[i], As, row=warp_row + (4 if bug == "subtile-past" and i == 1 else 2 * i))
                if b_layout == "nk":
                    k.load(b[i], Bs, row=warp_col + 2 * i)
                else:
                    k.load(b[i], Bs, col=warp_col + 2 * i)
            for i in range(2):
                for j in range(2):
                    k.mma(acc[(2 * i + j) % len(acc)], a[i], b[j])
            if bug != "no-trailing-sync":
                k.sync()
        for i in range(2):
            for j in range(2):
                if bug == "store-missing" and (i, j) == (1, 1):
                    continue
                row, col = warp_row + 2 * i, warp_col + 2 * j
                if bug == "store-elements":
                    row, col = row * reg, col * reg
                if bug == "store-twice":
                    row, col = 2 * i, 2 * j
                k.store(acc[(2 * i + j) % len(acc)], row=row, col=col)
    return k.build()


# --------------------------------------------------------------------------------------------
# Producer / consumer (reference kernel 02, fixed), double-buffered
# --------------------------------------------------------------------------------------------


def producer_consumer(bug: Optional[str] = None) -> m.Kernel:
    """4 producer waves load double-buffered tiles while 4 consumer waves compute.

    Bugs: "warp0-load" (the group<4> loads run under ``warp == 0``: reference kernel 02),
    "sync-in-role" (the K loop's barrier inside the consumer branch), "kernel-scope-regs"
    (consumer tiles declared at kernel scope), "wrong-buffer" (the producer refills the buffer
    the consumers are reading), "role-tile-outside" (a consumer tile zeroed outside its role)."""
    k = tg.Kernel("producer_consumer", warps=8, block=(128, 128), k_step=32)
    As = k.shared("As", 128, 32, buffers=2)
    Bs = k.shared("Bs", 32, 128, buffers=2)
    producer = k.role("producer", range(0, 4))
    consumer = k.role("consumer", range(4, 8))
    scope = None if bug == "kernel-scope-regs" else consumer
    acc = k.accumulator("C_accum", 32, 32, count=4, scope=scope)
    a = k.register("a_reg", 32, 32, count=2, scope=scope)
    b = k.register("b_reg", 32, 32, layout="col", count=2, scope=scope)
    warp_row, warp_col = k.warp_grid(2, 2, role=consumer)

    def load(buffer: tg.builder.ExprLike, step: tg.builder.ExprLike) -> None:
        if bug == "warp0-load":
            with k.when(k.warp.eq(0)):
                k.load_tile(As[buffer], "A", step)
                k.load_tile(Bs[buffer], "B", step)
        else:
            k.load_tile(As[buffer], "A", step)
            k.load_tile(Bs[buffer], "B", step)

    with k.tiles():
        with producer:
            load(0, 0)
        if bug == "role-tile-outside":
            k.zero(acc)
        else:
            with consumer:
                k.zero(acc)
        k.sync()
        with k.k_loop() as kt:
            with producer, k.when(kt + 1 < k.num_k_tiles):
                load(kt % 2 if bug == "wrong-buffer" else (kt + 1) % 2, kt + 1)
            with consumer:
                for i in range(2):
                    k.load(a[i], As[kt % 2], row=warp_row + 2 * i)
                    k.load(b[i], Bs[kt % 2], col=warp_col + 2 * i)
                for i in range(2):
                    for j in range(2):
                        k.mma(acc[2 * i + j], a[i], b[j])
                if bug == "sync-in-role":
                    k.sync()
            if bug != "sync-in-role":
                k.sync()
        with consumer:
            for i in range(2):
                for j in range(2):
                    k.store(acc[2 * i + j], row=warp_row + 2 * i, col=warp_col + 2 * j)
    return k.build()


# --------------------------------------------------------------------------------------------
# 8 waves in two halves with staggered barriers (ping-pong style)
# --------------------------------------------------------------------------------------------


def staggered(bug: Optional[str] = None) -> m.Kernel:
    """Each half of 8 waves computes half the block rows from its own shared tiles; the first
    half syncs once more before the K loop, the second half once more after it (valid: barriers
    match by count). Bug "drop-late-sync": the second half drops its extra barrier."""
    k = tg.Kernel("staggered", warps=8, block=(128, 128), k_step=32)
    As = k.shared("As", 64, 32, buffers=2)  # buffer h: rows of half h
    Bs = k.shared("Bs", 32, 128, buffers=2)  # buffer h: half h's copy
    acc = k.accumulator("C_accum", 32, 32, count=2)
    a = k.register("a_reg", 32, 32)
    b = k.register("b_reg", 32, 32, layout="col", count=2)
    half = k.warp // 4
    local = k.warp % 4
    warp_row, warp_col = local // 2, local % 2
    with k.tiles():
        k.zero(acc)
        with k.when(k.warp < 4):
            k.sync()
        with k.k_loop() as kt:
            k.load_tile(As[half], "A", kt, part=(half, 0), group=4)
            k.load_tile(Bs[half], "B", kt, group=4)
            k.sync()
            k.load(a, As[half], row=warp_row)
            for j in range(2):
                k.load(b[j], Bs[half], col=2 * warp_col + j)
                k.mma(acc[j], a, b[j])
            k.sync()
        if bug != "drop-late-sync":
            with k.when(k.warp >= 4):
                k.sync()
        for j in range(2):
            k.store(acc[j], row=2 * half + warp_row, col=2 * warp_col + j)
    return k.build()


# --------------------------------------------------------------------------------------------
# Asynchronous loads and register staging
# --------------------------------------------------------------------------------------------


def _compute_128(k: tg.Kernel, acc: tg.builder.RegisterTile, a: tg.builder.RegisterTile,
                 b: tg.builder.RegisterTile, As: tg.builder.SharedLike, Bs: tg.builder.SharedLike) -> None:
    warp_row, warp_col = k.warp_grid(2, 2)
    for i in range(2):
        k.load(a[i], As, row=warp_row + 2 * i)
        k.load(b[i], Bs, col=warp_col + 2 * i)
    for i in range(2):
        for j in range(2):
            k.mma(acc[2 * i + j], a[i], b[j])


def _store_128(k: tg.Kernel, acc: tg.builder.RegisterTile) -> None:
    warp_row, warp_col = k.warp_grid(2, 2)
    for i in range(2):
        for j in range(2):
            k.store(acc[2 * i + j], row=warp_row + 2 * i, col=warp_col + 2 * j)


def async_pipeline(bug: Optional[str] = None) -> m.Kernel:
    """4 waves, double-buffered asynchronous loads one K step ahead.

    Bugs: "no-wait" (the loads are never waited for), "wait-after-read" (each step waits for its
    loads only after reading them: the prologue's loads are read in flight)."""
    k = tg.Kernel("async_pipeline", warps=4, block=(128, 128), k_step=32)
    As = k.shared("As", 128, 32, buffers=2)
    Bs = k.shared("Bs", 32, 128, buffers=2)
    acc = k.accumulator("C_accum", 32, 32, count=4)
    a = k.register("a_reg", 32, 32, count=2)
    b = k.register("b_reg", 32, 32, layout="col", count=2)
    with k.tiles():
        k.zero(acc)
        k.load_tile(As[0], "A", 0, is_async=True)
        k.load_tile(Bs[0], "B", 0, is_async=True)
        with k.k_loop() as kt:
            with k.when(kt + 1 < k.num_k_tiles):
                k.load_tile(As[(kt + 1) % 2], "A", kt + 1, is_async=True)
                k.load_tile(Bs[(kt + 1) % 2], "B", kt + 1, is_async=True)
                if bug is None:
                    k.wait(2)  # this step's two loads done; the next step's two still in flight
            if bug is None:
                with k.otherwise():
                    k.wait(0)
            k.sync()
            _compute_128(k, acc, a, b, As[kt % 2], Bs[kt % 2])
            if bug == "wait-after-read":
                k.wait(0)
            k.sync()
        _store_128(k, acc)
    return k.build()


def staged(bug: Optional[str] = None) -> m.Kernel:
    """4 waves, global -> registers -> shared staging of the next K step (reference kernel 06's
    idea), single-buffered shared tiles. Bug "store-before-wait": the stage store does not wait
    for its stage load."""
    k = tg.Kernel("staged", warps=4, block=(128, 128), k_step=32)
    As = k.shared("As", 128, 32)
    Bs = k.shared("Bs", 32, 128)
    sa = k.stage("a_stage", As)
    sb = k.stage("b_stage", Bs)
    acc = k.accumulator("C_accum", 32, 32, count=4)
    a = k.register("a_reg", 32, 32, count=2)
    b = k.register("b_reg", 32, 32, layout="col", count=2)
    with k.tiles():
        k.zero(acc)
        k.stage_load(sa, "A", 0)
        k.stage_load(sb, "B", 0)
        k.wait()
        k.stage_store(As, sa)
        k.stage_store(Bs, sb)
        k.sync()
        with k.k_loop() as kt:
            with k.when(kt + 1 < k.num_k_tiles):
                k.stage_load(sa, "A", kt + 1)
                k.stage_load(sb, "B", kt + 1)
            _compute_128(k, acc, a, b, As, Bs)
            k.sync()
            with k.when(kt + 1 < k.num_k_tiles):
                if bug != "store-before-wait":
                    k.wait()
                k.stage_store(As, sa)
                k.stage_store(Bs, sb)
            k.sync()
        _store_128(k, acc)
    return k.build()


def shared_epilogue(bug: Optional[str] = None) -> m.Kernel:
    """k01 whose accumulators go through a shared f32 tile and one group store. Bug
    "no-sync-before-group-store": the group store reads the tile other waves are still writing."""
    k = tg.Kernel("shared_epilogue", warps=4, block=(64, 64), k_step=32)
    As = k.shared("As", 64, 32)
    Bs = k.shared("Bs", 32, 64)
    Cs = k.shared("Cs", 64, 64, dtype="f32")
    acc = k.accumulator("C_accum", 32, 32)
    a = k.register("a_reg", 32, 32)
    b = k.register("b_reg", 32, 32, layout="col")
    warp_row, warp_col = k.warp_grid(2, 2)
    with k.tiles():
        k.zero(acc)
        with k.k_loop() as kt:
            k.load_tile(As, "A", kt)
            k.load_tile(Bs, "B", kt)
            k.sync()
            k.load(a, As, row=warp_row)
            k.load(b, Bs, col=warp_col)
            k.mma(acc, a, b)
            k.sync()
        k.store_shared(Cs, acc, row=warp_row, col=warp_col)
        if bug != "no-sync-before-group-store":
            k.sync()
        k.store_tile(Cs)
    return k.build()


def big_shared(buffers: int = 3, block: int = 256, k_step: int = 64) -> m.Kernel:
    """A 256 x 256 block with a 3-deep pipeline of 256 x 64 tiles: 192 KiB of shared memory, over
    gfx942's 64 KiB; valid on sm_90a (227 KiB) as far as shared memory goes."""
    k = tg.Kernel("big_shared", warps=4, block=(block, block), k_step=k_step)
    k.shared("As", block, k_step, buffers=buffers)
    k.shared("Bs", k_step, block, buffers=buffers)
    return k.build()


VALID = {
    "baseline": baseline,
    "baseline_nk": lambda: baseline(b_layout="nk"),
    "baseline_persistent_grouped": lambda: baseline(persistent=2, order=tg.grouped(2)),
    "producer_consumer": producer_consumer,
    "staggered": staggered,
    "async_pipeline": async_pipeline,
    "staged": staged,
    "shared_epilogue": shared_epilogue,
}

#: (schedule, the rule that must reject it)
BUGS = {
    "zero-count": (lambda: baseline("zero-count"), "shapes.register-index"),
    "store-elements": (lambda: baseline("store-elements"), "shapes.global-bounds"),
    "store-twice": (lambda: baseline("store-twice"), "shapes.store-coverage"),
    "store-missing": (lambda: baseline("store-missing"), "shapes.store-coverage"),
    "subtile-past": (lambda: baseline("subtile-past"), "shapes.subtile-bounds"),
    "no-sync": (lambda: baseline("no-sync"), "races.shared-race"),
    "no-trailing-sync": (lambda: baseline("no-trailing-sync"), "races.shared-race"),
    "no-zero": (lambda: baseline("no-zero"), "registers.read-before-write"),
    "read-ahead": (lambda: baseline("read-ahead"), "shapes.global-bounds"),
    "skip-k": (lambda: baseline("skip-k"), "runtime-shapes.k-coverage"),
    "transposed-b": (lambda: baseline("transposed-b"), "shapes.operand-tile"),
    "warp0-load": (lambda: producer_consumer("warp0-load"), "collectives.incomplete-group"),
    "sync-in-role": (lambda: producer_consumer("sync-in-role"), "barriers.divergent"),
    "wrong-buffer": (lambda: producer_consumer("wrong-buffer"), "races.buffer-overwrite"),
    "role-tile-outside": (lambda: producer_consumer("role-tile-outside"), "registers.scope"),
    "drop-late-sync": (lambda: staggered("drop-late-sync"), "barriers.divergent"),
    "no-wait": (lambda: async_pipeline("no-wait"), "races.async-incomplete"),
    "wait-after-read": (lambda: async_pipeline("wait-after-read"), "races.async-incomplete"),
    "store-before-wait": (lambda: staged("store-before-wait"), "races.async-incomplete"),
    "no-sync-before-group-store": (lambda: shared_epilogue("no-sync-before-group-store"), "races.shared-race"),
    "lds-over": (big_shared, "shared-memory.capacity"),
}


@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_schedules_validate_without_errors(name: str) -> None:
    report = tg.validate(VALID[name]())
    assert report.errors == []


@pytest.mark.parametrize("name", sorted(BUGS))
def test_each_bug_is_rejected_by_its_rule(name: str) -> None:
    build, rule = BUGS[name]
    with pytest.raises(ScheduleError) as caught:
        tg.validate(build())
    assert rule in caught.value.rules, str(caught.value)


@pytest.mark.parametrize("name", sorted(BUGS))
def test_every_error_names_a_line_and_a_fix(name: str) -> None:
    build, _ = BUGS[name]
    for diagnostic in diagnose(build()):
        assert diagnostic.loc is not None and diagnostic.loc.line > 0
        assert diagnostic.fix
        assert diagnostic.message
