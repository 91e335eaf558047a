"""Compare what an emitted kernel did (a recorded wave log) with what was validated (the trace).

For every leaf op of a wave's validated trace (``ir.trace.wave_trace``), ``EXPECT`` says which log
line(s) the emitted code must produce, in the log's own format (include/kittens.cuh) with
schedule names where the log has ids. The log names tiles by construction order (``r3``) and
shared tiles by allocation (``s0.1``); the comparison binds each schedule tile to one id, one to
one, so the emitted code may name its tiles as it likes but must use the same tile for the same
schedule tile every time (a swapped index or buffer breaks the binding). Tile shapes and layouts
are checked when a tile is first bound.

Everything else is compared as numbers: coordinates (element rectangles), group sizes, waits,
barrier counts, and the value each store writes (``alpha * acc + beta * C``, followed through the
epilogue's mul / add / load of old C).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Optional, Union

from ir import models as m
from ir.block_order import num_blocks
from ir.expr import WARP, Expr, evaluate
from ir.semantics import OpEffects, Rect, Semantics
from ir.trace import Event, Problem, wave_trace

from .build import Recorded, RecorderError

# --------------------------------------------------------------------------------------------
# What a log line is expected to be
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tile:
    """A tile field: the schedule's tile ``name`` (``C_accum[1]``, ``As[0]``), bound to a log id.
    ``space`` is ``reg``, ``shared``, ``stage``, or ``temp`` (an epilogue temporary, which must be
    a tile that holds no schedule tile). ``decl`` is the expected type fields of its decl line."""

    space: str
    name: str
    decl: Optional[tuple[str, ...]] = None


@dataclass(frozen=True)
class Sum:
    """A stored value: ``(term, coefficient)`` where a term is a ``Tile`` (its content) or a
    literal token such as ``C@0,0,32,32`` (old C there). Zero coefficients are left out."""

    terms: tuple[tuple[Union[Tile, str], float], ...]


#: A field that matches anything (the barrier's kind: ``__syncthreads`` or ``tg::barrier``).
ANY = "*"

Field = Union[str, Tile, Sum]


@dataclass(frozen=True)
class Line:
    kind: str
    fields: tuple[Field, ...]


def _show_field(item: Field) -> str:
    if isinstance(item, Tile):
        return item.name
    if isinstance(item, Sum):
        parts = [f"{_show_field(t) if isinstance(t, Tile) else t}={c:g}" for t, c in item.terms if c != 0]
        return ";".join(parts) or "0"
    return item


def show_line(line: Line) -> str:
    return " ".join([line.kind, *(_show_field(f) for f in line.fields)])


# --------------------------------------------------------------------------------------------
# Expectations, one function per IR op kind
# --------------------------------------------------------------------------------------------


@dataclass
class Scope:
    """What an expectation needs besides the event: the kernel and the scalars of the run."""

    kernel: m.Kernel
    alpha: float
    beta: float
    semantics: Semantics = field(init=False)

    def __post_init__(self) -> None:
        self.semantics = Semantics(self.kernel)

    def reg(self, ref: m.RegRef, env: dict[str, int]) -> Tile:
        tile = self.kernel.register_tile(ref.tile)
        index = evaluate(ref.index, env) if ref.index is not None else 0
        name = tile.name if tile.count == 1 else f"{tile.name}[{index}]"
        return Tile("reg", name, (tile.dtype, str(tile.rows), str(tile.cols), tile.layout))

    def shared(self, ref: m.SharedRef, env: dict[str, int]) -> Tile:
        tile = self.kernel.shared_tile(ref.tile)
        buffer = evaluate(ref.buffer, env) if ref.buffer is not None else 0
        name = tile.name if tile.buffers == 1 else f"{tile.name}[{buffer}]"
        dtype = f"{tile.dtype}/tma" if tile.layout == "tma" else tile.dtype  # tg::tma_tile_bf vs st_bf
        return Tile("shared", name, (dtype, str(tile.rows), str(tile.cols)))

    def stage(self, name: str) -> Tile:
        stage = self.kernel.stage_buffer(name)
        return Tile("stage", stage.name, ("bf16", str(stage.rows), str(stage.cols), str(stage.group_size)))


def _fields(rect: Rect) -> tuple[str, str, str, str]:
    """A rectangle as the log writes it: row0 col0 rows cols."""
    return (str(rect.r0), str(rect.c0), str(rect.r1 - rect.r0), str(rect.c1 - rect.c0))


def _c_token(rect: Rect) -> str:
    """Old C over ``rect``, as a term of a stored value."""
    return "C@" + ",".join(_fields(rect))


#: One expectation: the log lines an op must produce, as alternatives (any one may match).
Expectation = Callable[[Scope, Event], list[list[Line]]]

# Rectangles come from ir.semantics (the one statement of what each op touches), never from here.


def _effects(s: Scope, e: Event) -> tuple[OpEffects, Callable[[Expr], int]]:
    return s.semantics.of(e.op), lambda expr: evaluate(expr, e.env)


def _global(s: Scope, e: Event) -> Rect:
    effects, value = _effects(s, e)
    assert effects.global_use is not None
    return effects.global_use.rect(value)


def _shared_rect(s: Scope, e: Event) -> Rect:
    effects, value = _effects(s, e)
    return effects.shared[0].rect(e.env[WARP], value)


def _zero(s: Scope, e: Event) -> list[list[Line]]:
    op = e.op
    assert isinstance(op, m.Zero)
    return [[Line("zero", (s.reg(op.dst, e.env),))]]


def _copy(s: Scope, e: Event) -> list[list[Line]]:
    op = e.op
    assert isinstance(op, m.Copy)
    return [[Line("copy", (s.reg(op.dst, e.env), s.reg(op.src, e.env)))]]


def _group_load(s: Scope, e: Event) -> list[list[Line]]:
    """A cooperative call: each wave of the group logs the whole tile it is part of."""
    op = e.op
    assert isinstance(op, m.GroupLoad)
    fields = (str(op.group_size), "1" if op.is_async else "0", s.shared(op.dst, e.env), op.src)
    return [[Line("group_load", (*fields, *_fields(_global(s, e))))]]


def _stage_load(s: Scope, e: Event) -> list[list[Line]]:
    op = e.op
    assert isinstance(op, m.StageLoad)
    group = str(s.kernel.stage_buffer(op.dst).group_size)
    return [[Line("stage_load", (group, s.stage(op.dst), op.src, *_fields(_global(s, e))))]]


def _stage_store(s: Scope, e: Event) -> list[list[Line]]:
    op = e.op
    assert isinstance(op, m.StageStore)
    group = str(s.kernel.stage_buffer(op.src).group_size)
    return [[Line("stage_store", (group, s.shared(op.dst, e.env), s.stage(op.src)))]]


def _async_wait(s: Scope, e: Event) -> list[list[Line]]:
    op = e.op
    assert isinstance(op, m.AsyncWait)
    return [[Line("async_wait", (str(op.pending),))]]


def _load_shared(s: Scope, e: Event) -> list[list[Line]]:
    op = e.op
    assert isinstance(op, m.LoadShared)
    return [[Line("load_shared", (s.reg(op.dst, e.env), s.shared(op.src, e.env), *_fields(_shared_rect(s, e))))]]


def _store_shared(s: Scope, e: Event) -> list[list[Line]]:
    op = e.op
    assert isinstance(op, m.StoreShared)
    return [[Line("store_shared", (s.shared(op.dst, e.env), *_fields(_shared_rect(s, e)), s.reg(op.src, e.env)))]]


def _mma(s: Scope, e: Event) -> list[list[Line]]:
    op = e.op
    assert isinstance(op, m.Mma)
    tiles = tuple(s.reg(r, e.env) for r in (op.d, op.a, op.b, op.c))
    return [[Line("mma", (op.variant, *tiles))]]


def _store(s: Scope, e: Event) -> list[list[Line]]:
    """C = alpha * src + beta * old C over the src tile's rectangle of C."""
    op = e.op
    assert isinstance(op, m.Store)
    rect = _global(s, e)
    value = Sum(((s.reg(op.src, e.env), s.alpha), (_c_token(rect), s.beta)))
    return [[Line("store", ("C", *_fields(rect), value))]]


