"""An H100-style warp-specialised schedule: one producer warpgroup streams A and B through a
three-stage ring of shared buffers with asynchronous copies (cp.async), two consumer warpgroups
run the MMAs; a persistent grid walks the output tiles in SUPER_M-grouped order; register
budgets move registers from the producers to the consumers (setmaxnreg on sm_90a).

Each K step is one barrier phase: the producers issue the copy of step kt + stages - 1 into the
slot the consumers finished with in the previous phase, then wait until step kt + 1 has landed;
the consumers compute step kt.
"""

from __future__ import annotations

import tilegen as tg

#: The ring of 128 x 256 tiles needs 144 KiB of shared memory: fine on sm_90a (227 KiB), over the
#: 64 KiB of LDS on MI300. AMD builds of this example use a smaller tile and two stages.
TARGET_PARAMS = {"amd": {"block": (128, 128), "k_step": 32, "stages": 2}}


def kernel(
    block: tuple[int, int] = (128, 256),
    k_step: int = 64,
    stages: int = 3,
    dot_slice: int = 16,
    super_m: int = 8,
    blocks: int = 132,
    c_dtype: str = "f32",
) -> tg.KernelIR:
    block_m, block_n = block
    wave_m, wave_n = block_m // 2, block_n // 4  # consumers: 2 x 4 warps
    k = tg.Kernel(
        "h100_producer_consumer",
        warps=12,
        block=block,
        k_step=k_step,
        c_dtype=c_dtype,
        order=tg.grouped(super_m),
        persistent=blocks,
    )
    As = k.shared("As", block_m, k_step, buffers=stages)
    Bs = k.shared("Bs", k_step, block_n, buffers=stages)
    producers = k.role("producer", range(0, 4), max_registers=40)
    consumers = k.role("consumer", range(4, 12), max_registers=232)

    with producers:
        with k.tiles():
            for step in range(stages - 1):  # prologue: fill all but one slot
                with k.when(step < k.num_k_tiles):
                    k.load_tile(As[step], "A", step, is_async=True)
                    k.load_tile(Bs[step], "B", step, is_async=True)
            k.wait(0)
            k.sync()
            with k.k_loop() as kt:
                ahead = kt + stages - 1
                with k.when(ahead < k.num_k_tiles):
                    k.load_tile(As[ahead % stages], "A", ahead, is_async=True)
                    k.load_tile(Bs[ahead % stages], "B", ahead, is_async=True)
                    k.wait(stages - 2)  # step kt + 1 has landed; later ones may be in flight
                with k.otherwise():
                    k.wait(0)
                k.sync()

    with consumers:
        acc = k.accumulator("C_accum", wave_m, wave_n)
        a = k.register("a_reg", wave_m, dot_slice)
        b = k.register("b_reg", dot_slice, wave_n, layout="col")
        warp_row, warp_col = k.warp_grid(2, 4, role=consumers)
        with k.tiles():
            k.zero(acc)
            k.sync()  # the prologue's slots have landed
            with k.k_loop() as kt:
                with k.loop(k_step // dot_slice, var="d", unroll=True) as d:
                    k.load(a, As[kt % stages], row=warp_row, col=d)
                    k.load(b, Bs[kt % stages], row=d, col=warp_col)
                    k.mma(acc, a, b)
                k.sync()  # slot kt % stages may be refilled
            k.store(acc, row=warp_row, col=warp_col)
    return k.build()


if __name__ == "__main__":
    from tilegen.testing import run_example

    run_example(kernel(), target="sm_90a")  # the schedule this file is written for
    run_example(kernel(**TARGET_PARAMS["amd"]), target="gfx942")
