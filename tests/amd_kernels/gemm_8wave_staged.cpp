// 8 waves in two roles. Producers (waves 0-3) stage the next K step global -> registers -> shared
// (tg::stage_load / tg::stage_store) into the other half of double-buffered shared tiles while
// consumers (waves 4-7) multiply the current half with mma_ABt (B is N x K). tg::barrier()s inside
// the role branches are matched by count; the epilogue goes through a bf16 shared tile and a
// group<8>::store. The first K step arrives by group<8>::load_async.
#include "amd_test_kittens.cuh"
using namespace kittens;

constexpr int BLOCK = 128;
constexpr int K_STEP = 32;
constexpr int NUM_WARPS = 8;
constexpr int CONSUMER_TILE = 64;  // each consumer owns a 64 x 64 quarter of the block tile

using _gl_A = gl<bf16, -1, -1, -1, -1>;
using _gl_B = gl<bf16, -1, -1, -1, -1>;
using _gl_C = gl<bf16, -1, -1, -1, -1>;

struct gemm_8wave_staged_globals {
    _gl_A a;
    _gl_B b;
    _gl_C c;
    float alpha;
    float beta;
};

__global__ __launch_bounds__(NUM_WARPS * WARP_THREADS, 1) void gemm_8wave_staged(const gemm_8wave_staged_globals g) {
    extern __shared__ alignment_dummy __shm[];
    shared_allocator al((int*)&__shm[0]);
    st_bf<BLOCK, K_STEP>(&As)[2] = al.allocate<st_bf<BLOCK, K_STEP>, 2>();
    st_bf<BLOCK, K_STEP>(&Bs)[2] = al.allocate<st_bf<BLOCK, K_STEP>, 2>();
    st_bf<BLOCK, BLOCK>(&Cs) = al.allocate<st_bf<BLOCK, BLOCK>>();

    const int block_row = blockIdx.y;
    const int block_col = blockIdx.x;
    const int warp = kittens::warpid();
    const int num_k_tiles = g.a.cols() / K_STEP;

    group<8>::load_async(As[0], g.a, {0, 0, block_row, 0});
    group<8>::load_async(Bs[0], g.b, {0, 0, block_col, 0});
    tg::async_wait<0>();
    __syncthreads();

    if (warp < 4) {  // role: producer (waves 0-3)
        tg::set_max_registers<128>();
        tg::stage<st_bf<BLOCK, K_STEP>, 4> a_stage, b_stage;
        for (int kt = 0; kt < num_k_tiles; ++kt) {
            const bool has_next = kt + 1 < num_k_tiles;
            if (has_next) {
                tg::stage_load<4>(a_stage, g.a, {0, 0, block_row, kt + 1});
                tg::stage_load<4>(b_stage, g.b, {0, 0, block_col, kt + 1});
            }
            tg::barrier();  // consumers have finished reading buffer (kt + 1) % 2
            if (has_next) {
                tg::async_wait<0>();
                tg::stage_store<4>(As[(kt + 1) % 2], a_stage);
                tg::stage_store<4>(Bs[(kt + 1) % 2], b_stage);
            }
            tg::barrier();  // buffer (kt + 1) % 2 is full
        }
    } else {  // role: consumer (waves 4-7)
        tg::set_max_registers<256>();
        const int consumer = warp - 4;
        const int warp_row = consumer / 2;
        const int warp_col = consumer % 2;
        rt_fl<32, 32, ducks::rt_layout::col> C_accum[4];
        rt_bf<32, K_STEP> a_reg[2], b_reg[2];
#pragma unroll
        for (int i = 0; i < 4; ++i) zero(C_accum[i]);
        for (int kt = 0; kt < num_k_tiles; ++kt) {
            const int buffer = kt % 2;
#pragma unroll
            for (int i = 0; i < 2; ++i) {
                load(a_reg[i], subtile_inplace<32, K_STEP>(As[buffer], {warp_row * 2 + i, 0}));
                load(b_reg[i], subtile_inplace<32, K_STEP>(Bs[buffer], {warp_col * 2 + i, 0}));
            }
#pragma unroll
            for (int i = 0; i < 2; ++i) {
#pragma unroll
                for (int j = 0; j < 2; ++j) mma_ABt(C_accum[2 * i + j], a_reg[i], b_reg[j], C_accum[2 * i + j]);
            }
            tg::barrier();
            tg::barrier();
        }
#pragma unroll
        for (int i = 0; i < 2; ++i) {
#pragma unroll
            for (int j = 0; j < 2; ++j) {
                mul(C_accum[2 * i + j], C_accum[2 * i + j], g.alpha);
                store(subtile_inplace<32, 32>(Cs, {warp_row * 2 + i, warp_col * 2 + j}), C_accum[2 * i + j]);
            }
        }
    }
    __syncthreads();
    group<8>::store(g.c, Cs, {0, 0, block_row, block_col});
}
