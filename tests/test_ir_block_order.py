"""Block order: every launch shape computes every output tile exactly once."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ir.block_order import num_blocks, tile_of_id, tiles_of_block
from ir.models import Launch, TileOrder, XcdRemap


@st.composite
def launches(draw: st.DrawFn) -> Launch:
    order = draw(st.sampled_from(["row_major", "column_major", "grouped"]))
    persistent = draw(st.one_of(st.none(), st.integers(1, 40)))
    xcd = draw(st.one_of(st.none(), st.builds(XcdRemap, num_xcds=st.integers(1, 8), chunk=st.integers(1, 4))))
    simple = order == "row_major" and persistent is None and xcd is None
    grid = draw(st.sampled_from(["2d", "linear"])) if simple else "linear"
    return Launch(
        num_warps=4,
        block_m=16,
        block_n=16,
        k_step=16,
        grid=grid,
        tile_order=TileOrder(kind=order, group_m=draw(st.integers(1, 6))),
        persistent_blocks=persistent,
        xcd_remap=xcd,
    )


@settings(max_examples=300, deadline=None)
@given(launch=launches(), rows=st.integers(1, 12), cols=st.integers(1, 12))
def test_every_tile_is_computed_exactly_once(launch: Launch, rows: int, cols: int) -> None:
    m, n = rows * 16, cols * 16
    tiles = [t for b in range(num_blocks(launch, m, n)) for t in tiles_of_block(launch, b, m, n)]
    assert sorted(tiles) == [(r, c) for r in range(rows) for c in range(cols)]


@settings(max_examples=100, deadline=None)
@given(group=st.integers(1, 6), rows=st.integers(1, 12), cols=st.integers(1, 12))
def test_grouped_order_walks_down_a_band_first(group: int, rows: int, cols: int) -> None:
    launch = Launch(
        num_warps=4,
        block_m=16,
        block_n=16,
        k_step=16,
        grid="linear",
        tile_order=TileOrder(kind="grouped", group_m=group),
    )
    height = min(group, rows)
    first = [tile_of_id(launch, t, rows * 16, cols * 16) for t in range(height)]
    assert first == [(r, 0) for r in range(height)]


@settings(max_examples=100, deadline=None)
@given(xcds=st.integers(2, 8), chunk=st.integers(1, 4), rounds=st.integers(1, 3))
def test_xcd_remap_gives_each_chiplet_runs_of_chunk_consecutive_tiles(xcds: int, chunk: int, rounds: int) -> None:
    # One block per tile, a whole number of rounds: XCD of block b is b % xcds (hardware dispatch).
    tiles = xcds * chunk * rounds
    launch = Launch(
        num_warps=4, block_m=16, block_n=16, k_step=16, grid="linear", xcd_remap=XcdRemap(num_xcds=xcds, chunk=chunk)
    )
    owner = {}
    for block in range(tiles):
        ((_row, col),) = tiles_of_block(launch, block, 16, 16 * tiles)
        owner[col] = block % xcds
    assert [owner[t] for t in range(tiles)] == [(t // chunk) % xcds for t in range(tiles)]


@settings(max_examples=100, deadline=None)
@given(rows=st.integers(1, 40), cols=st.integers(1, 40), resident=st.integers(1, 200), group=st.integers(1, 8))
def test_panel_reuse_counts_the_panels_resident_blocks_share(rows: int, cols: int, resident: int, group: int) -> None:
    from ir.block_order import panel_reuse

    row_major = Launch(num_warps=4, block_m=16, block_n=16, k_step=16)
    tiles, a_panels, b_panels = panel_reuse(row_major, rows * 16, cols * 16, resident)
    assert tiles == min(resident, rows * cols)
    # Row-major: the resident blocks fill whole rows of tiles, left to right.
    assert a_panels == -(-tiles // cols) and b_panels == min(tiles, cols)
    grouped = row_major.model_copy(update={"grid": "linear", "tile_order": TileOrder(kind="grouped", group_m=group)})
    g_tiles, g_a, g_b = panel_reuse(grouped, rows * 16, cols * 16, resident)
    assert g_tiles == tiles and g_a <= min(rows, tiles) and g_b <= min(cols, tiles)
    assert g_a * g_b >= tiles  # the tiles are the cross product of the panels they read, at most
