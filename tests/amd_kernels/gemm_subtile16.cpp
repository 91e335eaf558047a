// 4 waves, 64 x 64 output tile per block, 64-wide shared K slices walked in 16 x 16 register
// subtiles (subtile offsets computed at run time), mma_AB, f32 C written as alpha * acc.
#include "amd_test_kittens.cuh"
using namespace kittens;

constexpr int BLOCK = 64;
constexpr int NUM_WARPS = 4;

using _gl_A = gl<bf16, -1, -1, -1, -1>;
using _gl_B = gl<bf16, -1, -1, -1, -1>;
using _gl_C = gl<float, -1, -1, -1, -1>;

struct gemm_subtile16_globals {
    _gl_A a;
    _gl_B b;
    _gl_C c;
    float alpha;
    float beta;
};

__global__ __launch_bounds__(NUM_WARPS * WARP_THREADS, 2) void gemm_subtile16(const gemm_subtile16_globals g) {
    extern __shared__ alignment_dummy __shm[];
    shared_allocator al((int*)&__shm[0]);
    st_bf<BLOCK, BLOCK>(&As) = al.allocate<st_bf<BLOCK, BLOCK>>();
    st_bf<BLOCK, BLOCK>(&Bs) = al.allocate<st_bf<BLOCK, BLOCK>>();

    rt_fl<16, 16, ducks::rt_layout::col> C_accum[4];
#pragma unroll
    for (int i = 0; i < 4; ++i) zero(C_accum[i]);

    const int block_row = blockIdx.y;
    const int block_col = blockIdx.x;
    const int warp = kittens::warpid();
    const int warp_row = warp / 2;
    const int warp_col = warp % 2;
    const int num_k_tiles = g.a.cols() / BLOCK;

    for (int kt = 0; kt < num_k_tiles; ++kt) {
        group<4>::load(As, g.a, {0, 0, block_row, kt});
        group<4>::load(Bs, g.b, {0, 0, kt, block_col});
        __syncthreads();
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            const int sub_row = (i / 2) * 2 + warp_row;
            const int sub_col = (i % 2) * 2 + warp_col;
            rt_bf<16, 16> a_reg;
            rt_bf<16, 16, ducks::rt_layout::col> b_reg;
            for (int j = 0; j < 4; ++j) {
                load(a_reg, subtile_inplace<16, 16>(As, {sub_row, j}));
                load(b_reg, subtile_inplace<16, 16>(Bs, {j, sub_col}));
                mma_AB(C_accum[i], a_reg, b_reg, C_accum[i]);
            }
        }
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        mul(C_accum[i], C_accum[i], g.alpha);
        store(g.c, C_accum[i], {0, 0, block_row * 4 + (i / 2) * 2 + warp_row, block_col * 4 + (i % 2) * 2 + warp_col});
    }
}
