"""A Hopper (sm_90a) GEMM in ThunderKittens' shape: one producer warpgroup whose single thread
streams A and B tiles with TMA into a ring of shared stages, two consumer warpgroups that run
wgmma on their 64-row slice straight from shared memory; each stage has a `full` mbarrier (the
loads' bytes complete it) and an `empty` one (every consumer wave releases it). A persistent grid
walks the output tiles in grouped order; setmaxnreg moves registers to the consumers; the epilogue
leaves through shared memory and TMA stores that the consumers do not wait for.

`step` numbers a block's K steps across its tiles: stage `step % stages`, used for the
`step // stages`-th time, so its barriers' phase parity is `(step // stages) % 2`. The producer's
first pass waits on parity 1 of the fresh `empty` barriers, which passes at once.
"""

from __future__ import annotations

import tilegen as tg

#: sm_90a only: TMA, mbarriers and wgmma have no AMD counterpart here.
TARGETS = ("sm_90a",)


def kernel(block_n: int = 256, stages: int = 4, super_m: int = 8, blocks: int = 132, c_dtype: str = "bf16",
           b_layout: str = "kn") -> tg.KernelIR:  # fmt: skip
    k = tg.Kernel("hopper_tma_wgmma", warps=12, block=(128, block_n), k_step=64, b_layout=b_layout,
                  c_dtype=c_dtype, order=tg.grouped(super_m), persistent=blocks, edge="pad")  # fmt: skip
    As = k.shared("As", 128, 64, buffers=stages, layout="tma")
    Bs = k.shared("Bs", *((64, block_n) if b_layout == "kn" else (block_n, 64)), buffers=stages, layout="tma")
    full = k.mbarrier("full", arrivals=1, count=stages)  # the producer's arrive + the loads' bytes
    empty = k.mbarrier("empty", arrivals=8, count=stages)  # one arrival per consumer wave
    # The epilogue's staging (one 16 KiB tile per consumer warpgroup): C leaves through TMA stores.
    Cs = k.shared("Cs", 64, 128 if c_dtype == "bf16" else 64, dtype=c_dtype, buffers=2, layout="tma")
    producer = k.role("producer", range(0, 4), max_registers=40)
    consumers = k.role("consumer", range(4, 12), max_registers=232)

    with producer, k.tiles(), k.one_thread(), k.k_loop() as kt:
        step = k.k_done + kt
        k.wait_barrier(empty[step % stages], (step // stages + 1) % 2)  # consumers released the stage
        k.arrive(full[step % stages], expect_bytes=k.tile_bytes(As, Bs))
        k.tma_load(As[step % stages], "A", kt, barrier=full[step % stages])
        k.tma_load(Bs[step % stages], "B", kt, barrier=full[step % stages])

    with consumers:
        acc = k.accumulator("C_accum", 16, block_n)  # each wave: 16 rows of its warpgroup's 64 x N
        with k.tiles():
            k.zero(acc)
            with k.k_loop() as kt:
                step = k.k_done + kt
                k.wait_barrier(full[step % stages], (step // stages) % 2)  # the stage's loads landed
                k.wgmma(acc, As[step % stages], Bs[step % stages], a_slice=consumers.warp // 4)
                k.wgmma_wait(acc, 0)
                k.arrive(empty[step % stages])  # this wave is done reading the stage
            k.store_tma(acc, Cs[consumers.warp // 4], slice=consumers.warp // 4)
    return k.build()


if __name__ == "__main__":
    from tilegen.testing import run_example

    run_example(kernel(), target="sm_90a")
