"""The schedule builder: the Python API a kernel author writes schedules with.

A schedule reads top to bottom like the HipKittens kernel it becomes::

    k = Kernel("baseline", warps=4, block=(128, 128), k_step=32)
    As = k.shared("As", 128, 32)
    ...
    with k.k_loop() as kt:
        k.load_tile(As, "A", kt)      # group<4>::load(As, g.a, {0, 0, block_row, kt})
        k.sync()
        k.load(a, As, row=wr)         # load(a, subtile_inplace<32, 32>(As, {warp_row, 0}))
        k.mma(acc, a, b)

Coordinates that come from the block, the warp or the K step are derived here (``load_tile``,
``store``), so the common case has no index arithmetic in the user's code. Every op records the
user's Python line. ``build()`` returns the plain-data ``ir.Kernel``; nothing here validates
beyond what is needed to build (see ``tilegen.validate``).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import io
import linecache
import os
import re
import tokenize
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal, Optional, TypeVar, Union

from pydantic import ValidationError

from ir import models as m
from ir.expr import BLOCK_COL, BLOCK_ROW, K_DONE, NUM_K_TILES, WARP, Expr, ExprLike, Var, as_expr
from ir.names import IDENTIFIER
from ir.semantics import array_without_index, b_shape, mma_variant

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
T = TypeVar("T")


class BuildError(ValueError):
    """The schedule cannot even be built (a misuse of the builder API). Like ``ScheduleError``, it
    names the user's line (``loc``: the first frame outside tilegen, where the builder was called)
    and how to fix it (``fix``)::

        error[build] at examples/k.py:12: role `producer` opened inside role `consumer`
          fix: close `with consumer:` before `with producer:` ...
    """

    def __init__(self, message: str, *, fix: str, loc: Optional[m.SourceLoc] = None):
        self.loc = loc if loc is not None else _caller_loc()
        self.message = message
        self.fix = fix
        super().__init__(f"error[build] at {self.loc}: {message}\n  fix: {fix}")


def _validation_fix(kind: str, field: str, ctx: dict) -> str:
    """How to fix one pydantic error of a builder argument, in the builder's terms."""
    if kind in ("greater_than_equal", "greater_than"):
        limit = ctx.get("ge", ctx.get("gt"))
        at_least = kind == "greater_than_equal"
        return f"pass `{field}` of at least {limit}" if at_least else f"pass `{field}` above {limit}"
    if kind in ("less_than_equal", "less_than"):
        return f"pass `{field}` of at most {ctx.get('le', ctx.get('lt'))}"
    if kind == "string_pattern_mismatch":
        return f"`{field}` must be a C identifier: letters, digits and underscores, not starting with a digit"
    if kind in ("literal_error", "enum"):
        return f"pass one of {ctx.get('expected', 'the documented values')} for `{field}`"
    if kind == "value_error" and "already used" in str(ctx.get("error", "")):
        return "give every shared tile, register tile, stage buffer and role its own name"
    return f"check `{field}` against the builder's documentation (docs/builder.md)"


def _user_errors(fn: Callable[..., T]) -> Callable[..., T]:
    """Builder methods turn the IR's own validation errors (a tile of 0 rows, a kernel name that is
    no identifier, two tiles of one name) into a ``BuildError`` with the user's line and a fix."""

    @functools.wraps(fn)
    def wrapper(*args: object, **kwargs: object) -> T:
        try:
            return fn(*args, **kwargs)
        except ValidationError as error:
            first = error.errors()[0]
            field = ".".join(str(part) for part in first["loc"]) or error.title
            kind = first["type"]
            call = "Kernel(...)" if fn.__name__ == "__init__" else f"{fn.__name__}(...)"
            message = f"{call}: `{field}` = {first.get('input')!r}: {first['msg']}"
            if kind == "value_error":
                message = f"{call}: {first['msg'].removeprefix('Value error, ')}"
            raise BuildError(message, fix=_validation_fix(kind, field, first.get("ctx") or {})) from None

    return wrapper


def _caller_loc() -> m.SourceLoc:
    """The first stack frame outside tilegen's own package: the user's line."""
    frame = inspect.currentframe()
    try:
        while frame is not None:
            path = os.path.abspath(frame.f_code.co_filename)
            if not path.startswith(_PACKAGE_DIR + os.sep) and "contextlib" not in path:
                return m.SourceLoc(
                    file=_short_path(path),
                    line=frame.f_lineno,
                    function=frame.f_code.co_name,
                    note=_line_comment(path, frame.f_lineno),
                )
            frame = frame.f_back
    finally:
        del frame
    return m.SourceLoc(file="<unknown>", line=0)


def _line_comment(path: str, line: int) -> str:
    """The ``# comment`` at the end of the user's source line, without the ``#`` ("" if none)."""
    text = linecache.getline(path, line)
    if "#" not in text:
        return ""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return ""
    for token in tokens:
        if token.type == tokenize.COMMENT:
            return token.string.lstrip("#").strip()
    return ""


def _short_path(path: str) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel


# --------------------------------------------------------------------------------------------
# Handles: what the builder gives back for declared storage
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SharedView:
    """One pipeline buffer of a shared tile (or the tile itself when single-buffered)."""

    tile: m.SharedTile
    buffer: Optional[Expr] = None

    def ref(self) -> m.SharedRef:
        return m.SharedRef(tile=self.tile.name, buffer=self.buffer)


class SharedTile(SharedView):
    """Handle for a declared shared tile; index it with a buffer number or expression."""

    def __getitem__(self, buffer: ExprLike) -> SharedView:
        return SharedView(self.tile, as_expr(buffer))

    @property
    def name(self) -> str:
        return self.tile.name

    @property
    def shape(self) -> tuple[int, int]:
        return (self.tile.rows, self.tile.cols)


@dataclass(frozen=True)
class RegView:
    tile: m.RegisterTile
    index: Optional[Expr] = None

    def ref(self) -> m.RegRef:
        return m.RegRef(tile=self.tile.name, index=self.index)


class RegisterTile(RegView):
    """Handle for a declared register tile or register-tile array (index it: ``acc[i]``)."""

    def __getitem__(self, index: ExprLike) -> RegView:
        return RegView(self.tile, as_expr(index))

    def __iter__(self) -> Iterator[RegView]:
        return (self[i] for i in range(self.tile.count))

    def __len__(self) -> int:
        return self.tile.count

    @property
    def name(self) -> str:
        return self.tile.name

    @property
    def shape(self) -> tuple[int, int]:
        return (self.tile.rows, self.tile.cols)


class Ring(RegisterTile):
    """Handle for a K-slice ring (``k.ring``): ``ring[s]`` is the slot holding K slice ``s``."""

    def __getitem__(self, slice_index: ExprLike) -> RegView:
        depth = self.tile.count
        if isinstance(slice_index, int):
            return RegView(self.tile, as_expr(slice_index % depth))
        return RegView(self.tile, as_expr(slice_index) % depth)

    def __iter__(self) -> Iterator[RegView]:
        return (RegView(self.tile, as_expr(i)) for i in range(self.tile.count))

    @property
    def depth(self) -> int:
        return self.tile.count


