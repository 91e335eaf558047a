"""What each tile holds: the provenance of shared tiles, register tiles and accumulators.

Static rules (every size): each shared tile is filled from one matrix, the one its readers use it
as (a tile read into an mma's ``a`` operand holds A); an mma's ``a`` holds A data, ``b`` B data.

Traced rules: a dataflow over each wave's trace tags every piece of data with where it came from.
A shared piece is "rows r of A at translation (dr, dc)" (written by a group load, or a stage store
of a stage buffer a stage load filled; asynchronous writes land at the wait that completes them;
other waves' writes are seen from the next phase on, as in the hazard model). A register tile is
the global rectangle of A or B it was loaded from; an accumulator is the rows of A, the columns of
B and the set of K ranges summed into it since its ``zero``. Then:

* ``accumulators.operand-k``: an mma's ``a`` and ``b`` hold the same K range (else a register tile
  was overwritten, e.g. by a prefetch of the next K step, before its last read);
* ``accumulators.foreign-sums``: an mma adds into an accumulator holding sums of other rows or
  columns (a persistent kernel that does not re-zero between tiles), or adds a K range twice;
* ``accumulators.missing-k``: a stored accumulator holds all of K (a ``zero`` inside the K loop
  drops the earlier steps);
* ``accumulators.store-position``: an accumulator is stored where its rows and columns belong.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from functools import partial
from typing import Optional, Union

from ir import models as m
from ir.diagnostics import Diagnostic
from ir.semantics import Rect, b_k_n, effects, tile_rect
from ir.trace import Event
from ir.validate.context import Sample, ValidationContext
from ir.validate.describe import reg_text, where
from ir.validate.findings import Findings
from ir.validate.geometry import global_access

# --------------------------------------------------------------------------------------------
# Static: which matrix each tile holds
# --------------------------------------------------------------------------------------------


def _stage_sources(kernel: m.Kernel) -> dict[str, dict[str, m.Stmt]]:
    """Stage buffer -> {matrix: first op that fills it from that matrix}."""
    result: dict[str, dict[str, m.Stmt]] = defaultdict(dict)
    for op in m.walk(kernel.body):
        eff = effects(kernel, op)
        if eff.stage_writes and eff.global_use is not None and not eff.global_use.write:
            for name in eff.stage_writes:
                result[name].setdefault(eff.global_use.matrix, op)
    return result


def _fills(kernel: m.Kernel) -> list[tuple[m.Stmt, str, str, Optional[m.Stmt]]]:
    """(op, shared tile, matrix, stage load behind it) for every op that fills a shared tile from
    A or B: straight from global memory, or from a stage buffer (``ir.semantics`` effects)."""
    stages = _stage_sources(kernel)
    fills: list[tuple[m.Stmt, str, str, Optional[m.Stmt]]] = []
    for op in m.walk(kernel.body):
        eff = effects(kernel, op)
        for use in eff.shared:
            if not use.write:
                continue
            if eff.global_use is not None and not eff.global_use.write and eff.global_use.matrix in ("A", "B"):
                fills.append((op, use.ref.tile, eff.global_use.matrix, None))
            for name in eff.stage_reads:
                for matrix, load in stages.get(name, {}).items():
                    fills.append((op, use.ref.tile, matrix, load))
    return fills


def _operand_uses(kernel: m.Kernel) -> dict[str, dict[str, m.Stmt]]:
    """Register tile -> {"A" | "B": the first mma reading it as that operand}, through copies."""
    uses: dict[str, dict[str, m.Stmt]] = defaultdict(dict)
    ops = list(m.walk(kernel.body))
    for op in ops:
        if isinstance(op, m.Mma):
            uses[op.a.tile].setdefault("A", op)
            uses[op.b.tile].setdefault("B", op)
    for _ in range(len(kernel.registers)):  # copies pass the use back to their source
        changed = False
        for op in ops:
            if isinstance(op, m.Copy):
                for matrix, mma in list(uses.get(op.dst.tile, {}).items()):
                    if matrix not in uses[op.src.tile]:
                        uses[op.src.tile][matrix] = mma
                        changed = True
        if not changed:
            break
    return uses


def check_shared_matrix(ctx: ValidationContext) -> list[Diagnostic]:
    """A shared tile is filled only from the matrix its readers use it as: a tile read into an
    mma's ``a`` holds A, into ``b`` holds B (a staged slice stored into the other matrix's tile)."""
    found = Findings("accumulators.shared-matrix", ctx.kernel)
    kernel = ctx.kernel
    uses = _operand_uses(kernel)
    readers: dict[str, dict[str, tuple[m.Stmt, m.Stmt]]] = defaultdict(dict)  # shared -> matrix -> (load, mma)
    for op in ctx.ops:
        if isinstance(op, m.LoadShared):
            for matrix, mma in uses.get(op.dst.tile, {}).items():
                readers[op.src.tile].setdefault(matrix, (op, mma))
    for op, tile, matrix, stage_load in _fills(kernel):
        used_as = readers.get(tile, {})
        if not used_as or matrix in used_as:
            continue
        other, (load, mma) = next(iter(used_as.items()))
        via = ""
        if stage_load is not None:
            staged = effects(kernel, stage_load).stage_writes[0]
            via = f" (`{staged}` is filled from {matrix} by {where(stage_load, kernel)})"
        found.error(
            f"fills shared tile `{tile}` with {matrix} data{via}, but `{tile}` is read as {other} by "
            f"{where(load, kernel)} for {where(mma, kernel)}: the mma would multiply {matrix} by {matrix}",
            op=op,
            related=where(mma, kernel),
            waves=_waves(ctx, op),
            buffer=tile,
            fix=f"store the staged {matrix} slice into the shared tile of {matrix} (swap the stage stores), or read "
            f"`{tile}` into the other operand",
        )
    return found.diagnostics()


def check_operand_matrix(ctx: ValidationContext) -> list[Diagnostic]:
    """An mma's ``a`` operand holds A data and ``b`` holds B data (a register tile loaded from
    the other matrix's shared tile)."""
    found = Findings("accumulators.operand-matrix", ctx.kernel)
    kernel = ctx.kernel
    filled: dict[str, dict[str, m.Stmt]] = defaultdict(dict)  # shared tile -> matrix -> fill op
    for op, tile, matrix, _ in _fills(kernel):
        filled[tile].setdefault(matrix, op)
    holds: dict[str, dict[str, tuple[m.Stmt, m.Stmt]]] = defaultdict(dict)  # reg -> matrix -> (load, fill)
    for op in ctx.ops:
        if isinstance(op, m.LoadShared):
            for matrix, fill in filled.get(op.src.tile, {}).items():
                holds[op.dst.tile].setdefault(matrix, (op, fill))
    for _ in range(len(kernel.registers)):
        changed = False
        for op in ctx.ops:
            if isinstance(op, m.Copy):
                for matrix, pair in list(holds.get(op.src.tile, {}).items()):
                    if matrix not in holds[op.dst.tile]:
                        holds[op.dst.tile][matrix] = pair
                        changed = True
        if not changed:
            break
    for op in ctx.ops:
        if not isinstance(op, m.Mma):
            continue
        for operand, ref, wanted in (("a", op.a, "A"), ("b", op.b, "B")):
            wrong = [mx for mx in holds.get(ref.tile, {}) if mx != wanted]
            if not wrong:
                continue
            load, fill = holds[ref.tile][wrong[0]]
            found.error(
                f"operand {operand} `{reg_text(ref)}` must hold {wanted} data, but it is loaded by "
                f"{where(load, kernel)} from `{load.src.tile}`, which {where(fill, kernel)} fills with "  # type: ignore[attr-defined]
                f"{wrong[0]}",
                op=op,
                key=operand,
                related=where(load, kernel),
                waves=_waves(ctx, op),
                buffer=ref.tile,
                fix=f"load `{ref.tile}` from the shared tile that holds {wanted} (e.g. `As` for a, `Bs` for b)",
            )
    return found.diagnostics()


