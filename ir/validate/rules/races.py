"""Shared-memory hazards (the hazard model of the design notes).

Barriers split a block's run into phases (barrier i of every wave ends phase i). Within a phase
waves run in any interleaving, so:

* two waves touching the same shared element in one phase, at least one writing, race; when the
  element lies in a buffer of a multi-buffered tile and a load refills it, that is a pipeline
  buffer overwritten while another wave may still read it;
* a read must see data written in an earlier phase, or earlier in the same wave;
* an asynchronous write (``load_tile(is_async=True)``; ``stage_load`` -> ``stage_store``) is in
  flight from its issue to the issuing wave's ``AsyncWait`` that completes it: its target counts
  as being written in every phase from issue to completion, the issuing wave may not read it
  before, and a ``stage_store`` may not run before its ``stage_load`` completed.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Optional

from ir import models as m
from ir.diagnostics import Diagnostic
from ir.trace import Event
from ir.validate.context import Sample, ValidationContext
from ir.validate.describe import where
from ir.validate.findings import Findings
from ir.validate.geometry import Grid, SharedAccess, shared_accesses

BufferKey = tuple[str, int]  # (shared tile, pipeline buffer)


@dataclass
class _InFlight:
    event: Event
    issue_phase: int
    counter: str  # what completes it (``ir.semantics.Pending``)
    access: Optional[SharedAccess] = None  # async group load: the shared share it writes
    stage: Optional[str] = None  # stage load: the stage buffer it fills


@dataclass
class _WaveRun:
    """One wave's shared accesses of one sample, by phase."""

    #: (first phase, last phase, access): the phases an access is live in (an async write: from
    #: its issue to the wait that completes it).
    live: list[tuple[int, int, SharedAccess]] = field(default_factory=list)
    #: phase -> ordered ("read" | "write", access); an async write appears where it completes.
    actions: dict[int, list[tuple[str, SharedAccess]]] = field(default_factory=lambda: defaultdict(list))
    never_waited: list[_InFlight] = field(default_factory=list)


@dataclass
class _Findings:
    race: Findings
    overwrite: Findings
    uninitialised: Findings
    asynchronous: Findings


def _is_async(ctx: ValidationContext, access: SharedAccess) -> bool:
    return ctx.effects(access.event.op).completes is not None


def _buffer_name(ctx: ValidationContext, access: SharedAccess) -> str:
    """``As[1]`` for a buffer of a multi-buffered tile, ``As`` otherwise."""
    buffers = ctx.kernel.shared_tile(access.tile).buffers
    return f"{access.tile}[{access.buffer}]" if buffers > 1 else access.tile


def _phase_text(phase: int) -> str:
    return "before the first barrier" if phase == 0 else f"between barriers {phase} and {phase + 1}"


