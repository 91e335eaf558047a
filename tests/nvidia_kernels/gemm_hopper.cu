// A Hopper GEMM module written the way tilegen emits one for sm_90a (docs/architecture.md, "The
// emitted module"), for the runtime's TMA / mbarrier / wgmma GPU tests and measurements.
// 12 warps: warpgroup 0 produces (one thread issues TMA loads into a STAGES-deep ring of A and B
// tiles, each stage guarded by a full and an empty mbarrier), warpgroups 1 and 2 consume (wgmma
// over their 64-row slice of the 128 x 256 block tile). Persistent grid, grouped block order.
//   -DTG_B_NK=1: B is N x K (mma_ABt); otherwise K x N (mma_AB).
//   -DTG_C_BF16=1: C is bf16; otherwise float.
//   -DTG_WGMMA_PENDING=1: keep one wgmma group in flight, releasing the previous stage.
//   -DTG_MODULE_NAME=<name>: the Python module's name.
#include "kittens.cuh"
#include "pyutils/pyutils.cuh"
using namespace kittens;

#ifndef TG_B_NK
#define TG_B_NK 0
#endif
#ifndef TG_C_BF16
#define TG_C_BF16 1
#endif
#ifndef TG_WGMMA_PENDING
#define TG_WGMMA_PENDING 1
#endif
#ifndef TG_STAGES
#define TG_STAGES 4
#endif
#ifndef TG_GROUP_M
#define TG_GROUP_M 8
#endif
// Measurement variants (wrong results on purpose): TG_SKIP_STORE leaves the epilogue's global
// stores out, TG_SKIP_MMA the wgmmas (the loads and barriers stay), to see where the time goes.
#ifndef TG_SKIP_STORE
#define TG_SKIP_STORE 0
#endif
#ifndef TG_SKIP_MMA
#define TG_SKIP_MMA 0
#endif
// TG_TMA_STORE: with beta == 0, the epilogue goes registers -> shared -> TMA store, which the
// consumers do not wait for (they go on to the next tile); 16 KiB of staging per warpgroup.
#ifndef TG_TMA_STORE
#define TG_TMA_STORE 0
#endif
#ifndef TG_MODULE_NAME
#define TG_MODULE_NAME gemm_hopper
#endif

constexpr int BLOCK_M = 128;
constexpr int BLOCK_N = 256;
constexpr int K_STEP = 64;
constexpr int STAGES = TG_STAGES;
constexpr int NUM_WARPS = 12;
constexpr int NUM_THREADS = NUM_WARPS * kittens::WARP_THREADS;
constexpr int GROUP_M = TG_GROUP_M;
constexpr int PERSISTENT_BLOCKS = 132;

using _gl_A = gl<bf16, -1, -1, -1, -1>;
using _gl_B = gl<bf16, -1, -1, -1, -1>;
#if TG_C_BF16
using _gl_C = gl<bf16, -1, -1, -1, -1>;
#else
using _gl_C = gl<float, -1, -1, -1, -1>;
#endif

using A_tile = tg::tma_tile_bf<BLOCK_M, K_STEP>;
#if TG_B_NK
using B_tile = tg::tma_tile_bf<BLOCK_N, K_STEP>;
#else
using B_tile = tg::tma_tile_bf<K_STEP, BLOCK_N>;
#endif
using C_acc = rt_fl<16, BLOCK_N, ducks::rt_layout::col>;
#if TG_C_BF16
using C_tile = tg::tma_tile_bf<64, 128>;  // 16 KiB: half a warpgroup's 64 x 256
#else
using C_tile = tg::tma_tile_fl<64, 64>;
#endif

struct gemm_hopper_globals {
    _gl_A a;
    _gl_B b;
    _gl_C c;
    float alpha;
    float beta;
    size_t stream;
    CUtensorMap tma_a;  // made on the host by dispatch(), once per call
    CUtensorMap tma_b;
    CUtensorMap tma_c;
    dim3 grid() { return dim3(std::min<int>(PERSISTENT_BLOCKS, (c.rows() / BLOCK_M) * (c.cols() / BLOCK_N))); }
    dim3 block() { return dim3(NUM_THREADS); }
    size_t dynamic_shared_memory() { return STAGES * (sizeof(A_tile) + sizeof(B_tile)) + 2048 + (TG_TMA_STORE ? 2 * sizeof(C_tile) : 0); }  // + the two barrier arrays, 1024-aligned each
};

