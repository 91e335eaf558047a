"""One op semantics: what every IR op does, stated once, read by every layer.

The validator (``ir.validate``), the simulator (``backends.simulator``) and the emitter
(``backends.hip``) all ask this module, never the op's fields directly, what an op touches:

* the register tiles it reads and writes (``OpEffects.reads`` / ``writes``), the stage buffers it
  fills or drains (``stage_writes`` / ``stage_reads``);
* the shared-memory rectangle each wave touches (``SharedUse.rect``: a subtile for one-warp moves,
  the wave's share of rows for a group collective, ``group_share``);
* the global rectangle (``GlobalUse.rect`` for the whole tile, ``GlobalUse.wave_rect`` for the
  wave's own rows);
* whether it completes asynchronously and what completes it (``OpEffects.completes``: pending on a
  named counter; ``OpEffects.retires``: a wait that retires all but the newest ``keep`` of a counter);
* whether it is a block barrier, a group collective (``group_size``), and the index expressions
  it carries (``exprs``).

Extending: a new op type adds ONE entry, a function decorated with ``@semantics_of(NewOp)`` that
returns its ``OpEffects``. Every layer then sees its registers, rectangles and completion. A
layer that has nothing to say about an op (a control op, say) gets ``OpEffects()`` for it.

Facts that are about the problem rather than one op also live here: B's shape from
``b_layout`` (``b_shape``, ``matrix_shape``), the mma operand shapes (``mma_shapes``), rectangle
overlap (``Rect``), and "an array used without an index" (``missing_index``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Optional, TypeVar

from ir import models as m
from ir.expr import WARP, Const, Expr, Var, to_text

Matrix = Literal["A", "B", "C"]
T = TypeVar("T")

#: Evaluates an index expression where the op runs (a trace event's variables).
Values = Callable[[Expr], int]


# --------------------------------------------------------------------------------------------
# Rectangles and shapes
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rect:
    """Element rows ``[r0, r1)`` x columns ``[c0, c1)``."""

    r0: int
    r1: int
    c0: int
    c1: int

    def overlaps(self, other: Rect) -> bool:
        return self.r0 < other.r1 and other.r0 < self.r1 and self.c0 < other.c1 and other.c0 < self.c1

    def inside(self, rows: int, cols: int) -> bool:
        return 0 <= self.r0 and self.r1 <= rows and 0 <= self.c0 and self.c1 <= cols

    def intersect(self, other: Rect) -> Optional[Rect]:
        r = Rect(max(self.r0, other.r0), min(self.r1, other.r1), max(self.c0, other.c0), min(self.c1, other.c1))
        return r if r.r0 < r.r1 and r.c0 < r.c1 else None

    def shifted(self, rows: int, cols: int) -> Rect:
        return Rect(self.r0 - rows, self.r1 - rows, self.c0 - cols, self.c1 - cols)

    @property
    def rows(self) -> tuple[int, int]:
        return self.r0, self.r1

    @property
    def cols(self) -> tuple[int, int]:
        return self.c0, self.c1

    def text(self) -> str:
        return f"rows {self.r0}-{self.r1 - 1}, cols {self.c0}-{self.c1 - 1}"


def tile_rect(row: int, col: int, rows: int, cols: int) -> Rect:
    """The (row, col)-th tile of shape rows x cols (coordinates in tiles, as HipKittens counts)."""
    return Rect(row * rows, (row + 1) * rows, col * cols, (col + 1) * cols)


def group_member(group_size: int) -> Expr:
    """The running warp's member index in its ``group<N>`` (``warp % N``): the index expression
    the emitted code uses where ``group_share`` counts rows."""
    return Var(name=WARP) % group_size


def group_share(rows: int, group_size: int, warp: int) -> tuple[int, int]:
    """Rows ``[first, last)`` of an R-row tile that warp ``warp`` moves in a ``group<N>`` op:
    warp ``w`` is member ``w % N`` of group ``w // N`` and moves the member's 1/N of the rows."""
    member = warp % group_size
    return member * rows // group_size, (member + 1) * rows // group_size


def b_shape(b_layout: str, k: T, n: T) -> tuple[T, T]:
    """B's (rows, cols): K x N for ``b_layout="kn"`` (``mma_AB``), N x K for ``"nk"`` (``mma_ABt``).
    Works on anything that stands for the K and N extents (sizes, names, index expressions)."""
    return (k, n) if b_layout == "kn" else (n, k)


