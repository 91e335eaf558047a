// tilegen's extensions to the kittens API, NVIDIA path (namespace tg; docs/runtime-api.md).
// Built from the public API above plus PTX; emitted code marks each use with a comment.
#pragma once

#include "memory.cuh"

namespace tg {

// One warp's share of an ST tile that a group of N warps stages global -> registers -> shared:
// the same band of rows group<N>::load gives the warp, 16 bytes per register quad.
template <typename ST, int N>
struct stage {
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
    stage<ST, N>::band::for_each_chunk(kittens::detail::tile_origin<ST>(src, idx), src.cols(),
                                       [&](int step, uint32_t, const auto* global) {
                                           buf.data[step] = kittens::detail::ld_global_16(global);
                                       });
    kittens::detail::cp_async_commit();
}

// registers -> shared: each warp writes the band it loaded.
template <int N, kittens::ducks::st::all ST>
KITTENS_DEVICE void stage_store(ST& dst, const stage<ST, N>& buf) {
    using band = typename stage<ST, N>::band;
    const typename band::walk lanes;
    const uint32_t base = dst.smem();
#pragma unroll
    for (int step = 0; step < band::per_lane; ++step) {
        if (lanes.has(step)) {
            kittens::detail::st_shared_16(base + lanes.shared(step), buf.data[step]);
        }
    }
    __syncwarp();
}

// Wait until at most P of this warp's asynchronous loads (load_async, stage_load) are in flight.
// The warp barrier after it lets every lane of the warp read what the others' copies wrote.
// `Stages` (the kernel's stage buffer types) matter only on AMD, where vmcnt counts instructions.
template <int P, typename... Stages>
KITTENS_DEVICE void async_wait() {
    static_assert(P >= 0, "tg::async_wait<P>: P counts loads still in flight, so it cannot be negative");
    kittens::detail::cp_async_wait<P>();
    __syncwarp();
}

// Block barrier inside a role branch or a condition: every thread must reach as many barriers
// as every other, not the same barrier instruction. `barrier.sync 0` without .aligned (sm_70 and
// later) counts arrivals per thread; __syncthreads() is the .aligned form, undefined there. The
// memory clobber keeps the compiler from moving shared-memory accesses across it.
KITTENS_DEVICE void barrier() { asm volatile("barrier.sync 0;\n" ::: "memory"); }

// The registers per thread a launch of `threads` threads, `min_blocks` blocks per SM, starts every
// warp with when the kernel carries __launch_bounds__(threads, min_blocks) (ptxas: 65536 registers
// per SM, allocated in multiples of 8, at most 255).
KITTENS_HD constexpr int launch_registers(int threads, int min_blocks = 1) {
    const int share = 65536 / (threads * min_blocks) / 8 * 8;
    return share < 255 ? share : 255;
}

// A role's register budget (setmaxnreg on sm_90a; nothing on other targets). Every warp of a
// warpgroup must make the same call, and the kernel must carry __launch_bounds__. A budget below
// the launch's share releases registers (.dec), one at or above it claims them (.inc).
// LAUNCH_REGISTERS is that share (launch_registers(threads, min_blocks)); 0 computes it at run
// time from the block size, assuming one block per SM. Either way every path sets the budget, so
// ptxas knows the registers the code after the call may use.
template <int R, int LAUNCH_REGISTERS = 0>
KITTENS_DEVICE void set_max_registers() {
    static_assert(R >= 24 && R <= 256 && R % 8 == 0,
                  "tg::set_max_registers<R>: setmaxnreg takes a multiple of 8 between 24 and 256");
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    bool claim;
    if constexpr (LAUNCH_REGISTERS > 0) {
        claim = R >= LAUNCH_REGISTERS;
    } else {
        claim = R >= launch_registers(static_cast<int>(blockDim.x * blockDim.y * blockDim.z));
    }
    if (claim) {
        asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(R));
    } else {
        asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(R));
    }
#endif
}

}  // namespace tg
