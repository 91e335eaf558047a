"""HipKittens' 8-wave bf16 GEMM schedule for MI325X (gfx942): a 256 x 256 block tile, K step 64,
B stored N x K (mma_ABt), bf16 C.

All 8 waves run one code path: per K step, 8 scheduling clusters, each closed by a barrier and
a scheduling fence. Memory clusters (LDS reads of 16-wide K slices, the next tile's buffer loads,
the LDS writes) alternate with MFMA clusters at priority 1. Waves 4-7 start one barrier late, so
at every barrier one half feeds the matrix unit while the other reads LDS. The next K step's A and
B come through registers: A's loads are issued in cluster 0, B's in cluster 4, and both are written
to LDS in cluster 6 (after the last read of this step), with graded waits: A's loads must have
landed, B's may still be in flight until just before its own write. K slices rotate through
register rings of two slots (slice s in slot s % 2), so the next slice is read while the current
one is multiplied.
"""

from __future__ import annotations

from typing import Optional

import tilegen as tg
from ir.expr import Expr

#: 2 x 64 x 64 f32 accumulators per wave of 32 threads need 256 registers per thread: past the
#: 255 NVIDIA allows. NVIDIA builds of this example use a 128 x 128 block. gfx950 builds use its
#: CDNA4 form (``gfx950()``).
TARGET_PARAMS = {"nvidia": {"block": 128}, "gfx950": {"cdna4": True}}


def kernel(
    block: int = 256, k_step: int = 64, dot: int = 16, c_dtype: str = "bf16", cdna4: bool = False
) -> tg.KernelIR:
    if cdna4:
        return gfx950(block, k_step, c_dtype=c_dtype)
    sub = block // 4  # each wave owns two sub x sub outputs: rows warp_row and warp_row + 2
    k = tg.Kernel(
        "hipkittens_8wave", warps=8, block=(block, block), k_step=k_step, b_layout="nk", c_dtype=c_dtype,
        order=tg.grouped(4), xcd=tg.xcd_remap(8, chunk=16),
    )  # fmt: skip
    As, Bs = k.shared("As", block, k_step), k.shared("Bs", block, k_step)
    a_next, b_next = k.stage("a_next", As), k.stage("b_next", Bs)
    acc = k.accumulator("C_accum", sub, sub, count=2)
    a_top, a_bottom, b = (k.ring(name, sub, dot, depth=2) for name in ("a_top", "a_bottom", "b"))
    warp_row, warp_col = k.warp_grid(2, 4)
    slices = k_step // dot
    if slices < 3:
        raise ValueError(f"k_step {k_step} holds {slices} slices of {dot}; this schedule needs at least 3")

    def read(s: int) -> None:  # K slice s of As and Bs -> its ring slot (s % 2)
        k.load(a_top[s], As, row=warp_row, col=s)
        k.load(a_bottom[s], As, row=warp_row + 2, col=s)
        k.load(b[s], Bs, row=warp_col, col=s)

    def multiply(s: int) -> None:
        with k.cluster(priority=1, label=f"mma slice {s}"):
            k.mma(acc[0], a_top[s], b[s])
            k.mma(acc[1], a_bottom[s], b[s])

    def step(next_k: Optional[Expr]) -> None:
        """One K step; ``next_k`` is the K step whose tiles come in meanwhile (None: the last)."""
        with k.cluster(label="A in flight, read slice 0"):
            if next_k is not None:
                k.stage_load(a_next, "A", next_k)
            read(0)
        multiply(0)
        for s in range(1, slices - 2):  # the middle slices of a K step wider than 64
            with k.cluster(label=f"read slice {s}"):
                read(s)
            multiply(s)
        with k.cluster(label="B in flight, read the last slices"):
            if next_k is not None:
                k.stage_load(b_next, "B", next_k)
            read(slices - 2)
            read(slices - 1)
        multiply(slices - 2)
        with k.cluster(label="next tile -> LDS"):
            if next_k is not None:
                k.wait(1)  # A has landed; B may still be in flight
                k.stage_store(As, a_next)
                k.wait(0)
                k.stage_store(Bs, b_next)
        multiply(slices - 1)

    k.zero(acc)
    k.load_tile(As, "A", 0)
    k.load_tile(Bs, "B", 0)
    k.sync()
    with k.when(warp_row.eq(1)):
        k.sync()  # the second half runs one barrier behind the first
    with k.k_loop(0, k.num_k_tiles - 1) as kt:
        step(kt + 1)
    step(None)
    with k.when(warp_row.eq(0)):
        k.sync()  # the first half matches the second half's extra barrier
    k.store(acc[0], row=warp_row, col=warp_col)
    k.store(acc[1], row=warp_row + 2, col=warp_col)
    return k.build()