def b_k_n(b_layout: str, rows: T, cols: T) -> tuple[T, T]:
    """(K, N) read off B's (rows, cols): the inverse of ``b_shape``."""
    return (rows, cols) if b_layout == "kn" else (cols, rows)


def b_text(b_layout: str) -> str:
    """B's layout in words, for messages."""
    return "K x N (b_layout='kn')" if b_layout == "kn" else "N x K (b_layout='nk')"


def b_rect(b_layout: str, k: tuple[int, int], n: tuple[int, int]) -> Rect:
    """The elements of B at K range ``k`` and N range ``n``, in B's own layout."""
    return Rect(*k, *n) if b_layout == "kn" else Rect(*n, *k)


def problem_n(b_layout: str, b_rows: int, b_cols: int) -> int:
    """N read off B's shape."""
    return b_cols if b_layout == "kn" else b_rows


def matrix_shape(kernel: m.Kernel, matrix: Matrix, mnk: tuple[int, int, int]) -> tuple[int, int]:
    """(rows, cols) of A, B or C for a problem of sizes ``(M, N, K)``."""
    mm, n, k = mnk
    if matrix == "A":
        return mm, k
    if matrix == "C":
        return mm, n
    return b_shape(kernel.globals.b_layout, k, n)


def mma_variant(b_layout: str) -> Literal["AB", "ABt"]:
    """The mma a B layout is used with."""
    return "AB" if b_layout == "kn" else "ABt"


@dataclass(frozen=True)
class MmaShapes:
    """What an mma's tiles must be, given ``a`` (M x K): b's shape and c / d's shape."""

    m: int
    k: int
    n: int
    b: tuple[int, int]
    cd: tuple[int, int]
    b_text: str  # "K x N" or "N x K"


def mma_shapes(variant: str, a: tuple[int, int], b: tuple[int, int]) -> MmaShapes:
    """``mma_AB``: b is K x N; ``mma_ABt``: b holds an N x K tile. N is read from b."""
    mm, k = a
    if variant == "AB":
        n = b[1]
        return MmaShapes(mm, k, n, (k, n), (mm, n), "K x N")
    n = b[0]
    return MmaShapes(mm, k, n, (n, k), (mm, n), "N x K")


def array_without_index(name: str, count: int) -> str:
    """The one wording of "an array of register tiles used without an index" (builder, validator,
    simulator and emitter all say it so)."""
    return f"`{name}` is an array of {count} register tiles but the op does not say which one"


def missing_index(kernel: m.Kernel, ref: Any) -> Optional[str]:
    """Why ``ref`` (a ``RegRef`` or ``SharedRef``) names no element where it must, or None: an
    array of register tiles used without an index, a multi-buffered shared tile without a buffer.
    (Undeclared names are ``structure.references``'s, and give None here.)"""
    if isinstance(ref, m.RegRef):
        tile = next((t for t in kernel.registers if t.name == ref.tile), None)
        if tile is not None and ref.index is None and tile.count > 1:
            return array_without_index(ref.tile, tile.count)
    elif isinstance(ref, m.SharedRef):
        shared = next((t for t in kernel.shared if t.name == ref.tile), None)
        if shared is not None and ref.buffer is None and shared.buffers > 1:
            return f"shared tile `{ref.tile}` has {shared.buffers} pipeline buffers but the op does not say which one"
    return None


def spurious_index(kernel: m.Kernel, ref: Any) -> Optional[str]:
    """Why ``ref`` indexes a single register tile, or a single-buffered shared tile, with anything
    but 0 (the emitted C++ declares no array to index), or None."""
    zero = Const(value=0)
    if isinstance(ref, m.RegRef):
        tile = next((t for t in kernel.registers if t.name == ref.tile), None)
        if tile is not None and tile.count == 1 and ref.index is not None and ref.index != zero:
            return f"`{ref.tile}` is a single register tile but is indexed with `{to_text(ref.index)}`"
    elif isinstance(ref, m.SharedRef):
        shared = next((t for t in kernel.shared if t.name == ref.tile), None)
        if shared is not None and shared.buffers == 1 and ref.buffer is not None and ref.buffer != zero:
            return f"shared tile `{ref.tile}` has one buffer but is used as buffer `{to_text(ref.buffer)}`"
    return None


