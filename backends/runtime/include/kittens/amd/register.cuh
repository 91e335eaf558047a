// Register tiles: one warp's R x C tile, a grid of 16 x 16 base tiles in the mfma lane layouts.
#pragma once

#include "layout.cuh"

namespace kittens {

namespace detail {
// Per-lane storage of one base tile: its 4 elements as the mfma builtin takes them.
using bf16x4 = short __attribute__((ext_vector_type(4)));  // 2 VGPRs, element i in bits [16 i, 16 i + 16)
using floatx4 = float __attribute__((ext_vector_type(4)));  // 4 VGPRs

template <typename T>
struct base_storage;
template <>
struct base_storage<bf16> {
    using type = bf16x4;
};
template <>
struct base_storage<float> {
    using type = floatx4;
};
}  // namespace detail

// One 16 x 16 base tile, one lane's share: element i is the (element_row<L>(lane, i),
// element_col<L>(lane, i)) entry of the base tile.
template <typename T, ducks::rt_layout::all L>
struct rt_base {
    using dtype = T;
    using layout = L;
    typename detail::base_storage<T>::type data;

    KITTENS_HD float get(int i) const {
        if constexpr (std::is_same_v<T, float>) {
            return data[i];
        } else {
            return detail::bf16_bits_to_float(static_cast<uint16_t>(data[i]));
        }
    }
    KITTENS_HD void set(int i, float value) {
        if constexpr (std::is_same_v<T, float>) {
            data[i] = value;
        } else {
            data[i] = static_cast<short>(detail::float_to_bf16_bits(value));
        }
    }
};

// Register slot of a lane, as backends/amd/lane_layout.py numbers them: base tile (ti, tj) of a
// tile `width` base tiles wide holds slots [4 * (ti * width + tj), +4), element i at slot +i.
template <typename T, int R, int C, ducks::rt_layout::all L = ducks::rt_layout::row>
struct rt {
    static_assert(detail::is_supported_dtype<T>, "kittens (AMD): rt<T, R, C> supports bf16 and float");
    static_assert(R > 0 && C > 0 && R % amd_layout::BASE_TILE == 0 && C % amd_layout::BASE_TILE == 0,
                  "kittens (AMD): register tile sides must be positive multiples of 16");
    using dtype = T;
    using layout = L;
    static constexpr int rows = R;
    static constexpr int cols = C;
    static constexpr int height = R / amd_layout::BASE_TILE;
    static constexpr int width = C / amd_layout::BASE_TILE;
    static constexpr int slots_per_lane = height * width * amd_layout::ELEMENTS_PER_LANE;

    rt_base<T, L> tiles[height][width];

    // Tile-local (row, col) of slot `slot` in lane `lane`.
    KITTENS_HD static constexpr int slot_row(int lane, int slot) {
        const int base = slot / amd_layout::ELEMENTS_PER_LANE;
        return (base / width) * amd_layout::BASE_TILE +
               amd_layout::element_row<L>(lane, slot % amd_layout::ELEMENTS_PER_LANE);
    }
    KITTENS_HD static constexpr int slot_col(int lane, int slot) {
        const int base = slot / amd_layout::ELEMENTS_PER_LANE;
        return (base % width) * amd_layout::BASE_TILE +
               amd_layout::element_col<L>(lane, slot % amd_layout::ELEMENTS_PER_LANE);
    }
    KITTENS_HD float get_slot(int slot) const {
        const int base = slot / amd_layout::ELEMENTS_PER_LANE;
        return tiles[base / width][base % width].get(slot % amd_layout::ELEMENTS_PER_LANE);
    }
    KITTENS_HD void set_slot(int slot, float value) {
        const int base = slot / amd_layout::ELEMENTS_PER_LANE;
        tiles[base / width][base % width].set(slot % amd_layout::ELEMENTS_PER_LANE, value);
    }
};

template <int R, int C, ducks::rt_layout::all L = ducks::rt_layout::row>
using rt_bf = rt<bf16, R, C, L>;
template <int R, int C, ducks::rt_layout::all L = ducks::rt_layout::row>
using rt_fl = rt<float, R, C, L>;

namespace ducks::rt {
template <typename RT>
concept all = requires {
    typename RT::dtype;
    typename RT::layout;
    RT::height;
    RT::width;
} && requires(RT& t) { t.tiles[0][0].data; };
template <typename RT>
concept row_layout = all<RT> && std::is_same_v<typename RT::layout, rt_layout::row>;
template <typename RT>
concept col_layout = all<RT> && std::is_same_v<typename RT::layout, rt_layout::col>;
}  // namespace ducks::rt

}  // namespace kittens