def gfx950(block: int = 256, k_step: int = 64, dot: int = 32, c_dtype: str = "bf16") -> tg.KernelIR:
    """The CDNA4 form: 32-wide K slices (one v_mfma_f32_16x16x32_bf16 per 16 x 16 output), and the
    next K step loaded straight into the other buffer of double-buffered LDS (buffer_load ... lds,
    no registers), issued in the first two clusters and waited for in the sixth. 160 KiB of LDS holds
    both buffers of A and B."""
    sub = block // 4
    k = tg.Kernel(
        "hipkittens_8wave", warps=8, block=(block, block), k_step=k_step, b_layout="nk", c_dtype=c_dtype,
        order=tg.grouped(4), xcd=tg.xcd_remap(8, chunk=16),
    )  # fmt: skip
    As, Bs = k.shared("As", block, k_step, buffers=2), k.shared("Bs", block, k_step, buffers=2)
    acc = k.accumulator("C_accum", sub, sub, count=2)
    a_top, a_bottom, b = (k.ring(name, sub, dot, depth=2) for name in ("a_top", "a_bottom", "b"))
    warp_row, warp_col = k.warp_grid(2, 4)
    if k_step // dot != 2:
        raise ValueError(f"the gfx950 form reads two K slices per step: k_step {k_step} = 2 x dot ({dot})")

    def step(kt: Expr, next_k: Optional[Expr]) -> None:
        now, later = kt % 2, (kt + 1) % 2
        for s, a in ((0, a_top), (0, a_bottom), (1, a_top), (1, a_bottom)):
            with k.cluster(label=f"read slice {s} of {a.name}"):
                if next_k is not None and (s, a) == (0, a_top):
                    k.load_tile(As[later], "A", next_k, is_async=True)
                if next_k is not None and (s, a) == (0, a_bottom):
                    k.load_tile(Bs[later], "B", next_k, is_async=True)
                if a is a_top:
                    k.load(b[s], Bs[now], row=warp_col, col=s)
                k.load(a[s], As[now], row=warp_row + (2 if a is a_bottom else 0), col=s)
                if next_k is not None and (s, a) == (1, a_bottom):
                    k.wait(0)  # the next K step has landed in LDS (visible after this cluster's barrier)
            with k.cluster(priority=1, label=f"mma slice {s}"):
                k.mma(acc[0 if a is a_top else 1], a[s], b[s])

    k.zero(acc)
    k.load_tile(As[0], "A", 0)
    k.load_tile(Bs[0], "B", 0)
    k.sync()
    with k.when(warp_row.eq(1)):
        k.sync()  # the second half runs one barrier behind the first
    with k.k_loop(0, k.num_k_tiles - 1) as kt:
        step(kt, kt + 1)
    step(k.num_k_tiles - 1, None)
    with k.when(warp_row.eq(0)):
        k.sync()
    k.store(acc[0], row=warp_row, col=warp_col)
    k.store(acc[1], row=warp_row + 2, col=warp_col)
    return k.build()


if __name__ == "__main__":
    from tilegen.testing import run_example

    run_example(kernel())