def missing_index_fix(kernel: m.Kernel, ref: Any) -> str:
    if isinstance(ref, m.RegRef):
        return f"index it, e.g. `{ref.tile}[0]`"
    buffers = next((t.buffers for t in kernel.shared if t.name == ref.tile), 2)
    return f"pick a buffer, e.g. `{ref.tile}[k % {buffers}]`"


# --------------------------------------------------------------------------------------------
# What an op touches
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SharedUse:
    """One shared tile an op reads or writes, and how each wave's rectangle is found.

    Subtile moves (``subtile`` set): the wave touches subtile (row, col) of that shape, offsets
    counted in subtiles. Collective moves (``group_size`` set): the wave touches its
    ``group_share`` of the whole tile's rows. ``tile_shape`` is None when the tile is undeclared
    (then only ``ref`` and ``write`` mean anything; the gate rules report the name)."""

    ref: m.SharedRef
    write: bool
    tile_shape: Optional[tuple[int, int]]
    subtile: Optional[tuple[int, int]] = None
    row: Optional[Expr] = None
    col: Optional[Expr] = None
    group_size: Optional[int] = None

    def rect(self, wave: int, value: Values) -> Rect:
        """The elements (inside the tile's buffer) wave ``wave`` touches."""
        if self.subtile is not None:
            assert self.row is not None and self.col is not None
            return tile_rect(value(self.row), value(self.col), *self.subtile)
        assert self.tile_shape is not None and self.group_size is not None, "undeclared tile"
        first, last = group_share(self.tile_shape[0], self.group_size, wave)
        return Rect(first, last, 0, self.tile_shape[1])

    def buffer(self, value: Values) -> int:
        return 0 if self.ref.buffer is None else value(self.ref.buffer)


@dataclass(frozen=True)
class GlobalUse:
    """The tile of A, B or C an op moves: coordinates ``(row, col)`` count tiles of ``shape``
    (None when the tile that gives the shape is undeclared). Each wave of a ``group_size`` group
    moves its ``group_share`` of the rows; a one-warp op (group 1) moves the whole tile."""

    matrix: Matrix
    write: bool
    shape: Optional[tuple[int, int]]
    row: Expr
    col: Expr
    group_size: int = 1

    def coords(self, value: Values) -> tuple[int, int]:
        return value(self.row), value(self.col)

    def rect(self, value: Values) -> Rect:
        assert self.shape is not None, "undeclared tile"
        return tile_rect(*self.coords(value), *self.shape)

    def wave_rect(self, wave: int, value: Values) -> Rect:
        whole = self.rect(value)
        first, last = group_share(whole.r1 - whole.r0, self.group_size, wave)
        return Rect(whole.r0 + first, whole.r0 + last, whole.c0, whole.c1)


@dataclass(frozen=True)
class Pending:
    """The op completes asynchronously: its writes are in flight from issue until the issuing
    wave retires them on ``counter`` (every layer holds them pending until then)."""

    counter: str


@dataclass(frozen=True)
class Retire:
    """The op waits until at most ``keep`` of this wave's ops pending on ``counter`` remain in
    flight (oldest first): ``cp.async.wait_group keep`` / ``s_waitcnt vmcnt(keep)``."""

    counter: str
    keep: int


#: The counter of ``GroupLoad(is_async=True)``, ``StageLoad`` and ``AsyncWait``.
ASYNC = "async"


@dataclass(frozen=True)
class BarrierUse:
    """An op's use of an mbarrier. ``arrive``: one arrival per running wave (one thread inside
    ``OneThread``) announcing ``bytes`` transaction bytes; ``wait``: until the phase of parity
    ``parity`` completed; ``tx``: a TMA load whose ``bytes`` complete the current phase."""

    ref: m.BarRef
    kind: Literal["arrive", "wait", "tx"]
    bytes: int = 0
    parity: Optional[Expr] = None