def _walk_wave(ctx: ValidationContext, sample: Sample, wave: int, found: _Findings) -> _WaveRun:
    run = _WaveRun()
    phase = 0
    queue: list[_InFlight] = []
    for position, event in enumerate(sample.traces[wave]):
        op = event.op
        effects = ctx.effects(op)
        if effects.barrier:
            phase += 1
            continue
        if effects.retires is not None:
            retire = effects.retires
            waiting = [item for item in queue if item.counter == retire.counter]
            for item in waiting[: max(0, len(waiting) - retire.keep)]:
                queue.remove(item)
                if item.access is not None:
                    run.live.append((item.issue_phase, phase, item.access))
                    run.actions[phase].append(("write", item.access))
        counter = effects.completes.counter if effects.completes is not None else None
        for stage in effects.stage_writes:
            earlier = next((item for item in queue if item.stage == stage), None)
            if earlier is not None:
                _report_overwrite(ctx, sample, wave, event, earlier, stage, "the registers of stage buffer", found)
            if counter is not None:
                queue.append(_InFlight(event, phase, counter, stage=stage))
        accesses = shared_accesses(effects, wave, event, position, ctx.value)
        for access in accesses:
            if not access.write:
                continue
            for item in queue:
                mine = item.access
                if mine is not None and (mine.tile, mine.buffer) == (access.tile, access.buffer):
                    if mine.rect.overlaps(access.rect):
                        name = _buffer_name(ctx, access)
                        what = f"{mine.rect.intersect(access.rect).text()} of"  # type: ignore[union-attr]
                        _report_overwrite(ctx, sample, wave, event, item, name, what, found)
                        break
        for stage in effects.stage_reads:
            pending = next((item for item in queue if item.stage == stage), None)
            if pending is not None:
                found.asynchronous.error(
                    f"stores stage buffer `{stage}` to shared memory before its "
                    f"{where(pending.event.op, ctx.kernel)} completed ({sample.instance(event)}); the registers "
                    "are still being filled",
                    op=op,
                    key="stage",
                    waves=(wave,),
                    buffer=stage,
                    fix="put `k.wait()` (or `k.wait(n)` leaving only later loads pending) between the stage load "
                    "and the stage store",
                )
        for access in accesses:
            if counter is not None and access.write:
                queue.append(_InFlight(event, phase, counter, access=access))
                continue
            _access(ctx, sample, event, access, queue, run, phase, found)
    for item in queue:
        if item.access is None:
            run.never_waited.append(item)
        else:
            # Reported as never waited for; counting it complete at the end of its issue phase
            # keeps the races and uninitialised reads that follow from it out of the report.
            run.live.append((item.issue_phase, item.issue_phase, item.access))
            run.actions[item.issue_phase].append(("write", item.access))
            run.never_waited.append(item)
    return run


def _report_overwrite(
    ctx: ValidationContext, sample: Sample, wave: int, event: Event, earlier: _InFlight, name: str, what: str,
    found: _Findings,
) -> None:
    """Wave ``wave`` writes (``event``) where its own asynchronous load ``earlier`` is still writing:
    which data lands last depends on timing (write after write)."""
    kind = "starts a second asynchronous load into" if ctx.effects(event.op).completes else "writes"
    found.asynchronous.error(
        f"{kind} {what} `{name}` while this wave's own {where(earlier.event.op, ctx.kernel)} into it is still in "
        f"flight ({sample.instance(event)}); which of the two writes lands last depends on timing",
        op=event.op,
        key="overwrite",
        related=where(earlier.event.op, ctx.kernel),
        waves=(wave,),
        buffer=name,
        fix="complete the earlier load first (`k.wait(n)` leaving only later loads pending, and `k.sync()` once "
        "the other waves have read it), or write a different pipeline buffer",
    )



def _access(
    ctx: ValidationContext, sample: Sample, event: Event, access: SharedAccess, queue: list[_InFlight],
    run: _WaveRun, phase: int, found: _Findings,
) -> None:
    """One synchronous shared access of a wave: checked against the wave's own loads in flight."""
    if not access.write:
        for item in queue:
            mine = item.access
            if mine is not None and (mine.tile, mine.buffer) == (access.tile, access.buffer):
                if mine.rect.overlaps(access.rect):
                    name = _buffer_name(ctx, access)
                    found.asynchronous.error(
                        f"reads {access.rect.text()} of `{name}` while this wave's own "
                        f"{where(item.event.op, ctx.kernel)} is still writing it ({sample.instance(event)})",
                        op=event.op,
                        key="own",
                        related=where(item.event.op, ctx.kernel),
                        waves=(access.wave,),
                        buffer=name,
                        fix="wait for the asynchronous load (`k.wait()`) and then `k.sync()` before reading "
                        "the tile",
                    )
                    break
    run.live.append((phase, phase, access))
    run.actions[phase].append(("write" if access.write else "read", access))


