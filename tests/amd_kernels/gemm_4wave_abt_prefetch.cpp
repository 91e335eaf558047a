// 4 waves, 128 x 128 output tile per block, K step 64, B stored N x K (mma_ABt), register
// double-buffering: the next K step's register tiles load from shared while the current ones
// multiply, then `dst = src` swaps them. bf16 C with C = alpha * acc + beta * C.
#include "amd_test_kittens.cuh"
using namespace kittens;

constexpr int BLOCK = 128;
constexpr int K_STEP = 64;
constexpr int WARP_TILE = BLOCK / 4;
constexpr int NUM_WARPS = 4;

using _gl_A = gl<bf16, -1, -1, -1, -1>;
using _gl_B = gl<bf16, -1, -1, -1, -1>;
using _gl_C = gl<bf16, -1, -1, -1, -1>;

struct gemm_4wave_abt_prefetch_globals {
    _gl_A a;
    _gl_B b;
    _gl_C c;
    float alpha;
    float beta;
};

__global__ __launch_bounds__(NUM_WARPS * WARP_THREADS, 2) void gemm_4wave_abt_prefetch(
    const gemm_4wave_abt_prefetch_globals g) {
    extern __shared__ alignment_dummy __shm[];
    shared_allocator al((int*)&__shm[0]);
    st_bf<BLOCK, K_STEP>(&As) = al.allocate<st_bf<BLOCK, K_STEP>>();
    st_bf<BLOCK, K_STEP>(&Bs) = al.allocate<st_bf<BLOCK, K_STEP>>();

    rt_bf<WARP_TILE, K_STEP> a_reg[2], b_reg[2], a_next[2], b_next[2];
    rt_fl<WARP_TILE, WARP_TILE, ducks::rt_layout::col> C_accum[4];
#pragma unroll
    for (int i = 0; i < 4; ++i) zero(C_accum[i]);

    const int block_row = blockIdx.y;
    const int block_col = blockIdx.x;
    const int warp = kittens::warpid();
    const int warp_row = warp / 2;
    const int warp_col = warp % 2;
    const int num_k_tiles = g.a.cols() / K_STEP;

    group<4>::load(As, g.a, {0, 0, block_row, 0});
    group<4>::load(Bs, g.b, {0, 0, block_col, 0});
    __syncthreads();
#pragma unroll
    for (int i = 0; i < 2; ++i) {
        load(a_reg[i], subtile_inplace<WARP_TILE, K_STEP>(As, {warp_row + 2 * i, 0}));
        load(b_reg[i], subtile_inplace<WARP_TILE, K_STEP>(Bs, {warp_col + 2 * i, 0}));
    }
    __syncthreads();

    for (int kt = 1; kt < num_k_tiles; ++kt) {
        group<4>::load(As, g.a, {0, 0, block_row, kt});
        group<4>::load(Bs, g.b, {0, 0, block_col, kt});
        __syncthreads();
#pragma unroll
        for (int i = 0; i < 2; ++i) {
            load(a_next[i], subtile_inplace<WARP_TILE, K_STEP>(As, {warp_row + 2 * i, 0}));
            load(b_next[i], subtile_inplace<WARP_TILE, K_STEP>(Bs, {warp_col + 2 * i, 0}));
        }
#pragma unroll
        for (int i = 0; i < 2; ++i) {
#pragma unroll
            for (int j = 0; j < 2; ++j) mma_ABt(C_accum[2 * i + j], a_reg[i], b_reg[j], C_accum[2 * i + j]);
        }
#pragma unroll
        for (int i = 0; i < 2; ++i) {
            a_reg[i] = a_next[i];
            b_reg[i] = b_next[i];
        }
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < 2; ++i) {
#pragma unroll
        for (int j = 0; j < 2; ++j) mma_ABt(C_accum[2 * i + j], a_reg[i], b_reg[j], C_accum[2 * i + j]);
    }

    rt_fl<WARP_TILE, WARP_TILE, ducks::rt_layout::col> c_old;
#pragma unroll
    for (int i = 0; i < 2; ++i) {
#pragma unroll
        for (int j = 0; j < 2; ++j) {
            const int row = block_row * 4 + warp_row + 2 * i;
            const int col = block_col * 4 + warp_col + 2 * j;
            load(c_old, g.c, {0, 0, row, col});
            mul(c_old, c_old, g.beta);
            mul(C_accum[2 * i + j], C_accum[2 * i + j], g.alpha);
            add(C_accum[2 * i + j], C_accum[2 * i + j], c_old);
            store(g.c, C_accum[2 * i + j], {0, 0, row, col});
        }
    }
}