@dataclass(frozen=True)
class OpEffects:
    """Everything one op does, for every layer. Control ops carry only ``exprs``."""

    reads: tuple[m.RegRef, ...] = ()
    writes: tuple[m.RegRef, ...] = ()
    stage_reads: tuple[str, ...] = ()
    stage_writes: tuple[str, ...] = ()
    shared: tuple[SharedUse, ...] = ()
    global_use: Optional[GlobalUse] = None
    #: A cooperative op: every warp of ``[g*N, (g+1)*N)`` must run it, with the same coordinates.
    group_size: Optional[int] = None
    completes: Optional[Pending] = None
    retires: Optional[Retire] = None
    barrier: bool = False
    #: Index expressions of the op itself (not of ops nested in it).
    exprs: tuple[Expr, ...] = ()
    #: Shared tiles the asynchronous proxy reads or writes (TMA loads, wgmma operands): ordered by
    #: mbarrier phases and wgmma waits, never by block barriers (ir/validate/rules/mbarriers.py).
    async_shared: tuple[SharedUse, ...] = ()
    #: What the op does to an mbarrier (sm_90): arrive, wait, or bytes of a TMA load signing in.
    mbarrier: Optional[BarrierUse] = None
    #: A warpgroup instruction: all 4 waves of an aligned warpgroup run it together (wgmma).
    warpgroup: bool = False

    @property
    def register_refs(self) -> tuple[m.RegRef, ...]:
        return self.reads + self.writes

    @property
    def shared_refs(self) -> tuple[m.SharedRef, ...]:
        return tuple(use.ref for use in self.shared)

    @property
    def stages(self) -> tuple[str, ...]:
        return self.stage_reads + self.stage_writes

    @property
    def storage(self) -> tuple[str, ...]:
        """Every register tile and stage buffer the op uses (a wave's register storage)."""
        return tuple(r.tile for r in self.register_refs) + self.stages


# --------------------------------------------------------------------------------------------
# The registry: one entry per op type
# --------------------------------------------------------------------------------------------

EffectsFn = Callable[[m.Kernel, Any], OpEffects]
_EFFECTS: dict[type, EffectsFn] = {}


def semantics_of(*op_types: type) -> Callable[[EffectsFn], EffectsFn]:
    """Register the effects function of ``op_types`` (one entry per op type)."""

    def register(fn: EffectsFn) -> EffectsFn:
        for op_type in op_types:
            if op_type in _EFFECTS:
                raise ValueError(f"semantics of {op_type.__name__} are already defined")
            _EFFECTS[op_type] = fn
        return fn

    return register


def has_semantics(op_type: type) -> bool:
    return op_type in _EFFECTS


def effects(kernel: m.Kernel, op: Any) -> OpEffects:
    """What ``op`` does in ``kernel``. Prefer ``Semantics(kernel).of(op)`` in loops (memoised)."""
    fn = _EFFECTS.get(type(op))
    if fn is None:
        raise KeyError(f"ir.semantics has no entry for op type {type(op).__name__}; add one with @semantics_of")
    return fn(kernel, op)


class Semantics:
    """``effects`` memoised per op of one kernel (ops are frozen; ``id`` is stable while the
    kernel lives)."""

    def __init__(self, kernel: m.Kernel):
        self.kernel = kernel
        self._cache: dict[int, OpEffects] = {}

    def of(self, op: Any) -> OpEffects:
        found = self._cache.get(id(op))
        if found is None:
            found = self._cache[id(op)] = effects(self.kernel, op)
        return found


def _shape(items: list[Any], name: str) -> Optional[tuple[int, int]]:
    item = next((t for t in items if t.name == name), None)
    return None if item is None else (item.rows, item.cols)


def _ref_exprs(regs: tuple[m.RegRef, ...], shared: tuple[m.SharedRef, ...]) -> tuple[Expr, ...]:
    exprs = [r.index for r in regs if r.index is not None]
    exprs += [s.buffer for s in shared if s.buffer is not None]
    return tuple(exprs)


@semantics_of(m.Zero)
def _zero(kernel: m.Kernel, op: m.Zero) -> OpEffects:
    return OpEffects(writes=(op.dst,), exprs=_ref_exprs((op.dst,), ()))


@semantics_of(m.Copy)
def _copy(kernel: m.Kernel, op: m.Copy) -> OpEffects:
    return OpEffects(reads=(op.src,), writes=(op.dst,), exprs=_ref_exprs((op.src, op.dst), ()))