@dataclass(frozen=True)
class MBarrierView:
    """One mbarrier of a ring (or the only one)."""

    ring: m.MBarrier
    index: Optional[Expr] = None

    def ref(self) -> m.BarRef:
        return m.BarRef(barrier=self.ring.name, index=self.index)


class MBarrierRing(MBarrierView):
    """Handle for a declared ring of mbarriers; index it with the stage: ``full[s]``."""

    def __getitem__(self, index: ExprLike) -> MBarrierView:
        return MBarrierView(self.ring, as_expr(index))

    @property
    def name(self) -> str:
        return self.ring.name


@dataclass(frozen=True)
class StageBuffer:
    buffer: m.StageBuffer

    @property
    def name(self) -> str:
        return self.buffer.name


class Role:
    """Handle for a role. ``with role:`` opens a branch only its warps run; ``role.warp`` is the
    warp's index inside the role."""

    def __init__(self, builder: Kernel, role: m.Role):
        self._builder = builder
        self.role = role

    @property
    def name(self) -> str:
        return self.role.name

    @property
    def warp(self) -> Expr:
        return Var(name=WARP) - self.role.first

    @property
    def warps(self) -> range:
        return self.role.warps

    def __enter__(self) -> Role:
        self._builder._open_role(self)
        return self

    def __exit__(self, *exc: object) -> None:
        self._builder._close_block()


SharedLike = Union[SharedTile, SharedView]
RegLike = Union[RegisterTile, RegView]


def _reg_ref(reg: RegLike) -> m.RegRef:
    if isinstance(reg, RegisterTile) and reg.tile.count > 1:
        raise BuildError(
            array_without_index(reg.name, reg.tile.count),
            fix=f"index it, e.g. `{reg.name}[0]` (or `{reg.name}[i]` in a loop over its count)",
        )
    return reg.ref()


# --------------------------------------------------------------------------------------------
# Block-order helpers (passed to Kernel(order=...))
# --------------------------------------------------------------------------------------------


@_user_errors
def row_major() -> m.TileOrder:
    """Block order: output tiles row by row (the default).

    Example::

        k = tg.Kernel("rows", warps=4, block=(128, 128), k_step=32, order=tg.row_major())
        k.zero(k.accumulator("acc", 64, 64))
    """
    return m.TileOrder(kind="row_major")


@_user_errors
def column_major() -> m.TileOrder:
    """Block order: output tiles column by column (blocks that run together share B panels).

    Example::

        k = tg.Kernel("cols", warps=4, block=(128, 128), k_step=32, order=tg.column_major())
        k.zero(k.accumulator("acc", 64, 64))
    """
    return m.TileOrder(kind="column_major")


@_user_errors
def grouped(group_m: int) -> m.TileOrder:
    """Block order of ThunderKittens' SUPER_M / HipKittens' WGM: walk ``group_m`` tile rows
    before moving one tile right, so the blocks that run together share A and B panels in L2.

    Args:
        group_m: tile rows per band (the last band may be shorter).

    Example::

        k = tg.Kernel("bands", warps=8, block=(256, 256), k_step=64, order=tg.grouped(8))
        k.zero(k.accumulator("acc", 64, 128))
    """
    return m.TileOrder(kind="grouped", group_m=group_m)


@_user_errors
def xcd_remap(num_xcds: int = 8, chunk: int = 1) -> m.XcdRemap:
    """Spread consecutive tiles over the XCDs of an MI300-class GPU (blocks are dealt to XCDs
    round robin; the remap gives each XCD a contiguous run of tiles, so its L2 is shared).

    Args:
        num_xcds: how many XCDs the chip has (8 on MI300X / MI325X).
        chunk: how many consecutive block ids stay on one XCD before the next.

    Example::

        k = tg.Kernel("xcd", warps=8, block=(256, 256), k_step=64, order=tg.grouped(4), xcd=tg.xcd_remap(8, 16))
        k.zero(k.accumulator("acc", 64, 128))
    """
    return m.XcdRemap(num_xcds=num_xcds, chunk=chunk)


# --------------------------------------------------------------------------------------------
# The builder
# --------------------------------------------------------------------------------------------


@dataclass
class _Frame:
    """An open block of statements (the kernel body, a loop, a branch)."""

    kind: str
    body: list
    make: object = None  # callable(body) -> Stmt, for frames that become one statement
    role: Optional[str] = None


