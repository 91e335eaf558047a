"""Blocks of Hopper schedules (mbarriers, TMA, wgmma) in the simulator.

Such a block has no barrier phases to run wave by wave: its waves meet at mbarrier phases. The
waves run together, each until it waits on a phase that has not completed (or on a block barrier
not every wave has reached), round-robin until none can move:

* a TMA load reads its global tile at issue; the tile lands in shared memory when the barrier
  phase it signs in on completes (its arrivals are in and the announced bytes have all come);
* a wgmma is pending from issue to the ``WgmmaWait`` that completes its group: it multiplies the
  shared operands as they are then (so a stage refilled meanwhile gives wrong numbers, and is
  reported), and its accumulator may not be touched in between;
* a wait on a phase that never completes is a hang, reported with the barrier's state.

Ordinary ops (zero, store, ...) run through the block's usual handlers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional

import torch

from backends.simulator.render import env_text
from ir import models as m
from ir.semantics import tile_bytes
from ir.trace import Event
from ir.validate.describe import bar_text

if TYPE_CHECKING:
    from backends.simulator.machine import BlockRun, _Wave

_BufferKey = tuple[str, int]


@dataclass
class _Phase:
    count: int
    completed: int = 0
    arrivals: int = 0
    expected: int = 0
    landed: int = 0
    loads: list[tuple[_BufferKey, torch.Tensor]] = field(default_factory=list)


@dataclass
class _Group:
    event: Event
    d: tuple[m.RegisterTile, int]
    operands: tuple[_BufferKey, _BufferKey]
    versions: tuple[int, int]
    a_row: int


class MbarrierBlock:
    def __init__(self, block: BlockRun):
        self.block = block
        self.kernel = block.kernel
        self.bars: dict[tuple[str, int], _Phase] = {}
        self.version: dict[_BufferKey, int] = {}
        self.loading: dict[_BufferKey, Event] = {}  # buffers with a TMA load not landed yet
        self.groups: dict[int, list[_Group]] = {w.warp: [] for w in block.waves}
        self.barriers_reached: dict[int, int] = {w.warp: 0 for w in block.waves}
        #: Where each buffer's data came from: the (barrier, phase) its TMA load completed.
        self.landed_by: dict[_BufferKey, tuple[tuple[str, int], int]] = {}
        #: Per wave: the phases of each barrier it has waited for (it sees what they completed).
        self.acquired: dict[int, dict[tuple[str, int], int]] = {w.warp: {} for w in block.waves}

    # -- references -----------------------------------------------------------------------------
    def bar(self, wave: _Wave, event: Event, ref: m.BarRef) -> tuple[str, int]:
        ring = self.kernel.mbarrier(ref.barrier)
        index = 0 if ref.index is None else self.block._value(wave, event, ref.index)
        if not 0 <= index < ring.count:
            self.block._fail("shapes.buffer-index", wave, event,
                             f"{bar_text(ref)} is {ring.name}[{index}] ({env_text(event.env)}), but the ring has "
                             f"{ring.count} barriers", f"take the index modulo {ring.count}")  # fmt: skip
        key = (ring.name, index)
        if key not in self.bars:
            self.bars[key] = _Phase(ring.arrivals)
        return key

    def buffer(self, wave: _Wave, event: Event, ref: m.SharedRef) -> _BufferKey:
        tile, index = self.block._shared_buffer(wave, event, ref)
        return tile.name, index

    # -- phases ---------------------------------------------------------------------------------
    def complete(self, key: tuple[str, int], wave: _Wave, event: Event) -> None:
        bar = self.bars[key]
        if bar.landed > bar.expected:
            self.block._fail("mbarrier.expect-bytes", wave, event,
                             f"TMA loads bring {bar.landed} bytes to {key[0]}[{key[1]}] in phase {bar.completed}, "
                             f"more than the {bar.expected} its arrivals announced",
                             "announce exactly the loads' bytes: expect_bytes=k.tile_bytes(...)")  # fmt: skip
        if bar.arrivals < bar.count or bar.landed != bar.expected:
            return
        for (name, index), data in bar.loads:  # the loads land together with the phase
            self.block.shared[name][index] = data
            self.block.written[name][index] = True
            self.version[(name, index)] = self.version.get((name, index), 0) + 1
            self.loading.pop((name, index), None)
            self.landed_by[(name, index)] = (key, bar.completed)
        bar.completed += 1
        bar.arrivals = bar.expected = bar.landed = 0
        bar.loads = []

    def passes(self, wave: _Wave, event: Event) -> bool:
        op: m.WaitBarrier = event.op  # type: ignore[assignment]
        key = self.bar(wave, event, op.barrier)
        completed = self.bars[key].completed
        if self.block._value(wave, event, op.parity) % 2 == completed % 2:
            return False
        seen = self.acquired[wave.warp]
        seen[key] = max(seen.get(key, 0), completed)
        return True

    # -- ops ------------------------------------------------------------------------------------
    def tma_load(self, wave: _Wave, event: Event) -> None:
        op: m.TmaLoad = event.op  # type: ignore[assignment]
        use = self.block.run.semantics.of(op).global_use
        assert use is not None
        rect = self.block._global_tile(wave, event, use)
        data = self.block.run.operands[use.matrix][rect.r0 : rect.r1, rect.c0 : rect.c1].clone()
        target = self.buffer(wave, event, op.dst)
        for warp, groups in self.groups.items():
            for group in groups:
                if target in group.operands:
                    self.block._fail(
                        "mbarrier.refill-before-release",
                        wave,
                        event,
                        f"the TMA load refills {target[0]}[{target[1]}] ({env_text(event.env)}) while wave {warp}'s "
                        f"wgmma (line {group.event.op.loc.line}, {env_text(group.event.env)}) still reads it",
                        "the producer waits on the stage's empty barrier; consumers arrive on it only after their "
                        "wgmma wait",
                        buffer=target[0],
                    )
        key = self.bar(wave, event, op.barrier)
        bar = self.bars[key]
        bar.loads.append((target, data))
        bar.landed += tile_bytes(self.kernel, target[0])
        self.loading[target] = event
        self.complete(key, wave, event)

    def arrive(self, wave: _Wave, event: Event) -> None:
        op: m.Arrive = event.op  # type: ignore[assignment]
        key = self.bar(wave, event, op.barrier)
        bar = self.bars[key]
        bar.arrivals += 1
        bar.expected += op.expect_bytes
        self.complete(key, wave, event)

    def wgmma(self, wave: _Wave, event: Event) -> None:
        op: m.Wgmma = event.op  # type: ignore[assignment]
        tile, index = self.block._register(wave, event, op.d)
        self.block._read_reg(wave, event, op.d)  # accumulates: must hold a value
        operands = (self.buffer(wave, event, op.a), self.buffer(wave, event, op.b))
        for name, buffer in operands:
            pending = self.loading.get((name, buffer))
            if pending is not None or not bool(self.block.written[name][buffer].all()):
                why = (
                    f"its TMA load (line {pending.op.loc.line}, {env_text(pending.env)}) has not landed"
                    if pending is not None
                    else "nothing has loaded it"
                )
                self.block._fail("mbarrier.read-before-wait", wave, event,
                                 f"wave {wave.warp}'s wgmma reads {name}[{buffer}] ({env_text(event.env)}) but {why}: "
                                 "its full-barrier wait is missing or passed on the wrong parity",
                                 "wait on the stage's full barrier, parity (use count) % 2, before the wgmma",
                                 buffer=name)  # fmt: skip
            landed = self.landed_by.get((name, buffer))
            if landed is not None and self.acquired[wave.warp].get(landed[0], 0) <= landed[1]:
                bar, phase = landed
                self.block._fail("mbarrier.read-before-wait", wave, event,
                                 f"wave {wave.warp}'s wgmma reads {name}[{buffer}] ({env_text(event.env)}) without "
                                 f"having waited for phase {phase} of {bar[0]}[{bar[1]}], which its TMA load "
                                 "completed: on the GPU the data may not have landed yet",
                                 "wait on the stage's full barrier, parity (use count) % 2, before the wgmma",
                                 buffer=name)  # fmt: skip
        slice_ = self.block._value(wave, event, op.a_slice)
        a_row = 64 * slice_ + 16 * (wave.warp % 4)
        versions = (self.version.get(operands[0], 0), self.version.get(operands[1], 0))
        self.groups[wave.warp].append(_Group(event, (tile, index), operands, versions, a_row))

    def wgmma_wait(self, wave: _Wave, event: Event) -> None:
        op: m.WgmmaWait = event.op  # type: ignore[assignment]
        groups = self.groups[wave.warp]
        while len(groups) > op.pending:
            group = groups.pop(0)
            (a_name, a_buf), (b_name, b_buf) = group.operands
            if (self.version.get(group.operands[0], 0), self.version.get(group.operands[1], 0)) != group.versions:
                self.block._fail("mbarrier.refill-before-release", wave, group.event,
                                 f"a TMA load refilled an operand of wave {wave.warp}'s wgmma "
                                 f"({env_text(group.event.env)}) before the wgmma completed",
                                 "release a stage (arrive on its empty barrier) only after the wgmma wait, and refill "
                                 "it only after waiting on that barrier", buffer=a_name)  # fmt: skip
            tile, index = group.d
            a = self.block.shared[a_name][a_buf][group.a_row : group.a_row + 16]
            b = self.block.shared[b_name][b_buf]
            product = a @ (b if op_variant(group.event) == "AB" else b.t())
            current = self.block.waves[wave.warp].regs[tile.name][index]
            assert current is not None
            self.block._write_reg(wave, tile, index, current + product, "f32")

    def store_tma(self, wave: _Wave, event: Event) -> None:
        """Each wave's 16 rows of the warpgroup's slice: the same C as the TMA stores write (the
        staging and its ordering are inside the runtime call)."""
        op: m.StoreTma = event.op  # type: ignore[assignment]
        tile, value = self.block._read_reg(wave, event, op.src)
        _, index = self.block._register(wave, event, op.src)
        use = self.block.run.semantics.of(op).global_use
        assert use is not None
        self.block._global_tile(wave, event, use)  # bounds
        share = use.wave_rect(wave.warp, self.block._at(wave, event))
        self.block.run.write_c(self.block.block, wave.warp, event, share.rows, share.cols, value)
        self.block._write_reg(wave, tile, index, value * self.block.run.alpha, "f32")

    def check_not_pending(self, wave: _Wave, event: Event) -> None:
        """An op other than wgmma / its wait touching an accumulator a wgmma still writes."""
        effects = self.block.run.semantics.of(event.op)
        for ref in effects.register_refs:
            for group in self.groups[wave.warp]:
                if group.d[0].name == ref.tile:
                    self.block._fail("mbarrier.wgmma-pending", wave, event,
                                     f"wave {wave.warp} uses `{ref.tile}` ({env_text(event.env)}) while its wgmma "
                                     f"(line {group.event.op.loc.line}) still writes it",
                                     "k.wgmma_wait(acc, 0) before reading or changing the accumulator")  # fmt: skip

    # -- the block ------------------------------------------------------------------------------
    def run(self) -> None:
        block = self.block
        waves = block.waves
        current: dict[int, Optional[Event]] = {w.warp: next(block.traces[w.warp], None) for w in waves}
        waiting_at_barrier: dict[int, int] = {}
        while True:
            progress = False
            for wave in waves:
                w = wave.warp
                while (event := current[w]) is not None:
                    op = event.op
                    if isinstance(op, m.WaitBarrier):
                        if not self.passes(wave, event):
                            break
                    elif isinstance(op, m.Barrier):
                        mine = waiting_at_barrier.setdefault(w, self.barriers_reached[w] + 1)
                        if any(self.barriers_reached[o] + (1 if o in waiting_at_barrier else 0) < mine
                               for o in self.barriers_reached):  # fmt: skip
                            break
                        waiting_at_barrier.pop(w)
                        self.barriers_reached[w] = mine
                    elif isinstance(op, m.TmaLoad):
                        self.tma_load(wave, event)
                    elif isinstance(op, m.Arrive):
                        self.arrive(wave, event)
                    elif isinstance(op, m.Wgmma):
                        self.wgmma(wave, event)
                    elif isinstance(op, m.WgmmaWait):
                        self.wgmma_wait(wave, event)
                    elif isinstance(op, m.StoreTma):
                        self.check_not_pending(wave, event)
                        self.store_tma(wave, event)
                    elif not isinstance(op, m.ProxyFence):
                        self.check_not_pending(wave, event)
                        handler = block._ops.get(type(op))
                        if handler is not None:
                            handler(wave, event)
                    current[w] = next(block.traces[w], None)
                    progress = True
            if not progress:
                break
        stuck = [(w, e) for w, e in current.items() if e is not None]
        if stuck:
            w, event = stuck[0]
            if isinstance(event.op, m.WaitBarrier):
                key = self.bar(waves[w], event, event.op.barrier)
                bar = self.bars[key]
                state = (f"phase {bar.completed} has {bar.arrivals} of {bar.count} arrivals and {bar.landed} of "
                         f"{bar.expected} announced bytes")  # fmt: skip
                what = f"waits forever on {key[0]}[{key[1]}] ({state})"
            else:
                what = "waits forever at a block barrier other waves never reach"
            block._fail("mbarrier.hang", waves[w], event,
                        f"wave {w} {what} ({env_text(event.env)}); waves {sorted(x for x, _ in stuck)} are stuck",
                        "check arrival counts (one per arriving wave) and parities ((use count) % 2; a producer "
                        "on its empty barrier: (use count + 1) % 2)")  # fmt: skip
        for w, groups in self.groups.items():
            if groups:
                block._fail("mbarrier.wgmma-pending", waves[w], groups[0].event,
                            f"wave {w} ends with {len(groups)} wgmma group(s) never waited for",
                            "k.wgmma_wait(acc, 0) after the last wgmma")  # fmt: skip


def op_variant(event: Event) -> str:
    op: m.Wgmma = event.op  # type: ignore[assignment]
    return op.variant


def run_block(block: BlockRun) -> None:
    MbarrierBlock(block).run()
