// tilegen scheduling clusters, NVIDIA path (namespace tg). The AMD path sets a wave priority and
// fences the compiler's scheduler around each cluster (kittens/amd/sched.cuh); NVIDIA has neither
// (warp schedulers pick ready warps themselves), so a cluster lowers to its body and its barrier.
#pragma once

#include "base.cuh"

namespace tg {

// No issue priority on NVIDIA: nothing to do (the check keeps the AMD range).
template <int P>
KITTENS_DEVICE void set_priority() {
    static_assert(P >= 0 && P <= 3, "tg::set_priority<P>: priorities are 0..3 (s_setprio on AMD)");
}

// The barrier that closes a cluster: `barrier.sync 0` without .aligned, as tg::barrier, so a
// cluster is correct inside a role branch too; the memory clobber keeps shared-memory accesses on
// their side of it.
KITTENS_DEVICE void cluster_barrier() { asm volatile("barrier.sync 0;\n" ::: "memory"); }

// Named in tg::async_wait<P, ...> next to stage types (AMD counts vmcnt in instructions); NVIDIA
// counts cp.async groups and ignores it.
template <typename ST, int N>
struct lds_load {
    static constexpr int loads = 1;
};

}  // namespace tg
