// tilegen extensions for the AMD path (namespace tg; not part of HipKittens). Built from the
// public API's building blocks plus target intrinsics; emitted code marks each use with a comment.
#pragma once

#include "buffer.cuh"
#include "memory.cuh"

namespace tg {

// One warp's share of an ST tile that a group of N warps stages global -> registers -> shared:
// the same band of rows and the same 16-byte chunks that group<N>::load moves for that warp.
template <typename ST, int N>
struct stage : kittens::detail::staged_chunks<ST, N> {
    using tile = ST;
    static constexpr int group_size = N;
    // Vector memory instructions one lane issues per stage_load (one per 16-byte chunk).
    static constexpr int loads = kittens::detail::group_share<ST, N>::CHUNKS_PER_LANE;
};

// Global -> registers. The loads are only issued here; nothing waits for them, so the wave goes on
// computing while they fly. tg::async_wait bounds how many are still in flight, and the compiler
// itself waits (s_waitcnt vmcnt) before stage_store first reads the registers.
template <int N, typename ST, kittens::ducks::gl::all GL>
__device__ __forceinline__ void stage_load(stage<ST, N>& buffer, const GL& src, const kittens::coord<ST>& idx) {
#if defined(TG_BUFFER_LOADS)
    // Through a buffer resource (buffer.cuh): the same chunks as stage_load_lane, fewer instructions.
    detail::buffer_stage_load_lane<ST, N>(buffer, src, idx, kittens::warpid() % N, kittens::laneid());
#else
    kittens::detail::stage_load_lane<ST, N>(buffer, src, idx, kittens::warpid() % N, kittens::laneid());
#endif
}

// Registers -> shared: the warp writes its band of `dst`.
template <int N, typename ST>
__device__ __forceinline__ void stage_store(ST& dst, const stage<ST, N>& buffer) {
    kittens::detail::stage_store_lane<ST, N>(dst, buffer, kittens::warpid() % N, kittens::laneid());
}

namespace detail {
// The fewest vector memory instructions one stage_load of any of `Stages` issues; 1 when none is
// named (every load issues at least one).
template <typename... Stages>
KITTENS_HD constexpr int fewest_loads() {
    int fewest = 1 << 30;
    ((fewest = Stages::loads < fewest ? Stages::loads : fewest), ...);
    return sizeof...(Stages) == 0 ? 1 : fewest;
}
}  // namespace detail

// Wait until at most P of this wave's asynchronous loads are in flight: s_waitcnt vmcnt(P * L),
// L the fewest instructions any of the kernel's stage buffers `Stages` issues per stage_load
// (1 when none is named). vmcnt counts vector memory instructions, which return in order, so
// "at most P * L instructions outstanding" means "at most P stage loads outstanding": A in flight
// while B is written, as the schedule says (graded waits). The registers themselves need no help:
// the compiler waits (s_waitcnt vmcnt) before an instruction first reads a loaded register.
template <int P, typename... Stages>
__device__ __forceinline__ void async_wait() {
    static_assert(P >= 0, "tg::async_wait<P>: P counts loads still in flight and cannot be negative");
    constexpr long long count = static_cast<long long>(P) * detail::fewest_loads<Stages...>();
    constexpr int vmcnt = count < kittens::detail::VMCNT_MAX ? static_cast<int>(count) : kittens::detail::VMCNT_MAX;
    __builtin_amdgcn_s_waitcnt(kittens::detail::waitcnt_vmcnt(vmcnt));
}

// Block barrier for divergent code (role branches, conditions); waves match barriers by count.
// The fences are the ones current HIP's __syncthreads() puts around s_barrier (workgroup release
// before, acquire after), so LDS writes made before it are visible after it and the compiler moves
// no LDS access across it. They are compiler builtins, not HIP-header macros: HIP 5.2's
// __atomic_work_item_fence / __memory_order_* / __memory_scope_* are gone from current HIP, and
// tests/test_amd_runtime_headers.py compiles this header with both. Global loads in flight
// (tg::stage_load) are waited for only where the compiler needs their registers (docs/amd.md).
__device__ __forceinline__ void barrier() {
    __builtin_amdgcn_fence(__ATOMIC_RELEASE, "workgroup");
    __builtin_amdgcn_s_barrier();
    __builtin_amdgcn_fence(__ATOMIC_ACQUIRE, "workgroup");
}

// A role's register budget. CDNA allocates the same VGPRs to every wave of a kernel and has no
// setmaxnreg; the budget is checked by tilegen against the compiler's report instead.
template <int R>
__device__ __forceinline__ void set_max_registers() {
    static_assert(R > 0 && R <= 512, "tg::set_max_registers<R>: R must be in 1..512 (VGPR + AGPR per lane on CDNA)");
}

}  // namespace tg