def _group_store(s: Scope, e: Event) -> list[list[Line]]:
    """The group's waves store the shared tile, each its ``group_share`` of the rows. With alpha = 1
    and beta = 0 the group may store the whole tile in one cooperative call; otherwise each wave
    scales its share through a register tile on the way out."""
    op = e.op
    assert isinstance(op, m.GroupStore)
    effects, value = _effects(s, e)
    assert effects.global_use is not None
    shared = s.shared(op.src, e.env)
    part = _shared_rect(s, e)
    target = effects.global_use.wave_rect(e.env[WARP], value)
    temp = Tile("temp", f"<rows {part.r0}-{part.r1 - 1} of {shared.name}>")
    per_wave = [
        Line("load_shared", (temp, shared, *_fields(part))),
        Line("store", ("C", *_fields(target), Sum(((temp, s.alpha), (_c_token(target), s.beta))))),
    ]
    whole = [Line("group_store", (str(op.group_size), shared, "C", *_fields(effects.global_use.rect(value))))]
    return [whole, per_wave] if (s.alpha, s.beta) == (1.0, 0.0) else [per_wave]


def _barrier(s: Scope, e: Event) -> list[list[Line]]:
    # The barrier's number is filled in by the matcher (it counts the wave's barriers). The barrier
    # closing a scheduling cluster must be the fenced one, so the compiler moves nothing across it.
    closing = e.cluster is not None and e.op is e.cluster.closing
    return [[Line("barrier", ("#", "cluster" if closing else ANY))]]


