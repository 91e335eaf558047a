// Small kernels that exercise each primitive of the NVIDIA kittens runtime on its own, for
// tests/test_nvidia_runtime_gpu.py. Each is bound with py::bind_kernel (module name: TG_MODULE_NAME).
#include "kittens.cuh"
#include "pyutils/pyutils.cuh"
using namespace kittens;

#ifndef TG_MODULE_NAME
#define TG_MODULE_NAME nvidia_primitives
#endif

using gl_bf = gl<bf16, -1, -1, -1, -1>;
using gl_fl = gl<float, -1, -1, -1, -1>;
using row_l = ducks::rt_layout::row;
using col_l = ducks::rt_layout::col;

template <typename T>
using gl_of = std::conditional_t<std::is_same_v<T, float>, gl_fl, gl_bf>;

// ---- group copies: global -> shared -> global ------------------------------------------------
// Each block runs two groups of N warps; group g copies tile (blockIdx.y, 2 * blockIdx.x + g).
// There is no block barrier between the load and the store: every warp stores the band of rows
// it loaded itself, which the runtime must order within the warp (the hazard model's promise).

enum copy_mode { COPY_SYNC, COPY_ASYNC, COPY_STAGED };

template <typename IN, typename OUT, typename ST, int N>
struct copy_globals {
    IN in;
    OUT out;
    size_t stream;
    dim3 grid() { return dim3(in.cols() / (2 * ST::cols), in.rows() / ST::rows); }
    dim3 block() { return dim3(2 * N * WARP_THREADS); }
    size_t dynamic_shared_memory() { return 2 * sizeof(ST); }
};

template <typename IN, typename OUT, typename ST, int N, int MODE>
__global__ void copy_kernel(const copy_globals<IN, OUT, ST, N> g) {
    extern __shared__ alignment_dummy __shm[];
    shared_allocator al((int*)&__shm[0]);
    ST(&tiles)[2] = al.allocate<ST, 2>();
    const int grp = group<N>::groupid();
    ST& tile = tiles[grp];
    const coord<> at{0, 0, blockIdx.y, 2 * blockIdx.x + grp};
    if constexpr (MODE == COPY_SYNC) {
        group<N>::load(tile, g.in, at);
    } else if constexpr (MODE == COPY_ASYNC) {
        group<N>::load_async(tile, g.in, at);
        tg::async_wait<0>();
    } else {
        tg::stage<ST, N> staged;
        tg::stage_load<N>(staged, g.in, at);
        tg::async_wait<0>();
        tg::stage_store<N>(tile, staged);
    }
    group<N>::store(g.out, tile, at);
}

// ---- register layouts: dump what each lane holds ---------------------------------------------
// out is 32 rows (lanes) x (height * width * 4 pairs * 2) floats, in (i, j, pair, element) order.

template <typename RT>
KITTENS_DEVICE void dump_registers(const gl_fl& out, const RT& tile) {
    const int lane = laneid();
#pragma unroll
    for (int i = 0; i < RT::height; ++i) {
#pragma unroll
        for (int j = 0; j < RT::width; ++j) {
#pragma unroll
            for (int p = 0; p < 4; ++p) {
                const float2 v = detail::to_float2(tile.tiles[i][j].data[p]);
                float* dst = out.raw_ptr + lane * out.cols() + ((i * RT::width + j) * 4 + p) * 2;
                dst[0] = v.x;
                dst[1] = v.y;
            }
        }
    }
}

template <typename IN>
struct dump_globals {
    IN in;
    gl_fl out;
    size_t stream;
    dim3 grid() { return dim3(1); }
    dim3 block() { return dim3(WARP_THREADS); }
    size_t dynamic_shared_memory() { return 64 * 1024; }
};

// in (ST's shape) -> shared -> register tile RT (subtile (SUB_R, SUB_C), or the whole tile if SUB_R < 0).
template <typename ST, typename RT, int SUB_R, int SUB_C>
__global__ void dump_shared_kernel(const dump_globals<gl_of<typename ST::dtype>> g) {
    extern __shared__ alignment_dummy __shm[];
    shared_allocator al((int*)&__shm[0]);
    ST& tile = al.allocate<ST>();
    group<1>::load(tile, g.in, {0, 0, 0, 0});
    RT regs;
    if constexpr (SUB_R < 0) {
        load(regs, tile);
    } else {
        load(regs, subtile_inplace<RT::rows, RT::cols>(tile, {SUB_R, SUB_C}));
    }
    dump_registers(g.out, regs);
}