def _waves(ctx: ValidationContext, op: m.Stmt) -> list[int]:
    """The waves that run ``op`` in the first traced problem that runs it (all warps if none do)."""
    try:
        samples = ctx.samples
    except Exception:  # untraceable: structure.traceable reports it
        samples = []
    for sample in samples:
        waves = [w for w, events in sample.traces.items() if any(e.op is op for e in events)]
        if waves:
            return waves
    return list(range(ctx.kernel.launch.num_warps))


# --------------------------------------------------------------------------------------------
# Traced: provenance tags
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Operand:
    """A register tile or shared piece holding ``rect`` of ``matrix`` (global element coordinates)."""

    matrix: str
    rect: Rect
    writer: m.Stmt


@dataclass(frozen=True)
class Piece:
    """A rectangle of a shared buffer holding ``matrix`` data at global = local + (dr, dc)."""

    rect: Rect
    matrix: str
    dr: int
    dc: int
    writer: m.Stmt


@dataclass(frozen=True)
class Sums:
    """An accumulator: rows of A and columns of B (None until the first mma), the K ranges summed."""

    rows: Optional[tuple[int, int]]
    cols: Optional[tuple[int, int]]
    ks: tuple[tuple[int, int], ...]
    zero: m.Stmt
    last: m.Stmt  # the op that last changed it


