// Where each element lives: the lane-layout table of register tiles and the LDS layout of shared
// tiles. docs/amd.md states both tables; backends/amd/lane_layout.py models them in Python and
// tests/test_amd_lane_layout.py checks that the docs, this file and the model agree.
#pragma once

#include "base.cuh"

namespace kittens {
namespace ducks {
namespace rt_layout {
struct row {};  // lane holds 4 neighbouring elements of one row (mfma A operand)
struct col {};  // lane holds 4 neighbouring elements of one column (mfma B operand, C/D)
template <typename L>
concept all = std::is_same_v<L, row> || std::is_same_v<L, col>;
}  // namespace rt_layout
}  // namespace ducks

namespace amd_layout {

// Register tiles are grids of 16 x 16 base tiles; in each, lane `lane` holds 4 elements, i = 0..3,
// in the order of v_mfma_f32_16x16x16_bf16's operands (AMD CDNA3 ISA, "dependent arithmetic"
// MFMA operand layouts): A[lane % 16][4 * (lane / 16) + i], B[4 * (lane / 16) + i][lane % 16],
// D[4 * (lane / 16) + i][lane % 16].
inline constexpr int BASE_TILE = 16;
inline constexpr int ELEMENTS_PER_LANE = 4;

// LANE-LAYOUT-TABLE (the four return expressions below are quoted verbatim in docs/amd.md)
KITTENS_HD constexpr int row_layout_row(int lane, int i) { return lane % 16; }
KITTENS_HD constexpr int row_layout_col(int lane, int i) { return 4 * (lane / 16) + i; }
KITTENS_HD constexpr int col_layout_row(int lane, int i) { return 4 * (lane / 16) + i; }
KITTENS_HD constexpr int col_layout_col(int lane, int i) { return lane % 16; }
// END-LANE-LAYOUT-TABLE

template <ducks::rt_layout::all L>
KITTENS_HD constexpr int element_row(int lane, int i) {
    if constexpr (std::is_same_v<L, ducks::rt_layout::row>) {
        return row_layout_row(lane, i);
    } else {
        return col_layout_row(lane, i);
    }
}

template <ducks::rt_layout::all L>
KITTENS_HD constexpr int element_col(int lane, int i) {
    if constexpr (std::is_same_v<L, ducks::rt_layout::row>) {
        return row_layout_col(lane, i);
    } else {
        return col_layout_col(lane, i);
    }
}

// Both layouts split into a lane part and an element part: (row, col) of (lane, i) is
// (lane_row(lane) + step_row(i), lane_col(lane) + step_col(i)). Global accesses use it to keep one
// 32-bit per-lane offset and fold every element's step into the wave-uniform (scalar) base address.
template <ducks::rt_layout::all L>
KITTENS_HD constexpr int lane_row(int lane) { return element_row<L>(lane, 0); }
template <ducks::rt_layout::all L>
KITTENS_HD constexpr int lane_col(int lane) { return element_col<L>(lane, 0); }
template <ducks::rt_layout::all L>
KITTENS_HD constexpr int step_row(int i) { return element_row<L>(0, i) - element_row<L>(0, 0); }
template <ducks::rt_layout::all L>
KITTENS_HD constexpr int step_col(int i) { return element_col<L>(0, i) - element_col<L>(0, 0); }

template <ducks::rt_layout::all L>
constexpr bool splits_into_lane_and_element_parts() {
    for (int lane = 0; lane < WARP_THREADS; ++lane) {
        for (int i = 0; i < ELEMENTS_PER_LANE; ++i) {
            if (element_row<L>(lane, i) != lane_row<L>(lane) + step_row<L>(i)) return false;
            if (element_col<L>(lane, i) != lane_col<L>(lane) + step_col<L>(i)) return false;
        }
    }
    return true;
}
static_assert(splits_into_lane_and_element_parts<ducks::rt_layout::row>() &&
              splits_into_lane_and_element_parts<ducks::rt_layout::col>());

// The row layout's 4 elements are one contiguous, 4-aligned run of a row: one 8-byte (bf16) or
// 16-byte (f32) LDS access per base tile. The loads and stores rely on this; prove it for all lanes.
constexpr bool row_layout_runs_are_contiguous() {
    for (int lane = 0; lane < WARP_THREADS; ++lane) {
        for (int i = 0; i < ELEMENTS_PER_LANE; ++i) {
            if (row_layout_row(lane, i) != row_layout_row(lane, 0)) return false;
            if (row_layout_col(lane, i) != row_layout_col(lane, 0) + i) return false;
        }
        if (row_layout_col(lane, 0) % ELEMENTS_PER_LANE != 0) return false;
    }
    return true;
}
static_assert(row_layout_runs_are_contiguous(), "row layout: each lane's 4 elements must be contiguous");

// Every (row, col) of a base tile is held by exactly one (lane, i) in both layouts.
template <ducks::rt_layout::all L>
constexpr bool covers_base_tile_once() {
    int seen[BASE_TILE * BASE_TILE] = {};
    for (int lane = 0; lane < WARP_THREADS; ++lane) {
        for (int i = 0; i < ELEMENTS_PER_LANE; ++i) {
            ++seen[element_row<L>(lane, i) * BASE_TILE + element_col<L>(lane, i)];
        }
    }
    for (int count : seen) {
        if (count != 1) return false;
    }
    return true;
}
static_assert(covers_base_tile_once<ducks::rt_layout::row>() && covers_base_tile_once<ducks::rt_layout::col>());

// SHARED-LAYOUT: a shared tile of R x C elements is row-major, R * C * sizeof(T) bytes with no
// padding (so its size is what tilegen's LDS accounting says), cut into 16-byte chunks; the chunk
// index within a row is XORed with a per-row key. The key walks the rows that share one 128-byte
// span of the 32 LDS banks, so the 16 lanes that read one column of chunks (a row-layout load, or
// the same chunk of 16 rows) land on 8 different chunks of the 32 banks instead of one.
template <int ELEMENT_BYTES, int COLS>
struct shared_swizzle {
    static constexpr int CHUNK_BYTES = 16;
    static constexpr int CHUNK_ELEMENTS = CHUNK_BYTES / ELEMENT_BYTES;
    static_assert(COLS % CHUNK_ELEMENTS == 0, "shared tile rows must be a whole number of 16-byte chunks");
    static constexpr int CHUNKS_PER_ROW = COLS / CHUNK_ELEMENTS;
    // Largest power of two that divides the chunks of a row (capped at the 8 chunks of 128 bytes):
    // XOR with a key below it never leaves the row.
    static constexpr int KEY_RANGE = (CHUNKS_PER_ROW & -CHUNKS_PER_ROW) < 8 ? (CHUNKS_PER_ROW & -CHUNKS_PER_ROW) : 8;
    static constexpr int ROWS_PER_128_BYTES = CHUNKS_PER_ROW >= 8 ? 1 : 8 / CHUNKS_PER_ROW;

    // Unsigned arithmetic: rows and columns are never negative, and / and % by these powers of
    // two then compile to shifts and masks.
    KITTENS_HD static constexpr int key(int row) {
        return static_cast<int>((static_cast<unsigned>(row) / ROWS_PER_128_BYTES) % KEY_RANGE);
    }

    // Element offset of logical (row, col) from the start of the tile.
    KITTENS_HD static constexpr int offset(int row, int col) {
        const unsigned c = static_cast<unsigned>(col);
        return row * COLS + static_cast<int>(((c / CHUNK_ELEMENTS) ^ key(row)) * CHUNK_ELEMENTS + c % CHUNK_ELEMENTS);
    }
};
// END-SHARED-LAYOUT

}  // namespace amd_layout
}  // namespace kittens