// in -> register tile RT straight from global memory, tile (1, 1) in units of RT.
template <typename IN, typename RT>
__global__ void dump_global_kernel(const dump_globals<IN> g) {
    RT regs;
    load(regs, g.in, {0, 0, 1, 1});
    dump_registers(g.out, regs);
}

// ---- registers -> shared subtile ------------------------------------------------------------
// out = background with subtile (SUB_R, SUB_C) replaced by patch.

template <typename ST>
struct patch_globals {
    gl_of<typename ST::dtype> background;
    gl_bf patch;
    gl_of<typename ST::dtype> out;
    size_t stream;
    dim3 grid() { return dim3(1); }
    dim3 block() { return dim3(WARP_THREADS); }
    size_t dynamic_shared_memory() { return 64 * 1024; }
};

template <typename ST, typename RT, int SUB_R, int SUB_C>
__global__ void patch_shared_kernel(const patch_globals<ST> g) {
    extern __shared__ alignment_dummy __shm[];
    shared_allocator al((int*)&__shm[0]);
    ST& tile = al.allocate<ST>();
    group<1>::load(tile, g.background, {0, 0, 0, 0});
    RT regs;
    load(regs, g.patch, {0, 0, 0, 0});
    store(subtile_inplace<RT::rows, RT::cols>(tile, {SUB_R, SUB_C}), regs);
    group<1>::store(g.out, tile, {0, 0, 0, 0});
}

// ---- registers <-> global, elementwise -------------------------------------------------------
// out tile (1, 0) = alpha * x tile (1, 1) + x tile (0, 0), tiles in units of RT; the rest of out
// stays as it was.

template <typename IN, typename OUT>
struct axpy_globals {
    IN x;
    OUT out;
    float alpha;
    size_t stream;
    dim3 grid() { return dim3(1); }
    dim3 block() { return dim3(WARP_THREADS); }
    size_t dynamic_shared_memory() { return 0; }
};

template <typename IN, typename OUT, typename RT>
__global__ void axpy_kernel(const axpy_globals<IN, OUT> g) {
    RT x, y, sum;
    load(x, g.x, {0, 0, 1, 1});
    load(y, g.x, {0, 0, 0, 0});
    mul(x, x, g.alpha);
    add(sum, x, y);
    RT copy;
    zero(copy);
    copy = sum;
    store(g.out, copy, {0, 0, 1, 0});
}

// ---- mma: one warp, d = a @ b (+ c) through shared memory and ldmatrix -----------------------

struct mma_globals {
    gl_bf a;
    gl_bf b;
    gl_fl c;
    gl_fl d;
    size_t stream;
    dim3 grid() { return dim3(1); }
    dim3 block() { return dim3(WARP_THREADS); }
    size_t dynamic_shared_memory() { return 16 * 1024; }
};

// a: M x K. b: K x N (mma_AB) or N x K (mma_ABt). c, d: M x N.
template <int M, int N, int K, bool B_NK>
__global__ void mma_kernel(const mma_globals g) {
    extern __shared__ alignment_dummy __shm[];
    shared_allocator al((int*)&__shm[0]);
    using B_tile = std::conditional_t<B_NK, st_bf<N, K>, st_bf<K, N>>;
    using B_reg = std::conditional_t<B_NK, rt_bf<N, K, row_l>, rt_bf<K, N, col_l>>;
    st_bf<M, K>& As = al.allocate<st_bf<M, K>>();
    B_tile& Bs = al.allocate<B_tile>();
    group<1>::load(As, g.a, {0, 0, 0, 0});
    group<1>::load(Bs, g.b, {0, 0, 0, 0});
    rt_bf<M, K, row_l> a;
    B_reg b;
    rt_fl<M, N, col_l> c, d;
    load(a, As);
    load(b, Bs);
    load(c, g.c, {0, 0, 0, 0});
    if constexpr (B_NK) {
        mma_ABt(d, a, b, c);  // d and c apart
        mma_ABt(d, a, b, d);  // in place: d = a @ b^T * 2 + c
    } else {
        mma_AB(d, a, b, c);
        mma_AB(d, a, b, d);
    }
    store(g.d, d, {0, 0, 0, 0});
}

// ---- barriers inside role branches ------------------------------------------------------------
// Warps 0..1 (writers) and 2..3 (readers) take different branches and meet at the barriers of
// their own branch (tg::barrier() on one side, __builtin_amdgcn_s_barrier() on the other), as
// many on each side. Round r: the writers fill buffer r % 2 before barrier r; the readers sum it
// after barrier r, while the writers fill the other buffer. Element (reader thread - 64) of out
// (4 x 16 floats) = the sum that thread read.