@dataclass(frozen=True)
class StageSums:
    """An accumulator that wgmma fills from TMA stages (ordered by mbarriers, not block barriers,
    so the stages' contents are not tracked): the K elements summed and which stage fills it
    read, as (shared tile, buffer, how many waits on the stage's barrier came before)."""

    k_elements: int
    seen: frozenset[tuple[str, int, int]]
    zero: m.Stmt
    last: m.Stmt


Tag = Union[Operand, Sums, StageSums, None]


def _subtract(rect: Rect, cut: Rect) -> list[Rect]:
    """``rect`` minus ``cut`` as up to four rectangles."""
    inner = rect.intersect(cut)
    if inner is None:
        return [rect]
    parts = []
    if rect.r0 < inner.r0:
        parts.append(Rect(rect.r0, inner.r0, rect.c0, rect.c1))
    if inner.r1 < rect.r1:
        parts.append(Rect(inner.r1, rect.r1, rect.c0, rect.c1))
    if rect.c0 < inner.c0:
        parts.append(Rect(inner.r0, inner.r1, rect.c0, inner.c0))
    if inner.c1 < rect.c1:
        parts.append(Rect(inner.r0, inner.r1, inner.c1, rect.c1))
    return parts


def _write(pieces: list[Piece], new: Piece) -> list[Piece]:
    n = new.rect
    out = []
    for piece in pieces:
        r = piece.rect
        if r.r0 >= n.r1 or n.r0 >= r.r1 or r.c0 >= n.c1 or n.c0 >= r.c1:
            out.append(piece)  # untouched
            continue
        for part in _subtract(r, n):
            out.append(Piece(part, piece.matrix, piece.dr, piece.dc, piece.writer))
    out.append(new)
    return out


def _read(pieces: list[Piece], rect: Rect) -> Optional[Operand]:
    """What ``rect`` holds when one fill covers it with one translation; None otherwise."""
    r0, r1, c0, c1 = rect.r0, rect.r1, rect.c0, rect.c1
    first: Optional[Piece] = None
    area = 0
    for piece in pieces:
        p = piece.rect
        if p.r0 >= r1 or r0 >= p.r1 or p.c0 >= c1 or c0 >= p.c1:
            continue
        if not piece.matrix:
            return None
        if first is None:
            first = piece
        elif (piece.matrix, piece.dr, piece.dc) != (first.matrix, first.dr, first.dc):
            return None
        area += (min(r1, p.r1) - max(r0, p.r0)) * (min(c1, p.c1) - max(c0, p.c0))
    if first is None or area != (r1 - r0) * (c1 - c0):
        return None
    moved = Rect(r0 + first.dr, r1 + first.dr, c0 + first.dc, c1 + first.dc)
    return Operand(first.matrix, moved, first.writer)


def _add_k(ks: tuple[tuple[int, int], ...], k: tuple[int, int]) -> Optional[tuple[tuple[int, int], ...]]:
    """``ks`` with ``k`` merged in; None when ``k`` overlaps a range already summed."""
    for lo, hi in ks:
        if lo < k[1] and k[0] < hi:
            return None
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted((*ks, k)):
        if merged and merged[-1][1] == lo:
            merged[-1] = (merged[-1][0], hi)
        else:
            merged.append((lo, hi))
    return tuple(merged)


def _k_text(ks: tuple[tuple[int, int], ...]) -> str:
    return ", ".join(f"{lo}-{hi - 1}" for lo, hi in ks) if ks else "none"


