// wgmma (sm_90a): warpgroup matrix multiply-accumulate, asynchronous, operands read straight from
// 128-byte-swizzled shared tiles (tg::tma_tile) through 64-bit matrix descriptors.
// Part of tilegen's bundled kittens runtime (docs/nvidia.md, "Hopper: TMA, mbarriers, wgmma").
//
// A warpgroup (4 consecutive warps, the first a multiple of 4) computes a 64 x N slice: warp w % 4
// of it holds rows 16 (w % 4) .. + 15 in an rt_fl<16, N>, whose pair order (docs/nvidia.md,
// "Register tiles") is exactly wgmma's accumulator order. One mma_* call is one commit group:
//
//   tg::wgmma::mma_AB(acc, As, slice, Bs);   // fence, K / 16 x wgmma.mma_async, commit
//   tg::wgmma::wait<0>(acc);                 // until at most 0 groups of this warp are in flight
//
// Until the wait that completes a group, its shared operands are being read and its accumulators
// written: neither may be touched.
#pragma once

#include "mbarrier.cuh"
#include "register.cuh"
#include "tma.cuh"
#include "wgmma_shapes.cuh"

namespace tg {
namespace wgmma {

// Keeps the compiler from moving accesses of the accumulators across the asynchronous window.
template <typename RT>
KITTENS_DEVICE void fence_operand(RT& d) {
#pragma unroll
    for (int j = 0; j < RT::width; ++j) {
#pragma unroll
        for (int p = 0; p < 4; ++p) {
            asm volatile("" : "+f"(d.tiles[0][j].data[p].x), "+f"(d.tiles[0][j].data[p].y)::"memory");
        }
    }
}

KITTENS_DEVICE void fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
KITTENS_DEVICE void commit_group() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }

// Until at most P of this warp's committed groups are in flight; then `d` may be read.
template <int P, typename RT>
KITTENS_DEVICE void wait(RT& d) {
    static_assert(P >= 0 && P <= 7, "tg::wgmma::wait<P>: wgmma.wait_group takes 0..7");
    asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(P) : "memory");
    fence_operand(d);
}

// Descriptor fields (PTX ISA, "Matrix Descriptor Format"): start address, leading and stride
// byte offsets, each >> 4; bits 62-63 = 1: 128-byte swizzle.
KITTENS_DEVICE uint64_t descriptor(uint32_t address, uint32_t leading_bytes, uint32_t stride_bytes) {
    return static_cast<uint64_t>((address & 0x3FFFF) >> 4) | static_cast<uint64_t>((leading_bytes & 0x3FFFF) >> 4) << 16 |
           static_cast<uint64_t>((stride_bytes & 0x3FFFF) >> 4) << 32 | 1ull << 62;
}

// K-major operand (A, or B given as N x K): 16 columns (k16) of rows row0.. of the tile. Core
// matrices of 8 rows lie 1024 bytes apart; k16 steps 32 bytes inside a panel, a panel past it.
template <typename TILE>
KITTENS_DEVICE uint64_t k_major(const TILE& t, int row0, int k16) {
    const int k = k16 * 16;
    const uint32_t address = t.smem() + (k / TILE::panel_cols) * TILE::panel_bytes + row0 * 128 +
                             (k % TILE::panel_cols) * static_cast<int>(sizeof(typename TILE::dtype));
    return descriptor(address, 16, 1024);
}

// MN-major operand (B given as K x N, read transposed): rows 16 k16 .. + 15 of the tile; 64-column
// panels lie panel_bytes apart (leading), 8-row core-matrix groups 1024 bytes (stride).
template <typename TILE>
KITTENS_DEVICE uint64_t mn_major(const TILE& t, int k16) {
    return descriptor(t.smem() + k16 * 16 * 128, TILE::panel_bytes, 1024);
}

template <int N, typename L, typename TA, typename TB>
KITTENS_DEVICE void check_shapes() {
    static_assert(std::is_same_v<typename TA::dtype, kittens::bf16> && std::is_same_v<typename TB::dtype, kittens::bf16>,
                  "tg::wgmma: A and B tiles must be bf16");
    static_assert(N == 64 || N == 128 || N == 192 || N == 256, "tg::wgmma: N must be 64, 128, 192 or 256");
    static_assert(TA::rows % 64 == 0, "tg::wgmma: A's rows must be whole 64-row warpgroup slices");
}

// d (64 x N, this warpgroup's slice `slice` of A's rows) += A (rows 64 slice .., K) @ B (K x N).
template <int N, typename L, typename TA, typename TB>
KITTENS_DEVICE void mma_AB(kittens::rt_fl<16, N, L>& d, const TA& a, int slice, const TB& b) {
    check_shapes<N, L, TA, TB>();
    static_assert(TB::rows == TA::cols && TB::cols == N, "tg::wgmma::mma_AB: B must be K x N");
    fence_operand(d);
    fence();
#pragma unroll
    for (int k16 = 0; k16 < TA::cols / 16; ++k16) {
        detail::mma_async_n<N>::template run<1>(d, k_major(a, 64 * slice, k16), mn_major(b, k16), 1);
    }
    commit_group();
    fence_operand(d);
}

// d (64 x N) += A (rows 64 slice .., K) @ B^T, B given as N x K.
template <int N, typename L, typename TA, typename TB>
KITTENS_DEVICE void mma_ABt(kittens::rt_fl<16, N, L>& d, const TA& a, int slice, const TB& b) {
    check_shapes<N, L, TA, TB>();
    static_assert(TB::cols == TA::cols && TB::rows == N, "tg::wgmma::mma_ABt: B must be N x K");
    fence_operand(d);
    fence();
#pragma unroll
    for (int k16 = 0; k16 < TA::cols / 16; ++k16) {
        detail::mma_async_n<N>::template run<0>(d, k_major(a, 64 * slice, k16), k_major(b, 0, k16), 1);
    }
    commit_group();
    fence_operand(d);
}

}  // namespace wgmma
}  // namespace tg