struct barrier_globals {
    gl_fl out;
    int rounds;
    size_t stream;
    dim3 grid() { return dim3(1); }
    dim3 block() { return dim3(4 * WARP_THREADS); }
    size_t dynamic_shared_memory() { return 2 * 64 * sizeof(float); }
};

__global__ void barrier_kernel(const barrier_globals g) {
    extern __shared__ alignment_dummy __shm[];
    float* buffers = reinterpret_cast<float*>(&__shm[0]);
    const int thread = threadIdx.x;
    if (warpid() < 2) {
        for (int round = 0; round <= g.rounds; ++round) {
            if (round < g.rounds) {
                buffers[(round % 2) * 64 + thread] = static_cast<float>(round * 1000 + thread);
            }
            tg::barrier();
        }
    } else {
        const int partner = 63 - (thread - 64);  // read another warp's element, not one's own
        float sum = 0.0f;
        for (int round = 0; round <= g.rounds; ++round) {
            __builtin_amdgcn_s_barrier();
            if (round < g.rounds) {
                sum += buffers[(round % 2) * 64 + partner];
            }
        }
        g.out.raw_ptr[thread - 64] = sum;
    }
}

// ---- the module --------------------------------------------------------------------------------

template <typename IN, typename OUT, typename ST, int N, int MODE>
void bind_copy(pybind11::module_& m, const char* name) {
    using G = copy_globals<IN, OUT, ST, N>;
    py::bind_kernel<copy_kernel<IN, OUT, ST, N, MODE>>(m, name, &G::in, &G::out, &G::stream);
}

template <typename ST, typename RT, int SUB_R = -1, int SUB_C = -1>
void bind_dump_shared(pybind11::module_& m, const char* name) {
    using G = dump_globals<gl_of<typename ST::dtype>>;
    py::bind_kernel<dump_shared_kernel<ST, RT, SUB_R, SUB_C>>(m, name, &G::in, &G::out, &G::stream);
}

template <typename IN, typename RT>
void bind_dump_global(pybind11::module_& m, const char* name) {
    using G = dump_globals<IN>;
    py::bind_kernel<dump_global_kernel<IN, RT>>(m, name, &G::in, &G::out, &G::stream);
}

template <typename ST, typename RT, int SUB_R, int SUB_C>
void bind_patch(pybind11::module_& m, const char* name) {
    using G = patch_globals<ST>;
    py::bind_kernel<patch_shared_kernel<ST, RT, SUB_R, SUB_C>>(m, name, &G::background, &G::patch, &G::out, &G::stream);
}

template <typename IN, typename OUT, typename RT>
void bind_axpy(pybind11::module_& m, const char* name) {
    using G = axpy_globals<IN, OUT>;
    py::bind_kernel<axpy_kernel<IN, OUT, RT>>(m, name, &G::x, &G::out, &G::alpha, &G::stream);
}

template <int M, int N, int K, bool B_NK>
void bind_mma(pybind11::module_& m, const char* name) {
    using G = mma_globals;
    py::bind_kernel<mma_kernel<M, N, K, B_NK>>(m, name, &G::a, &G::b, &G::c, &G::d, &G::stream);
}

