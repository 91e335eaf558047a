// tilegen scheduling clusters, AMD path (namespace tg; not part of HipKittens). A cluster is a
// block of ops the compiler must keep together and in place: it runs at a wave priority and ends
// with a barrier and a scheduling fence. Emitted code marks each use with a comment.
#pragma once

#include "base.cuh"

namespace tg {

// s_setprio P: the arbiter prefers waves of higher priority when several are ready to issue. MFMA
// clusters run at 1 so that the wave feeding the matrix unit issues first, then drop back to 0.
template <int P>
__device__ __forceinline__ void set_priority() {
    static_assert(P >= 0 && P <= 3, "tg::set_priority<P>: s_setprio takes 0..3");
    __builtin_amdgcn_s_setprio(P);
}

// s_waitcnt lgkmcnt(0) alone (vmcnt and expcnt at their "do not wait" maximum), gfx9 encoding.
inline constexpr int WAITCNT_LGKM_ZERO = 0xF | (0x3 << 14) | (0x7 << 4);

// The end of a cluster: s_waitcnt lgkmcnt(0), s_barrier, sched_barrier(0).
// * lgkmcnt(0) completes this wave's LDS writes before the barrier, so what one wave wrote before
//   it is what every wave reads after it. Global loads in flight (vmcnt) are not waited for: the
//   next tile's buffer loads, into registers or straight into LDS, stay in flight across clusters
//   until the schedule's own counted wait (tg::async_wait) retires them. (A workgroup fence
//   would also wait for loads straight into LDS, which are LDS writes: the whole pipeline drained
//   at every cluster.)
// * The empty asm statements with a memory clobber keep the compiler from moving any memory
//   access across the barrier; __builtin_amdgcn_sched_barrier(0) lets no instruction at all
//   cross it in the machine scheduler, so MFMAs of one cluster are not moved into the next and
//   the clusters of the two halves of a ping-pong keep alternating in the machine code.
__device__ __forceinline__ void cluster_barrier() {
    __builtin_amdgcn_s_waitcnt(WAITCNT_LGKM_ZERO);
    asm volatile("" ::: "memory");
    __builtin_amdgcn_s_barrier();
    asm volatile("" ::: "memory");
    __builtin_amdgcn_sched_barrier(0);
}

}  // namespace tg
