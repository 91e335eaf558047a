"""The Python model of the AMD lane layouts, and its MFMA emulation, reproduce A @ B.

Also: the lane-layout table in docs/amd.md, the formulas in kittens/amd/layout.cuh and the model
are one table (checked textually between docs and C++, numerically between docs and Python).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from backends.amd import lane_layout as ll

# Hypothesis' per-example deadline trips on busy CI machines; these tests are about values, not time.
no_deadline = settings(deadline=None)

ROOT = Path(__file__).resolve().parent.parent
LAYOUT_HEADER = ROOT / "backends" / "runtime" / "include" / "kittens" / "amd" / "layout.cuh"
AMD_DOC = ROOT / "docs" / "amd.md"

sides = st.integers(min_value=1, max_value=4).map(lambda n: 16 * n)
layouts = st.sampled_from(["row", "col"])
dtypes = st.sampled_from(["bf16", "f32"])


def small_integers(rows: int, cols: int, seed: int) -> torch.Tensor:
    """Integers in [-8, 8]: bf16 holds them exactly and f32 sums of their products are exact,
    so the emulation must equal torch's matmul bit for bit."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(-8, 9, (rows, cols), generator=generator).float()


# ------------------------------------------------------------------------------------------------
# Register tile model
# ------------------------------------------------------------------------------------------------


@no_deadline
@given(rows=sides, cols=sides, layout=layouts, dtype=dtypes)
def test_every_element_has_exactly_one_lane_and_slot(rows: int, cols: int, layout: str, dtype: str) -> None:
    tile = ll.RegisterTileLayout(rows, cols, layout, dtype)  # type: ignore[arg-type]
    seen = {tile.element(lane, slot) for lane in range(ll.WAVE_SIZE) for slot in range(tile.slots_per_lane)}
    assert len(seen) == rows * cols == ll.WAVE_SIZE * tile.slots_per_lane
    assert seen == {(r, c) for r in range(rows) for c in range(cols)}


@no_deadline
@given(rows=sides, cols=sides, layout=layouts, data=st.data())
def test_owner_inverts_element(rows: int, cols: int, layout: str, data: st.DataObject) -> None:
    tile = ll.RegisterTileLayout(rows, cols, layout)  # type: ignore[arg-type]
    row = data.draw(st.integers(0, rows - 1))
    col = data.draw(st.integers(0, cols - 1))
    lane, slot = tile.owner(row, col)
    assert tile.element(lane, slot) == (row, col)


@no_deadline
@given(rows=sides, cols=sides, layout=layouts, dtype=dtypes, seed=st.integers(0, 2**16))
def test_scatter_inverts_gather(rows: int, cols: int, layout: str, dtype: str, seed: int) -> None:
    tile = ll.RegisterTileLayout(rows, cols, layout, dtype)  # type: ignore[arg-type]
    matrix = small_integers(rows, cols, seed)
    assert torch.equal(tile.scatter(tile.gather(matrix)), matrix)