def priority(event: Event) -> int:
    """The scheduling priority ``event`` runs at: its cluster's inside the body, 0 elsewhere (the
    closing barrier comes after the priority is set back to 0)."""
    cluster = event.cluster
    if cluster is None or event.op is cluster.closing:
        return 0
    return cluster.priority


# -- Hopper (sm_90a): TMA, mbarrier rings, wgmma ----------------------------------------------


def _bar(s: Scope, ref: m.BarRef, env: dict[str, int]) -> Tile:
    """An mbarrier of a ring (the emitted code declares every ring as an array)."""
    ring = s.kernel.mbarrier(ref.barrier)
    index = evaluate(ref.index, env) if ref.index is not None else 0
    return Tile("shared", f"{ring.name}[{index}]", ("mbarrier", "0", "0"))


def _tma_load(s: Scope, e: Event) -> list[list[Line]]:
    op = e.op
    assert isinstance(op, m.TmaLoad)
    fields = (s.shared(op.dst, e.env), op.src, *_fields(_global(s, e)), _bar(s, op.barrier, e.env))
    return [[Line("tma_load", fields)]]


def _arrive(s: Scope, e: Event) -> list[list[Line]]:
    op = e.op
    assert isinstance(op, m.Arrive)
    return [[Line("arrive", (_bar(s, op.barrier, e.env), str(op.expect_bytes)))]]


def _wait_barrier(s: Scope, e: Event) -> list[list[Line]]:
    op = e.op
    assert isinstance(op, m.WaitBarrier)
    return [[Line("wait_barrier", (_bar(s, op.barrier, e.env), str(evaluate(op.parity, e.env))))]]


def _wgmma(s: Scope, e: Event) -> list[list[Line]]:
    op = e.op
    assert isinstance(op, m.Wgmma)
    a_slice = str(evaluate(op.a_slice, e.env))
    fields = (op.variant, s.reg(op.d, e.env), s.shared(op.a, e.env), a_slice, s.shared(op.b, e.env))
    return [[Line("wgmma", fields)]]


def _wgmma_wait(s: Scope, e: Event) -> list[list[Line]]:
    op = e.op
    assert isinstance(op, m.WgmmaWait)
    return [[Line("wgmma_wait", (str(op.pending), s.reg(op.d, e.env)))]]


