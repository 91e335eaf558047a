"""Which output tiles each block computes, as plain Python.

This is the reference semantics of ``Launch`` (grid, tile order, persistence, XCD remap): the
validator and simulator call it, and the emitter's C++ must compute the same mapping.
"""

from __future__ import annotations

from ir.models import Launch


def tile_grid(launch: Launch, m: int, n: int) -> tuple[int, int]:
    """(tile rows, tile cols) of the output for an M x N problem (M, N multiples of the block)."""
    return (m // launch.block_m, n // launch.block_n)


def num_blocks(launch: Launch, m: int, n: int) -> int:
    rows, cols = tile_grid(launch, m, n)
    if launch.persistent_blocks is not None:
        return min(launch.persistent_blocks, rows * cols)
    return rows * cols


def remap_xcd(block_id: int, nblocks: int, launch: Launch) -> int:
    """Workgroup id -> tile id so each XCD works on ``chunk`` consecutive tile ids at a time.

    Hardware dispatches workgroup ``b`` to XCD ``b % X``. Tile ids are dealt to the XCDs in runs
    of ``chunk``: ids ``[0, chunk)`` to XCD 0, the next ``chunk`` to XCD 1, ..., and round again.
    The ``l``-th block of XCD ``x`` therefore takes id ``(l // chunk * X + x) * chunk + l % chunk``.
    Ids past the last full round of ``X * chunk`` map to themselves so the mapping stays a
    permutation for any block count.
    """
    remap = launch.xcd_remap
    if remap is None:
        return block_id
    x, chunk = remap.num_xcds, remap.chunk
    round_size = x * chunk
    full = (nblocks // round_size) * round_size
    if block_id >= full:
        return block_id
    xcd = block_id % x
    local = block_id // x  # position of this block among its XCD's blocks
    return (local // chunk * x + xcd) * chunk + local % chunk


def tile_of_id(launch: Launch, tile_id: int, m: int, n: int) -> tuple[int, int]:
    """Linear tile id -> (tile_row, tile_col) under the launch's tile order."""
    rows, cols = tile_grid(launch, m, n)
    order = launch.tile_order
    if order.kind == "row_major":
        return divmod(tile_id, cols)
    if order.kind == "column_major":
        col, row = divmod(tile_id, rows)
        return row, col
    # grouped: bands of group_m tile rows; inside a band ids walk down the rows, then right.
    group = order.group_m
    band_size = group * cols
    band, inside = divmod(tile_id, band_size)
    first_row = band * group
    height = min(group, rows - first_row)
    return first_row + inside % height, inside // height


def tiles_of_block(launch: Launch, block_id: int, m: int, n: int) -> list[tuple[int, int]]:
    """The (tile_row, tile_col) pairs block ``block_id`` computes, in order."""
    rows, cols = tile_grid(launch, m, n)
    total = rows * cols
    nblocks = num_blocks(launch, m, n)
    if launch.grid == "2d":
        return [divmod(block_id, cols)]
    stride = nblocks if launch.persistent_blocks is not None else total
    start = remap_xcd(block_id, nblocks, launch)
    return [tile_of_id(launch, t, m, n) for t in range(start, total, stride)]


def panel_reuse(launch: Launch, m: int, n: int, resident: int) -> tuple[int, int, int]:
    """(tiles, A row panels, B column panels) that the first ``resident`` blocks work on together.

    Blocks that run at the same time share the L2: each distinct A panel (a block row of A) and
    B panel (a block column of B) they touch is read from memory once, so fewer panels per tile
    means more reuse. Row-major order over a wide grid touches one A panel but a B panel per
    tile; a grouped order touches about sqrt(tiles) of each.
    """
    count = min(resident, num_blocks(launch, m, n))
    first = [tiles_of_block(launch, block, m, n)[0] for block in range(count)]
    return len(first), len({row for row, _ in first}), len({col for _, col in first})