class Kernel:
    """Builds one GEMM kernel schedule. See the module docstring and docs/ir.md."""

    A: Literal["A"] = "A"
    B: Literal["B"] = "B"

    @_user_errors
    def __init__(
        self,
        name: str,
        *,
        warps: int,
        block: tuple[int, int],
        k_step: int,
        b_layout: Literal["kn", "nk"] = "kn",
        c_dtype: Literal["f32", "bf16"] = "f32",
        order: Optional[m.TileOrder] = None,
        persistent: Optional[int] = None,
        xcd: Optional[m.XcdRemap] = None,
        grid: Optional[Literal["2d", "linear"]] = None,
        min_blocks_per_cu: int = 1,
        edge: Literal["refuse", "pad"] = "refuse",
    ):
        """Start a GEMM schedule: C = alpha * A @ B + beta * C, one output tile per block.

        Args:
            name: the kernel's name (a C identifier; the emitted ``<name>_kernel``).
            warps: warps (AMD waves) per block.
            block: (rows, cols) of the block's output tile, ``BLOCK_M x BLOCK_N``.
            k_step: columns of A (rows of B) per K step, ``K_STEP``.
            b_layout: ``"kn"``: B is K x N (``mma_AB``); ``"nk"``: B is N x K (``mma_ABt``).
            c_dtype: ``"f32"`` or ``"bf16"`` C.
            order: which output tiles the blocks take, in order: ``tg.row_major()`` (default),
                ``tg.column_major()``, ``tg.grouped(group_m)``.
            persistent: a persistent grid of this many blocks, each striding over the output tiles in
                ``k.tiles()`` (e.g. the number of SMs / CUs); None launches one block per tile.
            xcd: ``tg.xcd_remap(...)``: deal consecutive tiles to one XCD (AMD MI300).
            grid: ``"2d"`` (blockIdx.x, blockIdx.y) or ``"linear"`` (a 1-d grid); the default is 2d
                for a plain row-major launch, linear otherwise.
            min_blocks_per_cu: the ``__launch_bounds__`` occupancy hint (blocks per CU / SM).
            edge: M, N, K that are not multiples of the block tile: ``"refuse"`` them with a message,
                or ``"pad"`` the operands to the next multiple (the compiled kernel and the simulator
                both do).

        Example::

            k = tg.Kernel("gemm", warps=8, block=(256, 256), k_step=64, b_layout="nk", c_dtype="bf16",
                          order=tg.grouped(8), persistent=304, edge="pad")
        """
        self._loc = _caller_loc()
        if not IDENTIFIER.match(name):
            raise BuildError(
                f"kernel name `{name}` is not a C identifier (it names the kernel, its module and its functions)",
                fix=f"use letters, digits and underscores, e.g. `{re.sub(r'[^A-Za-z0-9_]', '_', name) or 'gemm'}`",
            )
        self.name = name
        order = order or m.TileOrder()
        if grid is None:
            simple = order.kind == "row_major" and persistent is None and xcd is None
            grid = "2d" if simple else "linear"
        self.launch = m.Launch(
            num_warps=warps,
            block_m=block[0],
            block_n=block[1],
            k_step=k_step,
            grid=grid,
            tile_order=order,
            persistent_blocks=persistent,
            xcd_remap=xcd,
            min_blocks_per_cu=min_blocks_per_cu,
        )
        self.globals = m.Globals(b_layout=b_layout, c_dtype=c_dtype)
        self.edge = edge
        self._shared: list[m.SharedTile] = []
        self._registers: list[m.RegisterTile] = []
        self._stages: list[m.StageBuffer] = []
        self._roles: list[m.Role] = []
        self._warp_grids: list[m.WarpGrid] = []
        self._mbarriers: list[m.MBarrier] = []
        self._frames: list[_Frame] = [_Frame("kernel", [])]
        self._last_if: Optional[list] = None

    # -- builtin values ------------------------------------------------------------------------
    @property
    def warp(self) -> Expr:
        """This warp's index in the block (``kittens::warpid()``), a schedule expression.

        Example::

            with k.when(k.warp.eq(0)):
                k.sync()
        """
        return Var(name=WARP)

    @property
    def block_row(self) -> Expr:
        """Row of the output tile this block computes, in block tiles (set by the block order).

        Example::

            k.load_tile(As[0], "A", 0, row=k.block_row)
            k.sync()
        """
        return Var(name=BLOCK_ROW)

    @property
    def block_col(self) -> Expr:
        """Column of the output tile this block computes, in block tiles.

        Example::

            k.load_tile(Bs[0], "B", 0, col=k.block_col)
            k.sync()
        """
        return Var(name=BLOCK_COL)

    @property
    def num_k_tiles(self) -> Expr:
        """K / k_step, the number of K steps (known at run time, from the tensors).

        Example::

            with k.when(k.num_k_tiles > 1):
                k.load_tile(As[1], "A", 1)
        """
        return Var(name=NUM_K_TILES)

    @property
    def k_done(self) -> Expr:
        """The K steps this block ran for its earlier output tiles (persistent grids; 0 otherwise):
        ``k_done + kt`` numbers the block's K steps across tiles, as a ring of mbarriers needs.

        Example::

            with k.tiles(), k.k_loop() as kt:
                step = k.k_done + kt
        """
        return Var(name=K_DONE)

    @property
    def mma_variant(self) -> Literal["AB", "ABt"]:
        """``"AB"`` when B is K x N, ``"ABt"`` when B is N x K: what ``mma`` uses by default.

        Example::

            variant = k.mma_variant
            k.mma(acc[0], a[0], b[0], variant=variant)
        """
        return mma_variant(self.globals.b_layout)

    @_user_errors
    def warp_grid(self, rows: int, cols: int, role: Optional[Role] = None) -> tuple[Expr, Expr]:
        """(warp_row, warp_col) of a ``rows x cols`` row-major arrangement of the kernel's (or
        ``role``'s) warps: warp w sits at (w // cols, w % cols). The emitted code names them
        ``warp_row`` / ``warp_col``.

        Args:
            rows: rows of the warp grid.
            cols: columns of the warp grid; ``rows * cols`` must be the warp count.
            role: arrange this role's warps (counted from the role's first warp) instead of the kernel's.

        Example::

            warp_row, warp_col = k.warp_grid(2, 2, role=consumers)
            k.load(a[0], As[0], row=warp_row)
        """
        count = role.role.count if role else self.launch.num_warps
        if rows * cols != count:
            whose = f"role `{role.name}`" if role else "the kernel"
            shapes = ", ".join(f"{r} x {count // r}" for r in range(1, count + 1) if count % r == 0)
            fix = f"use a grid of {count} warps ({shapes}), or change the warp count of {whose}"
            inside = next((f.role for f in reversed(self._frames) if f.role is not None), None)
            if role is None and inside is not None:
                # Inside `with role:` a grid without role= still arranges the kernel's warps.
                size = next(r.count for r in self._roles if r.name == inside)
                fits = ", ".join(f"{r} x {size // r}" for r in range(1, size + 1) if size % r == 0)
                fix = (
                    f"inside `with {inside}:` pass `role={inside}` to arrange that role's {size} warps (a grid of "
                    f"{size}: {fits}); without it the grid is of the kernel's {count} warps"
                )
            raise BuildError(f"a {rows} x {cols} warp grid needs {rows * cols} warps, but {whose} has {count}", fix=fix)
        local = role.warp if role else self.warp
        row, col = local // cols, local % cols
        grid = m.WarpGrid(rows=rows, cols=cols, role=role.name if role else None, row=row, col=col, loc=_caller_loc())
        if all((g.row, g.col) != (row, col) for g in self._warp_grids):
            self._warp_grids.append(grid)
        return row, col

    # -- declarations --------------------------------------------------------------------------
    def _claim(self, name: str) -> None:
        """One name per shared tile, register tile, stage buffer and role (the C++ declares each)."""
        for kind, items in (
            ("shared tile", self._shared),
            ("register tile", self._registers),
            ("stage buffer", self._stages),
            ("role", self._roles),
            ("mbarrier", self._mbarriers),
        ):
            earlier = next((item for item in items if item.name == name), None)
            if earlier is not None:
                raise BuildError(
                    f"the name `{name}` is already used by the {kind} declared at {earlier.loc}",
                    fix=f"give this one another name, e.g. `{name}2`",
                )

    @_user_errors
    def shared(
        self,
        name: str,
        rows: int,
        cols: int,
        *,
        buffers: int = 1,
        dtype: m.Dtype = "bf16",
        layout: Literal["kittens", "tma"] = "kittens",
    ) -> SharedTile:
        """Declare a shared tile ``st_bf<rows, cols>`` (``st_fl`` for f32), ``buffers`` deep.

        Args:
            name: the C++ name of the tile.
            rows: rows of one buffer.
            cols: columns of one buffer.
            buffers: pipeline depth: ``As[i]`` is buffer i (an expression, e.g. ``As[kt % 2]``).
            dtype: ``"bf16"`` or ``"f32"``.
            layout: ``"kittens"`` (the runtime's st), or ``"tma"``: a ``tg::tma_tile`` in the
                128-byte swizzle that TMA loads write and wgmma reads (sm_90a).

        Example::

            Ws = k.shared("Ws", 128, 32, buffers=3)
            k.load_tile(Ws[0], "A", 0)
        """
        tile = m.SharedTile(
            name=name, rows=rows, cols=cols, dtype=dtype, buffers=buffers, layout=layout, loc=_caller_loc()
        )
        self._claim(tile.name)
        self._shared.append(tile)
        return SharedTile(tile)

    @_user_errors
    def register(
        self,
        name: str,
        rows: int,
        cols: int,
        *,
        layout: m.Layout = "row",
        dtype: m.Dtype = "bf16",
        count: int = 1,
        scope: Optional[Role] = None,
    ) -> RegisterTile:
        """Declare a register tile (``rt_bf<rows, cols>`` by default), per warp.

        Args:
            name: the C++ name.
            rows: rows of the tile.
            cols: columns of the tile.
            layout: ``"row"`` or ``"col"`` (the B operand of ``mma_AB`` is col).
            dtype: ``"bf16"`` or ``"f32"``.
            count: an array of this many tiles, indexed ``t[i]``.
            scope: the role it belongs to (default: the role whose ``with`` block declares it, else
                every warp).

        Example::

            b_col = k.register("b_col", 32, 32, layout="col", count=2)
            k.load(b_col[0], Bs[0], col=warp_col)
        """
        tile = m.RegisterTile(
            name=name,
            rows=rows,
            cols=cols,
            dtype=dtype,
            layout=layout,
            count=count,
            scope=self._scope(scope),
            loc=_caller_loc(),
        )
        self._claim(tile.name)
        self._registers.append(tile)
        return RegisterTile(tile)

    @_user_errors
    def accumulator(
        self, name: str, rows: int, cols: int, *, count: int = 1, scope: Optional[Role] = None
    ) -> RegisterTile:
        """Declare f32 accumulators (``rt_fl<rows, cols, col>``), ``count`` of them.

        Args:
            name: the C++ name.
            rows: rows of one accumulator.
            cols: columns of one accumulator.
            count: an array of this many, indexed ``acc[i]``.
            scope: the role it belongs to (default: the declaring role, else every warp).

        Example::

            sums = k.accumulator("sums", 32, 32, count=2, scope=consumers)
            k.zero(sums)
        """
        tile = m.RegisterTile(
            name=name,
            rows=rows,
            cols=cols,
            dtype="f32",
            layout="col",
            count=count,
            scope=self._scope(scope),
            loc=_caller_loc(),
        )
        self._claim(tile.name)
        self._registers.append(tile)
        return RegisterTile(tile)

    @_user_errors
    def ring(
        self, name: str, rows: int, cols: int, *, depth: int = 2, dtype: m.Dtype = "bf16", scope: Optional[Role] = None
    ) -> Ring:
        """A ring of ``depth`` register tiles for K slices: ``ring[s]`` is the slot of slice ``s``
        (``s % depth``), so slice ``s + 1`` is read into its slot while slice ``s`` is multiplied.

        Args:
            name: the C++ name.
            rows: rows of one slot.
            cols: columns of one slot.
            depth: number of slots.
            dtype: ``"bf16"`` or ``"f32"``.
            scope: the role it belongs to (default: the declaring role, else every warp).

        Example::

            slices = k.ring("slices", 32, 16, depth=2)
            k.load(slices[1], As[0], row=warp_row, col=1)
        """
        if depth < 1:
            raise BuildError(
                f"ring `{name}` needs a depth of at least 1, got {depth}",
                fix="use depth=2 (one slot read while the other is multiplied), or more",
            )
        tile = m.RegisterTile(
            name=name,
            rows=rows,
            cols=cols,
            dtype=dtype,
            count=depth,
            scope=self._scope(scope),
            loc=_caller_loc(),
            ring=True,
        )
        self._claim(tile.name)
        self._registers.append(tile)
        return Ring(tile)

    @_user_errors
    def stage(
        self, name: str, like: SharedLike, *, group: Optional[int] = None, scope: Optional[Role] = None
    ) -> StageBuffer:
        """Registers that stage one tile shaped like ``like`` on its way from global to shared
        (``tg::stage<ST, N>``): ``stage_load`` fills them asynchronously, ``stage_store`` writes them.

        Args:
            name: the C++ name.
            like: the shared tile (or buffer) whose shape it holds.
            group: the warps that load it together (default: the declaring role's, else the kernel's).
            scope: the role it belongs to (default: the declaring role, else every warp).

        Example::

            b_next = k.stage("b_next", Bs[0], group=8)
            k.stage_load(b_next, "B", 1)
        """
        buffer = m.StageBuffer(
            name=name,
            rows=like.tile.rows,
            cols=like.tile.cols,
            group_size=group or self._current_group(),
            scope=self._scope(scope),
            loc=_caller_loc(),
        )
        self._claim(buffer.name)
        self._stages.append(buffer)
        return StageBuffer(buffer)

    @_user_errors
    def mbarrier(self, name: str, *, arrivals: int, count: int = 1) -> MBarrierRing:
        """Declare ``count`` mbarriers (a ring, one per stage; sm_90a) that each complete a phase
        after ``arrivals`` arrivals and the transaction bytes those arrivals announced.

        Args:
            name: the C++ name of the ring (``tg::mbarrier name[count]``).
            arrivals: arrivals per phase: one per wave that runs ``k.arrive`` (one inside ``k.one_thread()``).
            count: barriers in the ring, one per pipeline stage; index it: ``full[s]``.

        Example::

            full = k.mbarrier("full", arrivals=1, count=2)
            empty = k.mbarrier("empty", arrivals=4, count=2)
        """
        ring = m.MBarrier(name=name, count=count, arrivals=arrivals, loc=_caller_loc())
        self._claim(ring.name)
        self._mbarriers.append(ring)
        return MBarrierRing(ring)

    @_user_errors
    def role(self, name: str, warps: range, *, max_registers: Optional[int] = None) -> Role:
        """Declare a role: a contiguous range of warps. ``with role:`` opens a branch only its
        warps run; ``role.warp`` is the warp's index inside the role.

        Args:
            name: the role's name (it names the branch in the emitted code).
            warps: the role's warps, e.g. ``range(0, 4)``.
            max_registers: a register budget per thread (``setmaxnreg`` on sm_90a; checked on AMD).

        Example::

            loaders = k.role("loaders", range(0, 4), max_registers=40)
            with loaders: k.load_tile(As[0], "A", 0)
        """
        if warps.step != 1 or len(warps) == 0:
            raise BuildError(
                f"role `{name}` needs a non-empty contiguous range of warps, got {warps}",
                fix=f"pass `range(first, end)` with step 1, e.g. `k.role({name!r}, range(0, 4))`",
            )
        role = m.Role(name=name, first=warps.start, count=len(warps), max_registers=max_registers, loc=_caller_loc())
        self._claim(role.name)
        self._roles.append(role)
        return Role(self, role)

    # -- ops -----------------------------------------------------------------------------------
    @_user_errors
    def zero(self, dst: RegLike) -> None:
        """Set a register tile (every tile of an array) to zero.

        Args:
            dst: the tile, an element ``acc[i]``, or a whole array ``acc``.

        Example::

            k.zero(acc)
            k.zero(a[0])
        """
        if isinstance(dst, RegisterTile) and dst.tile.count > 1:
            for view in dst:
                self._emit(m.Zero(dst=view.ref(), loc=_caller_loc()))
            return
        self._emit(m.Zero(dst=dst.ref(), loc=_caller_loc()))

    @_user_errors
    def copy(self, dst: RegLike, src: RegLike) -> None:
        """Copy one register tile into another of the same shape and type.

        Args:
            dst: the tile written.
            src: the tile read.

        Example::

            k.copy(a[1], a[0])
            k.mma(acc[0], a[1], b[0])
        """
        self._emit(m.Copy(dst=_reg_ref(dst), src=_reg_ref(src), loc=_caller_loc()))

    @_user_errors
    def load_tile(
        self,
        dst: SharedLike,
        src: Literal["A", "B"],
        k: ExprLike = 0,
        *,
        part: tuple[ExprLike, ExprLike] = (0, 0),
        row: Optional[ExprLike] = None,
        col: Optional[ExprLike] = None,
        group: Optional[int] = None,
        is_async: bool = False,
    ) -> None:
        """``group<N>::load(dst, g.a / g.b, {...})``: global -> shared, run together by every warp of
        the group. By default the coordinates are this block's A (or B) panel at K step ``k``, in units
        of ``dst``.

        Args:
            dst: the shared tile or buffer written.
            src: ``"A"`` or ``"B"``.
            k: the K step (an expression, e.g. the ``k_loop`` variable).
            part: (row, col) of the piece to load when ``dst`` is smaller than the panel, in units of
                ``dst``.
            row: the global tile row instead of the derived one (absolute, in units of ``dst``).
            col: the global tile column instead of the derived one.
            group: warps that load together (default: the enclosing role's, else the kernel's).
            is_async: an asynchronous copy (``load_async``), complete at a later ``k.wait``.

        Example::

            k.load_tile(As[0], "A", 0, part=(0, 0), group=4, is_async=True)
            k.wait(0)
        """
        r, c = self._operand_coords(dst.tile.rows, dst.tile.cols, src, k, part, row, col)
        self._emit(
            m.GroupLoad(
                dst=dst.ref(),
                src=src,
                row=r,
                col=c,
                group_size=group or self._current_group(),
                is_async=is_async,
                loc=_caller_loc(),
            )
        )

    @_user_errors
    def stage_load(
        self,
        dst: StageBuffer,
        src: Literal["A", "B"],
        k: ExprLike = 0,
        *,
        part: tuple[ExprLike, ExprLike] = (0, 0),
        row: Optional[ExprLike] = None,
        col: Optional[ExprLike] = None,
    ) -> None:
        """Global -> stage registers, asynchronous (complete at ``k.wait``); coordinates as
        ``load_tile``.

        Args:
            dst: the stage buffer written.
            src: ``"A"`` or ``"B"``.
            k: the K step.
            part: (row, col) of the piece, in units of the stage's tile.
            row: the global tile row instead of the derived one.
            col: the global tile column instead of the derived one.

        Example::

            k.stage_load(a_next, "A", 1, part=(0, 0))
            k.wait(0)
        """
        r, c = self._operand_coords(dst.buffer.rows, dst.buffer.cols, src, k, part, row, col)
        self._emit(m.StageLoad(dst=dst.name, src=src, row=r, col=c, loc=_caller_loc()))

    @_user_errors
    def stage_store(self, dst: SharedLike, src: StageBuffer) -> None:
        """Stage registers -> shared: the second half of staging (after the ``k.wait`` that
        completes the ``stage_load``).

        Args:
            dst: the shared tile or buffer written.
            src: the stage buffer read.

        Example::

            k.wait(0)
            k.stage_store(As[1], a_next)
        """
        self._emit(m.StageStore(dst=dst.ref(), src=src.name, loc=_caller_loc()))

    @_user_errors
    def wait(self, pending: int = 0) -> None:
        """Wait until at most ``pending`` of this warp's asynchronous loads are in flight.

        Args:
            pending: loads that may still be in flight (the newest ones).

        Example::

            k.load_tile(As[0], "A", 0, is_async=True)
            k.wait(0)
        """
        self._emit(m.AsyncWait(pending=pending, loc=_caller_loc()))

    @_user_errors
    def load(self, dst: RegLike, src: SharedLike, row: ExprLike = 0, col: ExprLike = 0) -> None:
        """``load(dst, subtile_inplace<R, C>(src, {row, col}))``: shared -> this warp's registers.

        Args:
            dst: the register tile written.
            src: the shared tile or buffer read.
            row: the subtile row, in subtiles of ``dst``'s shape.
            col: the subtile column, in subtiles of ``dst``'s shape.

        Example::

            k.load(a[0], As[0], row=warp_row, col=0)
            k.load(b[0], Bs[0], col=warp_col)
        """
        self._emit(
            m.LoadShared(dst=_reg_ref(dst), src=src.ref(), row=as_expr(row), col=as_expr(col), loc=_caller_loc())
        )

    @_user_errors
    def mma(
        self,
        d: RegLike,
        a: RegLike,
        b: RegLike,
        c: Optional[RegLike] = None,
        *,
        variant: Optional[Literal["AB", "ABt"]] = None,
    ) -> None:
        """d = a @ b + c (``c`` defaults to ``d``: accumulate). ``mma_AB`` when B is K x N,
        ``mma_ABt`` when B is N x K, unless ``variant`` says otherwise.

        Args:
            d: the accumulator written.
            a: the A operand (row layout).
            b: the B operand.
            c: the accumulator added (default ``d``).
            variant: ``"AB"`` or ``"ABt"`` instead of the kernel's default.

        Example::

            k.mma(acc[0], a[0], b[0])
            k.mma(acc[1], a[0], b[1], c=acc[1], variant="AB")
        """
        self._emit(
            m.Mma(
                variant=variant or self.mma_variant,
                d=_reg_ref(d),
                a=_reg_ref(a),
                b=_reg_ref(b),
                c=_reg_ref(c if c is not None else d),
                loc=_caller_loc(),
            )
        )

    @_user_errors
    def store(
        self,
        src: RegLike,
        row: ExprLike = 0,
        col: ExprLike = 0,
        *,
        absolute: bool = False,
    ) -> None:
        """``store(g.c, src, {...})`` with the epilogue C = alpha * src + beta * C.

        Args:
            src: the register tile stored.
            row: the tile's row inside this block's output tile, in units of ``src``'s shape.
            col: the tile's column inside this block's output tile, in units of ``src``'s shape.
            absolute: ``row`` / ``col`` are global tile coordinates (the block's offset is not added).

        Example::

            k.store(acc[0], row=warp_row, col=warp_col)
            k.store(acc[1], row=k.block_row * 4 + warp_row, col=k.block_col * 4 + 1, absolute=True)
        """
        tile = src.tile
        r, c = as_expr(row), as_expr(col)
        if not absolute:
            r = self.block_row * self._ratio(self.launch.block_m, tile.rows, "block rows", tile.name) + r
            c = self.block_col * self._ratio(self.launch.block_n, tile.cols, "block cols", tile.name) + c
        self._emit(m.Store(src=_reg_ref(src), row=r, col=c, loc=_caller_loc()))

    @_user_errors
    def store_shared(self, dst: SharedLike, src: RegLike, row: ExprLike = 0, col: ExprLike = 0) -> None:
        """Register tile -> a subtile of a shared tile.

        Args:
            dst: the shared tile or buffer written.
            src: the register tile read.
            row: the subtile row, in subtiles of ``src``'s shape.
            col: the subtile column, in subtiles of ``src``'s shape.

        Example::

            k.store_shared(Cs, acc[0], row=warp_row, col=warp_col)
            k.sync()
        """
        self._emit(
            m.StoreShared(dst=dst.ref(), src=_reg_ref(src), row=as_expr(row), col=as_expr(col), loc=_caller_loc())
        )

    @_user_errors
    def store_tile(
        self,
        src: SharedLike,
        *,
        part: tuple[ExprLike, ExprLike] = (0, 0),
        row: Optional[ExprLike] = None,
        col: Optional[ExprLike] = None,
        group: Optional[int] = None,
    ) -> None:
        """``group<N>::store(g.c, src, {...})`` with the epilogue: shared -> global C, run by every
        warp of the group.

        Args:
            src: the shared tile stored.
            part: (row, col) of the piece when ``src`` is smaller than the block's output tile, in
                units of ``src``.
            row: the global tile row instead of the derived one.
            col: the global tile column instead of the derived one.
            group: warps that store together (default: the enclosing role's, else the kernel's).

        Example::

            k.sync()
            k.store_tile(Cs, part=(0, 0), group=8)
        """
        rows, cols = src.tile.rows, src.tile.cols
        r = (
            as_expr(row)
            if row is not None
            else self.block_row * self._ratio(self.launch.block_m, rows, "block rows", src.tile.name) + part[0]
        )
        c = (
            as_expr(col)
            if col is not None
            else self.block_col * self._ratio(self.launch.block_n, cols, "block cols", src.tile.name) + part[1]
        )
        self._emit(
            m.GroupStore(src=src.ref(), row=r, col=c, group_size=group or self._current_group(), loc=_caller_loc())
        )

    # -- Hopper: TMA, mbarriers, wgmma (sm_90a) ---------------------------------------------------
    @staticmethod
    def tile_bytes(*tiles: SharedLike) -> int:
        """Bytes of one buffer of each shared tile: what TMA loads of them bring to a barrier.

        Args:
            tiles: the shared tiles (or buffers) a phase's TMA loads fill.

        Example::

            full = k.mbarrier("full", arrivals=1, count=2)
            k.arrive(full[0], expect_bytes=k.tile_bytes(As, Bs))
        """
        return sum(t.tile.rows * t.tile.cols * (2 if t.tile.dtype == "bf16" else 4) for t in tiles)

    def tma_load(
        self,
        dst: SharedLike,
        src: Literal["A", "B"],
        k: ExprLike = 0,
        *,
        barrier: MBarrierView,
        row: Optional[ExprLike] = None,
        col: Optional[ExprLike] = None,
    ) -> None:
        """TMA: this block's A or B tile at K step ``k`` -> ``dst`` (coordinates derived as in
        ``load_tile``); its bytes complete ``barrier``'s phase. Run it inside ``one_thread()``.

        Args:
            dst: a ``layout="tma"`` shared tile (buffer).
            src: ``"A"`` or ``"B"``.
            k: the K step.
            barrier: the mbarrier whose phase the loaded bytes complete (announced by ``k.arrive``).
            row: the tile row in the global matrix instead of the derived one.
            col: the tile column instead of the derived one.

        Example::

            full = k.mbarrier("full", arrivals=1, count=2)
            k.tma_load(As[0], "A", 0, barrier=full[0])
        """
        r, c = self._operand_coords(dst.tile.rows, dst.tile.cols, src, k, (0, 0), row, col)
        self._emit(m.TmaLoad(dst=dst.ref(), src=src, row=r, col=c, barrier=barrier.ref(), loc=_caller_loc()))

    def arrive(self, barrier: MBarrierView, *, expect_bytes: int = 0) -> None:
        """One arrival per wave (one in total inside ``one_thread()``); ``expect_bytes`` also
        announces the bytes of the TMA loads that complete this phase (``k.tile_bytes(...)``).

        Args:
            barrier: the mbarrier (``ring[i]``).
            expect_bytes: transaction bytes this arrival announces (0: a plain arrival).

        Example::

            empty = k.mbarrier("empty", arrivals=4, count=2)
            k.arrive(empty[0])
        """
        self._emit(m.Arrive(barrier=barrier.ref(), expect_bytes=expect_bytes, loc=_caller_loc()))

    def wait_barrier(self, barrier: MBarrierView, parity: ExprLike) -> None:
        """Wait until ``barrier``'s phase of parity ``parity`` (its use count % 2) has completed.

        Args:
            barrier: the mbarrier (``ring[i]``).
            parity: the n-th use of a barrier waits on ``n % 2``; a producer's first pass over fresh
                empty barriers waits on ``(n + 1) % 2``, which passes at once.

        Example::

            full = k.mbarrier("full", arrivals=1, count=2)
            k.wait_barrier(full[0], 0)
        """
        self._emit(m.WaitBarrier(barrier=barrier.ref(), parity=as_expr(parity), loc=_caller_loc()))

    def wgmma(self, d: RegLike, a: SharedLike, b: SharedLike, *, a_slice: ExprLike) -> None:
        """wgmma over the running warpgroup: ``d`` += rows ``64 * a_slice`` .. of ``a`` @ ``b``
        (``b`` K x N, or N x K for ``b_layout="nk"``); asynchronous until ``wgmma_wait``.

        Args:
            d: the accumulator: each wave's f32 16 x N slice of the warpgroup's 64 x N.
            a: a ``layout="tma"`` tile of A (whole 64-row slices x K).
            b: a ``layout="tma"`` tile of B.
            a_slice: which 64-row slice of ``a`` this warpgroup multiplies.

        Example::

            d = k.accumulator("d", 16, 128)
            k.wgmma(d, As[0], Bs[0], a_slice=0)
        """
        self._emit(
            m.Wgmma(
                variant=self.mma_variant,
                d=_reg_ref(d),
                a=a.ref(),
                a_slice=as_expr(a_slice),
                b=b.ref(),
                loc=_caller_loc(),
            )
        )

    def wgmma_wait(self, d: RegLike, pending: int = 0) -> None:
        """Wait until at most ``pending`` wgmma groups of this wave are in flight; ``d`` may be read
        after it.

        Args:
            d: the accumulator the waited-for wgmmas write.
            pending: wgmma groups (``k.wgmma`` calls) that may stay in flight.

        Example::

            d = k.accumulator("d", 16, 128)
            k.wgmma_wait(d, 0)
        """
        self._emit(m.WgmmaWait(pending=pending, d=_reg_ref(d), loc=_caller_loc()))

    @_user_errors
    def store_tma(self, src: RegLike, staging: SharedLike, *, slice: ExprLike) -> None:
        """The epilogue through shared memory and TMA stores (sm_90a), by the running warpgroup:
        C = alpha * acc + beta * C for the warpgroup's 64-row slice ``slice`` of the block tile.

        Args:
            src: the accumulator: each wave's f32 16 x N slice (N = the block's columns).
            staging: a 64-row ``layout="tma"`` tile in C's dtype, one per warpgroup; it takes
                its width of the slice at a time.
            slice: which 64-row slice of the block tile this warpgroup holds.

        Example::

            Cs = k.shared("Cs64", 64, 64, dtype="f32", buffers=2, layout="tma")
            k.store_tma(k.accumulator("d", 16, 128), Cs[0], slice=0)
        """
        src_ref = _reg_ref(src)
        rows = self._ratio(self.launch.block_m, 64, "block rows", staging.tile.name)
        row = self.block_row * rows + as_expr(slice)
        self._emit(m.StoreTma(src=src_ref, staging=staging.ref(), row=row, col=self.block_col, loc=_caller_loc()))

    def proxy_fence(self) -> None:
        """``fence.proxy.async``: this wave's ordinary shared writes become visible to TMA / wgmma.

        Example::

            k.store_shared(Cs, acc[0])
            k.proxy_fence()
        """
        self._emit(m.ProxyFence(loc=_caller_loc()))

    @contextlib.contextmanager
    def one_thread(self) -> Iterator[None]:
        """The body runs on lane 0 of the first wave of the enclosing role: TMA loads, and the
        arrival that announces their bytes.

        Example::

            with producers, k.one_thread():
                k.proxy_fence()
        """
        loc = _caller_loc()
        self._frames.append(
            _Frame("one_thread", [], make=lambda body: m.OneThread(body=body, loc=loc), role=self._frames[-1].role)
        )
        try:
            yield
        finally:
            self._close_block()

    def sync(self) -> None:
        """Block-wide barrier: every warp's shared-memory writes before it are visible after it.

        Example::

            k.load_tile(As[0], "A", 0)
            k.sync()
        """
        self._emit(m.Barrier(loc=_caller_loc()))

    # -- control flow --------------------------------------------------------------------------
    @contextlib.contextmanager
    def k_loop(self, start: ExprLike = 0, stop: Optional[ExprLike] = None, *, var: str = "k") -> Iterator[Expr]:
        """The K loop: ``for (k = start; k < stop; ++k)``, ``stop`` defaulting to ``num_k_tiles``.

        Args:
            start: the first K step.
            stop: one past the last K step (default ``k.num_k_tiles``).
            var: the loop variable's name.

        Example::

            with k.k_loop(start=1, var="kt") as kt:
                k.load_tile(As[kt % 2], "A", kt)
        """
        with self.loop(start, self.num_k_tiles if stop is None else stop, var=var, label="K loop") as kt:
            yield kt

    @contextlib.contextmanager
    def loop(
        self,
        start: ExprLike,
        stop: Optional[ExprLike] = None,
        *,
        var: str = "i",
        unroll: bool = False,
        label: str = "",
    ) -> Iterator[Expr]:
        """``for (var = start; var < stop; ++var)``; ``loop(n)`` counts 0 .. n-1.

        Args:
            start: the first value (or the count, when ``stop`` is omitted).
            stop: one past the last value.
            var: the loop variable's name.
            unroll: ``#pragma unroll``.
            label: the loop's name in comments and reports.

        Example::

            with k.loop(2, var="d", unroll=True, label="dot slices") as d:
                k.load(a[0], As[0], row=warp_row, col=d)
        """
        if stop is None:
            start, stop = 0, start
        loc = _caller_loc()
        self._check_fresh_var(var)
        frame = _Frame(
            "for",
            [],
            make=lambda body: m.For(
                var=var, start=as_expr(start), stop=as_expr(stop), body=body, unroll=unroll, label=label, loc=loc
            ),
        )
        frame.role = self._frames[-1].role
        frame.var = var  # type: ignore[attr-defined]
        self._frames.append(frame)
        try:
            yield Var(name=var)
        finally:
            self._close_block()

    @contextlib.contextmanager
    def when(self, cond: ExprLike) -> Iterator[None]:
        """``if (cond) { ... }``; follow with ``with k.otherwise():`` for the else branch.

        Args:
            cond: a schedule expression (``k.num_k_tiles > 1``, ``k.warp.eq(0)``); a Python bool is
                refused (``==`` on expressions compares them in Python).

        Example::

            with k.when(k.num_k_tiles > 1):
                k.load_tile(As[1], "A", 1)
        """
        loc = _caller_loc()
        if isinstance(cond, bool):
            raise BuildError(
                f"`k.when()` got the Python bool {cond}, not a schedule expression: `==` / `!=` on "
                "expressions compare them in Python (`k.warp == 0` is always False)",
                fix="write `k.warp.eq(0)` (`.ne(...)` for !=), or use a plain Python `if` for a build-time decision",
                loc=loc,
            )
        cond_e = as_expr(cond)
        holder: dict = {}

        def make(body: list) -> m.If:
            op = m.If(cond=cond_e, then=body, orelse=[], loc=loc)
            holder["op"] = op
            return op

        frame = _Frame("if", [], make=make, role=self._frames[-1].role)
        self._frames.append(frame)
        try:
            yield
        finally:
            self._close_block()
            self._last_if = self._frames[-1].body

    @contextlib.contextmanager
    def otherwise(self) -> Iterator[None]:
        """The else branch of the ``when`` block just closed.

        Example::

            with k.when(k.num_k_tiles > 1): k.wait(1)
            with k.otherwise(): k.wait(0)
        """
        parent = self._frames[-1].body
        if self._last_if is not parent or not parent or not isinstance(parent[-1], m.If) or parent[-1].orelse:
            raise BuildError(
                "`otherwise()` must directly follow a `with k.when(...)` block",
                fix="put `with k.otherwise():` right after the `with k.when(...):` block it is the else of, at the "
                "same indentation, with nothing in between",
            )
        if_op: m.If = parent.pop()
        frame = _Frame(
            "else",
            [],
            make=lambda body: m.If(cond=if_op.cond, then=if_op.then, orelse=body, loc=if_op.loc),
            role=self._frames[-1].role,
        )
        self._frames.append(frame)
        try:
            yield
        finally:
            self._close_block()
            self._last_if = None

    @contextlib.contextmanager
    def cluster(self, priority: int = 0, label: str = "") -> Iterator[None]:
        """A scheduling cluster (HipKittens): the ops of the ``with`` block stay together and in
        place in the machine code, at ``priority`` (``s_setprio``; 1 for MFMA clusters), and the block
        ends with a barrier and a scheduling fence. Use consecutive clusters instead of ``k.sync()``
        between them; a ``k.sync()`` inside a cluster is an error.

        Args:
            priority: 0 .. 3, the wave priority while the cluster runs.
            label: the cluster's name in comments and reports.

        Example::

            with k.cluster(priority=1, label="mma slice 0"):
                k.mma(acc[0], a[0], b[0])
        """
        if not 0 <= priority <= 3:
            raise BuildError(
                f"cluster priority must be 0..3 (s_setprio), got {priority}",
                fix="use priority=1 for MFMA clusters and 0 (the default) for the rest",
            )
        loc = _caller_loc()

        def make(body: list) -> m.Cluster:
            return m.Cluster(body=body, closing=m.Barrier(loc=loc), priority=priority, label=label, loc=loc)

        self._frames.append(_Frame("cluster", [], make=make, role=self._frames[-1].role))
        try:
            yield
        finally:
            self._close_block()

    @contextlib.contextmanager
    def tiles(self) -> Iterator[None]:
        """The output-tile loop: persistent kernels stride over their tiles here. Without it the
        whole body is one tile's work.

        Example::

            with k.tiles():
                k.zero(acc)
        """
        loc = _caller_loc()
        # Inside a role branch the tile loop keeps the role (group size, register scope).
        self._frames.append(
            _Frame("tiles", [], make=lambda body: m.ForTiles(body=body, loc=loc), role=self._frames[-1].role)
        )
        try:
            yield
        finally:
            self._close_block()

    @_user_errors
    def build(self) -> m.Kernel:
        """The finished schedule as plain IR data (``tilegen.KernelIR``); every ``with`` block must
        be closed.

        Example::

            kernel = k.build()
            saved = kernel.model_dump_json()  # plain data: tg.validate, emit, simulate take it
        """
        if len(self._frames) != 1:
            frame = self._frames[-1]
            raise BuildError(
                f"a `with` block ({frame.kind}) is still open",
                fix="call `k.build()` after the `with` blocks, not inside one",
            )
        body = list(self._frames[0].body)
        if not any(isinstance(op, m.ForTiles) for op in m.walk(body)):
            body = [m.ForTiles(body=body, loc=self._loc)]
        return m.Kernel(
            name=self.name,
            globals=self.globals,
            launch=self.launch,
            shared=list(self._shared),
            registers=list(self._registers),
            stages=list(self._stages),
            roles=list(self._roles),
            body=body,
            mbarriers=list(self._mbarriers),
            edge=self.edge,
            loc=self._loc,
            warp_grids=list(self._warp_grids),
        )

    # -- internals -----------------------------------------------------------------------------
    def _emit(self, op: m.Stmt) -> None:
        self._frames[-1].body.append(op)
        self._last_if = None

    def _open_role(self, role: Role) -> None:
        if self._frames[-1].role is not None:
            outer = self._frames[-1].role
            raise BuildError(
                f"role `{role.name}` opened inside role `{outer}`: a warp has one role, so the inner branch would "
                f"run on no warp or on every warp of `{outer}`",
                fix=f"close `with {outer}:` before opening `with {role.name}:` (dedent it to the same level)",
            )
        loc = _caller_loc()
        self._frames.append(
            _Frame("role", [], make=lambda body: m.RoleBranch(role=role.name, body=body, loc=loc), role=role.name)
        )

    def _close_block(self) -> None:
        frame = self._frames.pop()
        op = frame.make(frame.body)  # type: ignore[operator]
        self._frames[-1].body.append(op)

    def _scope(self, scope: Optional[Role]) -> str:
        if scope is not None:
            return scope.name
        return self._frames[-1].role or "kernel"

    def _current_group(self) -> int:
        role_name = self._frames[-1].role
        if role_name is not None:
            return next(r.count for r in self._roles if r.name == role_name)
        return self.launch.num_warps

    def _check_fresh_var(self, var: str) -> None:
        if var in (WARP, BLOCK_ROW, BLOCK_COL, NUM_K_TILES, K_DONE):
            raise BuildError(
                f"`{var}` is a builtin schedule variable",
                fix="pick another loop variable name (`var=...`), e.g. `i`",
            )
        for frame in self._frames:
            if getattr(frame, "var", None) == var:
                raise BuildError(
                    f"loop variable `{var}` is already used by an enclosing loop",
                    fix=f"name this loop's variable differently (`var=...`), e.g. `{var}2`",
                )

    def _ratio(self, whole: int, part: int, what: str, tile: str) -> int:
        if part <= 0 or whole % part:
            raise BuildError(
                f"tile `{tile}` ({part} along {what}) does not divide the block's {whole} {what}; "
                "coordinates in tile units cannot be derived",
                fix=f"pick a tile size that divides {whole}, or pass row= / col= explicitly",
            )
        return whole // part

    def _operand_coords(
        self,
        rows: int,
        cols: int,
        src: str,
        k: ExprLike,
        part: tuple[ExprLike, ExprLike],
        row: Optional[ExprLike],
        col: Optional[ExprLike],
    ) -> tuple[Expr, Expr]:
        """Coordinates, in tiles of ``rows x cols``, of this block's A or B panel at K step k."""
        if src not in ("A", "B"):
            raise BuildError(f"source must be 'A' or 'B', got {src!r}", fix="load from \"A\" or \"B\"")
        launch = self.launch
        # Each axis of the moved tile runs along the block's M or N extent, or along K.
        block_axis = (
            (self.block_row, launch.block_m, "block rows")
            if src == "A"
            else (self.block_col, launch.block_n, "block cols")
        )
        k_axis = (as_expr(k), launch.k_step, "K step")
        row_axis, col_axis = (block_axis, k_axis) if src == "A" else b_shape(self.globals.b_layout, k_axis, block_axis)

        def coordinate(given: Optional[ExprLike], axis: tuple[Expr, int, str], size: int, offset: ExprLike) -> Expr:
            if given is not None:
                return as_expr(given)
            index, extent, what = axis
            return index * self._ratio(extent, size, what, f"{src} tile") + offset

        return coordinate(row, row_axis, rows, part[0]), coordinate(col, col_axis, cols, part[1])