def _store_tma(s: Scope, e: Event) -> list[list[Line]]:
    """The warpgroup's 64 x N tile of C through the staging tile; this wave's rows of it get
    alpha * src + beta * old C (``GlobalUse.wave_rect``)."""
    op = e.op
    assert isinstance(op, m.StoreTma)
    effects, value = _effects(s, e)
    assert effects.global_use is not None
    staging = s.kernel.shared_tile(op.staging.tile)
    mine = effects.global_use.wave_rect(e.env[WARP], value)
    stored = Sum(((s.reg(op.src, e.env), s.alpha), (_c_token(mine), s.beta)))
    fields = (s.shared(op.staging, e.env), "C", f"{staging.rows}x{staging.cols}", "C")
    return [[Line("store_tma", (*fields, *_fields(effects.global_use.rect(value)), stored))]]


def _proxy_fence(s: Scope, e: Event) -> list[list[Line]]:
    return [[Line("proxy_fence", ())]]



#: What each leaf op of the IR must log. An op kind missing here fails every check of a schedule
#: that uses it, naming the kind.
EXPECT: dict[type, Expectation] = {
    m.Zero: _zero,
    m.Copy: _copy,
    m.GroupLoad: _group_load,
    m.StageLoad: _stage_load,
    m.StageStore: _stage_store,
    m.AsyncWait: _async_wait,
    m.LoadShared: _load_shared,
    m.StoreShared: _store_shared,
    m.Mma: _mma,
    m.Store: _store,
    m.GroupStore: _group_store,
    m.Barrier: _barrier,
    m.TmaLoad: _tma_load,
    m.Arrive: _arrive,
    m.WaitBarrier: _wait_barrier,
    m.Wgmma: _wgmma,
    m.WgmmaWait: _wgmma_wait,
    m.ProxyFence: _proxy_fence,
    m.StoreTma: _store_tma,
}


# --------------------------------------------------------------------------------------------
# Matching
# --------------------------------------------------------------------------------------------


class EmittedMismatch(AssertionError):
    """The emitted code did something other than the validated trace."""


class _Diff(Exception):
    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


@dataclass
class _Names:
    """A one-to-one binding of schedule names to log ids."""

    what: str
    forward: dict[str, str] = field(default_factory=dict)
    backward: dict[str, str] = field(default_factory=dict)

    def bind(self, name: str, ident: str) -> None:
        known = self.forward.get(name)
        if known is not None and known != ident:
            other = self.backward.get(ident)
            held = f"which holds {other}" if other else "which holds no schedule tile yet"
            raise _Diff(f"{name} is {self.what} {known} everywhere before, but here the code uses {ident} ({held})")
        other = self.backward.get(ident)
        if other is not None and other != name:
            raise _Diff(f"{self.what} {ident} holds {other}, but here the code uses it for {name}")
        self.forward[name] = ident
        self.backward[ident] = name


