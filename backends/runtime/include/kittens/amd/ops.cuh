// Elementwise register-tile ops. Each lane touches only its own slots, so layouts must match.
#pragma once

#include "register.cuh"

namespace kittens {

namespace detail {
template <typename A, typename B>
constexpr void check_same_tile_shape() {
    static_assert(A::rows == B::rows && A::cols == B::cols && std::is_same_v<typename A::layout, typename B::layout>,
                  "elementwise register-tile op: tiles must have the same shape and layout");
}
}  // namespace detail

template <ducks::rt::all RT>
KITTENS_HD void zero(RT& dst) {
#pragma unroll
    for (int ti = 0; ti < RT::height; ++ti) {
#pragma unroll
        for (int tj = 0; tj < RT::width; ++tj) {
            dst.tiles[ti][tj].data = 0;  // all-zero bits are 0.0 in bf16 and f32
        }
    }
}

// dst = src * factor
template <ducks::rt::all RT, ducks::rt::all RS>
KITTENS_HD void mul(RT& dst, const RS& src, float factor) {
    detail::check_same_tile_shape<RT, RS>();
#pragma unroll
    for (int slot = 0; slot < RT::slots_per_lane; ++slot) dst.set_slot(slot, src.get_slot(slot) * factor);
}

// dst = a + b
template <ducks::rt::all RT, ducks::rt::all RA, ducks::rt::all RB>
KITTENS_HD void add(RT& dst, const RA& a, const RB& b) {
    detail::check_same_tile_shape<RT, RA>();
    detail::check_same_tile_shape<RT, RB>();
#pragma unroll
    for (int slot = 0; slot < RT::slots_per_lane; ++slot) dst.set_slot(slot, a.get_slot(slot) + b.get_slot(slot));
}

// dst = src, converting between bf16 and f32 (same-type copies are plain `dst = src;`).
template <ducks::rt::all RT, ducks::rt::all RS>
KITTENS_HD void copy(RT& dst, const RS& src) {
    detail::check_same_tile_shape<RT, RS>();
#pragma unroll
    for (int slot = 0; slot < RT::slots_per_lane; ++slot) dst.set_slot(slot, src.get_slot(slot));
}

}  // namespace kittens
