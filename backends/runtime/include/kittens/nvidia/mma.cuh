// mma_AB / mma_ABt of the NVIDIA path: one mma.sync.m16n8k16 (bf16 in, f32 accumulate) per
// 16 x 8 x 16 piece. The register layouts (register.cuh) are the instruction's fragments, so the
// operands go straight from the tiles into the instruction, with no shuffles.
#pragma once

#include "register.cuh"

namespace kittens {

namespace detail {

// d = a * b + c for one 16 x 8 output piece. a: the 4 pairs of a 16 x 16 row-major-pair tile;
// b0, b1: the two pairs of the B fragment (k 0..7 and k 8..15 of the lane's column);
// c and d: rows g and g + 8 of the lane's two accumulator columns.
KITTENS_DEVICE void mma_m16n8k16(float2& d_top, float2& d_bottom, const bf16_2 (&a)[4], bf16_2 b0, bf16_2 b1,
                                 float2 c_top, float2 c_bottom) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
        "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%10, %11, %12, %13};\n"
        : "=f"(d_top.x), "=f"(d_top.y), "=f"(d_bottom.x), "=f"(d_bottom.y)
        : "r"(as_u32(a[0])), "r"(as_u32(a[1])), "r"(as_u32(a[2])), "r"(as_u32(a[3])), "r"(as_u32(b0)),
          "r"(as_u32(b1)), "f"(c_top.x), "f"(c_top.y), "f"(c_bottom.x), "f"(c_bottom.y));
}

// The shared loop of mma_AB and mma_ABt. The B tile's base tile (j, k) gives, for output
// columns 8h..8h+7 of base tile j, its pairs h and 2 + h: for a col-layout K x N tile (mma_AB)
// and for a row-layout N x K tile (mma_ABt) alike, those hold B[k][n] for n = 8h + g and
// k = 2t, 2t + 1 (pair h) and k = 2t + 8, 2t + 9 (pair 2 + h).
// Pairs of a base tile that feed output columns 8h..8h+7: B's two registers and the accumulator's
// rows g and g + 8.
KITTENS_HD constexpr int b_fragment_pair(int h, int reg) { return h + 2 * reg; }
KITTENS_HD constexpr int accumulator_pair(int h, int row_half) { return 2 * h + row_half; }

template <bool B_IS_NK, typename D, typename A, typename B, typename C>
KITTENS_DEVICE void mma_tiles(D& d, const A& a, const B& b, const C& c) {
    constexpr int M = A::height, K = A::width, N = D::width;
#pragma unroll
    for (int k = 0; k < K; ++k) {
        // k outermost: consecutive instructions write different accumulators, so they pipeline.
#pragma unroll
        for (int i = 0; i < M; ++i) {
#pragma unroll
            for (int j = 0; j < N; ++j) {
                const auto& b_tile = B_IS_NK ? b.tiles[j][k] : b.tiles[k][j];
                auto& out = d.tiles[i][j].data;
                const auto& in = (k == 0) ? c.tiles[i][j].data : d.tiles[i][j].data;
#pragma unroll
                for (int h = 0; h < 2; ++h) {
                    mma_m16n8k16(out[accumulator_pair(h, 0)], out[accumulator_pair(h, 1)], a.tiles[i][k].data,
                                 b_tile.data[b_fragment_pair(h, 0)], b_tile.data[b_fragment_pair(h, 1)],
                                 in[accumulator_pair(h, 0)], in[accumulator_pair(h, 1)]);
                }
            }
        }
    }
}

template <typename D, typename C>
inline constexpr bool is_accumulator_pair =
    std::is_same_v<D, C> && std::is_same_v<typename D::dtype, float> &&
    std::is_same_v<typename D::layout, ducks::rt_layout::col>;

}  // namespace detail

// d = a @ b + c. a: rt_bf<M, K, row>; b: rt_bf<K, N, col>; c, d: rt_fl<M, N, col>.
template <ducks::rt::all D, ducks::rt::all A, ducks::rt::all B, ducks::rt::all C>
KITTENS_DEVICE void mma_AB(D& d, const A& a, const B& b, const C& c) {
    static_assert(std::is_same_v<typename A::dtype, bf16> && std::is_same_v<typename A::layout, ducks::rt_layout::row>,
                  "mma_AB: a must be rt_bf<M, K, ducks::rt_layout::row>");
    static_assert(std::is_same_v<typename B::dtype, bf16> && std::is_same_v<typename B::layout, ducks::rt_layout::col>,
                  "mma_AB: b must be rt_bf<K, N, ducks::rt_layout::col>");
    static_assert(detail::is_accumulator_pair<D, C>, "mma_AB: c and d must both be rt_fl<M, N, ducks::rt_layout::col>");
    static_assert(A::cols == B::rows, "mma_AB: a is M x K and b is K x N: a's columns must equal b's rows");
    static_assert(D::rows == A::rows && D::cols == B::cols, "mma_AB: d must be M x N (a's rows x b's columns)");
    detail::mma_tiles<false>(d, a, b, c);
}

// d = a @ b^T + c. a: rt_bf<M, K, row>; b: rt_bf<N, K, row>; c, d: rt_fl<M, N, col>.
template <ducks::rt::all D, ducks::rt::all A, ducks::rt::all B, ducks::rt::all C>
KITTENS_DEVICE void mma_ABt(D& d, const A& a, const B& b, const C& c) {
    static_assert(std::is_same_v<typename A::dtype, bf16> && std::is_same_v<typename A::layout, ducks::rt_layout::row>,
                  "mma_ABt: a must be rt_bf<M, K, ducks::rt_layout::row>");
    static_assert(std::is_same_v<typename B::dtype, bf16> && std::is_same_v<typename B::layout, ducks::rt_layout::row>,
                  "mma_ABt: b must be rt_bf<N, K, ducks::rt_layout::row> (it holds B^T)");
    static_assert(detail::is_accumulator_pair<D, C>, "mma_ABt: c and d must both be rt_fl<M, N, ducks::rt_layout::col>");
    static_assert(A::cols == B::cols, "mma_ABt: a is M x K and b is N x K: their columns must be equal");
    static_assert(D::rows == A::rows && D::cols == B::rows, "mma_ABt: d must be M x N (a's rows x b's rows)");
    detail::mma_tiles<true>(d, a, b, c);
}

}  // namespace kittens