def _report_pair(
    ctx: ValidationContext, sample: Sample, phase: int, a: SharedAccess, a_issued: int, b: SharedAccess,
    found: _Findings,
) -> None:
    """``a`` writes (issued in phase ``a_issued``); ``b`` (another wave) reads or writes an
    overlapping part of the same buffer in ``phase``."""
    tile = ctx.kernel.shared_tile(a.tile)
    overlap = a.rect.intersect(b.rect)
    assert overlap is not None
    name = _buffer_name(ctx, a)
    other = where(b.event.op, ctx.kernel)
    common = {"op": a.event.op, "waves": (a.wave, b.wave), "buffer": name, "related": other}
    if a_issued < phase and not b.write:
        found.race.error(
            f"wave {b.wave} reads {overlap.text()} of `{name}` with {other} {_phase_text(phase)}, while wave "
            f"{a.wave}'s asynchronous load into it, issued {_phase_text(a_issued)}, has not completed "
            f"({sample.instance(a.event)})",
            key="in flight",
            fix="complete the load before the barrier that precedes the read: `k.wait(n)` leaving only loads of "
            "later steps in flight, then `k.sync()`",
            **common,  # type: ignore[arg-type]
        )
        return
    if tile.buffers > 1 and isinstance(a.event.op, (m.GroupLoad, m.StageStore)) and not b.write:
        found.overwrite.error(
            f"pipeline buffer `{name}` is refilled by wave {a.wave} while wave {b.wave} may still read "
            f"{overlap.text()} of it with {other}: both happen {_phase_text(phase)} ({sample.instance(a.event)})",
            key="overwrite",
            fix="refill a buffer only after a barrier that follows its last read (load the buffer the *next* "
            "step needs after this step's `k.sync()`), or deepen the pipeline (`buffers=`) so the refill "
            "targets a buffer nobody reads in this phase",
            **common,  # type: ignore[arg-type]
        )
        return
    verb = "writes" if b.write else "reads"
    found.race.error(
        f"wave {a.wave} writes {overlap.text()} of `{name}` while wave {b.wave} {verb} it with {other}, both "
        f"{_phase_text(phase)} ({sample.instance(a.event)}); with no barrier between them the result depends on "
        "timing",
        key="race",
        fix="separate the two with `k.sync()` reached by every wave, or make the waves touch different rows, "
        "columns or pipeline buffers",
        **common,  # type: ignore[arg-type]
    )


