// tilegen scheduling clusters, AMD path (namespace tg; not part of HipKittens). A cluster is a
// block of ops the compiler must keep together and in place: it runs at a wave priority and ends
// with a barrier and a scheduling fence. Emitted code marks each use with a comment.
#pragma once

namespace tg {

// s_setprio P: the arbiter prefers waves of higher priority when several are ready to issue. MFMA
// clusters run at 1 so that the wave feeding the matrix unit issues first, then drop back to 0.
template <int P>
__device__ __forceinline__ void set_priority() {
    static_assert(P >= 0 && P <= 3, "tg::set_priority<P>: s_setprio takes 0..3");
    __builtin_amdgcn_s_setprio(P);
}

// The end of a cluster: an s_barrier between LDS-only fences, then sched_barrier(0).
// * The release fence makes this wave's LDS writes complete (s_waitcnt lgkmcnt(0)) before the
//   barrier and the acquire fence keeps later LDS reads after it, so what one wave wrote before
//   the barrier is what every wave reads after it. Being LDS-only ("local"), the fences do not
//   wait for global loads in flight (vmcnt): buffer loads stay asynchronous across clusters.
// * __builtin_amdgcn_sched_barrier(0) lets no instruction cross it in the machine scheduler, so
//   MFMAs of one cluster are not moved into the next and the clusters of the two halves of a
//   ping-pong keep alternating in the machine code (without it clang gathers them).
// Clang before 20 has no address-space argument on the fence: its fences then also wait for
// global loads in flight (vmcnt(0)), which is correct but drains the buffer loads at every cluster.
__device__ __forceinline__ void cluster_barrier() {
#if __clang_major__ >= 20
    __builtin_amdgcn_fence(__ATOMIC_RELEASE, "workgroup", "local");
    __builtin_amdgcn_s_barrier();
    __builtin_amdgcn_fence(__ATOMIC_ACQUIRE, "workgroup", "local");
#else
    __builtin_amdgcn_fence(__ATOMIC_RELEASE, "workgroup");
    __builtin_amdgcn_s_barrier();
    __builtin_amdgcn_fence(__ATOMIC_ACQUIRE, "workgroup");
#endif
    __builtin_amdgcn_sched_barrier(0);
}

}  // namespace tg
