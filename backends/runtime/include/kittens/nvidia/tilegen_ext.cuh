// tilegen's extensions to the kittens API, NVIDIA path (namespace tg; docs/runtime-api.md).
// Built from the public API above plus PTX; emitted code marks each use with a comment.
#pragma once

#include "memory.cuh"

namespace tg {

// One warp's share of an ST tile that a group of N warps stages global -> registers -> shared:
// the same band of rows group<N>::load gives the warp, 16 bytes per register quad.
template <typename ST, int N>
struct stage {
    using tile = ST;
    using band = kittens::detail::band<ST, N>;
    uint4 data[band::per_lane];
};

// global -> registers. The loads are issued here and complete when their registers are first
// read (stage_store); the empty cp.async group committed here keeps async_wait<P> counting this
// load like a group<N>::load_async, as the schedule's hazard model does.
template <int N, typename ST, kittens::ducks::gl::all GL>
KITTENS_DEVICE void stage_load(stage<ST, N>& buf, const GL& src, const kittens::coord<>& idx) {
    static_assert(std::is_same_v<typename ST::dtype, typename GL::dtype>,
                  "tg::stage_load: the staged tile and the global matrix must have the same dtype");
    using band = typename stage<ST, N>::band;
    const auto* origin = kittens::detail::tile_origin<ST>(src, idx);
    const int64_t ld = src.cols();
#pragma unroll
    for (int step = 0; step < band::per_lane; ++step) {
        int row, col;
        if (band::locate(step, row, col)) {
            buf.data[step] = kittens::detail::ld_global_16(origin + row * ld + col);
        }
    }
    kittens::detail::cp_async_commit();
}

// registers -> shared: each warp writes the band it loaded.
template <int N, kittens::ducks::st::all ST>
KITTENS_DEVICE void stage_store(ST& dst, const stage<ST, N>& buf) {
    using band = typename stage<ST, N>::band;
    const uint32_t base = dst.smem();
#pragma unroll
    for (int step = 0; step < band::per_lane; ++step) {
        int row, col;
        if (band::locate(step, row, col)) {
            kittens::detail::st_shared_16(base + ST::offset(row, col), buf.data[step]);
        }
    }
    __syncwarp();
}

// Wait until at most P of this warp's asynchronous loads (load_async, stage_load) are in flight.
// The warp barrier after it lets every lane of the warp read what the others' copies wrote.
template <int P>
KITTENS_DEVICE void async_wait() {
    static_assert(P >= 0 && P <= 7, "tg::async_wait<P>: cp.async.wait_group takes 0 <= P <= 7");
    kittens::detail::cp_async_wait<P>();
    __syncwarp();
}

// A role's register budget (setmaxnreg on sm_90a; nothing on other targets). Every warp of a
// warpgroup must make the same call, and the kernel must carry __launch_bounds__: ptxas then
// starts every warp at the launch's share of the register file (65536 / threads, a multiple of 8,
// for one block per SM). A budget below that share releases registers, above it claims them.
// LAUNCH_REGISTERS states the share at compile time (needed when more than one block shares an
// SM); 0 computes it from the block size.
template <int R, int LAUNCH_REGISTERS = 0>
KITTENS_DEVICE void set_max_registers() {
    static_assert(R >= 24 && R <= 256 && R % 8 == 0,
                  "tg::set_max_registers<R>: setmaxnreg takes a multiple of 8 between 24 and 256");
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    if constexpr (LAUNCH_REGISTERS > 0) {
        if constexpr (R > LAUNCH_REGISTERS) {
            asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(R));
        } else if constexpr (R < LAUNCH_REGISTERS) {
            asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(R));
        }
    } else {
        const unsigned threads = blockDim.x * blockDim.y * blockDim.z;
        const unsigned share = (65536u / threads) & ~7u;
        if (static_cast<unsigned>(R) > share) {
            asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(R));
        } else if (static_cast<unsigned>(R) < share) {
            asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(R));
        }
    }
#endif
}

}  // namespace tg