@dataclass
class _Wave:
    block: int
    warp: int
    decls: dict[str, tuple[str, ...]]
    regs: _Names
    stages: _Names
    shared: _Names
    barriers: int = 0

    def names(self, space: str) -> _Names:
        return {"reg": self.regs, "stage": self.stages, "shared": self.shared}[space]

    def tile(self, expected: Tile, actual: str, temps: dict[str, str]) -> None:
        if "{" in actual:
            ident, value = actual.split("{", 1)
            held = self.regs.backward.get(ident, ident)
            raise _Diff(
                f"the code reads {held} after the epilogue scaled it in place (it holds {value.rstrip('}')}), "
                "so this op sees alpha * acc (+ beta * C) instead of the accumulator"
            )
        if expected.space == "temp":
            if actual in self.regs.backward:
                raise _Diff(f"the epilogue's temporary is {actual}, which holds {self.regs.backward[actual]}")
            if temps.setdefault(expected.name, actual) != actual:
                raise _Diff(f"{expected.name} is {temps[expected.name]} before but {actual} here")
            return
        declared = self.decls.get(actual)
        if declared is None:
            raise _Diff(f"{actual} is no tile the code declared (out-of-bounds index?)")
        if expected.decl is not None and declared != expected.decl:
            raise _Diff(f"{actual} is declared {' '.join(declared)}, but {expected.name} is {' '.join(expected.decl)}")
        self.names(expected.space).bind(expected.name, actual)

    def sum(self, expected: Sum, actual: str, temps: dict[str, str]) -> None:
        got: dict[str, float] = {}
        if actual != "0":
            for term in actual.split(";"):
                token, _, coef = term.rpartition("=")
                got[token] = float(coef)
        want_literal = {t: c for t, c in expected.terms if isinstance(t, str) and c != 0}
        want_tiles = [(t, c) for t, c in expected.terms if isinstance(t, Tile) and c != 0]
        got_regs = {t: c for t, c in got.items() if t.startswith("r")}
        got_literal = {t: c for t, c in got.items() if not t.startswith("r")}
        if got_literal != want_literal or len(got_regs) != len(want_tiles):
            raise _Diff(f"the stored value is {actual}, not {_show_field(expected)}")
        for tile, coef in want_tiles:
            bound = self.regs.forward.get(tile.name) if tile.space != "temp" else temps.get(tile.name)
            ident = bound if bound in got_regs else (next(iter(got_regs)) if len(got_regs) == 1 else None)
            if ident is None or got_regs[ident] != coef:
                raise _Diff(f"the stored value is {actual}, not {_show_field(expected)}")
            self.tile(tile, ident, temps)

    def match(self, expected: Line, record: list[str], temps: dict[str, str]) -> None:
        kind, fields = record[0], record[1:]
        if kind != expected.kind:
            raise _Diff(f"the code did `{kind}` where the schedule has `{expected.kind}`")
        if len(fields) != len(expected.fields):
            raise _Diff(f"`{kind}` logged {len(fields)} fields, expected {len(expected.fields)}")
        for want, got in zip(expected.fields, fields, strict=True):
            if isinstance(want, Tile):
                self.tile(want, got, temps)
            elif isinstance(want, Sum):
                self.sum(want, got, temps)
            elif want == "#":
                if got != str(self.barriers):
                    raise _Diff(f"this is the wave's barrier {self.barriers}, the code counts {got}")
            elif want != ANY and want != got:
                raise _Diff(f"`{got}` where the schedule has `{want}`")


_DECLS = ("decl", "sdecl", "tdecl")


def _where(event: Event) -> str:
    op = event.op
    values = ", ".join(f"{k}={v}" for k, v in sorted(event.env.items()))
    return f"`{op.kind}` at {op.loc} ({values})"


