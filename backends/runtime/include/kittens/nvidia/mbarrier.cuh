// mbarriers (sm_90): named 8-byte barriers in shared memory that complete a phase when a set
// number of arrivals AND a set number of transaction bytes (TMA loads signing in) have come.
// Part of tilegen's bundled kittens runtime (docs/nvidia.md, "Hopper: TMA, mbarriers, wgmma").
//
//   init(bar, arrivals)            once, by one thread, then fence_barrier_init() and a block barrier
//   arrive(bar)                    one arrival (release: this thread's earlier accesses happen before)
//   arrive_expect_tx(bar, bytes)   one arrival that also expects `bytes` from asynchronous copies
//   wait(bar, parity)              until the phase of that parity has completed (acquire)
//
// Phases alternate parity 0, 1, 0, ...: a thread that waits on its k-th use of a barrier waits on
// parity k % 2. A fresh barrier is in phase 0, so a wait on parity 1 returns at once (how a
// producer's first pass over a ring of "empty" barriers goes through).
#pragma once

#include "base.cuh"

namespace tg {

struct mbarrier {
    uint64_t word;
};

KITTENS_DEVICE uint32_t shared_address(const void* p) { return static_cast<uint32_t>(__cvta_generic_to_shared(p)); }

KITTENS_DEVICE void init(mbarrier& bar, uint32_t arrivals) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(shared_address(&bar)), "r"(arrivals) : "memory");
}

// Makes the initialisations visible to the asynchronous proxy (the TMA unit signs in there);
// a block barrier after it makes them visible to the other threads.
KITTENS_DEVICE void fence_barrier_init() { asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory"); }

KITTENS_DEVICE void arrive(mbarrier& bar) {
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(shared_address(&bar)) : "memory");
}

KITTENS_DEVICE void arrive_expect_tx(mbarrier& bar, uint32_t bytes) {
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(shared_address(&bar)), "r"(bytes)
                 : "memory");
}

KITTENS_DEVICE void wait(mbarrier& bar, uint32_t parity) {
    const uint32_t address = shared_address(&bar);
    uint32_t done;
    do {
        asm volatile(
            "{\n"
            ".reg .pred complete;\n"
            "mbarrier.try_wait.parity.shared::cta.b64 complete, [%1], %2;\n"
            "selp.u32 %0, 1, 0, complete;\n"
            "}\n"
            : "=r"(done)
            : "r"(address), "r"(parity)
            : "memory");
    } while (!done);
}

// Ordinary (generic-proxy) shared-memory writes become visible to the asynchronous proxy (TMA
// stores, wgmma operands) only after this fence in the writing thread, before the barrier.
KITTENS_DEVICE void fence_proxy_async() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }

}  // namespace tg
