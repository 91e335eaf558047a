// Matrix multiply-accumulate on register tiles with v_mfma_f32_16x16x16_bf16 (gfx90a, gfx940/942).
#pragma once

#include "register.cuh"

namespace kittens {
namespace detail {

// The base-tile products of one tile-level mma, in issue order: f(i, j, a_row, a_col, b_row, b_col)
// accumulates a.tiles[a_row][a_col] x b.tiles[b_row][b_col] into d.tiles[i][j]. mma_AB pairs
// a (i, k) with b (k, j); mma_ABt pairs a (i, k) with b (j, k), since a row-layout tile of B^T
// holds exactly the mfma B operand. k is the outer loop so that consecutive mfmas write different
// accumulators and do not wait on each other. Shared with the host emulation test.
template <bool TRANSPOSED_B, typename D, typename A, typename F>
KITTENS_HD void for_each_base_mma(F&& f) {
#pragma unroll
    for (int k = 0; k < A::width; ++k) {
#pragma unroll
        for (int i = 0; i < D::height; ++i) {
#pragma unroll
            for (int j = 0; j < D::width; ++j) {
                if constexpr (TRANSPOSED_B) {
                    f(i, j, i, k, j, k);
                } else {
                    f(i, j, i, k, k, j);
                }
            }
        }
    }
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

template <bool TRANSPOSED_B, typename D, typename A, typename B, typename C>
KITTENS_DEVICE void mma(D& d, const A& a, const B& b, const C& c) {
    check_mma_operands<TRANSPOSED_B, D, A, B, C>();
    // d may be c (the usual accumulate in place): each d tile is written from its own c tile first.
#pragma unroll
    for (int i = 0; i < D::height; ++i) {
#pragma unroll
        for (int j = 0; j < D::width; ++j) d.tiles[i][j].data = c.tiles[i][j].data;
    }
    for_each_base_mma<TRANSPOSED_B, D, A>([&](int i, int j, int ar, int ac, int br, int bc) {
        d.tiles[i][j].data = mfma_16x16x16_bf16(a.tiles[ar][ac].data, b.tiles[br][bc].data, d.tiles[i][j].data);
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