def compare_wave(
    scope: Scope, block: int, warp: int, events: list[Event], log: list[str], shared: _Names
) -> int:
    """Raise ``EmittedMismatch`` at the first difference; return the number of ops compared."""
    decls: dict[str, tuple[str, ...]] = {}
    ops: list[tuple[int, list[str]]] = []
    priorities: list[int] = []  # the scheduling priority each op of ``ops`` ran at
    budgets: list[tuple[int, str]] = []
    drains: list[int] = []  # positions in ``ops`` of tg::tma::store_drain()
    current = 0
    for number, line in enumerate(log, 1):
        parts = line.split()
        if not parts:
            continue
        if parts[0] in _DECLS:
            decls[parts[1]] = tuple(parts[2:])
        elif parts[0] == "budget":
            budgets.append((len(ops), parts[1]))
        elif parts[0] == "priority":
            current = int(parts[1])
        elif parts[0] == "mbarrier_init":
            continue  # checked per block (compare)
        elif parts[0] == "store_drain":
            drains.append(len(ops))
        else:
            ops.append((number, parts))
            priorities.append(current)
    wave = _Wave(block, warp, decls, _Names("register tile"), _Names("stage buffer"), shared)
    position = 0

    def fail(index: int, event: Optional[Event], expected: str, detail: str) -> EmittedMismatch:
        got = " ".join(ops[position][1]) if position < len(ops) else "nothing (the wave ended)"
        head = f"block {block}, wave {warp}, op {index} of the validated trace"
        if event is not None:
            head += f": {_where(event)}"
        text = f"{head}\n  validated: {expected}\n  emitted:   {got}\n  why: {detail}"
        return EmittedMismatch(text)

    if scope.kernel.mbarriers:
        # The emitted code initialises the mbarriers (one thread) and publishes them to every wave
        # with a block barrier before the body: the trace starts after it.
        if not ops or ops[0][1][:2] != ["barrier", "0"]:
            raise fail(
                0, None, "barrier 0 sync", "the mbarriers are not published with a block barrier before the body"
            )
        position, wave.barriers = 1, 1
    first = position  # where the trace's ops start in the log
    for index, event in enumerate(events):
        expect = EXPECT.get(type(event.op))
        if expect is None:
            raise RecorderError(
                f"the emitted-code check has no expectation for IR op kind `{event.op.kind}` ({event.op.loc}): "
                "add one to EXPECT in backends/recorder/compare.py and the op to include/kittens.cuh"
            )
        alternatives = expect(scope, event)
        if position >= len(ops):
            raise fail(index, event, show_line(alternatives[0][0]), "the emitted code ran fewer ops than the trace")
        chosen = next((alt for alt in alternatives if alt[0].kind == ops[position][1][0]), alternatives[0])
        want = priority(event)
        if priorities[position] != want:
            label = f" of cluster `{event.cluster.label}`" if event.cluster is not None and event.cluster.label else ""
            raise fail(
                index, event, show_line(chosen[0]), f"it runs at priority {priorities[position]}, not {want}{label}"
            )
        temps: dict[str, str] = {}
        for line in chosen:
            if position >= len(ops):
                raise fail(index, event, show_line(line), "the emitted code ran fewer ops than the trace")
            try:
                wave.match(line, ops[position][1], temps)
            except _Diff as diff:
                raise fail(index, event, show_line(line), diff.detail) from None
            position += 1
        if isinstance(event.op, m.Barrier):
            wave.barriers += 1
    if position < len(ops):
        raise fail(len(events), None, "nothing (the trace ended)", "the emitted code ran more ops than the trace")
    _check_budget(scope.kernel, block, warp, budgets, first)
    stores = [i for i, (_, parts) in enumerate(ops) if parts[0] == "store_tma"]
    if stores and not any(d > stores[-1] for d in drains):
        raise EmittedMismatch(
            f"block {block}, wave {warp}: the TMA stores of the epilogue are not drained "
            "(tg::tma::store_drain()) after the last one: the block may end before they complete"
        )
    return len(events)


def _check_budget(kernel: m.Kernel, block: int, warp: int, budgets: list[tuple[int, str]], first: int) -> None:
    """A wave of a role with a register budget sets it once, before its first op (``first``: where
    the trace's ops start in the log); others never."""
    role = kernel.role_of_warp(warp)
    want = role.max_registers if role is not None else None
    got = [value for _, value in budgets]
    where = f"block {block}, wave {warp}"
    if want is None:
        if got:
            raise EmittedMismatch(f"{where}: the code sets a register budget ({', '.join(got)}) the schedule has not")
        return
    if got != [str(want)]:
        raise EmittedMismatch(
            f"{where}: role `{role.name}` has a budget of {want} registers ({role.loc}), the code sets "
            f"{', '.join(got) or 'none'}"
        )
    if budgets[0][0] > first:
        raise EmittedMismatch(f"{where}: the register budget is set after {budgets[0][0]} ops, not before the first")