def _check_sample(ctx: ValidationContext, sample: Sample, found: _Findings) -> None:
    barrier_counts = {len(phases) for phases in sample.phases.values()}
    if len(barrier_counts) != 1:
        return  # phases do not line up; barriers.divergent reports why
    phases = barrier_counts.pop()
    runs = {wave: _walk_wave(ctx, sample, wave, found) for wave in sample.traces}

    for wave, run in runs.items():
        for item in run.never_waited:
            target = "tile" if item.access is not None else "stage buffer"
            found.asynchronous.error(
                f"asynchronous load is never waited for ({sample.instance(item.event)}); the {target} is still being "
                "written when the kernel reads it or ends",
                op=item.event.op,
                key="never",
                waves=(wave,),
                buffer=item.access.tile if item.access else item.stage,
                fix="add `k.wait()` after the last asynchronous load (and `k.sync()` before other waves read it); "
                "a stage load must be waited for and stored (`k.wait()`, `k.stage_store(...)`) or not issued",
            )

    live: list[dict[BufferKey, list[SharedAccess]]] = [defaultdict(list) for _ in range(phases)]
    issued: dict[int, int] = {}  # id(access) -> the phase it was issued in
    rects: dict[str, list] = defaultdict(list)
    for run in runs.values():
        for first, last, access in run.live:
            rects[access.tile].append(access.rect)
            issued[id(access)] = first
            for phase in range(first, last + 1):
                live[phase][(access.tile, access.buffer)].append(access)
    grids = {
        name: Grid(ctx.kernel.shared_tile(name).rows, ctx.kernel.shared_tile(name).cols, tile_rects)
        for name, tile_rects in rects.items()
    }

    # Races: two waves, one phase, overlapping rectangles, at least one write.
    for phase, buffers in enumerate(live):
        for accesses in buffers.values():
            for a in accesses:
                if not a.write:
                    continue
                for b in accesses:
                    if b.wave == a.wave or (b.write and b.wave < a.wave) or not a.rect.overlaps(b.rect):
                        continue
                    _report_pair(ctx, sample, phase, a, issued[id(a)], b, found)

    # Reads of data nothing wrote: not in an earlier phase, not earlier in this wave's phase. Data
    # another wave writes in the same phase is a race (reported above), not an uninitialised read.
    written: dict[BufferKey, int] = defaultdict(int)
    for phase in range(phases):
        live_by_wave: dict[BufferKey, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        in_flight: dict[BufferKey, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        for key, accesses in live[phase].items():
            grid = grids[key[0]]
            for access in accesses:
                if access.write:
                    live_by_wave[key][access.wave] |= grid.bits(access.rect)
                    if _is_async(ctx, access):
                        in_flight[key][access.wave] |= grid.bits(access.rect)
        completed: dict[BufferKey, int] = defaultdict(int)
        for wave, run in runs.items():
            own: dict[BufferKey, int] = defaultdict(int)
            for kind, access in run.actions.get(phase, []):
                key = (access.tile, access.buffer)
                grid = grids[access.tile]
                bits = grid.bits(access.rect)
                if kind == "write":
                    own[key] |= bits
                    continue
                # A wave reading its own in-flight load is races.async-incomplete, reported already.
                others = in_flight[key][wave]
                for other_wave, other_bits in live_by_wave[key].items():
                    if other_wave != wave:
                        others |= other_bits
                missing = bits & ~(written[key] | own[key] | others)
                if missing:
                    name = _buffer_name(ctx, access)
                    found.uninitialised.error(
                        f"reads {grid.describe(missing)} of `{name}`, which nothing has written before "
                        f"({sample.instance(access.event)}, {_phase_text(phase)})",
                        op=access.event.op,
                        waves=(wave,),
                        buffer=name,
                        fix="load the tile (and `k.sync()`) before reading it; check that the pipeline prologue "
                        "fills the buffer this step reads, and that the buffer index rotates the same way for "
                        "loads and reads",
                    )
            for key, bits in own.items():
                completed[key] |= bits
        for key, bits in completed.items():
            written[key] |= bits


def _findings(ctx: ValidationContext) -> _Findings:
    return _Findings(
        race=Findings("races.shared-race", ctx.kernel),
        overwrite=Findings("races.buffer-overwrite", ctx.kernel),
        uninitialised=Findings("races.uninitialised-read", ctx.kernel),
        asynchronous=Findings("races.async-incomplete", ctx.kernel),
    )


def _run(ctx: ValidationContext) -> _Findings:
    """All hazard findings, computed once per context and shared by the four rules below."""

    def compute() -> _Findings:
        found = _findings(ctx)
        for sample in ctx.samples:
            _check_sample(ctx, sample, found)
        return found

    return ctx.memo("races", compute)


def check_shared_races(ctx: ValidationContext) -> list[Diagnostic]:
    """Two waves touch the same shared element in one phase, at least one writing."""
    return _run(ctx).race.diagnostics()


def check_buffer_overwrite(ctx: ValidationContext) -> list[Diagnostic]:
    """A pipeline buffer is refilled while another wave may still read it (a race named as such)."""
    return _run(ctx).overwrite.diagnostics()


def check_uninitialised_reads(ctx: ValidationContext) -> list[Diagnostic]:
    """A read of shared memory that nothing wrote in an earlier phase or earlier in the same wave."""
    return _run(ctx).uninitialised.diagnostics()


def check_async_completion(ctx: ValidationContext) -> list[Diagnostic]:
    """Asynchronous loads complete (at an ``AsyncWait``) before their target is used."""
    return _run(ctx).asynchronous.diagnostics()
