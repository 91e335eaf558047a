"""The emitted block-order code: which output tile (``block_row``, ``block_col``) a block computes.

The statements are ``ir.expr`` expressions, printed with ``to_cpp`` by the templates, so the very
program the kernel runs can also be evaluated in Python (``tiles_of_block``) and checked against
the reference semantics in ``ir/block_order.py``. Names inside the expressions are C++ names:
``blockIdx.x``, ``gridDim.x`` and the ``constexpr`` constants below.

Launch kinds:

* ``2d``: one block per tile on a ``(tile_cols, tile_rows)`` grid; ``block_row = blockIdx.y``.
* ``linear``: one block per tile on a 1-d grid; the block's tile id (XCD-remapped if asked) is
  turned into (row, col) by the tile order.
* ``persistent``: ``min(PERSISTENT_BLOCKS, tiles)`` blocks; each starts at its (remapped) id and
  strides by ``gridDim.x`` over the tile ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Union

from ir import models as m
from ir.expr import BLOCK_COL, BLOCK_ROW, Expr, Var, evaluate, free_vars, minimum

BLOCK_IDX_X = "blockIdx.x"
BLOCK_IDX_Y = "blockIdx.y"
GRID_DIM_X = "gridDim.x"
TILE_ROWS = "tile_rows"
TILE_COLS = "tile_cols"
NUM_TILES = "num_tiles"
TILE_ID = "tile_id"
FIRST_TILE_ID = "first_tile_id"


@dataclass(frozen=True)
class Let:
    """``const int name = value;`` (``int name = value;`` when ``mutable``)."""

    name: str
    value: Expr
    mutable: bool = False


@dataclass(frozen=True)
class Assign:
    """``name = value;`` of a variable declared ``mutable`` before."""

    name: str
    value: Expr


@dataclass(frozen=True)
class When:
    """``if (cond) { body }``."""

    cond: Expr
    body: tuple[Union[Let, Assign], ...]


Statement = Union[Let, Assign, When]


@dataclass(frozen=True)
class BlockOrder:
    kind: Literal["2d", "linear", "persistent"]
    #: ``constexpr int`` constants the code uses (name, value), declared at file scope.
    constants: tuple[tuple[str, int], ...]
    #: Computes the tile grid (``tile_rows``, ``tile_cols``, ``num_tiles``) the rest needs.
    grid: tuple[Let, ...]
    #: Computes the block's first tile id into ``first_name`` (nothing when that is ``blockIdx.x``).
    first_tile: tuple[Statement, ...]
    first_name: str
    #: From ``tile_id`` (or ``blockIdx`` for ``2d``) to ``block_row`` / ``block_col``.
    coords: tuple[Let, ...]
    #: One sentence for the emitted comment.
    description: str

    @property
    def statements(self) -> tuple[Statement, ...]:
        return (*self.grid, *self.first_tile, *self.coords)


def _v(name: str) -> Expr:
    return Var(name=name)


def block_order(launch: m.Launch) -> BlockOrder:
    """The block-order program of ``launch`` (raises ``ValueError`` for a launch it cannot express)."""
    order = launch.tile_order
    if launch.grid == "2d":
        if launch.persistent_blocks is not None:
            raise ValueError("a persistent launch needs grid='linear': a 2d grid launches one block per output tile")
        # ir.block_order ignores the tile order and the XCD remap on a 2d grid, and so does this.
        coords = (Let(BLOCK_ROW, _v(BLOCK_IDX_Y)), Let(BLOCK_COL, _v(BLOCK_IDX_X)))
        return BlockOrder("2d", (), (), (), BLOCK_IDX_X, coords, "one block per tile on a 2d grid")

    persistent = launch.persistent_blocks is not None
    constants: list[tuple[str, int]] = []
    if persistent:
        constants.append(("PERSISTENT_BLOCKS", launch.persistent_blocks))  # type: ignore[arg-type]

    rows, cols = _v(TILE_ROWS), _v(TILE_COLS)
    if order.kind == "row_major":
        coords = (Let(BLOCK_ROW, _v(TILE_ID) // cols), Let(BLOCK_COL, _v(TILE_ID) % cols))
        order_text = "row-major order"
    elif order.kind == "column_major":
        coords = (Let(BLOCK_ROW, _v(TILE_ID) % rows), Let(BLOCK_COL, _v(TILE_ID) // rows))
        order_text = "column-major order"
    else:
        constants.append(("GROUP_M", order.group_m))
        group = _v("GROUP_M")
        coords = (
            # Bands of GROUP_M tile rows; inside a band ids walk down the rows, then right.
            Let("band", _v(TILE_ID) // (group * cols)),
            Let("band_first_row", _v("band") * group),
            Let("band_rows", minimum(group, rows - _v("band_first_row"))),
            Let("in_band", _v(TILE_ID) % (group * cols)),
            Let(BLOCK_ROW, _v("band_first_row") + _v("in_band") % _v("band_rows")),
            Let(BLOCK_COL, _v("in_band") // _v("band_rows")),
        )
        order_text = f"grouped order, bands of {order.group_m} tile rows"

    first_name = FIRST_TILE_ID if persistent else TILE_ID
    first_tile: tuple[Statement, ...]
    if launch.xcd_remap is None:
        # A persistent loop starts at blockIdx.x directly; a one-tile block names its tile id.
        first_tile = () if persistent else (Let(first_name, _v(BLOCK_IDX_X)),)
        first_name = BLOCK_IDX_X if persistent else first_name
        xcd_text = ""
    else:
        remap = launch.xcd_remap
        constants += [("NUM_XCDS", remap.num_xcds), ("XCD_CHUNK", remap.chunk)]
        xcds, round_size = _v("NUM_XCDS"), _v("NUM_XCDS") * _v("XCD_CHUNK")
        # ir.block_order.remap_xcd: the l-th block of XCD x takes tile id
        # (l / XCD_CHUNK * NUM_XCDS + x) * XCD_CHUNK + l % XCD_CHUNK, so each XCD works on runs of
        # XCD_CHUNK consecutive tiles; ids past the last full round of NUM_XCDS * XCD_CHUNK blocks
        # keep their own id, so the mapping stays a permutation.
        first_tile = (
            Let("xcd_full", _v(GRID_DIM_X) // round_size * round_size),
            Let(first_name, _v(BLOCK_IDX_X), mutable=True),
            When(
                _v(first_name) < _v("xcd_full"),
                (
                    Assign(
                        first_name,
                        (_v(first_name) // xcds // _v("XCD_CHUNK") * xcds + _v(first_name) % xcds) * _v("XCD_CHUNK")
                        + _v(first_name) // xcds % _v("XCD_CHUNK"),
                    ),
                ),
            ),
        )
        xcd_text = f", XCD remap over {remap.num_xcds} XCDs"

    needed = {TILE_ROWS, TILE_COLS} if persistent else set()
    for statement in coords:
        needed |= free_vars(statement.value)
    grid: list[Let] = []
    if TILE_ROWS in needed:
        grid.append(Let(TILE_ROWS, Var(name="g.c.rows()") // _v("BLOCK_M")))
    if TILE_COLS in needed:
        grid.append(Let(TILE_COLS, Var(name="g.c.cols()") // _v("BLOCK_N")))
    if persistent:
        grid.append(Let(NUM_TILES, rows * cols))

    if persistent:
        description = f"persistent blocks stride over the tiles in {order_text}{xcd_text}"
    else:
        description = f"one block per tile on a 1-d grid, {order_text}{xcd_text}"
    return BlockOrder(
        "persistent" if persistent else "linear",
        tuple(constants),
        tuple(grid),
        first_tile,
        first_name,
        coords,
        description,
    )


def _run(statements: tuple[Statement, ...], env: dict[str, int]) -> None:
    for statement in statements:
        if isinstance(statement, (Let, Assign)):
            env[statement.name] = evaluate(statement.value, env)
        elif evaluate(statement.cond, env):
            _run(statement.body, env)


def num_blocks(order: BlockOrder, launch: m.Launch, m_size: int, n_size: int) -> int:
    """Blocks the emitted ``grid()`` launches for an M x N problem."""
    tiles = (m_size // launch.block_m) * (n_size // launch.block_n)
    if order.kind == "persistent":
        return min(launch.persistent_blocks, tiles)  # type: ignore[type-var]
    return tiles


def tiles_of_block(
    order: BlockOrder, launch: m.Launch, block_id: int, m_size: int, n_size: int
) -> list[tuple[int, int]]:
    """The (block_row, block_col) pairs block ``block_id`` visits when it runs the emitted code."""
    tile_cols = n_size // launch.block_n
    env: dict[str, int] = {
        "g.c.rows()": m_size,
        "g.c.cols()": n_size,
        "BLOCK_M": launch.block_m,
        "BLOCK_N": launch.block_n,
        GRID_DIM_X: num_blocks(order, launch, m_size, n_size),
        **dict(order.constants),
    }
    if order.kind == "2d":
        env[BLOCK_IDX_X], env[BLOCK_IDX_Y] = block_id % tile_cols, block_id // tile_cols
    else:
        env[BLOCK_IDX_X] = block_id
    _run(order.grid + order.first_tile, env)
    if order.kind != "persistent":
        env[TILE_ID] = env[order.first_name]
        _run(order.coords, env)
        return [(env[BLOCK_ROW], env[BLOCK_COL])]
    visited = []
    for tile_id in range(env[order.first_name], env[NUM_TILES], env[GRID_DIM_X]):
        env[TILE_ID] = tile_id
        _run(order.coords, env)
        visited.append((env[BLOCK_ROW], env[BLOCK_COL]))
    return visited
