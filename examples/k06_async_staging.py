"""Reference kernel 06: 8 waves, B stored N x K (mma_ABt), the K step walked in 64-wide shared
slices and 16-wide dot slices; the next shared slice is staged global -> registers -> shared
while the MFMAs run on the current one."""

from __future__ import annotations

import tilegen as tg


def kernel(
    block: int = 128, k_step: int = 256, shared_slice: int = 64, dot_slice: int = 16, c_dtype: str = "f32"
) -> tg.KernelIR:
    reg = block // 4
    slices = k_step // shared_slice  # shared slices per K step
    k = tg.Kernel("async_staging", warps=8, block=(block, block), k_step=k_step, b_layout="nk", c_dtype=c_dtype)
    As = k.shared("As", block, shared_slice)
    Bs = k.shared("Bs", block, shared_slice)
    a_next = k.stage("a_next", As)
    b_next = k.stage("b_next", Bs)
    acc = k.accumulator("C_accum", reg, reg, count=2)
    a = k.register("a_reg", reg, dot_slice)
    b = k.register("b_reg", reg, dot_slice, count=2)
    warp_row, warp_col = k.warp_grid(4, 2)

    k.zero(acc)
    k.load_tile(As, "A", 0)
    k.load_tile(Bs, "B", 0)
    k.sync()
    with k.k_loop() as kt:
        with k.loop(slices, var="s", label="shared slices") as s:
            has_next = kt * slices + s + 1 < k.num_k_tiles * slices
            with k.when(has_next):  # start fetching the next slice into registers
                k.stage_load(a_next, "A", kt, part=(0, s + 1))
                k.stage_load(b_next, "B", kt, part=(0, s + 1))
            with k.loop(shared_slice // dot_slice, var="d", unroll=True, label="dot slices") as d:
                k.load(a, As, row=warp_row, col=d)
                k.load(b[0], Bs, row=warp_col, col=d)
                k.load(b[1], Bs, row=warp_col + 2, col=d)
                k.mma(acc[0], a, b[0])
                k.mma(acc[1], a, b[1])
            k.sync()  # every wave is done with this slice
            with k.when(has_next):
                k.wait(0)
                k.stage_store(As, a_next)
                k.stage_store(Bs, b_next)
            k.sync()  # the next slice is visible to every wave
    k.store(acc[0], row=warp_row, col=warp_col)
    k.store(acc[1], row=warp_row, col=warp_col + 2)
    return k.build()


if __name__ == "__main__":
    from tilegen.testing import run_example

    run_example(kernel())
