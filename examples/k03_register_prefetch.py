"""Reference kernel 03: 4 waves, B stored N x K (mma_ABt), K step 64, register double-buffering:
while the MFMAs run on this K step's registers, the next step's registers are loaded from LDS.

The hand version reloaded the shared tiles while slower waves could still be reading them; the
barrier before each load closes that race."""

from __future__ import annotations

import tilegen as tg

#: Four register-tile arrays of 32 x 64 and the accumulators need about 400 registers per thread
#: with 32-thread warps: past the 255 NVIDIA allows. NVIDIA builds use a 64 x 64 block.
TARGET_PARAMS = {"nvidia": {"block": 64}}


def kernel(block: int = 128, k_step: int = 64, c_dtype: str = "f32") -> tg.KernelIR:
    reg = block // 4
    k = tg.Kernel("register_prefetch", warps=4, block=(block, block), k_step=k_step, b_layout="nk", c_dtype=c_dtype)
    As = k.shared("As", block, k_step)
    Bs = k.shared("Bs", block, k_step)  # B is N x K: rows are output columns
    acc = k.accumulator("C_accum", reg, reg, count=4)
    a = k.register("a_reg", reg, k_step, count=2)
    b = k.register("b_reg", reg, k_step, count=2)
    a_next = k.register("a_next", reg, k_step, count=2)
    b_next = k.register("b_next", reg, k_step, count=2)
    warp_row, warp_col = k.warp_grid(2, 2)

    def load_registers(a_dst: tg.builder.RegisterTile, b_dst: tg.builder.RegisterTile) -> None:
        for i in range(2):
            k.load(a_dst[i], As, row=warp_row + 2 * i)
            k.load(b_dst[i], Bs, row=warp_col + 2 * i)

    def multiply() -> None:
        for i in range(2):
            for j in range(2):
                k.mma(acc[2 * i + j], a[i], b[j])

    k.zero(acc)
    k.load_tile(As, "A", 0)
    k.load_tile(Bs, "B", 0)
    k.sync()
    load_registers(a, b)
    with k.k_loop(start=1) as kt:
        k.sync()  # every wave has its registers for step kt - 1: the shared tiles may be reloaded
        k.load_tile(As, "A", kt)
        k.load_tile(Bs, "B", kt)
        k.sync()
        load_registers(a_next, b_next)
        multiply()
        for i in range(2):
            k.copy(a[i], a_next[i])
            k.copy(b[i], b_next[i])
    multiply()
    for i in range(2):
        for j in range(2):
            k.store(acc[2 * i + j], row=warp_row + 2 * i, col=warp_col + 2 * j)
    return k.build()


if __name__ == "__main__":
    from tilegen.testing import run_example

    run_example(kernel())