@dataclass
class _Found:
    operand_k: Findings
    foreign: Findings
    missing_k: Findings
    position: Findings


@dataclass
class _Wave:
    """One wave's registers, stage buffers and in-flight asynchronous ops."""

    regs: dict[tuple[str, int], Tag] = field(default_factory=dict)
    stages: dict[str, Optional[Operand]] = field(default_factory=dict)
    #: in-flight stage loads: (counter, stage buffer, what it will hold)
    queue: list[tuple[str, str, Operand]] = field(default_factory=list)
    #: waits this wave made on each mbarrier (name, index): which fill of a TMA stage it sees
    waits: dict[tuple[str, int], int] = field(default_factory=dict)


class _Flow:
    def __init__(self, ctx: ValidationContext, sample: Sample, found: _Found):
        self.ctx, self.sample, self.found, self.kernel = ctx, sample, found, ctx.kernel
        self.shared: dict[tuple[str, int], list[Piece]] = defaultdict(list)

    def key(self, event: Event, ref: m.RegRef) -> tuple[str, int]:
        return ref.tile, 0 if ref.index is None else self.ctx.value(event, ref.index)

    def buffer(self, event: Event, ref: m.SharedRef) -> tuple[str, int]:
        return ref.tile, 0 if ref.buffer is None else self.ctx.value(event, ref.buffer)

    def run(self) -> None:
        sample = self.sample
        counts = {len(phases) for phases in sample.phases.values()}
        if len(counts) != 1:
            return  # barriers.divergent
        waves = {w: _Wave() for w in sample.traces}
        self.fill_barrier: dict[tuple[str, int], tuple[str, int]] = {}  # TMA stage -> its barrier
        for events in sample.traces.values():
            for event in events:
                if isinstance(event.op, m.TmaLoad):
                    self.fill_barrier[self.buffer(event, event.op.dst)] = self.bar(event, event.op.barrier)
        for phase in range(counts.pop()):
            landed: list[tuple[tuple[str, int], Piece]] = []
            for wave, state in waves.items():
                own: dict[tuple[str, int], list[Piece]] = {}
                writes: list[tuple[tuple[str, int], Piece]] = []
                for event in sample.phases[wave][phase]:
                    self.step(wave, state, event, own, writes)
                landed += writes
            for key, piece in landed:  # other waves see this phase's writes from the next phase on
                self.shared[key] = _write(self.shared[key], piece)

    def bar(self, event: Event, ref: m.BarRef) -> tuple[str, int]:
        return ref.barrier, 0 if ref.index is None else self.ctx.value(event, ref.index)

    def write(self, own: dict[tuple[str, int], list[Piece]], writes: list[tuple[tuple[str, int], Piece]],
              key: tuple[str, int], piece: Piece) -> None:
        if key not in own:
            own[key] = list(self.shared[key])
        own[key] = _write(own[key], piece)
        writes.append((key, piece))

    def step(self, wave: int, state: _Wave, event: Event, own: dict[tuple[str, int], list[Piece]],
             writes: list[tuple[tuple[str, int], Piece]]) -> None:
        """One op of one wave, read through ``ir.semantics``: retires, stage loads, fills of shared
        tiles from A / B (any op moving a global tile into shared memory, or a stage buffer into
        it), shared -> register loads, copies; zero / mma / store are what this rule is about."""
        op, kernel, value = event.op, self.kernel, self.ctx.value
        effects = self.ctx.effects(op)
        at = partial(value, event)
        if effects.retires is not None:
            retire = effects.retires
            mine = [item for item in state.queue if item[0] == retire.counter]
            for item in mine[: max(0, len(mine) - retire.keep)]:
                state.queue.remove(item)
                state.stages[item[1]] = item[2]
            return
        use = effects.global_use
        if effects.stage_writes and use is not None and not use.write and use.shape is not None:
            held = Operand(use.matrix, use.rect(at), op)
            for name in effects.stage_writes:
                if effects.completes is not None:
                    state.queue.append((effects.completes.counter, name, held))
                else:
                    state.stages[name] = held
            return
        shared_writes = [u for u in effects.shared if u.write]
        if shared_writes and not isinstance(op, m.StoreShared):
            if use is not None and not use.write and use.shape is not None:
                whole = use.rect(at)
                source: Optional[Operand] = Operand(use.matrix, whole, op)
            elif effects.stage_reads:
                source = state.stages.get(effects.stage_reads[0])
            else:
                source = None
            # An asynchronous load's timing is the hazard rules' (races.async-incomplete): here it
            # lands at issue for its own wave and at the end of the phase for the others.
            for shared_use in shared_writes:
                piece = Piece(shared_use.rect(wave, at), source.matrix if source else "",
                              source.rect.r0 if source else 0, source.rect.c0 if source else 0, op)
                self.write(own, writes, (shared_use.ref.tile, shared_use.buffer(at)), piece)
            return
        if isinstance(op, m.LoadShared):
            reg = kernel.register_tile(op.dst.tile)
            rect = tile_rect(value(event, op.row), value(event, op.col), reg.rows, reg.cols)
            key = self.buffer(event, op.src)
            found = _read(own[key] if key in own else self.shared[key], rect)
            state.regs[self.key(event, op.dst)] = Operand(found.matrix, found.rect, op) if found else None
            return
        if isinstance(op, m.Copy):
            state.regs[self.key(event, op.dst)] = state.regs.get(self.key(event, op.src))
            return
        if isinstance(op, m.Zero):
            state.regs[self.key(event, op.dst)] = Sums(None, None, (), op, op)
            return
        if isinstance(op, m.Mma):
            state.regs[self.key(event, op.d)] = self.mma(wave, state, event)
            return
        if isinstance(op, m.WaitBarrier):
            key = self.bar(event, op.barrier)
            state.waits[key] = state.waits.get(key, 0) + 1
            return
        if isinstance(op, m.Wgmma):
            # wgmma reads TMA-loaded stages ordered by mbarrier phases, not block-barrier phases:
            # their timing is ir/validate/rules/mbarriers.py's. Here: which fill of which stage each
            # accumulator summed (a stage fill twice is a K step twice) and how much K it holds.
            state.regs[self.key(event, op.d)] = self.wgmma(wave, state, event)
            return
        if isinstance(op, m.Store):
            self.store(wave, state.regs.get(self.key(event, op.src)), event)
            return
        if isinstance(op, m.StoreTma):  # the TMA epilogue: K held checked (position: hopper rules)
            held = state.regs.get(self.key(event, op.src))
            if isinstance(held, StageSums):
                self.store_stage_sums(wave, held, event)
            state.regs[self.key(event, op.src)] = None  # scaled in place
            for shared_use in shared_writes:
                self.write(own, writes, (shared_use.ref.tile, shared_use.buffer(at)),
                           Piece(shared_use.rect(wave, at), "", 0, 0, op))
            return
        for shared_use in shared_writes:  # accumulators through shared memory: not tracked further
            self.write(own, writes, (shared_use.ref.tile, shared_use.buffer(at)),
                       Piece(shared_use.rect(wave, at), "", 0, 0, op))
        for ref in effects.writes:  # any other op writing registers: their content is unknown
            state.regs[self.key(event, ref)] = None

    def mma(self, wave: int, state: _Wave, event: Event) -> Tag:
        op: m.Mma = event.op  # type: ignore[assignment]
        a, b, c = (state.regs.get(self.key(event, ref)) for ref in (op.a, op.b, op.c))
        if not (isinstance(a, Operand) and isinstance(b, Operand) and isinstance(c, Sums)):
            return None
        if a.matrix != "A" or b.matrix != "B":
            return None  # accumulators.operand-matrix
        rows, a_k = (a.rect.r0, a.rect.r1), (a.rect.c0, a.rect.c1)
        b_k, cols = b_k_n(self.kernel.globals.b_layout, b.rect.rows, b.rect.cols)
        kernel = self.kernel
        if a_k != b_k:
            where_ = self.sample.instance(event)
            newer = a if a_k > b_k else b
            self.found.operand_k.error(
                f"multiplies K {a_k[0]}-{a_k[1] - 1} of A (`{reg_text(op.a)}`, from {where(a.writer, kernel)}) by "
                f"K {b_k[0]}-{b_k[1] - 1} of B (`{reg_text(op.b)}`, from {where(b.writer, kernel)}) ({where_}): "
                f"{where(newer.writer, kernel)} overwrote a register tile before this, its last read",
                op=op,
                related=where(newer.writer, kernel),
                waves=(wave,),
                buffer=op.a.tile if newer is a else op.b.tile,
                fix="prefetch the next K step into other registers (`a_next`, then `k.copy(a, a_next)` after the "
                "mmas), or load after the last mma that reads the tile",
            )
            return None
        if c.rows is not None and (c.rows, c.cols) != (rows, cols):
            where_ = self.sample.instance(event)
            self.found.foreign.error(
                f"adds rows {rows[0]}-{rows[1] - 1}, cols {cols[0]}-{cols[1] - 1} of C into `{reg_text(op.c)}`, "
                f"which still holds the sums of rows {c.rows[0]}-{c.rows[1] - 1}, cols {c.cols[0]}-{c.cols[1] - 1} "
                f"(K {_k_text(c.ks)}) from {where(c.last, kernel)} ({where_}); the accumulator was last zeroed by "
                f"{where(c.zero, kernel)}, not for this output tile",
                op=op,
                key="tile",
                related=where(c.last, kernel),
                waves=(wave,),
                buffer=op.c.tile,
                fix="zero the accumulators at the start of each output tile: `k.zero(acc)` inside `with k.tiles():`, "
                "before the K loop",
            )
            return None
        ks = _add_k(c.ks, a_k)
        if ks is None:
            where_ = self.sample.instance(event)
            self.found.foreign.error(
                f"adds K {a_k[0]}-{a_k[1] - 1} into `{reg_text(op.c)}` a second time (it holds K {_k_text(c.ks)} "
                f"since {where(c.zero, kernel)}; {where_}); the product counts that K step twice",
                op=op,
                key="twice",
                related=where(c.last, kernel),
                waves=(wave,),
                buffer=op.c.tile,
                fix="each K step must be multiplied into each accumulator once: check the K loop bounds, the "
                "register prefetch and the shared slices",
            )
            return None
        return Sums(rows, cols, ks, c.zero, op)

    def wgmma(self, wave: int, state: _Wave, event: Event) -> Tag:
        op: m.Wgmma = event.op  # type: ignore[assignment]
        c = state.regs.get(self.key(event, op.d))
        if isinstance(c, Sums) and c.rows is None and not c.ks:
            c = StageSums(0, frozenset(), c.zero, c.zero)  # zeroed, nothing summed yet
        if not isinstance(c, StageSums):
            return None
        stage = self.buffer(event, op.a)
        barrier = self.fill_barrier.get(stage)
        if barrier is None:
            return None  # not a TMA stage: nothing to say
        token = (*stage, state.waits.get(barrier, 0))
        if token in c.seen:
            kernel = self.kernel
            self.found.foreign.error(
                f"adds the fill of `{stage[0]}[{stage[1]}]` it already summed into `{reg_text(op.d)}` a second time "
                f"(no wait on `{barrier[0]}[{barrier[1]}]` between the two; {self.sample.instance(event)}); the "
                f"product counts that K step twice. Zeroed by {where(c.zero, kernel)}",
                op=op,
                key="stage twice",
                related=where(c.last, kernel),
                waves=(wave,),
                buffer=op.d.tile,
                fix="one wgmma per accumulator and K step: wait on the stage's barrier for the next fill before "
                "reading the stage again",
            )
            return None
        cols = self.kernel.shared_tile(op.a.tile).cols
        return StageSums(c.k_elements + cols, c.seen | {token}, c.zero, op)

    def store_stage_sums(self, wave: int, held: StageSums, event: Event) -> None:
        """A stored wgmma accumulator holds exactly K elements of K: fewer is a zero inside the K
        loop (missing K), more is another tile's sums (not re-zeroed) or a stage summed twice."""
        op: m.Store | m.StoreTma = event.op  # type: ignore[assignment]
        k_total = self.sample.problem.k
        if held.k_elements == k_total:
            return
        kernel = self.kernel
        where_ = self.sample.instance(event)
        if held.k_elements < k_total:
            self.found.missing_k.error(
                f"stores `{reg_text(op.src)}` holding the sums of {held.k_elements} of the {k_total} K elements "
                f"({where_}); {where(held.zero, kernel)} zeroed it after the earlier K steps were added",
                op=op,
                key="stage sums",
                related=where(held.zero, kernel),
                waves=(wave,),
                buffer=op.src.tile,
                fix="zero the accumulators once per output tile, before the K loop (not inside it), and multiply "
                "every K step into them",
            )
            return
        self.found.foreign.error(
            f"stores `{reg_text(op.src)}` holding the sums of {held.k_elements} K elements, more than the {k_total} "
            f"of this output tile ({where_}): it still holds another tile's sums, last zeroed by "
            f"{where(held.zero, kernel)}",
            op=op,
            key="stage sums",
            related=where(held.zero, kernel),
            waves=(wave,),
            buffer=op.src.tile,
            fix="zero the accumulators at the start of each output tile: `k.zero(acc)` inside `with k.tiles():`, "
            "before the K loop",
        )

    def store(self, wave: int, held: Tag, event: Event) -> None:
        if isinstance(held, StageSums):
            self.store_stage_sums(wave, held, event)
            return
        if not isinstance(held, Sums):
            return
        op: m.Store = event.op  # type: ignore[assignment]
        kernel = self.kernel
        access = global_access(self.ctx.effects(op), event, self.ctx.value)
        assert access is not None
        k_total = self.sample.problem.k
        if held.rows is not None:
            here = ((access.rect.r0, access.rect.r1), (access.rect.c0, access.rect.c1))
            if here != (held.rows, held.cols):
                where_ = self.sample.instance(event)
                self.found.position.error(
                    f"stores `{reg_text(op.src)}` at {access.rect.text()} of C, but it holds the sums of rows "
                    f"{held.rows[0]}-{held.rows[1] - 1}, cols {held.cols[0]}-{held.cols[1] - 1} "  # type: ignore[index]
                    f"(from {where(held.last, kernel)}; {where_}): another wave's or tile's position",
                    op=op,
                    related=where(held.last, kernel),
                    waves=(wave,),
                    buffer=op.src.tile,
                    fix="store each accumulator at the position of the A rows and B columns it multiplied: use the "
                    "same warp-row / warp-col terms in the store as in the loads (rows from a, cols from b)",
                )
                return
        if held.ks != ((0, k_total),):
            where_ = self.sample.instance(event)
            self.found.missing_k.error(
                f"stores `{reg_text(op.src)}` holding the sums of K {_k_text(held.ks)} only, of 0-{k_total - 1} "
                f"({where_}); {where(held.zero, kernel)} zeroed it after the earlier K steps were added",
                op=op,
                related=where(held.zero, kernel),
                waves=(wave,),
                buffer=op.src.tile,
                fix="zero the accumulators once per output tile, before the K loop (not inside it), and multiply "
                "every K step into them",
            )


