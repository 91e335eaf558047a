"""The machine: one simulated GEMM (``Run``) and, inside it, one block at a time (``BlockRun``).

A block runs every wave up to its next barrier (waves follow ``ir.trace.iter_wave``), then checks
the phase that just ended (races between waves, group collectives run by their whole group) and
starts the next. Checks that need no other wave (bounds, register indices, reads of registers
never written) fire on the op itself.

Values: every tile is a float32 tensor; tiles whose dtype is bf16 hold only bf16-representable
values (writes round), so mma runs as an f32 matmul on exactly the data the GPU would see.
Register tiles are never modified in place, so a copy is a reference and ``Zero`` shares one
tensor per shape.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import NoReturn, Optional

import torch

from backends.simulator.hazards import Access, Findings, find_races
from backends.simulator.render import (
    branch_text,
    buffer_text,
    env_text,
    placement_text,
    region_text,
    separating_branch,
)
from ir import models as m
from ir.block_order import num_blocks, tile_grid, tiles_of_block
from ir.diagnostics import Diagnostic, SimulationError, format_waves
from ir.expr import evaluate
from ir.plan import plan
from ir.semantics import (
    GlobalUse,
    Rect,
    Retire,
    Semantics,
    b_text,
    missing_index,
    missing_index_fix,
    mma_shapes,
    problem_n,
)
from ir.trace import Event, Problem, TraceLimitError, iter_wave
from ir.validate.describe import describe, reg_text, shared_text


class Hazard(Exception):
    """A rule broke inside the machine; the block turns it into a ``SimulationError``."""

    def __init__(self, findings: Findings):
        super().__init__("simulation hazard")
        self.findings = findings


def round_to(values: torch.Tensor, dtype: str, source: str = "f32") -> torch.Tensor:
    """``values`` (of dtype ``source``) as a tile of ``dtype`` holds them: bf16 rounding, kept in
    float32; nothing to do when they already are bf16 values."""
    return values.to(torch.bfloat16).to(torch.float32) if dtype == "bf16" and source != "bf16" else values


@dataclass
class StoreRecord:
    block: int
    wave: int
    event: Event
    rows: tuple[int, int]
    cols: tuple[int, int]


class Run:
    """Everything one ``simulate`` call shares across blocks: the operands, C, and its write counts."""

    def __init__(
        self,
        kernel: m.Kernel,
        a: torch.Tensor,
        b: torch.Tensor,
        c_old: Optional[torch.Tensor],
        *,
        alpha: float,
        beta: float,
    ):
        self.kernel = kernel
        self.operands = {"A": a, "B": b}
        self.semantics = Semantics(kernel)
        #: The decisions the emitted code embodies (ir/plan.py): the epilogue scales in place here too.
        self.plan = plan(kernel, self.semantics)
        k = a.shape[1]
        n = problem_n(kernel.globals.b_layout, *b.shape)
        self.problem = Problem(a.shape[0], n, k)
        self.c_old = c_old
        self.alpha, self.beta = alpha, beta
        self.out = torch.full((self.problem.m, n), float("nan"))
        self.counts = torch.zeros((self.problem.m, n), dtype=torch.int32)
        self.stores: list[StoreRecord] = []
        self.tile_owner: dict[tuple[int, int], int] = {}
        #: Declarations by kind and name (ops name them on every event).
        self.declared: dict[str, dict[str, object]] = {
            "register tile": {t.name: t for t in kernel.registers},
            "shared tile": {t.name: t for t in kernel.shared},
            "stage buffer": {s.name: s for s in kernel.stages},
        }

    def execute(self, progress: Optional[Callable[[int, int], None]] = None) -> torch.Tensor:
        """Run every block; ``progress(done, total)`` after each (for a caller's progress line)."""
        launch = self.kernel.launch
        total = num_blocks(launch, self.problem.m, self.problem.n)
        for block in range(total):
            for tile in tiles_of_block(launch, block, self.problem.m, self.problem.n):
                self.tile_owner.setdefault(tile, block)
            BlockRun(self, block).execute()
            if progress is not None:
                progress(block + 1, total)
        self._check_coverage()
        return self.out

    def write_c(self, block: int, wave: int, event: Event, rows: tuple[int, int], cols: tuple[int, int],
                values: torch.Tensor) -> torch.Tensor:
        """The epilogue C = alpha * values + beta * C_old on one rectangle, counting every write;
        returns alpha * values + beta * C_old before its rounding to C's dtype."""
        (r0, r1), (c0, c1) = rows, cols
        counts = self.counts[r0:r1, c0:c1]
        if bool(counts.any()):
            self._written_twice(block, wave, event, rows, cols, int(counts.count_nonzero()))
        result = values * self.alpha
        if self.beta != 0.0 and self.c_old is not None:
            result = result + self.beta * self.c_old[r0:r1, c0:c1]
        self.out[r0:r1, c0:c1] = round_to(result, self.kernel.globals.c_dtype)
        counts += 1
        self.stores.append(StoreRecord(block, wave, event, rows, cols))
        return result

    def _written_twice(self, block: int, wave: int, event: Event, rows: tuple[int, int], cols: tuple[int, int],
                       count: int) -> NoReturn:
        mine = Rect(*rows, *cols)
        earlier = next(s for s in reversed(self.stores) if Rect(*s.rows, *s.cols).overlaps(mine))
        findings = Findings()
        findings.add(
            "shapes.store-coverage",
            (),
            message=(
                f"wave {wave} of block {block} writes C {region_text(*rows, *cols)} ({env_text(event.env)}), "
                f"but {count} of these elements were already written by wave {earlier.wave} of block "
                f"{earlier.block}: {describe(earlier.event.op, self.kernel)} at line {earlier.event.op.loc.line} "
                f"({env_text(earlier.event.env)})"
            ),
            op=describe(event.op, self.kernel),
            waves=(wave,),
            loc=event.op.loc,
            buffer="C",
            fix=(
                "every element of C must be stored exactly once: store coordinates count tiles of the stored "
                "tile's shape, and each wave stores only the accumulators it owns"
            ),
        )
        raise Hazard(findings)

    def _check_coverage(self) -> None:
        missing = self.counts == 0
        if not bool(missing.any()):
            return
        launch = self.kernel.launch
        bm, bn = launch.block_m, launch.block_n
        rows, cols = tile_grid(launch, self.problem.m, self.problem.n)
        per_tile = missing.reshape(rows, bm, cols, bn).sum(dim=(1, 3))
        parts = []
        for tr, tc in per_tile.nonzero().tolist()[:4]:
            hole = missing[tr * bm : (tr + 1) * bm, tc * bn : (tc + 1) * bn].nonzero()
            r0, c0 = (hole.min(dim=0).values + torch.tensor([tr * bm, tc * bn])).tolist()
            r1, c1 = (hole.max(dim=0).values + torch.tensor([tr * bm + 1, tc * bn + 1])).tolist()
            owner = self.tile_owner.get((tr, tc))
            by = f", block {owner}" if owner is not None else ", computed by no block"
            parts.append(
                f"output tile ({tr}, {tc}){by}: {int(per_tile[tr, tc])} elements, within {region_text(r0, r1, c0, c1)}"
            )
        more = int(per_tile.count_nonzero()) - len(parts)
        findings = Findings()
        findings.add(
            "shapes.store-coverage",
            (),
            message=(
                f"{int(missing.sum())} of {missing.numel()} elements of C are never written. "
                + "; ".join(parts)
                + (f"; and {more} more tiles" if more > 0 else "")
            ),
            op="store(g.c, ...)",
            waves=(),
            loc=self.kernel.loc,
            buffer="C",
            fix=(
                "store every accumulator once (is a k.store missing or inside a branch some waves skip?), "
                "check store coordinates (units: tiles of the stored tile's shape), and that the block order "
                "gives every output tile to a block"
            ),
        )
        raise SimulationError(findings.diagnostics())


@dataclass
class _AsyncLoad:
    """An asynchronous load in flight: it lands at the issuing wave's completing ``AsyncWait``."""

    event: Event
    data: torch.Tensor
    counter: str  # what completes it (``ir.semantics.Pending``)
    access: Optional[Access] = None  # shared target (GroupLoad)
    stage: Optional[str] = None  # stage buffer target (StageLoad)


class _Wave:
    def __init__(self, kernel: m.Kernel, warp: int):
        self.warp = warp
        self.regs: dict[str, list[Optional[torch.Tensor]]] = {t.name: [None] * t.count for t in kernel.registers}
        self.stages: dict[str, Optional[torch.Tensor]] = {s.name: None for s in kernel.stages}
        self.pending: deque[_AsyncLoad] = deque()
        self.barriers: list[Event] = []


@dataclass
class _GroupRun:
    """What each warp of one group did with one collective op in one phase."""

    op: m.Stmt
    size: int
    group: int
    signatures: dict[int, list[tuple]]
    events: dict[int, Event]


class BlockRun:
    def __init__(self, run: Run, block: int):
        self.run = run
        self.kernel = kernel = run.kernel
        self.block = block
        self.shared = {t.name: torch.full((t.buffers, t.rows, t.cols), float("nan")) for t in kernel.shared}
        self.written = {t.name: torch.zeros((t.buffers, t.rows, t.cols), dtype=torch.bool) for t in kernel.shared}
        warps = range(kernel.launch.num_warps)
        self.waves = [_Wave(kernel, w) for w in warps]
        self.traces: list[Iterator[Event]] = [iter_wave(kernel, w, block, run.problem) for w in warps]
        self.phase = 0
        self.accesses: list[Access] = []
        self.group_runs: dict[tuple[int, int], _GroupRun] = {}
        self.block_group_runs: dict[tuple[int, int], _GroupRun] = {}
        #: Uninitialised reads wait for the phase's race check: a race explains them better.
        self.deferred = Findings()
        self._zeros: dict[tuple[int, int], torch.Tensor] = {}
        self._ops: dict[type, Callable[[_Wave, Event], None]] = {
            m.Zero: self._zero,
            m.Copy: self._copy,
            m.GroupLoad: self._group_load,
            m.StageLoad: self._stage_load,
            m.StageStore: self._stage_store,
            m.LoadShared: self._load_shared,
            m.StoreShared: self._store_shared,
            m.Mma: self._mma,
            m.Store: self._store,
            m.GroupStore: self._group_store,
        }

    # -- phases -----------------------------------------------------------------------------------
    def execute(self) -> None:
        try:
            if self.kernel.mbarriers:  # waves meet at mbarrier phases: backends/simulator/mbarriers.py
                from backends.simulator.mbarriers import run_block

                run_block(self)
                return
            self._run_phases()
        except Hazard as hazard:
            # Once barrier counts differ, phases stop lining up and later findings are echoes of it.
            raise SimulationError(self._divergence() or hazard.findings.diagnostics()) from None
        except TraceLimitError as error:
            raise SimulationError([Diagnostic(rule="structure.traceable", severity="error", message=str(error),
                                              loc=self.kernel.loc, fix="check the loop bounds")]) from None

    def _run_phases(self) -> None:
        active = list(range(len(self.waves)))
        while True:
            arrived, finished = [], []
            for w in active:
                wave = self.waves[w]
                for event in self.traces[w]:
                    if isinstance(event.op, m.Barrier):
                        wave.barriers.append(event)
                        if event.cluster is not None and event.op is not event.cluster.closing:
                            self._barrier_in_cluster(wave, event)
                        arrived.append(w)
                        break
                    effects = self.run.semantics.of(event.op)
                    if effects.retires is not None:
                        self._retire(wave, effects.retires)
                    handler = self._ops.get(type(event.op))
                    if handler is not None:
                        handler(wave, event)
                else:
                    finished.append(w)
            self._close_phase()
            if arrived and finished:
                raise Hazard(Findings())  # execute() names the divergence
            if not arrived:
                break
            self._open_phase()
        findings = Findings()
        self._check_groups(findings, self.block_group_runs)
        if findings:
            raise Hazard(findings)
        for wave in self.waves:
            if wave.pending:
                first = wave.pending[0].event
                self._fail(
                    "races.async-incomplete",
                    wave,
                    first,
                    f"wave {wave.warp} ends with {len(wave.pending)} asynchronous load(s) still in flight; "
                    f"the first was issued with {env_text(first.env)}, and its data never lands",
                    "wait for every asynchronous load (k.wait(0)) before its target is used and before the end",
                )

    def _barrier_in_cluster(self, wave: _Wave, event: Event) -> NoReturn:
        cluster: m.Cluster = event.cluster  # type: ignore[assignment]
        self._fail(
            "structure.cluster-barrier",
            wave,
            event,
            f"wave {wave.warp} reaches a barrier inside the scheduling cluster of line {cluster.loc.line}; the "
            "cluster's scheduling fence cannot keep a block that a barrier cuts in two together",
            "end the cluster where the barrier is (every cluster closes with a barrier) and open a new one",
        )

    def _open_phase(self) -> None:
        self.phase += 1
        self.group_runs = {}
        # An asynchronous load is still writing its target in every phase until it lands.
        self.accesses = [load.access for wave in self.waves for load in wave.pending if load.access is not None]

    def _close_phase(self) -> None:
        findings = Findings()
        self._check_groups(findings)
        for first, second, region in find_races(self.accesses):
            self._report_race(findings, first, second, region)
        if findings:
            raise Hazard(findings)
        if self.deferred:
            raise Hazard(self.deferred)

    def _divergence(self) -> list[Diagnostic]:
        """The barrier-count mismatch between waves, if any: finishes the traces without data to
        count every wave's barriers."""
        for wave, trace in zip(self.waves, self.traces, strict=True):
            try:
                wave.barriers.extend(e for e in trace if isinstance(e.op, m.Barrier))
            except TraceLimitError:
                continue
        counts = {w.warp: len(w.barriers) for w in self.waves}
        fewest = min(counts.values())
        if fewest == max(counts.values()):
            return []
        by_count: dict[int, list[int]] = {}
        for warp, count in counts.items():
            by_count.setdefault(count, []).append(warp)
        summary = "; ".join(
            f"wave{'s' if len(ws) > 1 else ''} {format_waves(ws)}: {n} barrier{'s' if n != 1 else ''}"
            for n, ws in sorted(by_count.items())
        )
        extra = [w for w in self.waves if len(w.barriers) > fewest]
        short = [w for w, n in counts.items() if n == fewest]
        fix = (
            "every wave must reach the same number of barriers: move the barrier out of the branch, or give each "
            "branch (each role) the same number of k.sync() calls"
        )
        blamed = self._barrier_under_condition(extra, short)
        if blamed is not None:
            event, branch = blamed
            plural = "s" if len(short) > 1 else ""
            where = (
                f"The barrier at line {event.op.loc.line} (reached with {env_text(event.env)}) is inside "
                f"{branch_text(self.kernel, branch, event.env)}, which wave{plural} {format_waves(short)} do not take."
            )
            op, loc = describe(event.op, self.kernel), event.op.loc
        elif self._roles_of(short).isdisjoint(self._roles_of([w.warp for w in extra])):
            # Roles may place barriers differently (matched by count); which role is wrong is unknowable.
            roles = sorted(self._roles_of(list(counts)) - {None})  # type: ignore[type-var]
            where = (
                "The counts differ between roles (" + ", ".join(self._role_text(r) for r in roles) + "): roles may "
                "place their barriers differently, since waves match barriers by count, but each must reach the "
                "same number. A k.sync() is missing in one role or extra in another."
            )
            short_role = self.kernel.role_of_warp(short[0])
            op, loc = None, short_role.loc if short_role else self.kernel.loc
        else:
            event = extra[0].barriers[fewest]
            where = (
                f"Barrier #{fewest + 1} of wave {extra[0].warp} (reached with {env_text(event.env)}) has no partner "
                "on the other waves and is in no branch they skip: a loop around it runs a different number of "
                "times on different waves."
            )
            op, loc = describe(event.op, self.kernel), event.op.loc
        return [
            Diagnostic(
                rule="barriers.divergent",
                severity="error",
                message=f"waves reach different numbers of barriers ({summary}). {where}",
                op=op,
                waves=tuple(w.warp for w in extra),
                loc=loc,
                fix=fix,
            )
        ]

    def _roles_of(self, warps: list[int]) -> set[Optional[str]]:
        return {role.name if (role := self.kernel.role_of_warp(w)) else None for w in warps}

    def _role_text(self, name: str) -> str:
        role = self.kernel.role(name)
        return f"role `{name}` is waves {role.first}-{role.first + role.count - 1}"

    def _barrier_under_condition(self, extra: list[_Wave], short: list[int]) -> Optional[tuple[Event, m.If]]:
        """The first barrier the waves with more barriers reach inside an ``if`` the others would
        not take: the likeliest culprit of a count mismatch."""
        for wave in extra:
            for event in wave.barriers:
                branch = separating_branch(self.kernel, event, short)
                if isinstance(branch, m.If):
                    return event, branch
        return None

    # -- checks at the end of a phase ---------------------------------------------------------------
    def _record_group(self, op: m.Stmt, size: int, wave: _Wave, event: Event, signature: tuple) -> None:
        key = (id(op), wave.warp // size)
        # A stage load / store moves each warp's own share through its own registers, and an
        # asynchronous group load lands each warp's share at that warp's own wait: the warps of the
        # group need not run it in the same barrier phase (a ping-pong's halves run it one phase
        # apart), only the same number of times with the same coordinates over the block's run.
        own_pace = isinstance(op, (m.StageLoad, m.StageStore)) or (isinstance(op, m.GroupLoad) and op.is_async)
        runs = self.block_group_runs if own_pace else self.group_runs
        run = runs.get(key)
        if run is None:
            run = runs[key] = _GroupRun(op, size, wave.warp // size, {}, {})
        run.signatures.setdefault(wave.warp, []).append((*signature, event.tile_iter))
        run.events.setdefault(wave.warp, event)

    def _check_groups(self, findings: Findings, runs: Optional[dict[tuple[int, int], _GroupRun]] = None) -> None:
        count = len(self.waves)
        when = f"In barrier phase #{self.phase}" if runs is None else "Over the block's run"
        for run in (self.group_runs if runs is None else runs).values():
            members = range(run.group * run.size, (run.group + 1) * run.size)
            missing = [w for w in members if w not in run.signatures]
            some = next(iter(run.events.values()))
            text = describe(run.op, self.kernel)
            if missing:
                ran = sorted(run.signatures)
                absent = [w for w in missing if w >= count]
                why = f" (the block has only {count} warps)" if absent else ""
                inside = placement_text(self.kernel, some, missing)
                findings.add(
                    "collectives.incomplete-group",
                    (id(run.op),),
                    message=(
                        f"{text} is a collective of warps {members.start}-{members.stop - 1}: each moves 1/{run.size} "
                        f"of the tile. {when} only wave(s) {format_waves(ran)} ran it and "
                        f"wave(s) {format_waves(missing)} did not{why}, so part of the tile is never moved. {inside}"
                    ),
                    op=text,
                    waves=tuple(ran),
                    loc=run.op.loc,
                    fix=(
                        f"run it on all {run.size} warps of the group (not under a per-warp condition), or give it "
                        f"a group size that matches the warps that run it"
                    ),
                )
                continue
            reference = run.signatures[members.start]
            differ = [w for w in members if run.signatures[w] != reference]
            if differ:
                findings.add(
                    "collectives.incomplete-group",
                    (id(run.op),),
                    message=(
                        f"the warps of group {run.group} run {text} with different coordinates or buffers "
                        f"({when.lower()}): wave {members.start} ran {reference}, wave {differ[0]} ran "
                        f"{run.signatures[differ[0]]} (target, buffer, row, col, tile)"
                    ),
                    op=text,
                    waves=(members.start, *differ),
                    loc=run.op.loc,
                    fix="a collective's coordinates must be the same on every warp of the group (no `warp` in them)",
                )

    def _report_race(self, findings: Findings, first: Access, second: Access, region: tuple[int, ...]) -> None:
        tile = self.kernel.shared_tile(first.tile)

        def what(access: Access) -> str:
            verb = "writes" if access.write else "reads"
            late = " (asynchronously, landing at its wait)" if access.in_flight else ""
            return (
                f"wave {access.wave} {verb}{late} {region_text(access.r0, access.r1, access.c0, access.c1)} with "
                f"{describe(access.event.op, self.kernel)} at line {access.event.op.loc.line} "
                f"({env_text(access.event.env)})"
            )

        fix = "put a k.sync() between them, or have them use different pipeline buffers"
        if first.in_flight or second.in_flight:
            fix = "touch an asynchronous load's target only after the issuing wave's k.wait(...) and a k.sync()"
        ops = sorted((id(first.event.op), id(second.event.op)))
        findings.add(
            "races.shared-race",
            (*ops,),
            message=(
                f"{what(first)}, while {what(second)}, in the same barrier phase (#{self.phase}): nothing orders "
                f"them, and they overlap at {buffer_text(tile, first.buffer)} {region_text(*region)}"
            ),
            op=describe(second.event.op, self.kernel),
            waves=(first.wave, second.wave),
            loc=second.event.op.loc,
            buffer=buffer_text(tile, first.buffer),
            fix=fix,
        )

    # -- helpers ------------------------------------------------------------------------------------
    def _fail(self, rule: str, wave: _Wave, event: Event, message: str, fix: str,
              buffer: Optional[str] = None) -> NoReturn:
        findings = Findings()
        findings.add(rule, (), message=message, op=describe(event.op, self.kernel), waves=(wave.warp,),
                     loc=event.op.loc, buffer=buffer, fix=fix)
        raise Hazard(findings)

    def _value(self, wave: _Wave, event: Event, expr: m.Expr) -> int:  # type: ignore[name-defined]
        try:
            return evaluate(expr, event.env)  # type: ignore[arg-type]
        except (KeyError, ZeroDivisionError) as error:
            self._fail("structure.variables", wave, event, f"{error.args[0]} (values: {env_text(event.env)})",
                       "use only builtin variables and enclosing loop variables, and never divide by zero")

    def _declared(self, wave: _Wave, event: Event, kind: str, name: str) -> object:
        found = self.run.declared[kind].get(name)
        if found is None:
            self._fail("structure.references", wave, event, f"no {kind} named `{name}`", "declare it before using it")
        return found

    def _check_scope(self, wave: _Wave, event: Event, scope: str, what: str) -> None:
        if scope == "kernel":
            return
        role = self.kernel.role(scope)
        if wave.warp not in role.warps:
            self._fail(
                "registers.scope",
                wave,
                event,
                f"{what} belongs to role `{scope}` (warps {role.first}-{role.first + role.count - 1}), but wave "
                f"{wave.warp} uses it: its registers exist only on that role's waves",
                f"use it only inside `with {scope}:`, or declare it at kernel scope",
            )

    def _register(self, wave: _Wave, event: Event, ref: m.RegRef) -> tuple[m.RegisterTile, int]:
        tile: m.RegisterTile = self._declared(wave, event, "register tile", ref.tile)  # type: ignore[assignment]
        self._check_scope(wave, event, tile.scope, f"register tile `{tile.name}`")
        if ref.index is None:
            problem = missing_index(self.kernel, ref)
            if problem is not None:
                self._fail("structure.references", wave, event, problem, missing_index_fix(self.kernel, ref))
            return tile, 0
        index = self._value(wave, event, ref.index)
        if not 0 <= index < tile.count:
            self._fail(
                "shapes.register-index",
                wave,
                event,
                f"{reg_text(ref)} is {tile.name}[{index}] with {env_text(event.env)}, but `{tile.name}` has "
                f"{tile.count} tile{'s' if tile.count > 1 else ''} (indices 0-{tile.count - 1})",
                "declare as many tiles as the schedule indexes (count=...), or fix the index expression",
            )
        return tile, index

    def _read_reg(self, wave: _Wave, event: Event, ref: m.RegRef) -> tuple[m.RegisterTile, torch.Tensor]:
        tile, index = self._register(wave, event, ref)
        value = wave.regs[tile.name][index]
        if value is None:
            self._fail(
                "registers.read-before-write",
                wave,
                event,
                f"wave {wave.warp} reads {tile.name}[{index}] ({env_text(event.env)}) but never wrote it: its "
                "registers hold garbage",
                "write it first (k.zero for an accumulator, k.load for an operand)",
            )
        return tile, value

    def _write_reg(self, wave: _Wave, tile: m.RegisterTile, index: int, value: torch.Tensor, source: str) -> None:
        wave.regs[tile.name][index] = round_to(value, tile.dtype, source)

    def _shared_buffer(self, wave: _Wave, event: Event, ref: m.SharedRef) -> tuple[m.SharedTile, int]:
        tile: m.SharedTile = self._declared(wave, event, "shared tile", ref.tile)  # type: ignore[assignment]
        if ref.buffer is None:
            problem = missing_index(self.kernel, ref)
            if problem is not None:
                self._fail("structure.references", wave, event, problem, missing_index_fix(self.kernel, ref),
                           buffer=tile.name)
            return tile, 0
        buffer = self._value(wave, event, ref.buffer)
        if not 0 <= buffer < tile.buffers:
            self._fail(
                "shapes.buffer-index",
                wave,
                event,
                f"{shared_text(ref)} is buffer {buffer} with {env_text(event.env)}, but `{tile.name}` has "
                f"{tile.buffers} (0-{tile.buffers - 1})",
                f"take the buffer index modulo {tile.buffers}, or declare more buffers",
                buffer=tile.name,
            )
        return tile, buffer

    def _subtile(self, wave: _Wave, event: Event, tile: m.SharedTile, buffer: int) -> tuple[int, int, int, int]:
        """Element rectangle of the subtile the op moves inside ``tile``, bounds-checked."""
        use = self.run.semantics.of(event.op).shared[0]
        assert use.subtile is not None and use.row is not None and use.col is not None
        rows, cols = use.subtile
        r, c = self._value(wave, event, use.row), self._value(wave, event, use.col)
        rect = use.rect(wave.warp, self._at(wave, event))
        r0, c0 = rect.r0, rect.c0
        if not rect.inside(tile.rows, tile.cols):
            fits = (tile.rows // rows, tile.cols // cols)
            valid = f"offsets 0-{fits[0] - 1} x 0-{fits[1] - 1}" if min(fits) > 0 else "no offset at all"
            self._fail(
                "shapes.subtile-bounds",
                wave,
                event,
                f"subtile ({r}, {c}) of {rows} x {cols} covers {region_text(r0, r0 + rows, c0, c0 + cols)} of "
                f"{buffer_text(tile, buffer)}, which is {tile.rows} x {tile.cols} ({env_text(event.env)})",
                f"offsets count subtiles of {rows} x {cols}, not elements; {tile.name} has room for {valid}",
                buffer=buffer_text(tile, buffer),
            )
        return r0, r0 + rows, c0, c0 + cols

    def _at(self, wave: _Wave, event: Event) -> Callable[[m.Expr], int]:  # type: ignore[name-defined]
        """Evaluates expressions where ``event`` runs (``ir.semantics.Values``)."""
        return lambda expr: self._value(wave, event, expr)

    def _global_share(self, wave: _Wave, event: Event, use: GlobalUse) -> torch.Tensor:
        """The rows of a global load's tile this wave moves."""
        share = use.wave_rect(wave.warp, self._at(wave, event))
        return self.run.operands[use.matrix][share.r0 : share.r1, share.c0 : share.c1]

    def _global_tile(self, wave: _Wave, event: Event, use: GlobalUse) -> Rect:
        """Element rectangle of the whole tile ``use`` moves in A, B or C, bounds-checked."""
        name = use.matrix
        assert use.shape is not None
        rows, cols = use.shape
        r, c = use.coords(self._at(wave, event))
        rect = use.rect(self._at(wave, event))
        r0, c0 = rect.r0, rect.c0
        matrix = self.run.out if name == "C" else self.run.operands[name]
        limit_r, limit_c = matrix.shape
        if not rect.inside(limit_r, limit_c):
            verb = "writes" if name == "C" else "reads"
            self._fail(
                "shapes.global-bounds",
                wave,
                event,
                f"tile ({r}, {c}) of {rows} x {cols} {verb} {name} {region_text(r0, r0 + rows, c0, c0 + cols)}, but "
                f"{name} is {limit_r} x {limit_c} ({env_text(event.env)})",
                f"global coordinates count whole {rows} x {cols} tiles (the moved tile's shape), not elements or "
                "block tiles: check the row / col expressions",
                buffer=name,
            )
        return rect

    def _check_not_in_flight(self, wave: _Wave, event: Event, access: Access) -> None:
        for load in wave.pending:
            target = load.access
            if target is not None and (target.tile, target.buffer) == (access.tile, access.buffer):
                region = target.overlap(access)
                if region is not None:
                    tile = self.kernel.shared_tile(access.tile)
                    self._fail(
                        "races.async-incomplete",
                        wave,
                        event,
                        f"wave {wave.warp} {'writes' if access.write else 'reads'} "
                        f"{buffer_text(tile, access.buffer)} {region_text(*region)} ({env_text(event.env)}) while "
                        f"its own {describe(load.event.op, self.kernel)} (line {load.event.op.loc.line}) is still "
                        "writing it",
                        "k.wait(...) for the load before touching its target",
                        buffer=buffer_text(tile, access.buffer),
                    )

    def _read_shared(self, wave: _Wave, event: Event, tile: m.SharedTile, buffer: int,
                     rect: tuple[int, int, int, int]) -> torch.Tensor:
        r0, r1, c0, c1 = rect
        access = Access(tile.name, buffer, r0, r1, c0, c1, wave.warp, False, event)
        self._check_not_in_flight(wave, event, access)
        self.accesses.append(access)
        written = self.written[tile.name][buffer, r0:r1, c0:c1]
        if not bool(written.all()):
            holes = (~written).nonzero()
            first_r, first_c = (holes[0] + torch.tensor([r0, c0])).tolist()
            self.deferred.add(
                "races.uninitialised-read",
                (id(event.op),),
                message=(
                    f"wave {wave.warp} reads {buffer_text(tile, buffer)} {region_text(*rect)} "
                    f"({env_text(event.env)}), but {len(holes)} of these {written.numel()} elements were not written "
                    f"before (first: row {first_r}, col {first_c})"
                ),
                op=describe(event.op, self.kernel),
                waves=(wave.warp,),
                loc=event.op.loc,
                buffer=buffer_text(tile, buffer),
                fix=(
                    "load the tile and k.sync() before reading it; a group load must run on every warp of its "
                    "group, and an asynchronous one must be waited for"
                ),
            )
        return self.shared[tile.name][buffer, r0:r1, c0:c1].clone()

    def _write_shared(self, wave: _Wave, event: Event, tile: m.SharedTile, buffer: int,
                      rect: tuple[int, int, int, int], values: torch.Tensor, source: str) -> None:
        r0, r1, c0, c1 = rect
        access = Access(tile.name, buffer, r0, r1, c0, c1, wave.warp, True, event)
        self._check_not_in_flight(wave, event, access)
        self.accesses.append(access)
        self._land(access, values, source)

    def _land(self, access: Access, values: torch.Tensor, source: str) -> None:
        tile: m.SharedTile = self.run.declared["shared tile"][access.tile]  # type: ignore[assignment]
        where = (access.buffer, slice(access.r0, access.r1), slice(access.c0, access.c1))
        self.shared[access.tile][where] = round_to(values, tile.dtype, source)
        self.written[access.tile][where] = True

    def _shape_error(self, wave: _Wave, event: Event, message: str, fix: str) -> NoReturn:
        rule = {m.Mma: "shapes.mma-shape", m.Copy: "shapes.load-dtype"}.get(type(event.op), "shapes.operand-tile")
        self._fail(rule, wave, event, message, fix)

    # -- ops ----------------------------------------------------------------------------------------
    def _zero(self, wave: _Wave, event: Event) -> None:
        op: m.Zero = event.op  # type: ignore[assignment]
        tile, index = self._register(wave, event, op.dst)
        shape = (tile.rows, tile.cols)
        zeros = self._zeros.get(shape)
        if zeros is None:
            zeros = self._zeros[shape] = torch.zeros(shape)
        wave.regs[tile.name][index] = zeros

    def _copy(self, wave: _Wave, event: Event) -> None:
        op: m.Copy = event.op  # type: ignore[assignment]
        src_tile, value = self._read_reg(wave, event, op.src)
        dst_tile, index = self._register(wave, event, op.dst)
        if (src_tile.rows, src_tile.cols) != (dst_tile.rows, dst_tile.cols):
            self._shape_error(wave, event, f"copies a {src_tile.rows} x {src_tile.cols} tile into a "
                              f"{dst_tile.rows} x {dst_tile.cols} one", "copy between tiles of one shape")
        self._write_reg(wave, dst_tile, index, value, src_tile.dtype)

    def _group_load(self, wave: _Wave, event: Event) -> None:
        op: m.GroupLoad = event.op  # type: ignore[assignment]
        effects = self.run.semantics.of(op)
        tile, buffer = self._shared_buffer(wave, event, op.dst)
        use, moved = effects.global_use, effects.shared[0]
        assert use is not None
        whole = self._global_tile(wave, event, use)
        self._record_group(op, op.group_size, wave, event, (tile.name, buffer, whole.r0, whole.c0))
        data = self._global_share(wave, event, use)
        share = moved.rect(wave.warp, self._at(wave, event))
        pending = effects.completes
        access = Access(tile.name, buffer, *share.rows, *share.cols, wave.warp, True, event, in_flight=bool(pending))
        self._check_not_in_flight(wave, event, access)
        self.accesses.append(access)
        if pending is not None:
            wave.pending.append(_AsyncLoad(event, data, pending.counter, access=access))
        else:
            self._land(access, data, "bf16")

    def _stage_load(self, wave: _Wave, event: Event) -> None:
        op: m.StageLoad = event.op  # type: ignore[assignment]
        stage: m.StageBuffer = self._declared(wave, event, "stage buffer", op.dst)  # type: ignore[assignment]
        self._check_scope(wave, event, stage.scope, f"stage buffer `{stage.name}`")
        effects = self.run.semantics.of(op)
        use, pending = effects.global_use, effects.completes
        assert use is not None and pending is not None
        whole = self._global_tile(wave, event, use)
        self._record_group(op, stage.group_size, wave, event, (stage.name, op.src, whole.r0, whole.c0))
        data = self._global_share(wave, event, use)
        wave.pending.append(_AsyncLoad(event, data, pending.counter, stage=stage.name))

    def _stage_store(self, wave: _Wave, event: Event) -> None:
        op: m.StageStore = event.op  # type: ignore[assignment]
        stage: m.StageBuffer = self._declared(wave, event, "stage buffer", op.src)  # type: ignore[assignment]
        self._check_scope(wave, event, stage.scope, f"stage buffer `{stage.name}`")
        tile, buffer = self._shared_buffer(wave, event, op.dst)
        if (stage.rows, stage.cols) != (tile.rows, tile.cols):
            self._shape_error(wave, event, f"stage `{stage.name}` holds a {stage.rows} x {stage.cols} tile but "
                              f"`{tile.name}` is {tile.rows} x {tile.cols}", "stage a tile shaped like its target")
        in_flight = next((load for load in wave.pending if load.stage == stage.name), None)
        if in_flight is not None:
            self._fail(
                "races.async-incomplete",
                wave,
                event,
                f"wave {wave.warp} stores stage `{stage.name}` to {buffer_text(tile, buffer)} "
                f"({env_text(event.env)}) while its {describe(in_flight.event.op, self.kernel)} "
                f"(line {in_flight.event.op.loc.line}) has not completed",
                "k.wait(...) until the stage load has landed before k.stage_store",
                buffer=buffer_text(tile, buffer),
            )
        data = wave.stages[stage.name]
        if data is None:
            self._fail("registers.read-before-write", wave, event,
                       f"wave {wave.warp} stores stage `{stage.name}` but never loaded it ({env_text(event.env)})",
                       "k.stage_load into it (and k.wait) first", buffer=buffer_text(tile, buffer))
        share = self.run.semantics.of(op).shared[0].rect(wave.warp, self._at(wave, event))
        self._record_group(op, stage.group_size, wave, event, (tile.name, buffer))
        self._write_shared(wave, event, tile, buffer, (*share.rows, *share.cols), data, "bf16")

    def _retire(self, wave: _Wave, retire: Retire) -> None:
        """All but the newest ``retire.keep`` of the wave's loads on ``retire.counter`` land."""
        mine = [load for load in wave.pending if load.counter == retire.counter]
        for load in mine[: max(0, len(mine) - retire.keep)]:
            wave.pending.remove(load)
            if load.access is not None:
                self._land(load.access, load.data, "bf16")
            else:
                wave.stages[load.stage] = load.data  # type: ignore[index]

    def _load_shared(self, wave: _Wave, event: Event) -> None:
        op: m.LoadShared = event.op  # type: ignore[assignment]
        dst, index = self._register(wave, event, op.dst)
        tile, buffer = self._shared_buffer(wave, event, op.src)
        rect = self._subtile(wave, event, tile, buffer)
        self._write_reg(wave, dst, index, self._read_shared(wave, event, tile, buffer, rect), tile.dtype)

    def _store_shared(self, wave: _Wave, event: Event) -> None:
        op: m.StoreShared = event.op  # type: ignore[assignment]
        src, value = self._read_reg(wave, event, op.src)
        tile, buffer = self._shared_buffer(wave, event, op.dst)
        rect = self._subtile(wave, event, tile, buffer)
        self._write_shared(wave, event, tile, buffer, rect, value, src.dtype)

    def _mma(self, wave: _Wave, event: Event) -> None:
        op: m.Mma = event.op  # type: ignore[assignment]
        a_tile, a = self._read_reg(wave, event, op.a)
        b_tile, b = self._read_reg(wave, event, op.b)
        c_tile, c = self._read_reg(wave, event, op.c)
        d_tile, index = self._register(wave, event, op.d)
        want = mma_shapes(op.variant, (a_tile.rows, a_tile.cols), (b_tile.rows, b_tile.cols))
        if (b_tile.rows, b_tile.cols) != want.b or (c_tile.rows, c_tile.cols) != want.cd or (
            d_tile.rows,
            d_tile.cols,
        ) != want.cd:
            want_b = f"{want.k} x N" if op.variant == "AB" else f"N x {want.k}"
            self._shape_error(
                wave,
                event,
                f"mma_{op.variant} needs a (M x K), b ({want.b_text}), c and d "
                f"(M x N); here a is {want.m} x {want.k}, b {b_tile.rows} x {b_tile.cols} (should be {want_b}), "
                f"c {c_tile.rows} x {c_tile.cols}, d {d_tile.rows} x {d_tile.cols}",
                f"mma_AB takes B as {b_text('kn')}, mma_ABt as {b_text('nk')}; size the tiles to match",
            )
        product = torch.addmm(c, a, b if op.variant == "AB" else b.t())
        self._write_reg(wave, d_tile, index, product, "f32")

    def _store(self, wave: _Wave, event: Event) -> None:
        op: m.Store = event.op  # type: ignore[assignment]
        tile, value = self._read_reg(wave, event, op.src)
        use = self.run.semantics.of(op).global_use
        assert use is not None
        rect = self._global_tile(wave, event, use)
        scaled = self.run.write_c(self.block, wave.warp, event, rect.rows, rect.cols, value)
        if id(op) in self.run.plan.scale_in_place:
            # The emitted epilogue scales the accumulator itself (mul(acc, acc, alpha), add beta * C):
            # so does the simulator, and a read of it afterwards sees the scaled values.
            _, index = self._register(wave, event, op.src)
            self._write_reg(wave, tile, index, scaled, "f32")

    def _group_store(self, wave: _Wave, event: Event) -> None:
        op: m.GroupStore = event.op  # type: ignore[assignment]
        effects = self.run.semantics.of(op)
        tile, buffer = self._shared_buffer(wave, event, op.src)
        use = effects.global_use
        assert use is not None
        whole = self._global_tile(wave, event, use)
        self._record_group(op, op.group_size, wave, event, (tile.name, buffer, whole.r0, whole.c0))
        share = effects.shared[0].rect(wave.warp, self._at(wave, event))
        values = self._read_shared(wave, event, tile, buffer, (*share.rows, *share.cols))
        target = use.wave_rect(wave.warp, self._at(wave, event))
        self.run.write_c(self.block, wave.warp, event, target.rows, target.cols, values)