__global__ __launch_bounds__(NUM_THREADS, 1) void gemm_hopper_kernel(const __grid_constant__ gemm_hopper_globals g) {
    extern __shared__ alignment_dummy __shm[];
    shared_allocator al((int*)&__shm[0]);
    A_tile(&As)[STAGES] = al.allocate<A_tile, STAGES>();
    B_tile(&Bs)[STAGES] = al.allocate<B_tile, STAGES>();
    tg::mbarrier(&full)[STAGES] = al.allocate<tg::mbarrier, STAGES>();
    tg::mbarrier(&empty)[STAGES] = al.allocate<tg::mbarrier, STAGES>();
#if TG_TMA_STORE
    C_tile(&Cs)[2] = al.allocate<C_tile, 2>();  // one per consumer warpgroup
#endif
    const int warp_id = warpid();
    if (threadIdx.x == 0) {
        for (int s = 0; s < STAGES; ++s) {
            tg::init(full[s], 1);   // the producer's arrive_expect_tx
            tg::init(empty[s], 8);  // one arrival per consumer warp
        }
        tg::fence_barrier_init();
    }
    __syncthreads();

    const int tile_rows = g.c.rows() / BLOCK_M, tile_cols = g.c.cols() / BLOCK_N;
    const int num_tiles = tile_rows * tile_cols;
    const int num_k_tiles = g.a.cols() / K_STEP;
    if (warp_id < 4) {
        tg::set_max_registers<40>();
        if (warp_id == 0 && laneid() == 0) {
            int step = 0;
            for (int tile_id = blockIdx.x; tile_id < num_tiles; tile_id += gridDim.x) {
                const int group = tile_id / (GROUP_M * tile_cols), first_row = group * GROUP_M;
                const int rows_here = min(GROUP_M, tile_rows - first_row);
                const int block_row = first_row + (tile_id % (GROUP_M * tile_cols)) % rows_here;
                const int block_col = (tile_id % (GROUP_M * tile_cols)) / rows_here;
                for (int kt = 0; kt < num_k_tiles; ++kt, ++step) {
                    const int s = step % STAGES;
                    tg::wait(empty[s], ((step / STAGES) & 1) ^ 1);
                    tg::arrive_expect_tx(full[s], sizeof(A_tile) + sizeof(B_tile));
                    tg::tma::load_async(As[s], g.tma_a, full[s], block_row, kt);
#if TG_B_NK
                    tg::tma::load_async(Bs[s], g.tma_b, full[s], block_col, kt);
#else
                    tg::tma::load_async(Bs[s], g.tma_b, full[s], kt, block_col);
#endif
                }
            }
        }
    } else {
        tg::set_max_registers<232>();
        const int slice = warp_id / 4 - 1;
        C_acc acc;
        int step = 0;
        for (int tile_id = blockIdx.x; tile_id < num_tiles; tile_id += gridDim.x) {
            const int group = tile_id / (GROUP_M * tile_cols), first_row = group * GROUP_M;
            const int rows_here = min(GROUP_M, tile_rows - first_row);
            const int block_row = first_row + (tile_id % (GROUP_M * tile_cols)) % rows_here;
            const int block_col = (tile_id % (GROUP_M * tile_cols)) / rows_here;
            zero(acc);
            for (int kt = 0; kt < num_k_tiles; ++kt, ++step) {
                const int s = step % STAGES;
                tg::wait(full[s], (step / STAGES) & 1);
#if TG_SKIP_MMA
                tg::wgmma::commit_group();
#elif TG_B_NK
                tg::wgmma::mma_ABt(acc, As[s], slice, Bs[s]);
#else
                tg::wgmma::mma_AB(acc, As[s], slice, Bs[s]);
#endif
#if TG_WGMMA_PENDING
                tg::wgmma::wait<1>(acc);
                if (kt > 0 && laneid() == 0) tg::arrive(empty[(step + STAGES - 1) % STAGES]);
#else
                tg::wgmma::wait<0>(acc);
                if (laneid() == 0) tg::arrive(empty[s]);
#endif
            }
#if TG_WGMMA_PENDING
            tg::wgmma::wait<0>(acc);
            if (num_k_tiles > 0 && laneid() == 0) tg::arrive(empty[(step + STAGES - 1) % STAGES]);
#endif
            mul(acc, acc, g.alpha);
#if TG_TMA_STORE
            tg::tma::store_accumulators(g.tma_c, Cs[slice], acc, g.c, block_row * 2 + slice, block_col, 1.f, g.beta);
            continue;
#endif
            if (g.beta != 0.f) {
                C_acc c_prev;
                load(c_prev, g.c, {0, 0, block_row * (BLOCK_M / 16) + warp_id - 4, block_col});
                mul(c_prev, c_prev, g.beta);
                add(acc, acc, c_prev);
            }
#if TG_SKIP_STORE
            if (acc.tiles[0][0].data[0].x == 12345.f)  // keeps the accumulators live
#endif
            store(g.c, acc, {0, 0, block_row * (BLOCK_M / 16) + warp_id - 4, block_col});
        }
#if TG_TMA_STORE
        tg::tma::store_drain();
#endif
    }
}

void dispatch_gemm_hopper(gemm_hopper_globals g) {
    g.tma_a = tg::tma::make_map<A_tile>(g.a);
    g.tma_b = tg::tma::make_map<B_tile>(g.b);
#if TG_TMA_STORE
    g.tma_c = tg::tma::make_map<C_tile>(g.c);
#endif
    const size_t shared_bytes = g.dynamic_shared_memory();
    hipError_t err = hipFuncSetAttribute((void*)gemm_hopper_kernel, hipFuncAttributeMaxDynamicSharedMemorySize, (int)shared_bytes);
    if (err != hipSuccess) {
        throw std::runtime_error(std::string("gemm_hopper: cannot reserve shared memory: ") + hipGetErrorString(err));
    }
    gemm_hopper_kernel<<<g.grid(), g.block(), shared_bytes, (hipStream_t)g.stream>>>(g);
    err = hipGetLastError();
    if (err != hipSuccess) {
        throw std::runtime_error(std::string("gemm_hopper: kernel launch failed: ") + hipGetErrorString(err));
    }
}

PYBIND11_MODULE(TG_MODULE_NAME, m) {
    py::bind_function<dispatch_gemm_hopper>(m, "dispatch", &gemm_hopper_globals::a, &gemm_hopper_globals::b,
                                            &gemm_hopper_globals::c, &gemm_hopper_globals::alpha,
                                            &gemm_hopper_globals::beta, &gemm_hopper_globals::stream);
}
