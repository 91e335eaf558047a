"""Reference kernel 02, fixed: producer / consumer waves with double-buffered shared tiles.

Waves 0-3 load the next K step into one buffer while waves 4-7 compute on the other. The hand
version gave wrong results because only warp 0 ran the 4-warp group load (a quarter of each tile
was loaded) and it declared the consumers' register tiles at kernel scope. Here the load is run by
the whole producer role, and registers live in the consumer role that uses them.
"""

from __future__ import annotations

import tilegen as tg


def kernel(block: int = 128, k_step: int = 32, c_dtype: str = "f32") -> tg.KernelIR:
    reg = block // 4
    k = tg.Kernel("producer_consumer", warps=8, block=(block, block), k_step=k_step, c_dtype=c_dtype)
    As = k.shared("As", block, k_step, buffers=2)
    Bs = k.shared("Bs", k_step, block, buffers=2)
    producers = k.role("producer", range(0, 4))
    consumers = k.role("consumer", range(4, 8))

    with producers:
        k.load_tile(As[0], "A", 0)
        k.load_tile(Bs[0], "B", 0)
        k.sync()
        with k.k_loop() as kt:
            with k.when(kt + 1 < k.num_k_tiles):
                k.load_tile(As[(kt + 1) % 2], "A", kt + 1)
                k.load_tile(Bs[(kt + 1) % 2], "B", kt + 1)
            k.sync()

    with consumers:
        acc = k.accumulator("C_accum", reg, reg, count=4)
        a = k.register("a_reg", reg, k_step, count=2)
        b = k.register("b_reg", k_step, reg, layout="col", count=2)
        warp_row, warp_col = k.warp_grid(2, 2, role=consumers)
        k.zero(acc)
        k.sync()  # tile 0 has landed
        with k.k_loop() as kt:
            for i in range(2):
                k.load(a[i], As[kt % 2], row=warp_row + 2 * i)
                k.load(b[i], Bs[kt % 2], col=warp_col + 2 * i)
            for i in range(2):
                for j in range(2):
                    k.mma(acc[2 * i + j], a[i], b[j])
            k.sync()  # buffer kt % 2 is free for the producers' load of kt + 2
        for i in range(2):
            for j in range(2):
                k.store(acc[2 * i + j], row=warp_row + 2 * i, col=warp_col + 2 * j)
    return k.build()


if __name__ == "__main__":
    from tilegen.testing import run_example

    run_example(kernel())