@semantics_of(m.GroupLoad)
def _group_load(kernel: m.Kernel, op: m.GroupLoad) -> OpEffects:
    shape = _shape(kernel.shared, op.dst.tile)
    return OpEffects(
        shared=(SharedUse(op.dst, True, shape, group_size=op.group_size),),
        global_use=GlobalUse(op.src, False, shape, op.row, op.col, op.group_size),
        group_size=op.group_size,
        completes=Pending(ASYNC) if op.is_async else None,
        exprs=(*_ref_exprs((), (op.dst,)), op.row, op.col),
    )


@semantics_of(m.StageLoad)
def _stage_load(kernel: m.Kernel, op: m.StageLoad) -> OpEffects:
    stage = next((s for s in kernel.stages if s.name == op.dst), None)
    group = stage.group_size if stage is not None else 1
    return OpEffects(
        stage_writes=(op.dst,),
        global_use=GlobalUse(op.src, False, _shape(kernel.stages, op.dst), op.row, op.col, group),
        group_size=group,
        completes=Pending(ASYNC),
        exprs=(op.row, op.col),
    )


@semantics_of(m.StageStore)
def _stage_store(kernel: m.Kernel, op: m.StageStore) -> OpEffects:
    stage = next((s for s in kernel.stages if s.name == op.src), None)
    group = stage.group_size if stage is not None else 1
    return OpEffects(
        stage_reads=(op.src,),
        shared=(SharedUse(op.dst, True, _shape(kernel.shared, op.dst.tile), group_size=group),),
        group_size=group,
        exprs=_ref_exprs((), (op.dst,)),
    )


@semantics_of(m.AsyncWait)
def _async_wait(kernel: m.Kernel, op: m.AsyncWait) -> OpEffects:
    return OpEffects(retires=Retire(ASYNC, op.pending))


@semantics_of(m.LoadShared)
def _load_shared(kernel: m.Kernel, op: m.LoadShared) -> OpEffects:
    use = SharedUse(
        op.src, False, _shape(kernel.shared, op.src.tile), _shape(kernel.registers, op.dst.tile), op.row, op.col
    )
    return OpEffects(writes=(op.dst,), shared=(use,), exprs=(*_ref_exprs((op.dst,), (op.src,)), op.row, op.col))


@semantics_of(m.StoreShared)
def _store_shared(kernel: m.Kernel, op: m.StoreShared) -> OpEffects:
    use = SharedUse(
        op.dst, True, _shape(kernel.shared, op.dst.tile), _shape(kernel.registers, op.src.tile), op.row, op.col
    )
    return OpEffects(reads=(op.src,), shared=(use,), exprs=(*_ref_exprs((op.src,), (op.dst,)), op.row, op.col))


@semantics_of(m.Mma)
def _mma(kernel: m.Kernel, op: m.Mma) -> OpEffects:
    return OpEffects(reads=(op.a, op.b, op.c), writes=(op.d,), exprs=_ref_exprs((op.a, op.b, op.c, op.d), ()))


@semantics_of(m.Store)
def _store(kernel: m.Kernel, op: m.Store) -> OpEffects:
    return OpEffects(
        reads=(op.src,),
        global_use=GlobalUse("C", True, _shape(kernel.registers, op.src.tile), op.row, op.col),
        exprs=(*_ref_exprs((op.src,), ()), op.row, op.col),
    )


@semantics_of(m.GroupStore)
def _group_store(kernel: m.Kernel, op: m.GroupStore) -> OpEffects:
    shape = _shape(kernel.shared, op.src.tile)
    return OpEffects(
        shared=(SharedUse(op.src, False, shape, group_size=op.group_size),),
        global_use=GlobalUse("C", True, shape, op.row, op.col, op.group_size),
        group_size=op.group_size,
        exprs=(*_ref_exprs((), (op.src,)), op.row, op.col),
    )


@semantics_of(m.Barrier)
def _barrier(kernel: m.Kernel, op: m.Barrier) -> OpEffects:
    return OpEffects(barrier=True)


@semantics_of(m.For)
def _for(kernel: m.Kernel, op: m.For) -> OpEffects:
    return OpEffects(exprs=(op.start, op.stop))


@semantics_of(m.If)
def _if(kernel: m.Kernel, op: m.If) -> OpEffects:
    return OpEffects(exprs=(op.cond,))


