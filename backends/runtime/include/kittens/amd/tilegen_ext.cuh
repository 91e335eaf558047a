// tilegen extensions for the AMD path (namespace tg; not part of HipKittens). Built from the
// public API's building blocks plus target intrinsics; emitted code marks each use with a comment.
#pragma once

#include "memory.cuh"

namespace tg {

// One warp's share of an ST tile that a group of N warps stages global -> registers -> shared:
// the same band of rows and the same 16-byte chunks that group<N>::load moves for that warp.
template <typename ST, int N>
struct stage : kittens::detail::staged_chunks<ST, N> {
    using tile = ST;
    static constexpr int group_size = N;
};

// Global -> registers. The loads are only issued here; nothing waits for them, so the wave goes on
// computing while they fly. tg::async_wait bounds how many are still in flight, and the compiler
// itself waits (s_waitcnt vmcnt) before stage_store first reads the registers.
template <int N, typename ST, kittens::ducks::gl::all GL>
__device__ __forceinline__ void stage_load(stage<ST, N>& buffer, const GL& src, const kittens::coord<ST>& idx) {
    kittens::detail::stage_load_lane<ST, N>(buffer, src, idx, kittens::warpid() % N, kittens::laneid());
}

// Registers -> shared: the warp writes its band of `dst`.
template <int N, typename ST>
__device__ __forceinline__ void stage_store(ST& dst, const stage<ST, N>& buffer) {
    kittens::detail::stage_store_lane<ST, N>(dst, buffer, kittens::warpid() % N, kittens::laneid());
}

// Wait until at most P of this wave's asynchronous loads are in flight: s_waitcnt vmcnt(P).
// vmcnt counts vector memory instructions, returned in order, and each tilegen load issues at least
// one, so "at most P instructions outstanding" implies "at most P loads outstanding". The wait is
// exact for P = 0 and conservative (waits longer) for P > 0 when a load issues several.
template <int P>
__device__ __forceinline__ void async_wait() {
    static_assert(P >= 0, "tg::async_wait<P>: P counts loads still in flight and cannot be negative");
    constexpr int vmcnt = P < kittens::detail::VMCNT_MAX ? P : kittens::detail::VMCNT_MAX;
    __builtin_amdgcn_s_waitcnt(kittens::detail::waitcnt_vmcnt(vmcnt));
}

// Block barrier for divergent code (role branches, conditions); waves match barriers by count.
// The fences are the ones HIP's __syncthreads() puts around s_barrier (LDS release before,
// acquire after), so LDS writes made before it are visible after it and the compiler moves no
// LDS access across it. Global loads in flight (tg::stage_load) are not waited for by the fences
// (clang 15 itself still puts s_waitcnt vmcnt(0) before every s_barrier; see docs/amd.md).
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
