// A GEMM module written the way tilegen emits one (docs/architecture.md, "The emitted module"),
// for the NVIDIA runtime's compile and GPU tests. 4 warps, one 128 x 128 output tile per block,
// each warp a 2 x 2 set of 32 x 32 accumulators interleaved over the tile; A and B tiles
// double-buffered in shared memory and filled with cp.async one K step ahead.
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
#define TG_MODULE_NAME gemm_async
#endif

constexpr int NUM_WARPS = 4;
constexpr int NUM_THREADS = NUM_WARPS * kittens::WARP_THREADS;
constexpr int BLOCK_M = 128;
constexpr int BLOCK_N = 128;
constexpr int K_STEP = 32;
constexpr int REG_M = 32;
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
using C_reg = rt_fl<REG_M, REG_N, ducks::rt_layout::col>;
using G = kittens::group<NUM_WARPS>;

struct gemm_async_globals {
    _gl_A a;
    _gl_B b;
    _gl_C c;
    float alpha;
    float beta;
    size_t stream;
    dim3 grid() { return dim3(c.cols() / BLOCK_N, c.rows() / BLOCK_M); }
    dim3 block() { return dim3(NUM_THREADS); }
    size_t dynamic_shared_memory() { return 2 * sizeof(A_tile) + 2 * sizeof(B_tile); }
};

__global__ __launch_bounds__(NUM_THREADS, 1) void gemm_async_kernel(const gemm_async_globals g) {
    extern __shared__ alignment_dummy __shm[];
    shared_allocator al((int*)&__shm[0]);
    A_tile(&As)[2] = al.allocate<A_tile, 2>();
    B_tile(&Bs)[2] = al.allocate<B_tile, 2>();

    C_reg C_accum[4];
    rt_bf<REG_M, K_STEP> a_reg[2];
    B_reg b_reg[2];

    const int block_row = blockIdx.y;
    const int block_col = blockIdx.x;
    const int warp_row = kittens::warpid() / 2;
    const int warp_col = kittens::warpid() % 2;
    const int num_k_tiles = g.a.cols() / K_STEP;

#pragma unroll
    for (int i = 0; i < 4; i++) {
        zero(C_accum[i]);
    }

    G::load_async(As[0], g.a, {0, 0, block_row, 0});
#if TG_B_NK
    G::load_async(Bs[0], g.b, {0, 0, block_col, 0});
#else
    G::load_async(Bs[0], g.b, {0, 0, 0, block_col});
#endif

    // K loop
    for (int k = 0; k < num_k_tiles; ++k) {
        const int cur = k % 2;
        if (k + 1 < num_k_tiles) {
            G::load_async(As[cur ^ 1], g.a, {0, 0, block_row, k + 1});
#if TG_B_NK
            G::load_async(Bs[cur ^ 1], g.b, {0, 0, block_col, k + 1});
#else
            G::load_async(Bs[cur ^ 1], g.b, {0, 0, k + 1, block_col});
#endif
            tg::async_wait<2>();  // tilegen extension: this step's two tiles have landed
        } else {
            tg::async_wait<0>();  // tilegen extension
        }
        __syncthreads();

#pragma unroll
        for (int i = 0; i < 2; i++) {
            load(a_reg[i], subtile_inplace<REG_M, K_STEP>(As[cur], {warp_row + 2 * i, 0}));
#if TG_B_NK
            load(b_reg[i], subtile_inplace<REG_N, K_STEP>(Bs[cur], {warp_col + 2 * i, 0}));
#else
            load(b_reg[i], subtile_inplace<K_STEP, REG_N>(Bs[cur], {0, warp_col + 2 * i}));
#endif
        }
#pragma unroll
        for (int i = 0; i < 2; i++) {
#pragma unroll
            for (int j = 0; j < 2; j++) {
#if TG_B_NK
                mma_ABt(C_accum[2 * i + j], a_reg[i], b_reg[j], C_accum[2 * i + j]);
#else
                mma_AB(C_accum[2 * i + j], a_reg[i], b_reg[j], C_accum[2 * i + j]);
#endif
            }
        }
        __syncthreads();  // every warp is done reading As[cur] / Bs[cur] before they are refilled
    }

    // Epilogue: C = alpha * accum + beta * C
#pragma unroll
    for (int i = 0; i < 4; i++) {
        const int row = block_row * (BLOCK_M / REG_M) + warp_row + 2 * (i / 2);
        const int col = block_col * (BLOCK_N / REG_N) + warp_col + 2 * (i % 2);
        mul(C_accum[i], C_accum[i], g.alpha);
        if (g.beta != 0.0f) {
            C_reg c_old;
            load(c_old, g.c, {0, 0, row, col});
            mul(c_old, c_old, g.beta);
            add(C_accum[i], C_accum[i], c_old);
        }
        store(g.c, C_accum[i], {0, 0, row, col});
    }
}

void dispatch_gemm_async(gemm_async_globals g) {
    unsigned long mem_size = g.dynamic_shared_memory();
    hipFuncSetAttribute((void*)gemm_async_kernel, hipFuncAttributeMaxDynamicSharedMemorySize, mem_size);
    gemm_async_kernel<<<g.grid(), g.block(), mem_size, (hipStream_t)g.stream>>>(g);
    hipError_t status = hipGetLastError();
    if (status != hipSuccess) {
        throw std::runtime_error(std::string("gemm_async_kernel launch failed: ") + hipGetErrorString(status));
    }
}

PYBIND11_MODULE(TG_MODULE_NAME, m) {
    py::bind_function<dispatch_gemm_async>(m, "dispatch", &gemm_async_globals::a, &gemm_async_globals::b,
                                           &gemm_async_globals::c, &gemm_async_globals::alpha, &gemm_async_globals::beta,
                                           &gemm_async_globals::stream);
}
