"""The tilegen IR: a GEMM schedule as plain, typed, JSON-serialisable data.

A ``Kernel`` is what the builder makes and what every later layer (validator, simulator, emitter)
reads. It holds no behaviour beyond small derived properties; rules live in ``ir.validate``.

Units, stated once because they are the source of a whole class of bugs:

* ``GroupLoad`` / ``StageLoad`` / ``Store`` / ``GroupStore`` coordinates count *whole tiles of
  the tile being moved* (HipKittens' convention): row ``r`` of a 128-row shared tile starts at
  element row ``128 * r`` of the global matrix.
* ``LoadShared`` / ``StoreShared`` offsets count *subtiles* of the register tile's shape inside
  the shared tile (``subtile_inplace`` semantics).
"""

from __future__ import annotations

from typing import Annotated, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ir.expr import Expr

Dtype = Literal["bf16", "f32"]
Layout = Literal["row", "col"]
Operand = Literal["A", "B"]
TargetName = Literal["gfx942", "gfx940", "gfx90a", "gfx950", "sm_90a", "sm_80"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SourceLoc(_Model):
    """Where in the user's Python a piece of the schedule was made."""

    file: str
    line: int
    function: str = ""
    #: The comment the user wrote on that line (``# why``), if any: the emitter prints it as the
    #: reason for the block, so the emitted C++ says why in the user's words.
    note: str = ""

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


# --------------------------------------------------------------------------------------------
# Globals and launch
# --------------------------------------------------------------------------------------------


class Globals(_Model):
    """The GEMM's global tensors: C = alpha * A @ B + beta * C.

    A is M x K, row-major. B is K x N (``b_layout="kn"``, used with ``mma_AB``) or N x K
    (``"nk"``, used with ``mma_ABt``), row-major. C is M x N, row-major, f32 or bf16. M, N, K,
    alpha and beta are run-time values.
    """

    a_dtype: Literal["bf16"] = "bf16"
    b_dtype: Literal["bf16"] = "bf16"
    b_layout: Literal["kn", "nk"] = "kn"
    c_dtype: Dtype = "f32"


class TileOrder(_Model):
    """How a linear tile id maps to (tile_row, tile_col) of the output.

    ``row_major``: consecutive ids walk along a row of tiles. ``column_major``: down a column.
    ``grouped``: ThunderKittens' SUPER_M / HipKittens' WGM: ids walk down ``group_m`` rows of
    tiles before moving one column right, so a wave of blocks shares A and B panels in cache.
    """

    kind: Literal["row_major", "column_major", "grouped"] = "row_major"
    group_m: int = Field(default=1, ge=1)


class XcdRemap(_Model):
    """AMD chiplet remap: the hardware deals consecutive workgroup ids round-robin over
    ``num_xcds`` XCDs (each with its own L2); remapping gives each XCD ``chunk`` consecutive
    tile ids so neighbouring tiles share an L2."""

    num_xcds: int = Field(default=8, ge=1)
    chunk: int = Field(default=1, ge=1)


class Launch(_Model):
    num_warps: int = Field(ge=1)
    block_m: int = Field(ge=1)
    block_n: int = Field(ge=1)
    k_step: int = Field(ge=1)
    grid: Literal["2d", "linear"] = "2d"
    tile_order: TileOrder = TileOrder()
    #: Blocks launched for a persistent kernel (each strides over output tiles); None launches
    #: one block per output tile.
    persistent_blocks: Optional[int] = Field(default=None, ge=1)
    xcd_remap: Optional[XcdRemap] = None
    #: Second argument of ``__launch_bounds__``: blocks per CU/SM the compiler should fit.
    min_blocks_per_cu: int = Field(default=1, ge=1)


# --------------------------------------------------------------------------------------------
# Storage
# --------------------------------------------------------------------------------------------


class SharedTile(_Model):
    """A shared-memory (LDS) tile, ``buffers`` deep for pipelining. Always block scope."""

    name: str
    rows: int = Field(ge=1)
    cols: int = Field(ge=1)
    dtype: Dtype = "bf16"
    buffers: int = Field(default=1, ge=1)
    loc: SourceLoc
    #: ``kittens``: the runtime's st (ldmatrix / cp.async layout). ``tma``: tg::tma_tile, panels of
    #: 128-byte rows in the 128-byte swizzle that TMA writes and wgmma reads (sm_90a).
    layout: Literal["kittens", "tma"] = "kittens"


class MBarrier(_Model):
    """A ring of ``count`` mbarriers in shared memory (sm_90). Each completes a phase when
    ``arrivals`` arrivals have come and every transaction byte an arrival announced
    (``Arrive.expect_bytes``) has landed; phases alternate parity 0, 1, 0, ..."""

    name: str
    count: int = Field(default=1, ge=1)
    arrivals: int = Field(ge=1)
    loc: SourceLoc


class RegisterTile(_Model):
    """A register tile (per warp), or an array of ``count`` of them, declared in a scope: the
    whole kernel (``scope="kernel"``) or one role (``scope=<role name>``)."""

    name: str
    rows: int = Field(ge=1)
    cols: int = Field(ge=1)
    dtype: Dtype
    layout: Layout = "row"
    count: int = Field(default=1, ge=1)
    scope: str = "kernel"
    loc: SourceLoc
    #: A K-slice ring: slot ``s % count`` holds K slice ``s`` (``k.ring``), so the next slice can
    #: be read while the current one is multiplied. Emitted as the array it is; the validator
    #: (``accumulators.operand-k`` / ``foreign-sums``) proves every mma reads its own slice.
    ring: bool = False


class StageBuffer(_Model):
    """Registers that hold one shared tile's worth of global data in flight (global -> registers
    -> shared staging, reference kernel 06). Each of the ``group_size`` warps holds its share."""

    name: str
    rows: int = Field(ge=1)
    cols: int = Field(ge=1)
    group_size: int = Field(ge=1)
    scope: str = "kernel"
    loc: SourceLoc


class Role(_Model):
    """A named, contiguous range of warps ``[first, first + count)`` with an optional register
    budget per thread (``setmaxnreg`` on sm_90a; a budget to check against on AMD)."""

    name: str
    first: int = Field(ge=0)
    count: int = Field(ge=1)
    max_registers: Optional[int] = None
    loc: SourceLoc

    @property
    def warps(self) -> range:
        return range(self.first, self.first + self.count)


# --------------------------------------------------------------------------------------------
# References
# --------------------------------------------------------------------------------------------


class RegRef(_Model):
    tile: str
    index: Optional[Expr] = None  # element of a register-tile array; None for a single tile


class SharedRef(_Model):
    tile: str
    buffer: Optional[Expr] = None  # pipeline buffer; None for a single-buffered tile


class BarRef(_Model):
    barrier: str
    index: Optional[Expr] = None  # element of an mbarrier ring; None for a single barrier


# --------------------------------------------------------------------------------------------
# Operations. Every op records the Python line that made it.
# --------------------------------------------------------------------------------------------


class _Op(_Model):
    loc: SourceLoc


class Zero(_Op):
    kind: Literal["zero"] = "zero"
    dst: RegRef


class Copy(_Op):
    """Register tile copy (``dst = src``), for register double-buffering (kernel 03)."""

    kind: Literal["copy"] = "copy"
    dst: RegRef
    src: RegRef


class GroupLoad(_Op):
    """``group<group_size>::load(dst, g.<src>, {0, 0, row, col})``: the ``group_size`` warps of
    the running warp's group cooperatively copy one tile from global to shared. ``is_async``
    loads complete only at an ``AsyncWait`` (cp.async on NVIDIA)."""

    kind: Literal["group_load"] = "group_load"
    dst: SharedRef
    src: Operand
    row: Expr
    col: Expr
    group_size: int = Field(ge=1)
    is_async: bool = False


class StageLoad(_Op):
    """Global -> registers, the first half of staging; completes at an ``AsyncWait``."""

    kind: Literal["stage_load"] = "stage_load"
    dst: str  # StageBuffer name
    src: Operand
    row: Expr
    col: Expr


class StageStore(_Op):
    """Registers -> shared, the second half of staging."""

    kind: Literal["stage_store"] = "stage_store"
    dst: SharedRef
    src: str  # StageBuffer name


class AsyncWait(_Op):
    """Wait until at most ``pending`` of this warp's asynchronous loads are still in flight."""

    kind: Literal["async_wait"] = "async_wait"
    pending: int = Field(default=0, ge=0)


class LoadShared(_Op):
    """``load(dst, subtile_inplace<R, C>(src, {row, col}))``: one warp copies a subtile of the
    register tile's shape from shared memory; offsets count subtiles."""

    kind: Literal["load_shared"] = "load_shared"
    dst: RegRef
    src: SharedRef
    row: Expr
    col: Expr


class Mma(_Op):
    """``mma_AB`` / ``mma_ABt``: d = a @ b (+ c); ``a`` row layout; ``b`` col layout for AB,
    row layout for ABt; ``c`` and ``d`` f32 accumulators in col layout."""

    kind: Literal["mma"] = "mma"
    variant: Literal["AB", "ABt"]
    d: RegRef
    a: RegRef
    b: RegRef
    c: RegRef


class Store(_Op):
    """``store(g.c, src, {0, 0, row, col})`` with the epilogue C = alpha * src + beta * C;
    coordinates count tiles of ``src``'s shape."""

    kind: Literal["store"] = "store"
    src: RegRef
    row: Expr
    col: Expr


class StoreShared(_Op):
    """Register tile -> shared subtile (offsets in subtiles), to store C through shared."""

    kind: Literal["store_shared"] = "store_shared"
    dst: SharedRef
    src: RegRef
    row: Expr
    col: Expr


class GroupStore(_Op):
    """``group<group_size>::store(g.c, src, {0, 0, row, col})`` with the epilogue; coordinates
    count tiles of the shared tile's shape."""

    kind: Literal["group_store"] = "group_store"
    src: SharedRef
    row: Expr
    col: Expr
    group_size: int = Field(ge=1)


class TmaLoad(_Op):
    """TMA: one thread copies tile (row, col) of A or B (coordinates in tiles of ``dst``'s shape)
    into ``dst`` (a ``tma`` layout tile); the bytes sign in on ``barrier``, whose phase they
    complete. Until that phase completes ``dst`` is being written."""

    kind: Literal["tma_load"] = "tma_load"
    dst: SharedRef
    src: Operand
    row: Expr
    col: Expr
    barrier: BarRef


class Arrive(_Op):
    """One arrival on ``barrier`` per wave that runs it (lane 0 arrives; inside ``OneThread`` the
    one thread); ``expect_bytes`` > 0 also announces that many transaction bytes (TMA loads)."""

    kind: Literal["arrive"] = "arrive"
    barrier: BarRef
    expect_bytes: int = Field(default=0, ge=0)


class WaitBarrier(_Op):
    """Wait until the phase of parity ``parity`` of ``barrier`` has completed; the wave then sees
    everything that phase's arrivals and loads wrote."""

    kind: Literal["wait_barrier"] = "wait_barrier"
    barrier: BarRef
    parity: Expr


class Wgmma(_Op):
    """``wgmma`` over a warpgroup: ``d`` (each warp's 16 x N slice of a 64 x N result) += A
    (rows ``64 * a_slice`` .. of ``a``) @ B (``b``: K x N for AB, N x K for ABt), operands read
    from ``tma`` layout shared tiles; one commit group, complete at a ``WgmmaWait``."""

    kind: Literal["wgmma"] = "wgmma"
    variant: Literal["AB", "ABt"]
    d: RegRef
    a: SharedRef
    a_slice: Expr
    b: SharedRef


class WgmmaWait(_Op):
    """Wait until at most ``pending`` of this wave's wgmma groups are in flight; ``d`` (their
    accumulator) may be read after it."""

    kind: Literal["wgmma_wait"] = "wgmma_wait"
    pending: int = Field(default=0, ge=0)
    d: RegRef


class StoreTma(_Op):
    """The epilogue through shared memory and TMA (sm_90a), run by whole warpgroups: C tile
    (row, col) of 64 x N = alpha * (the warpgroup's 64 x N slice: each wave's 16 x N ``src``)
    + beta * C. ``staging`` (a 64-row ``tma`` tile, one per warpgroup) takes a part of the slice at
    a time; with beta == 0 one thread TMA-stores each part and the warpgroup goes on without
    waiting, else the waves store directly. Scales ``src`` in place."""

    kind: Literal["store_tma"] = "store_tma"
    src: RegRef
    staging: SharedRef
    row: Expr
    col: Expr


class ProxyFence(_Op):
    """``fence.proxy.async``: this wave's earlier ordinary shared writes become visible to TMA and
    wgmma (the asynchronous proxy)."""

    kind: Literal["proxy_fence"] = "proxy_fence"


class Barrier(_Op):
    """Block-wide barrier. Waves match barriers by count, not by source position."""

    kind: Literal["barrier"] = "barrier"


class Cluster(_Op):
    """A scheduling cluster: a block of ops the compiler keeps whole and in place, closed by a
    block barrier (``closing``) and a scheduling fence, run at ``priority`` (HipKittens' clusters).

    On AMD the body sits between ``s_setprio(priority)`` and ``s_setprio(0)`` when the priority is
    above 0, and ``closing`` is an LDS-fenced ``s_barrier`` followed by
    ``__builtin_amdgcn_sched_barrier(0)``, across which the compiler moves no instruction. On
    NVIDIA priority and fence are nothing and ``closing`` is ``__syncthreads()``. For the hazard
    model ``closing`` is an ordinary barrier; a barrier inside the body is an error (it would cut
    the cluster in two: close this cluster and open another instead)."""

    kind: Literal["cluster"] = "cluster"
    body: list[Stmt]
    closing: Barrier
    priority: int = Field(default=0, ge=0, le=3)
    label: str = ""


class For(_Op):
    """``for (var = start; var < stop; ++var)``. ``unroll`` asks the compiler to unroll (a
    static trip count is fully unrolled)."""

    kind: Literal["for"] = "for"
    var: str
    start: Expr
    stop: Expr
    body: list[Stmt]
    unroll: bool = False
    label: str = ""  # what the loop is for, e.g. "K loop"; shown in the emitted comment


class If(_Op):
    kind: Literal["if"] = "if"
    cond: Expr
    then: list[Stmt]
    orelse: list[Stmt] = []


class RoleBranch(_Op):
    """The body runs only on the warps of ``role``; register tiles of that role live here."""

    kind: Literal["role"] = "role"
    role: str
    body: list[Stmt]


class OneThread(_Op):
    """The body runs on one thread: lane 0 of the first wave of the enclosing role (of the
    block, outside roles). TMA loads and the arrivals that announce their bytes live here."""

    kind: Literal["one_thread"] = "one_thread"
    body: list[Stmt]


class ForTiles(_Op):
    """The output-tile loop: sets ``block_row`` / ``block_col``. One iteration per block unless
    the launch is persistent, in which case each block strides over the tiles."""

    kind: Literal["for_tiles"] = "for_tiles"
    body: list[Stmt]


Stmt = Annotated[
    Union[
        Zero,
        Copy,
        GroupLoad,
        StageLoad,
        StageStore,
        AsyncWait,
        LoadShared,
        Mma,
        Store,
        StoreShared,
        GroupStore,
        Barrier,
        For,
        If,
        RoleBranch,
        ForTiles,
        Cluster,
        TmaLoad,
        Arrive,
        WaitBarrier,
        Wgmma,
        WgmmaWait,
        ProxyFence,
        OneThread,
        StoreTma,
    ],
    Field(discriminator="kind"),
]

for _model in (For, If, RoleBranch, ForTiles, Cluster, OneThread):
    _model.model_rebuild()


# --------------------------------------------------------------------------------------------
# The kernel
# --------------------------------------------------------------------------------------------


class WarpGrid(_Model):
    """A ``rows x cols`` row-major arrangement of the kernel's (or a role's) warps, as
    ``warp_grid`` made it: ``row`` and ``col`` are the expressions it handed back, so later
    layers can name them (the emitter declares ``warp_row`` / ``warp_col``)."""

    rows: int = Field(ge=1)
    cols: int = Field(ge=1)
    role: Optional[str] = None
    row: Expr
    col: Expr
    loc: SourceLoc


class Kernel(_Model):
    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    globals: Globals = Globals()
    launch: Launch
    shared: list[SharedTile] = []
    registers: list[RegisterTile] = []
    stages: list[StageBuffer] = []
    roles: list[Role] = []
    body: list[Stmt]
    mbarriers: list[MBarrier] = []
    #: What the compiled kernel does with M, N, K that are not multiples of the block tile:
    #: ``refuse`` them with a message, or ``pad`` the operands to the next multiple.
    edge: Literal["refuse", "pad"] = "refuse"
    loc: SourceLoc
    #: The warp grids the schedule asked for (names for the emitted code; no semantics).
    warp_grids: list[WarpGrid] = []

    @model_validator(mode="after")
    def _unique_names(self) -> Kernel:
        seen: dict[str, str] = {}
        for kind, items in (
            ("shared tile", self.shared),
            ("register tile", self.registers),
            ("stage buffer", self.stages),
            ("role", self.roles),
            ("mbarrier", self.mbarriers),
        ):
            for item in items:
                if item.name in seen:
                    raise ValueError(f"{kind} name `{item.name}` is already used by a {seen[item.name]}")
                seen[item.name] = kind
        return self

    # Lookups used by every later layer.
    def shared_tile(self, name: str) -> SharedTile:
        return _by_name(self.shared, name, "shared tile")

    def register_tile(self, name: str) -> RegisterTile:
        return _by_name(self.registers, name, "register tile")

    def stage_buffer(self, name: str) -> StageBuffer:
        return _by_name(self.stages, name, "stage buffer")

    def role(self, name: str) -> Role:
        return _by_name(self.roles, name, "role")

    def mbarrier(self, name: str) -> MBarrier:
        return _by_name(self.mbarriers, name, "mbarrier")

    def role_of_warp(self, warp: int) -> Optional[Role]:
        for role in self.roles:
            if warp in role.warps:
                return role
        return None


def _by_name(items: list, name: str, kind: str):  # type: ignore[type-arg]
    for item in items:
        if item.name == name:
            return item
    raise KeyError(f"no {kind} named `{name}`")


def walk(body: list[Stmt]):  # type: ignore[no-untyped-def]
    """Every op of ``body``, depth first, in source order (loops and branches included)."""
    for op in body:
        yield op
        for child in children(op):
            yield from walk(child)


def children(op: Stmt) -> list[list[Stmt]]:
    if isinstance(op, (For, RoleBranch, ForTiles, Cluster, OneThread)):
        return [op.body]
    if isinstance(op, If):
        return [op.then, op.orelse]
    return []
