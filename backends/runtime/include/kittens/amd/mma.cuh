// Matrix multiply-accumulate on register tiles: v_mfma_f32_16x16x16_bf16 (gfx90a, gfx940/942) and,
// on gfx950 (CDNA4), v_mfma_f32_16x16x32_bf16 over pairs of K base tiles (docs/amd.md, "gfx950").
#pragma once

#include "register.cuh"

namespace kittens {
namespace detail {

// The MFMAs of one tile-level mma, in issue order: f(i, j, k, k_tiles) accumulates A base tiles
// (i, k) .. (i, k + k_tiles - 1) times the matching B base tiles into D tile (i, j); mma_AB pairs a
// (i, k) with b (k, j), mma_ABt with b (j, k), since a row-layout tile of B^T holds exactly the MFMA
// B operand. Without K32 every call has k_tiles = 1 (one v_mfma_f32_16x16x16_bf16), k outermost so
// that consecutive MFMAs write different accumulators and do not wait on each other. With K32
// (gfx950) pairs of K base tiles come first with k_tiles = 2 (one v_mfma_f32_16x16x32_bf16), then
// an odd last K slice with k_tiles = 1 (16x16x16, which gfx950 also has). Shared with the host
// emulation test.
template <bool K32, typename D, typename A, typename F>
KITTENS_HD void for_each_mfma(F&& f) {
    constexpr int pairs = K32 ? A::width / 2 : 0;
#pragma unroll
    for (int p = 0; p < pairs; ++p) {
#pragma unroll
        for (int i = 0; i < D::height; ++i) {
#pragma unroll
            for (int j = 0; j < D::width; ++j) f(i, j, 2 * p, 2);
        }
    }
#pragma unroll
    for (int k = 2 * pairs; k < A::width; ++k) {
#pragma unroll
        for (int i = 0; i < D::height; ++i) {
#pragma unroll
            for (int j = 0; j < D::width; ++j) f(i, j, k, 1);
        }
    }
}

// A 16 x 32 operand of v_mfma_f32_16x16x32_bf16 from two 16 x 16 base tiles, K columns [0, 16) and
// [16, 32): the lane's 4 elements of the first, then its 4 of the second. The instruction gives
// lane l the K indices 8 * (l / 16) + e, e = 0..7, for A and for B alike; this packing puts K
// column 4 * (l / 16) + e there for e < 4 and 16 + 4 * (l / 16) + e - 4 for e >= 4 instead: the same
// relabelling of K in both operands, so the sum over K (and D, in the 16x16x16 layout) is unchanged.
// backends/amd/lane_layout.py models it; tests/test_amd_lane_layout.py proves it equals A @ B.
using bf16x8 = short __attribute__((ext_vector_type(8)));  // 4 VGPRs
KITTENS_HD bf16x8 join_k(const bf16x4& lo, const bf16x4& hi) {
    return __builtin_shufflevector(lo, hi, 0, 1, 2, 3, 4, 5, 6, 7);
}

template <bool TRANSPOSED_B, typename D, typename A, typename B, typename C>
constexpr void check_mma_operands() {
    static_assert(std::is_same_v<typename A::dtype, bf16> && std::is_same_v<typename A::layout, ducks::rt_layout::row>,
                  "mma_AB / mma_ABt: a must be an rt_bf<m, k> in row layout");
    static_assert(std::is_same_v<typename B::dtype, bf16>, "mma_AB / mma_ABt: b must be an rt_bf tile");
    static_assert(TRANSPOSED_B || std::is_same_v<typename B::layout, ducks::rt_layout::col>,
                  "mma_AB: b must be an rt_bf<k, n, ducks::rt_layout::col> (col layout); "
                  "for an n x k tile use mma_ABt");
    static_assert(!TRANSPOSED_B || std::is_same_v<typename B::layout, ducks::rt_layout::row>,
                  "mma_ABt: b must be an rt_bf<n, k> in row layout (it holds B^T)");
    using col = ducks::rt_layout::col;
    static_assert(std::is_same_v<typename D::dtype, float> && std::is_same_v<typename D::layout, col> &&
                      std::is_same_v<typename C::dtype, float> && std::is_same_v<typename C::layout, col>,
                  "mma_AB / mma_ABt: c and d must be rt_fl<m, n, ducks::rt_layout::col> accumulators");
    static_assert(C::rows == D::rows && C::cols == D::cols, "mma_AB / mma_ABt: c and d must have the same shape");
    static_assert(A::rows == D::rows, "mma_AB / mma_ABt: a has m rows, so d must have m rows");
    constexpr bool chains =
        TRANSPOSED_B ? (B::cols == A::cols && B::rows == D::cols) : (B::rows == A::cols && B::cols == D::cols);
    static_assert(chains,
                  "mma_AB needs a (m x k), b (k x n), d (m x n); mma_ABt needs a (m x k), b (n x k), d (m x n)");
}

KITTENS_DEVICE floatx4 mfma_16x16x16_bf16(const bf16x4& a, const bf16x4& b, const floatx4& c) {
    return __builtin_amdgcn_mfma_f32_16x16x16bf16_1k(a, b, c, 0, 0, 0);
}

#if defined(__gfx950__)
// CDNA4 only: the compiler refuses this builtin for any other target.
inline constexpr bool MFMA_K32 = true;
KITTENS_DEVICE floatx4 mfma_16x16x32_bf16(const bf16x8& a, const bf16x8& b, const floatx4& c) {
    using operand = __bf16 __attribute__((ext_vector_type(8)));
    return __builtin_amdgcn_mfma_f32_16x16x32_bf16(__builtin_bit_cast(operand, a), __builtin_bit_cast(operand, b), c,
                                                   0, 0, 0);
}
#else
inline constexpr bool MFMA_K32 = false;
#endif

template <bool TRANSPOSED_B, typename D, typename A, typename B, typename C>
KITTENS_DEVICE void mma(D& d, const A& a, const B& b, const C& c) {
    check_mma_operands<TRANSPOSED_B, D, A, B, C>();
    // d may be c (the usual accumulate in place): each d tile is written from its own c tile first.
#pragma unroll
    for (int i = 0; i < D::height; ++i) {
#pragma unroll
        for (int j = 0; j < D::width; ++j) d.tiles[i][j].data = c.tiles[i][j].data;
    }
    // B's base tile of output column j and K slice k: b (k, j) for mma_AB, b (j, k) for mma_ABt.
    auto b_tile = [&](int j, int k) -> const bf16x4& {
        if constexpr (TRANSPOSED_B) {
            return b.tiles[j][k].data;
        } else {
            return b.tiles[k][j].data;
        }
    };
    for_each_mfma<MFMA_K32, D, A>([&](int i, int j, int k, int k_tiles) {
        auto& acc = d.tiles[i][j].data;
#if defined(__gfx950__)
        if (k_tiles == 2) {
            acc = mfma_16x16x32_bf16(join_k(a.tiles[i][k].data, a.tiles[i][k + 1].data),
                                     join_k(b_tile(j, k), b_tile(j, k + 1)), acc);
            return;
        }
#endif
        acc = mfma_16x16x16_bf16(a.tiles[i][k].data, b_tile(j, k), acc);
    });
}

}  // namespace detail

// d = a @ b + c: a rt_bf<m, k> row, b rt_bf<k, n> col, c and d rt_fl<m, n> col.
template <ducks::rt::all D, ducks::rt::all A, ducks::rt::all B, ducks::rt::all C>
KITTENS_DEVICE void mma_AB(D& d, const A& a, const B& b, const C& c) {
    detail::mma<false>(d, a, b, c);
}

// d = a @ b^T + c: a rt_bf<m, k> row, b rt_bf<n, k> row, c and d rt_fl<m, n> col.
template <ducks::rt::all D, ducks::rt::all A, ducks::rt::all B, ducks::rt::all C>
KITTENS_DEVICE void mma_ABt(D& d, const A& a, const B& b, const C& c) {
    detail::mma<true>(d, a, b, c);
}

}  // namespace kittens
