"""A Python model of where the bundled AMD runtime keeps every element, and an MFMA emulator.

It restates, formula for formula, ``backends/runtime/include/kittens/amd/layout.cuh``:

* register tiles (``rt_bf`` / ``rt_fl``, row or col layout) are grids of 16 x 16 base tiles; in a
  base tile, lane ``l`` holds 4 elements ``i = 0..3`` at the positions of the lane-layout table
  (docs/amd.md); a lane's *slot* ``s`` is element ``s % 4`` of base tile ``s // 4`` (base tiles
  numbered row-major), which is the index into the C++ ``tiles[ti][tj].data[i]``;
* shared tiles are row-major, cut into 16-byte chunks whose index within a row is XORed with a
  per-row key (``SharedTileLayout``);
* ``group<N>`` loads give warp ``m`` of the group the rows ``[m * R // N, (m + 1) * R // N)``.

``emulate_mma`` runs ``mma_AB`` / ``mma_ABt`` lane by lane: it takes per-lane fragments, rebuilds
each MFMA's operands from the ISA's operand layout (``v_mfma_f32_16x16x16_bf16`` on every CDNA
target; ``v_mfma_f32_16x16x32_bf16`` over pairs of K base tiles on gfx950; both stated separately
below, not derived from the tile model), multiplies, and hands back per-lane fragments of D. No AMD
GPU exists in this project: this emulation and real compilation are all the evidence it has that
the AMD path computes A @ B.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import torch

from ir.semantics import group_share, mma_shapes

Layout = Literal["row", "col"]
Dtype = Literal["bf16", "f32"]
Variant = Literal["AB", "ABt"]

BASE_TILE = 16
ELEMENTS_PER_LANE = 4
WAVE_SIZE = 64
CHUNK_BYTES = 16
_ELEMENT_BYTES = {"bf16": 2, "f32": 4}


# ------------------------------------------------------------------------------------------------
# The lane-layout table (docs/amd.md, "Lane layout table"; layout.cuh, LANE-LAYOUT-TABLE)
# ------------------------------------------------------------------------------------------------


def element_row(layout: Layout, lane: int, i: int) -> int:
    """Row, inside its 16 x 16 base tile, of element ``i`` held by ``lane``."""
    if layout == "row":
        return lane % 16
    return 4 * (lane // 16) + i


def element_col(layout: Layout, lane: int, i: int) -> int:
    """Column, inside its 16 x 16 base tile, of element ``i`` held by ``lane``."""
    if layout == "row":
        return 4 * (lane // 16) + i
    return lane % 16


# ------------------------------------------------------------------------------------------------
# Register tiles
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegisterTileLayout:
    """Where one warp's ``rows`` x ``cols`` register tile keeps each element, lane by lane."""

    rows: int
    cols: int
    layout: Layout = "row"
    dtype: Dtype = "bf16"

    def __post_init__(self) -> None:
        if self.rows <= 0 or self.cols <= 0 or self.rows % BASE_TILE or self.cols % BASE_TILE:
            raise ValueError(
                f"register tile {self.rows} x {self.cols}: both sides must be positive multiples of {BASE_TILE} "
                f"(the MFMA base tile); round the tile up to a multiple of {BASE_TILE}"
            )
        if self.layout not in ("row", "col"):
            raise ValueError(f"register tile layout must be 'row' or 'col', not {self.layout!r}")
        if self.dtype not in _ELEMENT_BYTES:
            raise ValueError(f"register tile dtype must be 'bf16' or 'f32', not {self.dtype!r}")

    @property
    def height(self) -> int:
        return self.rows // BASE_TILE

    @property
    def width(self) -> int:
        return self.cols // BASE_TILE

    @property
    def slots_per_lane(self) -> int:
        return self.height * self.width * ELEMENTS_PER_LANE

    @property
    def vgprs_per_lane(self) -> int:
        """32-bit registers one lane needs for the tile (two bf16 share a register)."""
        return self.slots_per_lane * _ELEMENT_BYTES[self.dtype] // 4

    def element(self, lane: int, slot: int) -> tuple[int, int]:
        """Tile-local (row, col) that ``lane`` keeps in ``slot``."""
        if not 0 <= lane < WAVE_SIZE or not 0 <= slot < self.slots_per_lane:
            raise IndexError(f"lane {lane} / slot {slot} outside 0..{WAVE_SIZE - 1} / 0..{self.slots_per_lane - 1}")
        base, i = divmod(slot, ELEMENTS_PER_LANE)
        ti, tj = divmod(base, self.width)
        return (
            ti * BASE_TILE + element_row(self.layout, lane, i),
            tj * BASE_TILE + element_col(self.layout, lane, i),
        )

    def owner(self, row: int, col: int) -> tuple[int, int]:
        """(lane, slot) that holds tile-local element (row, col)."""
        if not (0 <= row < self.rows and 0 <= col < self.cols):
            raise IndexError(f"({row}, {col}) is outside the {self.rows} x {self.cols} tile")
        lane, slot = self._owners[row, col].tolist()
        return lane, slot

    def register(self, slot: int) -> tuple[int, int | None]:
        """(register index within the tile, 16-bit half or None) of ``slot`` in every lane."""
        if self.dtype == "bf16":
            return slot // 2, slot % 2
        return slot, None

    @cached_property
    def index_maps(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(rows, cols), each [64, slots_per_lane]: the element every (lane, slot) holds."""
        lanes = torch.arange(WAVE_SIZE).unsqueeze(1)
        slots = torch.arange(self.slots_per_lane).unsqueeze(0)
        base, i = slots // ELEMENTS_PER_LANE, slots % ELEMENTS_PER_LANE
        # element_row / element_col use only + * // %, so they run on tensors as they do on ints.
        rows = (base // self.width) * BASE_TILE + element_row(self.layout, lanes, i)  # type: ignore[arg-type]
        cols = (base % self.width) * BASE_TILE + element_col(self.layout, lanes, i)  # type: ignore[arg-type]
        return rows.expand(WAVE_SIZE, -1).contiguous(), cols.expand(WAVE_SIZE, -1).contiguous()

    @cached_property
    def _owners(self) -> torch.Tensor:
        owners = torch.full((self.rows, self.cols, 2), -1, dtype=torch.long)
        rows, cols = self.index_maps
        lanes = torch.arange(WAVE_SIZE).unsqueeze(1).expand_as(rows)
        slots = torch.arange(self.slots_per_lane).unsqueeze(0).expand_as(rows)
        owners[rows, cols, 0] = lanes
        owners[rows, cols, 1] = slots
        return owners

    def gather(self, matrix: torch.Tensor) -> torch.Tensor:
        """Per-lane fragments [64, slots] of a ``rows`` x ``cols`` matrix, as ``load`` leaves them."""
        if tuple(matrix.shape) != (self.rows, self.cols):
            raise ValueError(f"gather: expected a {self.rows} x {self.cols} matrix, got {tuple(matrix.shape)}")
        rows, cols = self.index_maps
        return matrix[rows, cols]

    def scatter(self, fragments: torch.Tensor) -> torch.Tensor:
        """The ``rows`` x ``cols`` matrix that per-lane fragments [64, slots] hold, as ``store`` writes it."""
        if tuple(fragments.shape) != (WAVE_SIZE, self.slots_per_lane):
            expected = (WAVE_SIZE, self.slots_per_lane)
            raise ValueError(f"scatter: expected fragments of shape {expected}, got {tuple(fragments.shape)}")
        rows, cols = self.index_maps
        matrix = torch.zeros(self.rows, self.cols, dtype=fragments.dtype)
        matrix[rows, cols] = fragments
        return matrix

    def base_tile_fragments(self, fragments: torch.Tensor, ti: int, tj: int) -> torch.Tensor:
        """The [64, 4] fragments of base tile (ti, tj)."""
        first = (ti * self.width + tj) * ELEMENTS_PER_LANE
        return fragments[:, first : first + ELEMENTS_PER_LANE]


# ------------------------------------------------------------------------------------------------
# MFMA emulation
# ------------------------------------------------------------------------------------------------

# Operand layouts of v_mfma_f32_16x16x16_bf16 as the CDNA ISA states them: lane l, element i holds
# A[l % 16][4 * (l // 16) + i], B[4 * (l // 16) + i][l % 16] and C/D[4 * (l // 16) + i][l % 16].
_LANES = torch.arange(WAVE_SIZE).unsqueeze(1).expand(WAVE_SIZE, ELEMENTS_PER_LANE)
_ELEMS = torch.arange(ELEMENTS_PER_LANE).unsqueeze(0).expand(WAVE_SIZE, ELEMENTS_PER_LANE)
_MFMA_A_ROW, _MFMA_A_COL = _LANES % 16, 4 * (_LANES // 16) + _ELEMS
_MFMA_B_ROW, _MFMA_B_COL = 4 * (_LANES // 16) + _ELEMS, _LANES % 16
_MFMA_D_ROW, _MFMA_D_COL = 4 * (_LANES // 16) + _ELEMS, _LANES % 16


# Operand layouts of v_mfma_f32_16x16x32_bf16 (CDNA4 / gfx950 only): 8 bf16 of A and of B per lane,
# lane l, element e: A[l % 16][8 * (l // 16) + e], B[8 * (l // 16) + e][l % 16]; C/D as 16x16x16:
# C/D[4 * (l // 16) + i][l % 16], i = 0..3. Sources (docs/amd.md, "gfx950"): AMD Instinct CDNA4 ISA
# reference guide, chapter 7 "Matrix Arithmetic Instructions" (the MFMA operand layouts); the same
# K split over lanes as CDNA3's 16x16x32 fp8 MFMA in AMD's Matrix Instruction Calculator
# (`matrix_calculator.py -a CDNA3 -i v_mfma_f32_16x16x32_fp8_fp8 -A --register-layout`: A[M][K] in
# lane M + 16 * (K // 8), byte K % 8); LLVM / Triton give its bf16 operands kWidth = 8 (8 contiguous
# K values per lane). D keeps the 16x16x16 layout: its M x N tile and 4 f32 per lane are unchanged.
K32_ELEMENTS = 8
_LANES8 = torch.arange(WAVE_SIZE).unsqueeze(1).expand(WAVE_SIZE, K32_ELEMENTS)
_ELEMS8 = torch.arange(K32_ELEMENTS).unsqueeze(0).expand(WAVE_SIZE, K32_ELEMENTS)
_MFMA32_A_ROW, _MFMA32_A_COL = _LANES8 % 16, 8 * (_LANES8 // 16) + _ELEMS8
_MFMA32_B_ROW, _MFMA32_B_COL = 8 * (_LANES8 // 16) + _ELEMS8, _LANES8 % 16

#: Targets whose bundled runtime multiplies 32-deep K slices with v_mfma_f32_16x16x32_bf16 (mma.cuh,
#: MFMA_K32 under ``__gfx950__``).
K32_TARGETS = ("gfx950",)


def mfma_k_slices(k: int, target: str) -> list[int]:
    """The K depth of each MFMA one base-tile row of an mma with K = ``k`` issues on ``target``:
    pairs of 16-wide base tiles as 16x16x32 on gfx950 and a last odd one as 16x16x16 (which gfx950
    also has); 16x16x16 only elsewhere."""
    if k <= 0 or k % BASE_TILE:
        raise ValueError(f"mma K = {k} must be a positive multiple of {BASE_TILE}")
    tiles = k // BASE_TILE
    if target not in K32_TARGETS:
        return [16] * tiles
    return [32] * (tiles // 2) + [16] * (tiles % 2)


def join_k(lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """mma.cuh's ``join_k``: a 16x16x32 operand [64, 8] from two base tiles' [64, 4] fragments,
    K columns [0, 16) then [16, 32): each lane's 4 elements of ``lo``, then its 4 of ``hi``."""
    return torch.cat([lo, hi], dim=1)


def join_k_source(lane: int, e: int, operand: Literal["a", "b"]) -> tuple[int, int]:
    """(row, col) inside the 16 x 32 A slice (or 32 x 16 B slice) of the element ``join_k`` puts at
    element ``e`` of ``lane``'s operand, given the row layout (A) / col layout (B) base tiles."""
    k = (BASE_TILE if e >= ELEMENTS_PER_LANE else 0) + 4 * (lane // 16) + e % ELEMENTS_PER_LANE
    return (lane % 16, k) if operand == "a" else (k, lane % 16)


def mfma_16x16x32_bf16(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """One ``v_mfma_f32_16x16x32_bf16``: [64, 8] fragments of A and B, [64, 4] of C in; [64, 4] of D out."""
    for name, frag, width in (("a", a, K32_ELEMENTS), ("b", b, K32_ELEMENTS), ("c", c, ELEMENTS_PER_LANE)):
        if tuple(frag.shape) != (WAVE_SIZE, width):
            shape = tuple(frag.shape)
            raise ValueError(f"mfma 16x16x32: operand {name} must be [64, {width}] lane fragments, got {shape}")
    a_matrix = torch.zeros(BASE_TILE, 2 * BASE_TILE)
    b_matrix = torch.zeros(2 * BASE_TILE, BASE_TILE)
    c_matrix = torch.zeros(BASE_TILE, BASE_TILE)
    a_matrix[_MFMA32_A_ROW, _MFMA32_A_COL] = a.to(torch.bfloat16).float()
    b_matrix[_MFMA32_B_ROW, _MFMA32_B_COL] = b.to(torch.bfloat16).float()
    c_matrix[_MFMA_D_ROW, _MFMA_D_COL] = c.float()
    d_matrix = a_matrix @ b_matrix + c_matrix
    return d_matrix[_MFMA_D_ROW, _MFMA_D_COL]


def mfma_16x16x16_bf16(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """One ``v_mfma_f32_16x16x16_bf16``: [64, 4] fragments of A, B and C in, [64, 4] of D out.

    Inputs are rounded to bf16 as the instruction reads them; products and sums are f32 (the
    hardware's summation order inside one MFMA is not modelled: tests use exactly representable data).
    """
    for name, frag in (("a", a), ("b", b), ("c", c)):
        if tuple(frag.shape) != (WAVE_SIZE, ELEMENTS_PER_LANE):
            raise ValueError(f"mfma: operand {name} must be [64, 4] lane fragments, got {tuple(frag.shape)}")
    a_matrix = torch.zeros(BASE_TILE, BASE_TILE)
    b_matrix = torch.zeros(BASE_TILE, BASE_TILE)
    c_matrix = torch.zeros(BASE_TILE, BASE_TILE)
    a_matrix[_MFMA_A_ROW, _MFMA_A_COL] = a.to(torch.bfloat16).float()
    b_matrix[_MFMA_B_ROW, _MFMA_B_COL] = b.to(torch.bfloat16).float()
    c_matrix[_MFMA_D_ROW, _MFMA_D_COL] = c.float()
    d_matrix = a_matrix @ b_matrix + c_matrix
    return d_matrix[_MFMA_D_ROW, _MFMA_D_COL]


@dataclass(frozen=True)
class Fragments:
    """A register tile as the wave holds it: its layout and the [64, slots] values."""

    tile: RegisterTileLayout
    values: torch.Tensor

    def __post_init__(self) -> None:
        if tuple(self.values.shape) != (WAVE_SIZE, self.tile.slots_per_lane):
            raise ValueError(
                f"fragments of a {self.tile.rows} x {self.tile.cols} tile must be [64, {self.tile.slots_per_lane}], "
                f"got {tuple(self.values.shape)}"
            )

    @staticmethod
    def load(tile: RegisterTileLayout, matrix: torch.Tensor) -> Fragments:
        values = tile.gather(matrix)
        if tile.dtype == "bf16":
            values = values.to(torch.bfloat16).float()
        return Fragments(tile, values.float())

    def matrix(self) -> torch.Tensor:
        return self.tile.scatter(self.values)


def mfma_order(d: RegisterTileLayout, a: RegisterTileLayout, k32: bool = False) -> list[tuple[int, int, int, int]]:
    """(i, j, k, k_tiles) of each MFMA in issue order, as mma.cuh's ``for_each_mfma``: with ``k32``,
    K base tiles (k, k + 1) in pairs first (k_tiles = 2, one 16x16x32), then an odd last k alone;
    without, every k alone (one 16x16x16 each), k outermost. D tile (i, j) accumulates a (i, k..)
    against b (k.., j) for mma_AB and b (j, k..) for mma_ABt."""
    pairs = a.width // 2 if k32 else 0
    order = [(i, j, 2 * p, 2) for p in range(pairs) for i in range(d.height) for j in range(d.width)]
    order += [(i, j, k, 1) for k in range(2 * pairs, a.width) for i in range(d.height) for j in range(d.width)]
    return order


def check_mma_operands(variant: Variant, d: RegisterTileLayout, a: RegisterTileLayout, b: RegisterTileLayout) -> None:
    """Raise ``ValueError`` naming the operand when the tiles break mma.cuh's static_asserts."""
    if a.dtype != "bf16" or a.layout != "row":
        raise ValueError(f"mma_{variant}: a must be rt_bf in row layout, got {a.dtype} {a.layout}")
    if b.dtype != "bf16":
        raise ValueError(f"mma_{variant}: b must be rt_bf, got {b.dtype}")
    wanted_b = "row" if variant == "ABt" else "col"
    if b.layout != wanted_b:
        raise ValueError(f"mma_{variant}: b must be in {wanted_b} layout, got {b.layout}")
    if d.dtype != "f32" or d.layout != "col":
        raise ValueError(f"mma_{variant}: c and d must be rt_fl in col layout, got {d.dtype} {d.layout}")
    b_k, b_n = (b.cols, b.rows) if variant == "ABt" else (b.rows, b.cols)
    if a.rows != d.rows or a.cols != b_k or b_n != d.cols:
        raise ValueError(
            f"mma_{variant}: shapes do not chain: a {a.rows} x {a.cols}, b {b.rows} x {b.cols}, d {d.rows} x {d.cols}"
        )


def emulate_mma(variant: Variant, a: Fragments, b: Fragments, c: Fragments, target: str = "gfx942") -> Fragments:
    """``mma_AB(d, a, b, c)`` / ``mma_ABt`` on ``target``, lane by lane: D fragments from A, B, C
    fragments, with the MFMAs the bundled runtime issues there (``mfma_order``)."""
    check_mma_operands(variant, c.tile, a.tile, b.tile)
    d_values = c.values.clone().float()
    d_tile = c.tile

    def a_frag(i: int, k: int) -> torch.Tensor:
        return a.tile.base_tile_fragments(a.values, i, k)

    def b_frag(j: int, k: int) -> torch.Tensor:
        return b.tile.base_tile_fragments(b.values, *((j, k) if variant == "ABt" else (k, j)))

    for i, j, k, k_tiles in mfma_order(d_tile, a.tile, k32=target in K32_TARGETS):
        first = (i * d_tile.width + j) * ELEMENTS_PER_LANE
        acc = d_values[:, first : first + ELEMENTS_PER_LANE]
        if k_tiles == 2:
            a_slice = join_k(a_frag(i, k), a_frag(i, k + 1))
            result = mfma_16x16x32_bf16(a_slice, join_k(b_frag(j, k), b_frag(j, k + 1)), acc)
        else:
            result = mfma_16x16x16_bf16(a_frag(i, k), b_frag(j, k), acc)
        d_values[:, first : first + ELEMENTS_PER_LANE] = result
    return Fragments(d_tile, d_values)


def emulate_matmul(
    a: torch.Tensor, b: torch.Tensor, variant: Variant = "AB", c: torch.Tensor | None = None, target: str = "gfx942"
) -> torch.Tensor:
    """A @ B (+ C) through the register tiles a warp would hold on ``target``: ``b`` is K x N for
    ``"AB"`` and N x K for ``"ABt"``. Load a row tile of A, the B tile in the layout the variant
    needs, C as an f32 col tile; emulate the MFMAs; store D."""
    m, k = a.shape
    n = mma_shapes(variant, (m, k), tuple(b.shape)).n
    a_tile = RegisterTileLayout(m, k, "row", "bf16")
    b_tile = RegisterTileLayout(*b.shape, "col" if variant == "AB" else "row", "bf16")
    d_tile = RegisterTileLayout(m, n, "col", "f32")
    c_matrix = torch.zeros(m, n) if c is None else c.float()
    d = emulate_mma(
        variant,
        Fragments.load(a_tile, a.float()),
        Fragments.load(b_tile, b.float()),
        Fragments.load(d_tile, c_matrix),
        target,
    )
    return d.matrix()


# ------------------------------------------------------------------------------------------------
# Shared tiles and group<N> shares (docs/amd.md, "Shared tile layout"; layout.cuh, SHARED-LAYOUT)
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SharedTileLayout:
    """Where ``st<dtype, rows, cols>`` keeps logical element (row, col), in elements from data[0]."""

    rows: int
    cols: int
    dtype: Dtype = "bf16"

    def __post_init__(self) -> None:
        if self.rows <= 0 or self.cols <= 0 or self.rows % BASE_TILE or self.cols % BASE_TILE:
            raise ValueError(f"shared tile {self.rows} x {self.cols}: both sides must be positive multiples of 16")

    @property
    def bytes(self) -> int:
        return self.rows * self.cols * _ELEMENT_BYTES[self.dtype]

    @property
    def chunk_elements(self) -> int:
        return CHUNK_BYTES // _ELEMENT_BYTES[self.dtype]

    @property
    def chunks_per_row(self) -> int:
        return self.cols // self.chunk_elements

    @property
    def key_range(self) -> int:
        lowest_power_of_two = self.chunks_per_row & -self.chunks_per_row
        return min(lowest_power_of_two, 8)

    @property
    def rows_per_128_bytes(self) -> int:
        return 1 if self.chunks_per_row >= 8 else 8 // self.chunks_per_row

    def key(self, row: int) -> int:
        return (row // self.rows_per_128_bytes) % self.key_range

    def offset(self, row: int, col: int) -> int:
        chunk, within = divmod(col, self.chunk_elements)
        return row * self.cols + (chunk ^ self.key(row)) * self.chunk_elements + within

    def offsets(self) -> torch.Tensor:
        """[rows, cols] element offsets of every logical element."""
        return torch.tensor([[self.offset(r, c) for c in range(self.cols)] for r in range(self.rows)])

    def bank(self, row: int, col: int) -> int:
        """The 4-byte LDS bank (of 32) element (row, col) lives in, relative to a 128-byte aligned tile."""
        return (self.offset(row, col) * _ELEMENT_BYTES[self.dtype] // 4) % 32


def group_band(rows: int, group_size: int, member: int) -> range:
    """Rows of an ``rows``-row tile that warp ``member`` (= warp % group_size) of a group moves
    (``ir.semantics.group_share``: the one statement of it every layer reads)."""
    if not 0 <= member < group_size:
        raise ValueError(f"member {member} is outside the group of {group_size} warps")
    return range(*group_share(rows, group_size, member))


def group_chunks(tile: SharedTileLayout, group_size: int, member: int, lane: int) -> list[tuple[int, int]]:
    """Tile-local (row, first col) of each 16-byte chunk ``lane`` of warp ``member`` moves, in order."""
    band = group_band(tile.rows, group_size, member)
    per_row = tile.chunks_per_row
    chunks = []
    for index in range(lane, len(band) * per_row, WAVE_SIZE):
        row, chunk = divmod(index, per_row)
        chunks.append((band.start + row, chunk * tile.chunk_elements))
    return chunks