def _run(ctx: ValidationContext) -> _Found:
    def compute() -> _Found:
        found = _Found(
            Findings("accumulators.operand-k", ctx.kernel),
            Findings("accumulators.foreign-sums", ctx.kernel),
            Findings("accumulators.missing-k", ctx.kernel),
            Findings("accumulators.store-position", ctx.kernel),
        )
        for sample in ctx.samples:
            _Flow(ctx, sample, found).run()
        return found

    return ctx.memo("accumulators", compute)


def check_operand_k(ctx: ValidationContext) -> list[Diagnostic]:
    """An mma's a and b hold the same K range: no register tile is overwritten (e.g. by the next
    step's prefetch) before its last read."""
    return _run(ctx).operand_k.diagnostics()


def check_foreign_sums(ctx: ValidationContext) -> list[Diagnostic]:
    """An mma never adds into an accumulator holding another tile's sums (not re-zeroed between
    the output tiles of a persistent block), nor adds a K range twice."""
    return _run(ctx).foreign.diagnostics()


def check_missing_k(ctx: ValidationContext) -> list[Diagnostic]:
    """A stored accumulator holds the sums of all of K (a zero inside the K loop drops steps)."""
    return _run(ctx).missing_k.diagnostics()


def check_store_position(ctx: ValidationContext) -> list[Diagnostic]:
    """An accumulator is stored at the C position of the A rows and B columns it multiplied."""
    return _run(ctx).position.diagnostics()


__all__ = [
    "check_foreign_sums",
    "check_missing_k",
    "check_operand_k",
    "check_operand_matrix",
    "check_shared_matrix",
    "check_store_position",
]
