"""Hopper rules: TMA loads, mbarrier rings and wgmma (sm_90a).

The protocol rules replay every wave of a traced block together, as the hardware would run them:
a wave runs until it waits on an mbarrier phase that has not completed; a phase completes when
its arrivals are all in and the transaction bytes announced by ``expect_bytes`` have landed (the
TMA loads that sign in on it). A TMA load's tile is being written until its phase completes; a
wgmma's operands are being read until the ``WgmmaWait`` that completes its group. A wave sees a
completed phase only by waiting on it (acquire); an arrival releases what the wave finished
before it. From that one replay (``_replay``, shared by the rules below):

* ``mbarrier.hang``: waves wait forever (arrivals never reach the count, a wait on the wrong parity);
* ``mbarrier.expect-bytes``: the bytes an arrival announces are not the bytes the loads bring;
* ``mbarrier.read-before-wait``: wgmma reads a stage whose load it has not waited for;
* ``mbarrier.refill-before-release``: a TMA load overwrites a stage a reader has not released
  (or whose release the loading wave has not waited for);
* ``mbarrier.release-before-complete``: an arrival releases a stage its wgmma still reads;
* ``hopper.proxy-fence``: wgmma reads a tile ordinary stores wrote without ``proxy_fence``.

Static rules: ``hopper.target`` (these ops exist on sm_90a only), ``hopper.operands`` (tile
layouts and shapes the runtime takes), ``hopper.warpgroup`` (wgmma by whole, aligned warpgroups).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ir import models as m
from ir.diagnostics import Diagnostic
from ir.resources import DTYPE_BYTES
from ir.trace import Event
from ir.validate.context import ValidationContext
from ir.validate.findings import Findings

HOPPER_OPS = (m.TmaLoad, m.Arrive, m.WaitBarrier, m.Wgmma, m.WgmmaWait, m.ProxyFence, m.OneThread, m.StoreTma)
WGMMA_N = (64, 128, 192, 256)
GENERIC_WRITES = (m.GroupLoad, m.StageStore, m.StoreShared)


def _uses_hopper(kernel: m.Kernel) -> bool:
    return bool(kernel.mbarriers) or any(isinstance(op, HOPPER_OPS) for op in m.walk(kernel.body))


# --------------------------------------------------------------------------------------------
# Static rules
# --------------------------------------------------------------------------------------------


def check_target(ctx: ValidationContext) -> list[Diagnostic]:
    """TMA loads, mbarriers, wgmma and ``tma`` layout tiles exist on sm_90a only."""
    found = Findings("hopper.target", ctx.kernel)
    if ctx.target.name == "sm_90a":
        return []
    for op in ctx.ops:
        if isinstance(op, HOPPER_OPS):
            found.error(
                f"`{ctx.describe(op)}` is a Hopper instruction (TMA / mbarrier / wgmma); {ctx.target.name} has none",
                op=op,
                key=op.kind,
                fix="build this schedule for sm_90a, or write a cp.async / mma schedule for this target",
            )
    for tile in ctx.kernel.shared:
        if tile.layout == "tma":
            found.error(
                f"shared tile `{tile.name}` has the tma layout, which only sm_90a's TMA and wgmma use",
                loc=tile.loc,
                key=tile.name,
                buffer=tile.name,
                fix="declare it without layout='tma' for this target",
            )
    return found.diagnostics()


def check_operands(ctx: ValidationContext) -> list[Diagnostic]:
    """TMA loads write ``tma`` layout tiles of 128-byte panels (rows a multiple of 8, at most 256);
    wgmma reads ``tma`` tiles: A with whole 64-row slices, B of N = 64, 128, 192 or 256 columns
    matching ``d``, an f32 16 x N accumulator, and the same K for A and B."""
    found = Findings("hopper.operands", ctx.kernel)
    kernel = ctx.kernel

    def tma_tile(op: m.Stmt, ref: m.SharedRef, role: str) -> Optional[m.SharedTile]:
        tile = kernel.shared_tile(ref.tile)
        panel = 128 // DTYPE_BYTES[tile.dtype]
        problem = ""
        if tile.layout != "tma":
            problem = "is not declared with layout='tma' (the 128-byte swizzle TMA writes and wgmma reads)"
        elif tile.cols % panel or tile.rows % 8 or tile.rows > 256:
            problem = f"is {tile.rows} x {tile.cols}: TMA moves panels of {panel} columns and 8..256 rows"
        if problem:
            found.error(
                f"`{ctx.describe(op)}`: {role} `{tile.name}` {problem}",
                op=op,
                key=(role, tile.name),
                buffer=tile.name,
                fix=f"declare `{tile.name}` with layout='tma', a multiple of {panel} columns and of 8 rows (<= 256)",
            )
            return None
        return tile

    staging = {op.staging.tile for op in ctx.ops if isinstance(op, m.StoreTma)}
    for op in ctx.ops:
        others = [ref.tile for ref in ctx.effects(op).shared_refs] + [
            use.ref.tile for use in ctx.effects(op).async_shared if not isinstance(op, m.StoreTma)
        ]
        for name in sorted(staging & set(others)):
            found.error(
                f"`{ctx.describe(op)}` uses `{name}`, the staging tile of a TMA-store epilogue, which "
                "orders its own accesses (and no other op's)",
                op=op,
                key=("staging", name),
                buffer=name,
                fix="give the epilogue a shared tile of its own",
            )
        if isinstance(op, m.StoreTma):
            tile = tma_tile(op, op.staging, "staging tile")
            acc = kernel.register_tile(op.src.tile)
            if tile is None:
                continue
            problems = []
            if tile.rows != 64:
                problems.append(f"staging `{tile.name}` has {tile.rows} rows; it holds a warpgroup's 64-row slice")
            if acc.cols % tile.cols:
                problems.append(f"staging `{tile.name}`'s {tile.cols} columns do not divide `{acc.name}`'s {acc.cols}")
            if tile.dtype != kernel.globals.c_dtype:
                problems.append(f"staging `{tile.name}` is {tile.dtype} but C is {kernel.globals.c_dtype}")
            if (acc.rows, acc.dtype) != (16, "f32"):
                problems.append(f"`{acc.name}` is {acc.dtype} {acc.rows} x {acc.cols}; each wave holds f32 16 x N")
            for problem in problems:
                found.error(f"`{ctx.describe(op)}`: {problem}", op=op, key=problem, buffer=tile.name,
                            fix="stage through a 64-row tma tile in C's dtype whose width divides N")  # fmt: skip
        if isinstance(op, m.TmaLoad):
            tma_tile(op, op.dst, "destination")
        elif isinstance(op, m.Wgmma):
            a, b = tma_tile(op, op.a, "A operand"), tma_tile(op, op.b, "B operand")
            d = kernel.register_tile(op.d.tile)
            if a is None or b is None:
                continue
            k_a, (k_b, n) = a.cols, ((b.rows, b.cols) if op.variant == "AB" else (b.cols, b.rows))
            problems = []
            if a.rows % 64:
                problems.append(f"A `{a.name}` has {a.rows} rows, not whole 64-row warpgroup slices")
            if n not in WGMMA_N:
                problems.append(f"B gives N = {n}; wgmma here takes N in {WGMMA_N}")
            if k_a != k_b:
                problems.append(f"A has K = {k_a} but B has K = {k_b}")
            if (d.rows, d.cols, d.dtype) != (16, n, "f32"):
                problems.append(f"`{d.name}` is {d.dtype} {d.rows} x {d.cols}; each wave holds an f32 16 x {n} slice")
            for problem in problems:
                found.error(
                    f"`{ctx.describe(op)}`: {problem}",
                    op=op,
                    key=problem,
                    fix="use k.accumulator(name, 16, N) and tma tiles A (64 s x K) and B (K x N, or N x K for 'nk')",
                )
    return found.diagnostics()


def check_warpgroups(ctx: ValidationContext) -> list[Diagnostic]:
    """wgmma and its wait are warpgroup instructions: every wave of a warpgroup (4 consecutive
    waves starting at a multiple of 4) must run each of them the same number of times."""
    found = Findings("hopper.warpgroup", ctx.kernel)
    if not any(isinstance(op, (m.Wgmma, m.WgmmaWait, m.StoreTma)) for op in ctx.ops):
        return []
    for sample in ctx.samples:
        counts: dict[int, dict[int, int]] = {}  # id(op) -> wave -> times run
        ops: dict[int, m.Stmt] = {}
        for wave, events in sample.traces.items():
            for event in events:
                if isinstance(event.op, (m.Wgmma, m.WgmmaWait, m.StoreTma)):
                    ops[id(event.op)] = event.op
                    per_wave = counts.setdefault(id(event.op), {})
                    per_wave[wave] = per_wave.get(wave, 0) + 1
        for key, per_wave in counts.items():
            for group in sorted({w // 4 for w in per_wave}):
                waves = range(4 * group, 4 * group + 4)
                runs = [per_wave.get(w, 0) for w in waves]
                if len(set(runs)) > 1:
                    op = ops[key]
                    found.error(
                        f"`{ctx.describe(op)}` is run by part of warpgroup {group} (waves {waves[0]}-{waves[-1]} "
                        f"run it {runs} times) for {sample.label()}: a warpgroup instruction needs all 4 waves",
                        op=op,
                        key="partial",
                        waves=[w for w in waves if per_wave.get(w, 0)],
                        fix="give wgmma to a role of whole warpgroups (first wave and wave count multiples of 4) "
                        "and keep warp conditions that split a warpgroup away from it",
                    )
    return found.diagnostics()


# --------------------------------------------------------------------------------------------
# The replay
# --------------------------------------------------------------------------------------------

_Key = tuple[str, int]  # (name, index) of a tile buffer or an mbarrier


@dataclass
class _Barrier:
    count: int
    completed: int = 0  # phases completed so far; the current phase has parity completed % 2
    arrivals: int = 0
    expected: int = 0
    landed: int = 0
    announcers: list[Event] = field(default_factory=list)
    loads: list[Event] = field(default_factory=list)


@dataclass
class _Read:
    wave: int
    event: Event
    done: bool = False
    released: Optional[tuple[_Key, int]] = None  # (barrier, phase) of the arrival that released it
    released_early: Optional[Event] = None  # the arrival that came before this read completed


@dataclass
class _Buffer:
    written: Optional[tuple[_Key, int]] = None  # the TMA load's (barrier, phase)
    load: Optional[Event] = None
    readers: list[_Read] = field(default_factory=list)
    unfenced: dict[int, Event] = field(default_factory=dict)  # wave -> ordinary write not yet fenced


@dataclass
class _Finding:
    rule: str
    event: Event
    wave: int
    message: str
    fix: str
    buffer: Optional[str] = None


class _Replay:
    def __init__(self, ctx: ValidationContext, traces: dict[int, list[Event]], label: str):
        self.ctx, self.traces, self.label = ctx, traces, label
        self.kernel = ctx.kernel
        self.bars: dict[_Key, _Barrier] = {}
        self.buffers: dict[_Key, _Buffer] = {}
        self.acquired: dict[int, dict[_Key, int]] = {w: {} for w in traces}
        self.groups: dict[int, list[list[_Read]]] = {w: [] for w in traces}
        self.finished: dict[int, list[_Read]] = {w: [] for w in traces}  # complete, not yet released
        self.findings: list[_Finding] = []

    def value(self, event: Event, expr: m.Expr) -> int:  # type: ignore[name-defined]
        return self.ctx.value(event, expr)

    def bar(self, event: Event, ref: m.BarRef) -> _Key:
        ring = self.kernel.mbarrier(ref.barrier)
        key = (ring.name, self.value(event, ref.index) if ref.index is not None else 0)
        if key not in self.bars:
            self.bars[key] = _Barrier(count=ring.arrivals)
        return key

    def buffer(self, event: Event, ref: m.SharedRef) -> _Key:
        key = (ref.tile, self.value(event, ref.buffer) if ref.buffer is not None else 0)
        return key

    def report(self, rule: str, event: Event, wave: int, message: str, fix: str, buffer: Optional[str] = None) -> None:
        self.findings.append(_Finding(rule, event, wave, f"{message} ({self.label})", fix, buffer))

    # -- barriers --------------------------------------------------------------------------
    def try_complete(self, key: _Key, event: Event, wave: int) -> None:
        bar = self.bars[key]
        if bar.landed > bar.expected:
            self.report(
                "mbarrier.expect-bytes",
                event,
                wave,
                f"the TMA loads on `{key[0]}[{key[1]}]` bring {bar.landed} bytes in phase {bar.completed} but its "
                f"arrivals announced {bar.expected}: the transaction count underflows",
                "announce exactly the loads' bytes: `expect_bytes=k.tile_bytes(<the tiles loaded on this barrier>)`",
            )
            bar.expected = bar.landed
        if bar.arrivals >= bar.count and bar.landed == bar.expected:
            bar.completed += 1
            bar.arrivals = bar.expected = bar.landed = 0
            bar.announcers.clear()
            bar.loads.clear()

    def passes(self, wave: int, event: Event) -> bool:
        op = event.op
        assert isinstance(op, m.WaitBarrier)
        key = self.bar(event, op.barrier)
        bar = self.bars[key]
        parity = self.value(event, op.parity) % 2
        if parity == bar.completed % 2:
            return False  # the phase of this parity is the current one: not complete yet
        seen = self.acquired[wave]
        seen[key] = max(seen.get(key, 0), bar.completed)
        return True

    # -- one op ----------------------------------------------------------------------------
    def step(self, wave: int, event: Event) -> None:
        op = event.op
        if isinstance(op, m.TmaLoad):
            self.tma_load(wave, event, op)
        elif isinstance(op, m.Arrive):
            key = self.bar(event, op.barrier)
            bar = self.bars[key]
            bar.arrivals += 1
            bar.expected += op.expect_bytes
            if op.expect_bytes:
                bar.announcers.append(event)
            for read in self.finished[wave]:
                read.released = (key, bar.completed)
            self.finished[wave] = []
            for group in self.groups[wave]:
                for read in group:
                    read.released_early = read.released_early or event
                    read.released = (key, bar.completed)
            self.try_complete(key, event, wave)
        elif isinstance(op, m.Wgmma):
            reads = []
            for ref in (op.a, op.b):
                key = self.buffer(event, ref)
                buffer = self.buffers.setdefault(key, _Buffer())
                self.check_read(wave, event, key, buffer)
                read = _Read(wave, event)
                buffer.readers.append(read)
                reads.append(read)
            self.groups[wave].append(reads)
        elif isinstance(op, m.WgmmaWait):
            while len(self.groups[wave]) > op.pending:
                for read in self.groups[wave].pop(0):
                    read.done = True
                    if read.released_early is None:
                        self.finished[wave].append(read)
        elif isinstance(op, m.ProxyFence):
            for buffer in self.buffers.values():
                buffer.unfenced.pop(wave, None)
        elif isinstance(op, GENERIC_WRITES):
            key = self.buffer(event, op.dst)
            if self.kernel.shared_tile(key[0]).layout == "tma":
                self.buffers.setdefault(key, _Buffer()).unfenced[wave] = event

    def tma_load(self, wave: int, event: Event, op: m.TmaLoad) -> None:
        key = self.buffer(event, op.dst)
        buffer = self.buffers.setdefault(key, _Buffer())
        name = f"{key[0]}[{key[1]}]"
        if buffer.written is not None and not buffer.readers:
            self.report(
                "mbarrier.refill-before-release",
                event,
                wave,
                f"the TMA load refills `{name}` before any wave read what its previous load "
                f"({buffer.load.op.loc if buffer.load else '?'}) brought",
                "the producer waits on the stage's empty barrier (which the readers arrive on) before refilling it",
                key[0],
            )
        for read in buffer.readers:
            if read.released_early is not None:
                self.report(
                    "mbarrier.release-before-complete",
                    read.released_early,
                    read.wave,
                    f"wave {read.wave} releases `{name}` while its wgmma (`{self.ctx.describe(read.event.op)}`, "
                    f"{read.event.op.loc}) still reads it; the TMA load that refills it "
                    f"({event.op.loc}) may overwrite the operand",
                    "wait for the wgmma first (`k.wgmma_wait(acc, 0)`, or release the stage of the group a "
                    "`wgmma_wait(acc, 1)` completed) and arrive on the empty barrier after it",
                    key[0],
                )
            elif read.released is None:
                self.report(
                    "mbarrier.refill-before-release",
                    event,
                    wave,
                    f"the TMA load refills `{name}` while wave {read.wave}'s wgmma ({read.event.op.loc}) has not "
                    "released it: no arrival on an empty barrier follows that read",
                    "consumers arrive on the stage's empty barrier after their wgmma wait; the producer waits on "
                    "that barrier before the load",
                    key[0],
                )
            else:
                bar_key, phase = read.released
                if self.acquired[wave].get(bar_key, 0) <= phase:
                    self.report(
                        "mbarrier.refill-before-release",
                        event,
                        wave,
                        f"the TMA load refills `{name}` before waiting for phase {phase} of "
                        f"`{bar_key[0]}[{bar_key[1]}]`, in which wave {read.wave} released it "
                        f"(its wgmma at {read.event.op.loc})",
                        "wait on the stage's empty barrier, parity (use count + 1) % 2 for the producer, before "
                        "the load",
                        key[0],
                    )
        bar_key = self.bar(event, op.barrier)
        bar = self.bars[bar_key]
        tile = self.kernel.shared_tile(key[0])
        bar.landed += tile.rows * tile.cols * DTYPE_BYTES[tile.dtype]
        bar.loads.append(event)
        self.buffers[key] = _Buffer(written=(bar_key, bar.completed), load=event)
        self.try_complete(bar_key, event, wave)

    def check_read(self, wave: int, event: Event, key: _Key, buffer: _Buffer) -> None:
        name = f"{key[0]}[{key[1]}]"
        for writer, write in buffer.unfenced.items():
            self.report(
                "hopper.proxy-fence",
                event,
                wave,
                f"wgmma reads `{name}`, which wave {writer} wrote with ordinary stores ({write.op.loc}) without a "
                "proxy fence: the asynchronous proxy may not see those writes",
                "call `k.proxy_fence()` in the writing waves after their stores, before the barrier",
                key[0],
            )
        if buffer.written is None:
            if any(isinstance(op, m.TmaLoad) and op.dst.tile == key[0] for op in self.ctx.ops):
                self.report(
                    "mbarrier.read-before-wait",
                    event,
                    wave,
                    f"wgmma reads `{name}` before any TMA load of it has completed: its wait passed early "
                    "(a parity that names the previous phase) or is missing",
                    "wait on the stage's full barrier with parity (use count) % 2 before reading the stage",
                    key[0],
                )
            return
        bar_key, phase = buffer.written
        if self.acquired[wave].get(bar_key, 0) <= phase:
            self.report(
                "mbarrier.read-before-wait",
                event,
                wave,
                f"wgmma reads `{name}` before waiting for phase {phase} of `{bar_key[0]}[{bar_key[1]}]`, which "
                f"its TMA load ({buffer.load.op.loc if buffer.load else '?'}) completes",
                "wait on the stage's full barrier with parity (use count) % 2 before reading the stage",
                key[0],
            )

    # -- all waves -------------------------------------------------------------------------
    def run(self) -> None:
        pcs = {w: 0 for w in self.traces}
        while True:
            progress = False
            for wave, events in self.traces.items():
                while pcs[wave] < len(events):
                    event = events[pcs[wave]]
                    if isinstance(event.op, m.WaitBarrier) and not self.passes(wave, event):
                        break
                    if not isinstance(event.op, m.WaitBarrier):
                        self.step(wave, event)
                    pcs[wave] += 1
                    progress = True
            if not progress:
                break
        stuck = {w: self.traces[w][pc] for w, pc in pcs.items() if pc < len(self.traces[w])}
        for wave, event in stuck.items():
            op = event.op
            assert isinstance(op, m.WaitBarrier)
            key = self.bar(event, op.barrier)
            bar = self.bars[key]
            parity = self.value(event, op.parity) % 2
            why = (
                f"its phase {bar.completed} (parity {bar.completed % 2}) has {bar.arrivals} of {bar.count} "
                f"arrivals and {bar.landed} of {bar.expected} announced bytes, and no wave left can complete it"
            )
            if bar.arrivals >= bar.count and bar.landed < bar.expected:
                self.report(
                    "mbarrier.expect-bytes",
                    event,
                    wave,
                    f"`{key[0]}[{key[1]}]` waits for {bar.expected} announced bytes but its loads bring only "
                    f"{bar.landed}: the phase never completes",
                    "announce exactly the loads' bytes: `expect_bytes=k.tile_bytes(<the tiles loaded on it>)`",
                )
            self.report(
                "mbarrier.hang",
                event,
                wave,
                f"waits forever on parity {parity} of `{key[0]}[{key[1]}]`: {why}",
                "check the barrier's arrival count (one per arriving wave, one inside k.one_thread()) and the "
                "parity: the n-th use of a stage waits on n % 2 (the producer on its empty barrier: (n + 1) % 2)",
            )


def _replay(ctx: ValidationContext) -> list[_Finding]:
    def compute() -> list[_Finding]:
        if not _uses_hopper(ctx.kernel) or ctx.target.name != "sm_90a":
            return []
        findings: dict[tuple[str, str], _Finding] = {}
        for sample in ctx.samples:
            # Two schedules of the same waves: producers first (a refill races ahead of a release),
            # and consumers first (a wait passes before the load it should wait for).
            for order in (sorted(sample.traces), sorted(sample.traces, reverse=True)):
                replay = _Replay(ctx, {w: sample.traces[w] for w in order}, sample.label())
                replay.run()
                for f in replay.findings:
                    findings.setdefault((f.rule, f.message), f)
        return list(findings.values())

    return ctx.memo("mbarriers.replay", compute)


def _rule(name: str, ctx: ValidationContext) -> list[Diagnostic]:
    found = Findings(name, ctx.kernel)
    for f in _replay(ctx):
        if f.rule == name:
            found.error(f.message, op=f.event.op, key=f.message.split(" (M=")[0], waves=[f.wave], fix=f.fix,
                        buffer=f.buffer)  # fmt: skip
    return found.diagnostics()


def check_hang(ctx: ValidationContext) -> list[Diagnostic]:
    """Every mbarrier wait completes: arrivals reach the count and the parity names a phase that
    completes (a wrong parity or a missing arrival hangs the block)."""
    return _rule("mbarrier.hang", ctx)


def check_expect_bytes(ctx: ValidationContext) -> list[Diagnostic]:
    """The bytes arrivals announce on a barrier phase are exactly the bytes its TMA loads bring."""
    return _rule("mbarrier.expect-bytes", ctx)


def check_read_before_wait(ctx: ValidationContext) -> list[Diagnostic]:
    """wgmma reads a TMA-loaded stage only after waiting on the phase its load completes."""
    return _rule("mbarrier.read-before-wait", ctx)


def check_refill_before_release(ctx: ValidationContext) -> list[Diagnostic]:
    """A TMA load refills a stage only after every reader released it and the loading wave waited
    on the barrier phase of that release."""
    return _rule("mbarrier.refill-before-release", ctx)


def check_release_before_complete(ctx: ValidationContext) -> list[Diagnostic]:
    """A wave releases a stage (arrives) only after the wgmma reading it has completed."""
    return _rule("mbarrier.release-before-complete", ctx)


def check_proxy_fence(ctx: ValidationContext) -> list[Diagnostic]:
    """Ordinary shared writes that wgmma reads are followed by a proxy fence in the writing wave."""
    return _rule("hopper.proxy-fence", ctx)
