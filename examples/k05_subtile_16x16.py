"""Reference kernel 05: 64 x 64 block, 4 waves, 16 x 16 register subtiles, K step 64.

Each wave owns four 16 x 16 accumulators interleaved over the block tile and walks the K step in
four 16-wide slices."""

from __future__ import annotations

import tilegen as tg


def kernel(block: int = 64, k_step: int = 64, sub: int = 16, c_dtype: str = "f32") -> tg.KernelIR:
    per_side = block // sub // 2  # accumulators per wave along each side (2 x 2 waves)
    k = tg.Kernel("subtile_16x16", warps=4, block=(block, block), k_step=k_step, c_dtype=c_dtype)
    As = k.shared("As", block, k_step)
    Bs = k.shared("Bs", k_step, block)
    acc = k.accumulator("C_accum", sub, sub, count=per_side * per_side)
    a = k.register("a_reg", sub, sub)
    b = k.register("b_reg", sub, sub, layout="col")
    warp_row, warp_col = k.warp_grid(2, 2)

    k.zero(acc)
    with k.k_loop() as kt:
        k.load_tile(As, "A", kt)
        k.load_tile(Bs, "B", kt)
        k.sync()
        for i in range(per_side):
            for j in range(per_side):
                with k.loop(k_step // sub, var="s", unroll=True) as s:
                    k.load(a, As, row=2 * i + warp_row, col=s)
                    k.load(b, Bs, row=s, col=2 * j + warp_col)
                    k.mma(acc[per_side * i + j], a, b)
        k.sync()  # all reads of As/Bs done before the next step's loads
    for i in range(per_side):
        for j in range(per_side):
            k.store(acc[per_side * i + j], row=2 * i + warp_row, col=2 * j + warp_col)
    return k.build()


if __name__ == "__main__":
    from tilegen.testing import run_example

    run_example(kernel())
