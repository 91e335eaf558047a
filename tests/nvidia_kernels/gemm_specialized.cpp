// A warp-specialized GEMM module in the style tilegen emits, for the NVIDIA runtime's compile and
// GPU tests. 12 warps, one 128 x 128 output tile per block:
//   * consumers, warps 0..7 (two warpgroups, a 2 x 4 grid of 64 x 32 accumulators), read A and B
//     from double-buffered shared tiles, and write C through a shared f32 tile with group<8>::store;
//   * the producer, warps 8..11, stages the next K step global -> registers -> shared.
// The roles meet only at block barriers taken inside their own branches, as many on each side
// (the non-aligned barrier.sync), and set their register budgets (setmaxnreg on sm_90a).
//   -DTG_B_NK=1: B is N x K (mma_ABt); otherwise K x N (mma_AB).
//   -DTG_C_BF16=1: C is bf16; otherwise float.
//   -DTG_MODULE_NAME=<name>: the Python module's name.
#include "kittens.cuh"
#include "pyutils/pyutils.cuh"
using namespace kittens;

#ifndef TG_B_NK
#define TG_B_NK 0
#endif
#ifndef TG_C_BF16
#define TG_C_BF16 0
#endif
#ifndef TG_MODULE_NAME
#define TG_MODULE_NAME gemm_specialized
#endif

constexpr int CONSUMER_WARPS = 8;
constexpr int PRODUCER_WARPS = 4;
constexpr int NUM_THREADS = (CONSUMER_WARPS + PRODUCER_WARPS) * kittens::WARP_THREADS;
constexpr int BLOCK_M = 128;
constexpr int BLOCK_N = 128;
constexpr int K_STEP = 32;
constexpr int REG_M = 64;
constexpr int REG_N = 32;

using _gl_A = gl<bf16, -1, -1, -1, -1>;
using _gl_B = gl<bf16, -1, -1, -1, -1>;
#if TG_C_BF16
using _gl_C = gl<bf16, -1, -1, -1, -1>;
#else
using _gl_C = gl<float, -1, -1, -1, -1>;
#endif

using A_tile = st_bf<BLOCK_M, K_STEP>;
#if TG_B_NK
using B_tile = st_bf<BLOCK_N, K_STEP>;
using B_reg = rt_bf<REG_N, K_STEP>;
#else
using B_tile = st_bf<K_STEP, BLOCK_N>;
using B_reg = rt_bf<K_STEP, REG_N, ducks::rt_layout::col>;
#endif
using C_tile = st_fl<BLOCK_M, BLOCK_N>;
using C_reg = rt_fl<REG_M, REG_N, ducks::rt_layout::col>;

struct gemm_specialized_globals {
    _gl_A a;
    _gl_B b;
    _gl_C c;
    float alpha;
    float beta;
    size_t stream;
    dim3 grid() { return dim3(c.cols() / BLOCK_N, c.rows() / BLOCK_M); }
    dim3 block() { return dim3(NUM_THREADS); }
    // Each allocation starts at a multiple of 1024 bytes (all three sizes already are).
    size_t dynamic_shared_memory() { return 2 * sizeof(A_tile) + 2 * sizeof(B_tile) + sizeof(C_tile); }
};