def compare(
    kernel: m.Kernel,
    problem: Problem,
    recorded: Recorded,
    blocks: Iterable[int],
    alpha: float,
    beta: float,
    traces: Optional[dict[tuple[int, int], list[Event]]] = None,
    wave_size: int = 64,
) -> int:
    """Compare every recorded wave of ``blocks`` with its trace; the number of ops compared.
    ``traces`` caches the per-wave traces between runs of the same problem."""
    traces = {} if traces is None else traces
    launch = kernel.launch
    want_blocks = num_blocks(launch, problem.m, problem.n)
    x, y, z = recorded.grid
    if x * y * z != want_blocks:
        raise EmittedMismatch(
            f"grid(): the code launches {x} x {y} x {z} = {x * y * z} blocks for M={problem.m}, N={problem.n}; "
            f"the schedule needs {want_blocks} ({kernel.loc})"
        )
    threads = launch.num_warps * wave_size
    if recorded.block != (threads, 1, 1):
        x, y, z = recorded.block
        raise EmittedMismatch(
            f"block(): the code launches {x} x {y} x {z} threads per block; the schedule's {launch.num_warps} "
            f"waves of {wave_size} need {threads} ({kernel.loc})"
        )
    scope = Scope(kernel, alpha, beta)
    total = 0
    for block in sorted({b % want_blocks for b in blocks}):
        shared = _Names("shared tile")
        logs = []
        for warp in range(launch.num_warps):
            log = recorded.waves.get((block, warp))
            if log is None:
                raise RecorderError(f"the recording run printed no wave {warp} of block {block}")
            events = traces.get((block, warp))
            if events is None:
                events = traces[(block, warp)] = wave_trace(kernel, warp, block, problem)
            logs.append(log)
            try:
                total += compare_wave(scope, block, warp, events, log, shared)
            except EmittedMismatch as exc:
                raise EmittedMismatch(
                    f"the emitted code differs from the validated trace (M={problem.m}, N={problem.n}, "
                    f"K={problem.k}, alpha={alpha:g}, beta={beta:g}):\n{exc}"
                ) from None
        _check_mbarrier_init(kernel, block, logs, shared)
        _check_aligned_barriers(block, logs, [traces[(block, warp)] for warp in range(launch.num_warps)])
    return total


def _check_mbarrier_init(kernel: m.Kernel, block: int, logs: list[list[str]], shared: _Names) -> None:
    """Every mbarrier the code allocates is initialised once per block, with its ring's arrivals."""
    declared = {line.split()[1] for line in logs[0] if line.startswith("sdecl ") and line.split()[2] == "mbarrier"}
    inits: dict[str, list[int]] = {}
    for log in logs:
        for line in log:
            if line.startswith("mbarrier_init "):
                _, ident, count = line.split()
                inits.setdefault(ident, []).append(int(count))
    where = f"block {block}"
    for ident in sorted(declared):
        counts = inits.get(ident, [])
        name = shared.backward.get(ident, ident)
        if len(counts) != 1:
            raise EmittedMismatch(f"{where}: mbarrier {name} is initialised {len(counts)} times, not once")
        if name != ident:
            ring = kernel.mbarrier(name.split("[")[0])
            if counts[0] != ring.arrivals:
                raise EmittedMismatch(
                    f"{where}: mbarrier {name} is initialised for {counts[0]} arrivals; the ring `{ring.name}` "
                    f"({ring.loc}) has {ring.arrivals}"
                )


def _check_aligned_barriers(block: int, logs: list[list[str]], traces: list[list[Event]]) -> None:
    """``__syncthreads()`` is the aligned barrier: where a wave's barrier i is one, every wave's
    barrier i must be that same call (same emitted line). Counted barriers (``tg::barrier``,
    ``tg::cluster_barrier``) may differ between waves; the trace matches them by count."""
    kinds = [[line.split()[2] for line in log if line.startswith("barrier ")] for log in logs]
    for index in range(max((len(k) for k in kinds), default=0)):
        at = [k[index] if index < len(k) else "none" for k in kinds]
        aligned = next((warp for warp, kind in enumerate(at) if kind.startswith("sync:")), None)
        if aligned is None or all(kind == at[aligned] for kind in at):
            continue
        other = next(warp for warp, kind in enumerate(at) if kind != at[aligned])
        line = at[aligned].split(":")[1]
        barriers = [e for e in traces[aligned] if isinstance(e.op, m.Barrier)]
        offset = len(kinds[aligned]) - len(barriers)  # the mbarrier publishing barrier is not in the trace
        event = barriers[index - offset] if 0 <= index - offset < len(barriers) else None
        where = f" (the schedule's barrier at {event.op.loc})" if event is not None else ""
        names = {"none": "no barrier", "tg": "`tg::barrier()`", "cluster": "`tg::cluster_barrier()`"}
        reached = names.get(at[other], at[other].replace("sync:", "`__syncthreads()` at line "))
        raise EmittedMismatch(
            f"block {block}: barrier {index} of wave {aligned} is `__syncthreads()` at line {line} of the emitted "
            f"file{where}, but wave {other} reaches {reached} as its barrier {index}: an aligned barrier must be "
            "the same call in every wave; divergent code needs the counted `tg::barrier()`"
        )
