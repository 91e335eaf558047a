"""HipKittens-style 8-wave ping-pong for MI325X: a 256 x 256 block tile, K step 64, B stored
N x K (mma_ABt), two halves of 4 waves.

The second half starts one barrier late, so at every barrier phase one half reads LDS while the
other runs MFMAs, and the matrix and LDS units stay busy together. Each K step has three phases
per half: read the step's A and B into registers; first half of the MFMAs; second half of the
MFMAs. The shared tiles are single-buffered (A and B fill the 64 KiB LDS), so the next step is
loaded in the one phase where neither half reads LDS: the first half loads A during its second
MFMA phase, the second half loads B during its first.
"""

from __future__ import annotations

import tilegen as tg

#: A 256 x 256 block over 8 warps of 32 threads needs 256 accumulator registers per thread: past
#: the 255 NVIDIA allows. NVIDIA builds of this example use a 128 x 128 block.
TARGET_PARAMS = {"nvidia": {"block": 128}}


def kernel(block: int = 256, k_step: int = 64, c_dtype: str = "f32") -> tg.KernelIR:
    wave_m, wave_n = block // 4, block // 2  # 4 x 2 waves; each owns wave_m x wave_n outputs
    half_n = wave_n // 2  # each MFMA phase covers half of a wave's columns
    k = tg.Kernel("pingpong_8wave", warps=8, block=(block, block), k_step=k_step, b_layout="nk", c_dtype=c_dtype)
    As = k.shared("As", block, k_step)
    Bs = k.shared("Bs", block, k_step)
    halves = [k.role("half0", range(0, 4)), k.role("half1", range(4, 8))]
    acc = k.accumulator("C_accum", wave_m, half_n, count=2)
    a = k.register("a_reg", wave_m, k_step)
    b = k.register("b_reg", half_n, k_step, count=2)
    warp_row, warp_col = k.warp_grid(4, 2)

    k.zero(acc)
    with halves[0]:
        k.load_tile(As, "A", 0)
    with halves[1]:
        k.load_tile(Bs, "B", 0)
    k.sync()

    def read_step() -> None:
        k.load(a, As, row=warp_row)
        k.load(b[0], Bs, row=2 * warp_col)
        k.load(b[1], Bs, row=2 * warp_col + 1)

    for half, loads in ((halves[0], "A"), (halves[1], "B")):
        with half:
            if half is halves[1]:
                k.sync()  # start one phase behind the first half
            with k.k_loop() as kt:
                read_step()
                k.sync()
                k.mma(acc[0], a, b[0])
                if loads == "B":
                    with k.when(kt + 1 < k.num_k_tiles):
                        k.load_tile(Bs, "B", kt + 1)
                k.sync()
                k.mma(acc[1], a, b[1])
                if loads == "A":
                    with k.when(kt + 1 < k.num_k_tiles):
                        k.load_tile(As, "A", kt + 1)
                k.sync()
            if half is halves[0]:
                k.sync()  # match the second half's extra barrier
    k.store(acc[0], row=warp_row, col=2 * warp_col)
    k.store(acc[1], row=warp_row, col=2 * warp_col + 1)
    return k.build()


if __name__ == "__main__":
    from tilegen.testing import run_example

    run_example(kernel())