PYBIND11_MODULE(TG_MODULE_NAME, m) {
    // name: copy_<in>_<out>_<rows>x<cols>_g<N>_<mode>
    bind_copy<gl_bf, gl_bf, st_bf<64, 64>, 4, COPY_SYNC>(m, "copy_bf16_bf16_64x64_g4_sync");
    bind_copy<gl_bf, gl_bf, st_bf<64, 64>, 4, COPY_ASYNC>(m, "copy_bf16_bf16_64x64_g4_async");
    bind_copy<gl_bf, gl_bf, st_bf<64, 64>, 4, COPY_STAGED>(m, "copy_bf16_bf16_64x64_g4_staged");
    bind_copy<gl_bf, gl_bf, st_bf<16, 16>, 2, COPY_SYNC>(m, "copy_bf16_bf16_16x16_g2_sync");
    bind_copy<gl_bf, gl_bf, st_bf<64, 16>, 4, COPY_ASYNC>(m, "copy_bf16_bf16_64x16_g4_async");
    bind_copy<gl_bf, gl_bf, st_bf<32, 32>, 1, COPY_STAGED>(m, "copy_bf16_bf16_32x32_g1_staged");
    bind_copy<gl_bf, gl_bf, st_bf<16, 128>, 2, COPY_SYNC>(m, "copy_bf16_bf16_16x128_g2_sync");
    bind_copy<gl_bf, gl_bf, st_bf<48, 48>, 4, COPY_ASYNC>(m, "copy_bf16_bf16_48x48_g4_async");
    bind_copy<gl_bf, gl_bf, st_bf<256, 64>, 8, COPY_SYNC>(m, "copy_bf16_bf16_256x64_g8_sync");
    bind_copy<gl_bf, gl_fl, st_bf<32, 64>, 2, COPY_SYNC>(m, "copy_bf16_f32_32x64_g2_sync");
    bind_copy<gl_fl, gl_fl, st_fl<32, 32>, 4, COPY_ASYNC>(m, "copy_f32_f32_32x32_g4_async");
    bind_copy<gl_fl, gl_bf, st_fl<64, 16>, 1, COPY_STAGED>(m, "copy_f32_bf16_64x16_g1_staged");

    // name: dump_shared_<st>_<rt>[_sub<r><c>]
    bind_dump_shared<st_bf<32, 32>, rt_bf<32, 32, row_l>>(m, "dump_shared_bf32x32_bf32x32row");
    bind_dump_shared<st_bf<32, 32>, rt_bf<32, 32, col_l>>(m, "dump_shared_bf32x32_bf32x32col");
    bind_dump_shared<st_bf<32, 32>, rt_fl<32, 32, col_l>>(m, "dump_shared_bf32x32_fl32x32col");
    bind_dump_shared<st_fl<32, 32>, rt_bf<32, 32, col_l>>(m, "dump_shared_fl32x32_bf32x32col");
    bind_dump_shared<st_fl<16, 32>, rt_fl<16, 32, row_l>>(m, "dump_shared_fl16x32_fl16x32row");
    bind_dump_shared<st_bf<64, 64>, rt_bf<32, 16, col_l>, 1, 2>(m, "dump_shared_bf64x64_bf32x16col_sub12");
    bind_dump_shared<st_bf<64, 64>, rt_bf<16, 32, row_l>, 3, 1>(m, "dump_shared_bf64x64_bf16x32row_sub31");
    bind_dump_shared<st_bf<128, 16>, rt_bf<32, 16, row_l>, 2, 0>(m, "dump_shared_bf128x16_bf32x16row_sub20");
    bind_dump_shared<st_bf<32, 48>, rt_bf<16, 16, col_l>, 1, 2>(m, "dump_shared_bf32x48_bf16x16col_sub12");

    // name: dump_global_<in>_<rt>
    bind_dump_global<gl_fl, rt_fl<32, 16, col_l>>(m, "dump_global_f32_fl32x16col");
    bind_dump_global<gl_bf, rt_bf<16, 32, row_l>>(m, "dump_global_bf16_bf16x32row");
    bind_dump_global<gl_bf, rt_bf<32, 16, col_l>>(m, "dump_global_bf16_bf32x16col");

    // name: patch_<st>_<rt>_sub<r><c>
    bind_patch<st_bf<64, 64>, rt_bf<32, 16, row_l>, 1, 2>(m, "patch_bf64x64_bf32x16row_sub12");
    bind_patch<st_bf<64, 64>, rt_bf<16, 32, col_l>, 3, 1>(m, "patch_bf64x64_bf16x32col_sub31");
    bind_patch<st_fl<32, 64>, rt_fl<16, 32, col_l>, 1, 1>(m, "patch_fl32x64_fl16x32col_sub11");
    bind_patch<st_bf<32, 32>, rt_fl<16, 16, col_l>, 1, 0>(m, "patch_bf32x32_fl16x16col_sub10");

    // name: axpy_<in>_<out>_<rt>
    bind_axpy<gl_fl, gl_fl, rt_fl<32, 32, col_l>>(m, "axpy_f32_f32_fl32x32col");
    bind_axpy<gl_bf, gl_fl, rt_fl<16, 32, col_l>>(m, "axpy_bf16_f32_fl16x32col");
    bind_axpy<gl_fl, gl_bf, rt_bf<32, 16, row_l>>(m, "axpy_f32_bf16_bf32x16row");
    bind_axpy<gl_bf, gl_bf, rt_bf<16, 32, col_l>>(m, "axpy_bf16_bf16_bf16x32col");

    // name: mma_<AB|ABt>_<M>x<N>x<K>
    bind_mma<32, 32, 32, false>(m, "mma_AB_32x32x32");
    bind_mma<32, 32, 32, true>(m, "mma_ABt_32x32x32");
    bind_mma<16, 48, 64, false>(m, "mma_AB_16x48x64");
    bind_mma<48, 16, 16, true>(m, "mma_ABt_48x16x16");

    py::bind_kernel<barrier_kernel>(m, "barrier_roles", &barrier_globals::out, &barrier_globals::rounds,
                                    &barrier_globals::stream);
}