@no_deadline
@given(lane=st.integers(0, 63), layout=layouts)
def test_base_tile_matches_the_mfma_operand_layout(lane: int, layout: str) -> None:
    """Row layout = the MFMA A operand; col layout = the B operand and the C/D layout."""
    for i in range(4):
        a_operand = (lane % 16, 4 * (lane // 16) + i)
        b_operand = (4 * (lane // 16) + i, lane % 16)
        position = (ll.element_row(layout, lane, i), ll.element_col(layout, lane, i))  # type: ignore[arg-type]
        assert position == (a_operand if layout == "row" else b_operand)


def test_register_slots_pack_two_bf16_per_vgpr() -> None:
    bf16_tile = ll.RegisterTileLayout(32, 32, "row", "bf16")
    f32_tile = ll.RegisterTileLayout(32, 32, "col", "f32")
    assert bf16_tile.vgprs_per_lane == 8 and f32_tile.vgprs_per_lane == 16
    assert [bf16_tile.register(s) for s in range(4)] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert f32_tile.register(5) == (5, None)


@pytest.mark.parametrize(("rows", "cols"), [(0, 16), (16, 24), (-16, 16), (8, 8)])
def test_bad_tile_shapes_are_refused_with_the_rule(rows: int, cols: int) -> None:
    with pytest.raises(ValueError, match="multiples of 16"):
        ll.RegisterTileLayout(rows, cols)


# ------------------------------------------------------------------------------------------------
# MFMA emulation reproduces A @ B and A @ B^T
# ------------------------------------------------------------------------------------------------


#: gfx942: 16x16x16 MFMAs only; gfx950: 16x16x32 over pairs of K base tiles, 16x16x16 for an odd last one.
amd_targets = st.sampled_from(["gfx942", "gfx950"])


@settings(max_examples=40, deadline=None)
@given(m=sides, n=sides, k=sides, seed=st.integers(0, 2**16), target=amd_targets)
def test_emulated_mma_AB_is_matmul(m: int, n: int, k: int, seed: int, target: str) -> None:
    a = small_integers(m, k, seed)
    b = small_integers(k, n, seed + 1)
    c = small_integers(m, n, seed + 2)
    assert torch.equal(ll.emulate_matmul(a, b, "AB", c, target=target), a @ b + c)


@settings(max_examples=40, deadline=None)
@given(m=sides, n=sides, k=sides, seed=st.integers(0, 2**16), target=amd_targets)
def test_emulated_mma_ABt_is_matmul_with_b_transposed(m: int, n: int, k: int, seed: int, target: str) -> None:
    a = small_integers(m, k, seed)
    b_nk = small_integers(n, k, seed + 1)
    assert torch.equal(ll.emulate_matmul(a, b_nk, "ABt", target=target), a @ b_nk.T)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_single_16x16x32_mfma_matches_its_isa_definition(seed: int) -> None:
    """CDNA4: lane l, element e holds A[l%16][8(l/16)+e] and B[8(l/16)+e][l%16]; D as 16x16x16."""
    generator = torch.Generator().manual_seed(seed)
    a_frag, b_frag = (torch.randint(-8, 9, (64, 8), generator=generator).float() for _ in range(2))
    c_frag = torch.randint(-8, 9, (64, 4), generator=generator).float()
    d = ll.mfma_16x16x32_bf16(a_frag, b_frag, c_frag)
    a = torch.zeros(16, 32)
    b = torch.zeros(32, 16)
    for lane in range(64):
        for e in range(8):
            a[lane % 16, 8 * (lane // 16) + e] = a_frag[lane, e]
            b[8 * (lane // 16) + e, lane % 16] = b_frag[lane, e]
    for lane in range(64):
        for i in range(4):
            row, col = 4 * (lane // 16) + i, lane % 16
            assert d[lane, i] == (a[row, :] @ b[:, col]) + c_frag[lane, i]


def test_join_k_gives_a_and_b_the_same_k_at_every_operand_position() -> None:
    """Why 16x16x32 over two row/col base tiles is exact: at each (lane, element) the A and B values
    join_k supplies share one K, and every K of the 32 appears once per row (A) / column (B)."""
    for lane in range(64):
        for e in range(8):
            a_row, a_k = ll.join_k_source(lane, e, "a")
            b_k, b_col = ll.join_k_source(lane, e, "b")
            assert a_k == b_k and a_row == b_col == lane % 16
    for row in range(16):
        ks = sorted(ll.join_k_source(lane, e, "a")[1] for lane in range(64) for e in range(8) if lane % 16 == row)
        assert ks == list(range(32))
    lo, hi = torch.arange(256).view(64, 4), 1000 + torch.arange(256).view(64, 4)
    joined = ll.join_k(lo, hi)
    assert torch.equal(joined[:, :4], lo) and torch.equal(joined[:, 4:], hi)


def test_mfma_k_slices_on_each_target() -> None:
    assert ll.mfma_k_slices(64, "gfx942") == [16, 16, 16, 16]
    assert ll.mfma_k_slices(64, "gfx950") == [32, 32]
    assert ll.mfma_k_slices(48, "gfx950") == [32, 16]
    assert ll.mfma_k_slices(16, "gfx950") == [16]
    with pytest.raises(ValueError, match="multiple of 16"):
        ll.mfma_k_slices(24, "gfx950")


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_single_mfma_matches_its_isa_definition(seed: int) -> None:
    """One instruction from raw lane fragments: D[4(l/16)+i][l%16] = sum_k A[l%16][.] B[.][l%16] + C."""
    generator = torch.Generator().manual_seed(seed)
    a_frag, b_frag, c_frag = (torch.randint(-8, 9, (64, 4), generator=generator).float() for _ in range(3))
    d = ll.mfma_16x16x16_bf16(a_frag, b_frag, c_frag)
    a = torch.zeros(16, 16)
    b = torch.zeros(16, 16)
    for lane in range(64):
        for i in range(4):
            a[lane % 16, 4 * (lane // 16) + i] = a_frag[lane, i]
            b[4 * (lane // 16) + i, lane % 16] = b_frag[lane, i]
    for lane in range(64):
        for i in range(4):
            row, col = 4 * (lane // 16) + i, lane % 16
            assert d[lane, i] == (a[row, :] @ b[:, col]) + c_frag[lane, i]


def test_emulation_rounds_inputs_to_bf16_like_the_hardware() -> None:
    a = torch.full((16, 16), 1.0 + 2.0**-9)  # not a bf16 value: rounds to 1.0
    b = torch.eye(16)
    assert torch.equal(ll.emulate_matmul(a, b, "AB"), torch.ones(16, 16))


def test_mma_operand_errors_name_the_operand() -> None:
    row_a = ll.RegisterTileLayout(32, 16, "row", "bf16")
    row_b = ll.RegisterTileLayout(16, 32, "row", "bf16")
    acc = ll.RegisterTileLayout(32, 32, "col", "f32")
    with pytest.raises(ValueError, match="mma_AB: b must be in col layout"):
        ll.check_mma_operands("AB", acc, row_a, row_b)
    with pytest.raises(ValueError, match="shapes do not chain"):
        ll.check_mma_operands("ABt", acc, row_a, ll.RegisterTileLayout(32, 32, "row", "bf16"))
    col_b = ll.RegisterTileLayout(16, 32, "col", "bf16")
    with pytest.raises(ValueError, match="c and d must be rt_fl in col layout"):
        ll.check_mma_operands("AB", ll.RegisterTileLayout(32, 32, "row", "f32"), row_a, col_b)


@no_deadline
@given(m=sides, n=sides, k=sides, k32=st.booleans())
def test_mfma_order_covers_each_product_once(m: int, n: int, k: int, k32: bool) -> None:
    d = ll.RegisterTileLayout(m, n, "col", "f32")
    a = ll.RegisterTileLayout(m, k, "row", "bf16")
    order = ll.mfma_order(d, a, k32=k32)
    products = [(i, j, kk) for i, j, k0, k_tiles in order for kk in range(k0, k0 + k_tiles)]
    assert len(products) == len(set(products)) == d.height * d.width * a.width
    assert all(k_tiles == (2 if k32 and k0 < 2 * (a.width // 2) else 1) for _, _, k0, k_tiles in order)


# ------------------------------------------------------------------------------------------------
# Shared tiles and group shares
# ------------------------------------------------------------------------------------------------


@no_deadline
@given(rows=sides, cols=st.integers(1, 16).map(lambda n: 16 * n), dtype=dtypes)
def test_shared_layout_is_a_permutation_within_each_row(rows: int, cols: int, dtype: str) -> None:
    tile = ll.SharedTileLayout(rows, cols, dtype)  # type: ignore[arg-type]
    offsets = tile.offsets()
    for row in range(rows):
        assert sorted(offsets[row].tolist()) == list(range(row * cols, (row + 1) * cols))


@no_deadline
@given(rows=sides, cols=st.sampled_from([16, 32, 64, 128, 256]), col0=st.integers(0, 15), data=st.data())
def test_row_layout_reads_hit_at_most_two_lanes_per_bank_pair(
    rows: int, cols: int, col0: int, data: st.DataObject
) -> None:
    """The 16 lanes that read one 8-byte row-layout piece each (rows r0..r0+15 of one column
    group) land on 8 distinct 16-byte chunks of the 32 banks: never more than 2 lanes per bank."""
    tile = ll.SharedTileLayout(max(rows, 16), cols, "bf16")
    row0 = data.draw(st.integers(0, tile.rows - 16).map(lambda r: r - r % 16))
    col = 4 * (col0 % (cols // 4))
    banks = [tile.bank(row0 + lane, col) for lane in range(16)]
    assert max(banks.count(bank) for bank in set(banks)) <= 2


@no_deadline
@given(rows=st.integers(1, 16).map(lambda n: 16 * n), group=st.integers(1, 8))
def test_group_bands_partition_the_rows(rows: int, group: int) -> None:
    covered = [r for member in range(group) for r in ll.group_band(rows, group, member)]
    assert covered == list(range(rows))


@no_deadline
@given(rows=sides, cols=sides, group=st.integers(1, 8), dtype=dtypes)
def test_group_chunks_move_each_chunk_of_a_band_once(rows: int, cols: int, group: int, dtype: str) -> None:
    tile = ll.SharedTileLayout(rows, cols, dtype)  # type: ignore[arg-type]
    for member in range(group):
        moved = [chunk for lane in range(64) for chunk in ll.group_chunks(tile, group, member, lane)]
        band = ll.group_band(rows, group, member)
        expected = {(r, c) for r in band for c in range(0, cols, tile.chunk_elements)}
        assert len(moved) == len(set(moved)) and set(moved) == expected


# ------------------------------------------------------------------------------------------------
# One table: docs/amd.md == layout.cuh (text) == lane_layout.py (values)
# ------------------------------------------------------------------------------------------------


def docs_table() -> dict[str, tuple[str, str]]:
    """{layout: (row formula, col formula)} from the table between the lane-layout-table markers."""
    text = AMD_DOC.read_text()
    section = text.split("<!-- lane-layout-table -->")[1].split("<!-- /lane-layout-table -->")[0]
    table = {}
    for line in section.splitlines():
        cells = [cell.strip().strip("`") for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0] in ("row", "col"):
            table[cells[0]] = (cells[1], cells[2])
    return table


def header_table() -> dict[str, tuple[str, str]]:
    """The same four formulas as the return expressions of layout.cuh's table functions."""
    text = LAYOUT_HEADER.read_text()
    section = text.split("// LANE-LAYOUT-TABLE")[1].split("// END-LANE-LAYOUT-TABLE")[0]
    found = dict(re.findall(r"int (\w+_layout_\w+)\(int lane, int i\) \{ return (.+?); \}", section))
    return {layout: (found[f"{layout}_layout_row"], found[f"{layout}_layout_col"]) for layout in ("row", "col")}


def evaluate_c_formula(formula: str, lane: int, i: int) -> int:
    """A table formula evaluated with C integer semantics (operands are never negative, so C's
    truncating `/` and `%` agree with Python's `//` and `%`). Only + - * / % and lane, i, ints."""
    operators = {ast.Add: int.__add__, ast.Sub: int.__sub__, ast.Mult: int.__mul__, ast.Div: int.__floordiv__}
    operators[ast.Mod] = int.__mod__

    def walk(node: ast.AST) -> int:
        if isinstance(node, ast.BinOp) and type(node.op) in operators:
            return operators[type(node.op)](walk(node.left), walk(node.right))
        if isinstance(node, ast.Name) and node.id in ("lane", "i"):
            return lane if node.id == "lane" else i
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        raise ValueError(f"unexpected piece `{ast.dump(node)}` in table formula `{formula}`")

    return walk(ast.parse(formula, mode="eval").body)


def test_docs_table_and_cuda_header_state_the_same_formulas() -> None:
    docs = docs_table()
    header = header_table()
    assert set(docs) == {"row", "col"}
    assert {k: tuple(" ".join(f.split()) for f in v) for k, v in docs.items()} == {
        k: tuple(" ".join(f.split()) for f in v) for k, v in header.items()
    }


def test_python_model_computes_the_docs_table() -> None:
    for layout, (row_formula, col_formula) in docs_table().items():
        for lane in range(ll.WAVE_SIZE):
            for i in range(ll.ELEMENTS_PER_LANE):
                assert ll.element_row(layout, lane, i) == evaluate_c_formula(row_formula, lane, i)  # type: ignore[arg-type]
                assert ll.element_col(layout, lane, i) == evaluate_c_formula(col_formula, lane, i)  # type: ignore[arg-type]


def test_header_constants_match_the_model() -> None:
    text = LAYOUT_HEADER.read_text()
    constants = dict(re.findall(r"inline constexpr int (\w+) = (\d+);", text))
    assert int(constants["BASE_TILE"]) == ll.BASE_TILE
    assert int(constants["ELEMENTS_PER_LANE"]) == ll.ELEMENTS_PER_LANE