__global__ __launch_bounds__(NUM_THREADS, 1) void gemm_specialized_kernel(const gemm_specialized_globals g) {
    extern __shared__ alignment_dummy __shm[];
    shared_allocator al((int*)&__shm[0]);
    A_tile(&As)[2] = al.allocate<A_tile, 2>();
    B_tile(&Bs)[2] = al.allocate<B_tile, 2>();
    C_tile(&Cs) = al.allocate<C_tile>();

    const int block_row = blockIdx.y;
    const int block_col = blockIdx.x;
    const int warp = kittens::warpid();
    const int num_k_tiles = g.a.cols() / K_STEP;

    if (warp >= CONSUMER_WARPS) {
        // role producer: warps 8..11
        tg::set_max_registers<56>();  // tilegen extension
        tg::stage<A_tile, PRODUCER_WARPS> a_next;  // tilegen extension
        tg::stage<B_tile, PRODUCER_WARPS> b_next;  // tilegen extension
        for (int k = 0; k <= num_k_tiles; ++k) {
            // Phase k: fill buffer k % 2 with K step k while the consumers read step k - 1.
            if (k < num_k_tiles) {
                tg::stage_load<PRODUCER_WARPS>(a_next, g.a, {0, 0, block_row, k});  // tilegen extension
#if TG_B_NK
                tg::stage_load<PRODUCER_WARPS>(b_next, g.b, {0, 0, block_col, k});  // tilegen extension
#else
                tg::stage_load<PRODUCER_WARPS>(b_next, g.b, {0, 0, k, block_col});  // tilegen extension
#endif
                tg::async_wait<0>();                                    // tilegen extension
                tg::stage_store<PRODUCER_WARPS>(As[k % 2], a_next);  // tilegen extension
                tg::stage_store<PRODUCER_WARPS>(Bs[k % 2], b_next);  // tilegen extension
            }
            __builtin_amdgcn_s_barrier();
        }
        __builtin_amdgcn_s_barrier();  // the consumers' C tile is complete
    } else {
        // role consumer: warps 0..7
        tg::set_max_registers<224>();  // tilegen extension
        const int warp_row = warp / 4;
        const int warp_col = warp % 4;
        C_reg accum;
        rt_bf<REG_M, K_STEP> a_reg;
        B_reg b_reg;
        zero(accum);
        __builtin_amdgcn_s_barrier();  // step 0 is in shared memory
        for (int k = 0; k < num_k_tiles; ++k) {
            load(a_reg, subtile_inplace<REG_M, K_STEP>(As[k % 2], {warp_row, 0}));
#if TG_B_NK
            load(b_reg, subtile_inplace<REG_N, K_STEP>(Bs[k % 2], {warp_col, 0}));
            mma_ABt(accum, a_reg, b_reg, accum);
#else
            load(b_reg, subtile_inplace<K_STEP, REG_N>(Bs[k % 2], {0, warp_col}));
            mma_AB(accum, a_reg, b_reg, accum);
#endif
            __builtin_amdgcn_s_barrier();  // done reading buffer k % 2; step k + 1 is in shared memory
        }
        // Epilogue: C = alpha * accum + beta * C, through shared memory.
        mul(accum, accum, g.alpha);
        if (g.beta != 0.0f) {
            C_reg c_old;
            load(c_old, g.c, {0, 0, block_row * (BLOCK_M / REG_M) + warp_row, block_col * (BLOCK_N / REG_N) + warp_col});
            mul(c_old, c_old, g.beta);
            add(accum, accum, c_old);
        }
        store(subtile_inplace<REG_M, REG_N>(Cs, {warp_row, warp_col}), accum);
        __builtin_amdgcn_s_barrier();
        group<CONSUMER_WARPS>::store(g.c, Cs, {0, 0, block_row, block_col});
    }
}

void dispatch_gemm_specialized(gemm_specialized_globals g) {
    unsigned long mem_size = g.dynamic_shared_memory();
    hipFuncSetAttribute((void*)gemm_specialized_kernel, hipFuncAttributeMaxDynamicSharedMemorySize, mem_size);
    gemm_specialized_kernel<<<g.grid(), g.block(), mem_size, (hipStream_t)g.stream>>>(g);
    hipError_t status = hipGetLastError();
    if (status != hipSuccess) {
        throw std::runtime_error(std::string("gemm_specialized_kernel launch failed: ") + hipGetErrorString(status));
    }
}

PYBIND11_MODULE(TG_MODULE_NAME, m) {
    py::bind_function<dispatch_gemm_specialized>(
        m, "dispatch", &gemm_specialized_globals::a, &gemm_specialized_globals::b, &gemm_specialized_globals::c,
        &gemm_specialized_globals::alpha, &gemm_specialized_globals::beta, &gemm_specialized_globals::stream);
}
