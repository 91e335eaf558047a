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
each base tile's MFMA operands from the ISA's operand layout of ``v_mfma_f32_16x16x16_bf16``
(stated separately below, not derived from the tile model), multiplies, and hands back per-lane
fragments of D. No AMD GPU exists in this project: this emulation and real compilation are all the
evidence it has that the AMD path computes A @ B.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import torch

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


def base_mma_order(variant: Variant, d: RegisterTileLayout, a: RegisterTileLayout) -> list[tuple[int, ...]]:
    """(i, j, a_row, a_col, b_row, b_col) of each base MFMA in issue order, as mma.cuh's
    ``for_each_base_mma``: k outermost; mma_AB pairs a (i, k) with b (k, j), mma_ABt with b (j, k)."""
    order = []
    for k in range(a.width):
        for i in range(d.height):
            for j in range(d.width):
                order.append((i, j, i, k, j, k) if variant == "ABt" else (i, j, i, k, k, j))
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


def emulate_mma(variant: Variant, a: Fragments, b: Fragments, c: Fragments) -> Fragments:
    """``mma_AB(d, a, b, c)`` / ``mma_ABt``, lane by lane: D fragments from A, B, C fragments."""
    check_mma_operands(variant, c.tile, a.tile, b.tile)
    d_values = c.values.clone().float()
    d_tile = c.tile
    for i, j, ar, ac, br, bc in base_mma_order(variant, d_tile, a.tile):
        first = (i * d_tile.width + j) * ELEMENTS_PER_LANE
        d_values[:, first : first + ELEMENTS_PER_LANE] = mfma_16x16x16_bf16(
            a.tile.base_tile_fragments(a.values, ar, ac),
            b.tile.base_tile_fragments(b.values, br, bc),
            d_values[:, first : first + ELEMENTS_PER_LANE],
        )
    return Fragments(d_tile, d_values)


def emulate_matmul(
    a: torch.Tensor, b: torch.Tensor, variant: Variant = "AB", c: torch.Tensor | None = None
) -> torch.Tensor:
    """A @ B (+ C) through the register tiles a warp would hold: ``b`` is K x N for ``"AB"`` and
    N x K for ``"ABt"``. Load a row tile of A, the B tile in the layout the variant needs, C as an
    f32 col tile; emulate the MFMAs; store D."""
    m, k = a.shape
    n = b.shape[1] if variant == "AB" else b.shape[0]
    a_tile = RegisterTileLayout(m, k, "row", "bf16")
    b_tile = RegisterTileLayout(*b.shape, "col" if variant == "AB" else "row", "bf16")
    d_tile = RegisterTileLayout(m, n, "col", "f32")
    c_matrix = torch.zeros(m, n) if c is None else c.float()
    d = emulate_mma(
        variant, Fragments.load(a_tile, a.float()), Fragments.load(b_tile, b.float()), Fragments.load(d_tile, c_matrix)
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
    """Rows of an ``rows``-row tile that warp ``member`` (= warp % group_size) of a group moves."""
    if not 0 <= member < group_size:
        raise ValueError(f"member {member} is outside the group of {group_size} warps")
    return range(member * rows // group_size, (member + 1) * rows // group_size)


def group_chunks(tile: SharedTileLayout, group_size: int, member: int, lane: int) -> list[tuple[int, int]]:
    """Tile-local (row, first col) of each 16-byte chunk ``lane`` of warp ``member`` moves, in order."""
    band = group_band(tile.rows, group_size, member)
    per_row = tile.chunks_per_row
    chunks = []
    for index in range(lane, len(band) * per_row, WAVE_SIZE):
        row, chunk = divmod(index, per_row)
        chunks.append((band.start + row, chunk * tile.chunk_elements))
    return chunks
