// Register tiles of the NVIDIA path and their elementwise operations.
//
// A register tile is a grid of 16 x 16 base tiles; each lane holds 4 pairs of every base tile
// (docs/nvidia.md, "Register tiles"). With g = lane / 4 and t = lane % 4, pair p in 0..3 starts at
//   (g + 8 * (p & 1), 2t + 8 * (p >> 1))    and runs along the row      (row-major pairs)
//   (2t + 8 * (p >> 1), g + 8 * (p & 1))    and runs down the column    (column pairs)
// Row-major pairs are exactly the A fragment of mma.m16n8k16 and, for f32, its C/D fragment;
// column pairs are its B fragment. bf16 tiles use column pairs when their layout tag is `col`;
// f32 tiles always use row-major pairs (the accumulator layout) whatever their tag, which only
// has to match HipKittens' signatures.
#pragma once

#include "base.cuh"

namespace kittens {

namespace ducks {
namespace rt_layout {
struct row {};
struct col {};
template <typename L>
concept all = std::is_same_v<L, row> || std::is_same_v<L, col>;
}  // namespace rt_layout
namespace rt {
struct identifier {};
template <typename T>
concept all = std::is_same_v<typename T::identifier, identifier>;
}  // namespace rt
}  // namespace ducks

template <typename T, int R, int C, typename L = ducks::rt_layout::row>
struct rt {
    static_assert(detail::is_supported_dtype<T>, "kittens (NVIDIA): register tiles hold bf16 or float");
    static_assert(R > 0 && C > 0 && R % 16 == 0 && C % 16 == 0,
                  "kittens (NVIDIA): register tile rows and columns must be positive multiples of 16");
    static_assert(ducks::rt_layout::all<L>, "kittens (NVIDIA): the layout is ducks::rt_layout::row or ::col");
    using identifier = ducks::rt::identifier;
    using dtype = T;
    using layout = L;
    using pair = detail::pair_t<T>;
    static constexpr int rows = R;
    static constexpr int cols = C;
    static constexpr int height = R / 16;
    static constexpr int width = C / 16;
    static constexpr bool column_pairs = std::is_same_v<T, bf16> && std::is_same_v<L, ducks::rt_layout::col>;

    struct base_tile {
        pair data[4];
    };
    base_tile tiles[height][width];
};

template <int R, int C, typename L = ducks::rt_layout::row>
using rt_bf = rt<bf16, R, C, L>;
template <int R, int C, typename L = ducks::rt_layout::row>
using rt_fl = rt<float, R, C, L>;

namespace detail {

struct pair_position {
    int row, col;
};

// Where pair p of a base tile starts for `lane` (see the top of this file).
template <bool COLUMN_PAIRS>
KITTENS_HD constexpr pair_position pair_origin(int lane, int p) {
    const int g = lane / 4, t = lane % 4;
    const int across = g + 8 * (p & 1), along = 2 * t + 8 * (p >> 1);
    return COLUMN_PAIRS ? pair_position{along, across} : pair_position{across, along};
}

// Calls f(pair&, row, col) for every pair this lane holds, with the pair's first element at
// (row, col) of the tile. Fully unrolled: register arrays are only ever indexed by constants.
template <ducks::rt::all RT, typename F>
KITTENS_DEVICE void for_each_pair(RT& tile, F&& f) {
    const int lane = laneid();
#pragma unroll
    for (int i = 0; i < RT::height; ++i) {
#pragma unroll
        for (int j = 0; j < RT::width; ++j) {
#pragma unroll
            for (int p = 0; p < 4; ++p) {
                const pair_position at = pair_origin<RT::column_pairs>(lane, p);
                f(tile.tiles[i][j].data[p], 16 * i + at.row, 16 * j + at.col);
            }
        }
    }
}

}  // namespace detail

template <ducks::rt::all RT>
KITTENS_DEVICE void zero(RT& dst) {
#pragma unroll
    for (int i = 0; i < RT::height; ++i) {
#pragma unroll
        for (int j = 0; j < RT::width; ++j) {
#pragma unroll
            for (int p = 0; p < 4; ++p) {
                dst.tiles[i][j].data[p] = detail::from_float2<typename RT::dtype>(make_float2(0.f, 0.f));
            }
        }
    }
}

// dst = src * scalar
template <ducks::rt::all RT>
KITTENS_DEVICE void mul(RT& dst, const RT& src, float scalar) {
#pragma unroll
    for (int i = 0; i < RT::height; ++i) {
#pragma unroll
        for (int j = 0; j < RT::width; ++j) {
#pragma unroll
            for (int p = 0; p < 4; ++p) {
                const float2 v = detail::to_float2(src.tiles[i][j].data[p]);
                dst.tiles[i][j].data[p] = detail::from_float2<typename RT::dtype>(make_float2(v.x * scalar, v.y * scalar));
            }
        }
    }
}

// dst = a + b
template <ducks::rt::all RT>
KITTENS_DEVICE void add(RT& dst, const RT& a, const RT& b) {
#pragma unroll
    for (int i = 0; i < RT::height; ++i) {
#pragma unroll
        for (int j = 0; j < RT::width; ++j) {
#pragma unroll
            for (int p = 0; p < 4; ++p) {
                const float2 x = detail::to_float2(a.tiles[i][j].data[p]);
                const float2 y = detail::to_float2(b.tiles[i][j].data[p]);
                dst.tiles[i][j].data[p] = detail::from_float2<typename RT::dtype>(make_float2(x.x + y.x, x.y + y.y));
            }
        }
    }
}

}  // namespace kittens
