"""Reference kernel 01: 4 waves, one 128 x 128 output tile per block, single-buffered shared
tiles. Each wave owns a 2 x 2 set of 32 x 32 accumulators, interleaved across the block tile."""

from __future__ import annotations

import tilegen as tg


def kernel(block: int = 128, k_step: int = 32, c_dtype: str = "f32") -> tg.KernelIR:
    reg = block // 4  # each wave holds 2 x 2 register tiles of this side
    k = tg.Kernel("baseline_4wave", warps=4, block=(block, block), k_step=k_step, c_dtype=c_dtype)
    As = k.shared("As", block, k_step)
    Bs = k.shared("Bs", k_step, block)
    acc = k.accumulator("C_accum", reg, reg, count=4)
    a = k.register("a_reg", reg, k_step, count=2)
    b = k.register("b_reg", k_step, reg, layout="col", count=2)
    warp_row, warp_col = k.warp_grid(2, 2)

    k.zero(acc)
    with k.k_loop() as kt:
        k.load_tile(As, "A", kt)
        k.load_tile(Bs, "B", kt)
        k.sync()
        for i in range(2):
            k.load(a[i], As, row=warp_row + 2 * i)
            k.load(b[i], Bs, col=warp_col + 2 * i)
        for i in range(2):
            for j in range(2):
                k.mma(acc[2 * i + j], a[i], b[j])
        k.sync()  # every wave is done reading As/Bs before the next K step overwrites them
    for i in range(2):
        for j in range(2):
            k.store(acc[2 * i + j], row=warp_row + 2 * i, col=warp_col + 2 * j)
    return k.build()


if __name__ == "__main__":
    from tilegen.testing import run_example

    run_example(kernel())