@semantics_of(m.RoleBranch, m.ForTiles)
def _scope(kernel: m.Kernel, op: Any) -> OpEffects:
    return OpEffects()


@semantics_of(m.Cluster)
def _cluster(kernel: m.Kernel, op: m.Cluster) -> OpEffects:
    """A scheduling cluster is a scope: its body's ops have their own effects, and the barrier
    that closes it (``op.closing``, run after the body) is an ordinary ``Barrier``. Its priority
    and scheduling fence change when instructions issue, never what they compute."""
    return OpEffects()


# -- Hopper (sm_90a): TMA, mbarriers, wgmma ------------------------------------------------------

DTYPE_BYTES = {"bf16": 2, "f32": 4}


def _bar_exprs(ref: m.BarRef) -> tuple[Expr, ...]:
    return () if ref.index is None else (ref.index,)


def tile_bytes(kernel: m.Kernel, name: str) -> int:
    """Bytes of one buffer of shared tile ``name``: what a TMA load of it brings."""
    tile = kernel.shared_tile(name)
    return tile.rows * tile.cols * DTYPE_BYTES[tile.dtype]


@semantics_of(m.TmaLoad)
def _tma_load(kernel: m.Kernel, op: m.TmaLoad) -> OpEffects:
    shape = _shape(kernel.shared, op.dst.tile)
    return OpEffects(
        global_use=GlobalUse(op.src, False, shape, op.row, op.col),
        async_shared=(SharedUse(op.dst, True, shape, group_size=1),),
        mbarrier=BarrierUse(op.barrier, "tx", tile_bytes(kernel, op.dst.tile) if shape else 0),
        exprs=(*_ref_exprs((), (op.dst,)), op.row, op.col, *_bar_exprs(op.barrier)),
    )


@semantics_of(m.Arrive)
def _arrive(kernel: m.Kernel, op: m.Arrive) -> OpEffects:
    return OpEffects(mbarrier=BarrierUse(op.barrier, "arrive", op.expect_bytes), exprs=_bar_exprs(op.barrier))


@semantics_of(m.WaitBarrier)
def _wait_barrier(kernel: m.Kernel, op: m.WaitBarrier) -> OpEffects:
    return OpEffects(
        mbarrier=BarrierUse(op.barrier, "wait", parity=op.parity), exprs=(*_bar_exprs(op.barrier), op.parity)
    )


@semantics_of(m.Wgmma)
def _wgmma(kernel: m.Kernel, op: m.Wgmma) -> OpEffects:
    uses = tuple(SharedUse(ref, False, _shape(kernel.shared, ref.tile), group_size=1) for ref in (op.a, op.b))
    return OpEffects(
        reads=(op.d,),
        writes=(op.d,),
        async_shared=uses,
        warpgroup=True,
        exprs=(*_ref_exprs((op.d,), (op.a, op.b)), op.a_slice),
    )


@semantics_of(m.WgmmaWait)
def _wgmma_wait(kernel: m.Kernel, op: m.WgmmaWait) -> OpEffects:
    return OpEffects(reads=(op.d,), warpgroup=True, exprs=_ref_exprs((op.d,), ()))


@semantics_of(m.StoreTma)
def _store_tma(kernel: m.Kernel, op: m.StoreTma) -> OpEffects:
    acc = _shape(kernel.registers, op.src.tile)
    staging = _shape(kernel.shared, op.staging.tile)
    return OpEffects(
        reads=(op.src,),
        writes=(op.src,),  # scaled by alpha in place
        global_use=GlobalUse("C", True, (64, acc[1]) if acc else None, op.row, op.col, 4),
        async_shared=(SharedUse(op.staging, True, staging, group_size=4),),
        group_size=4,
        warpgroup=True,
        exprs=(*_ref_exprs((op.src,), (op.staging,)), op.row, op.col),
    )


@semantics_of(m.ProxyFence)
def _proxy_fence(kernel: m.Kernel, op: m.ProxyFence) -> OpEffects:
    return OpEffects()


@semantics_of(m.OneThread)
def _one_thread(kernel: m.Kernel, op: m.OneThread) -> OpEffects:
    """A scope: lane 0 of the enclosing role's first wave runs the body (ir.trace)."""
    return OpEffects()
