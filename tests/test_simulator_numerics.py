"""The simulator computes C = alpha * A @ B + beta * C as the GPU would: bf16 operands, f32
accumulation, bf16 rounding of a bf16 C; for both B layouts, every block order, padded edges.

Inputs are small integers, so every product and sum is exact in f32 and the expected C is known
exactly: these tests compare with ``torch.equal``, not a tolerance.
"""

from __future__ import annotations

from typing import Optional

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tilegen as tg
from backends.simulator import simulate
from ir import models as m
from ir.block_order import num_blocks

BLOCK, K_STEP, REG = 64, 16, 32


def tiled_gemm(
    *,
    b_layout: str = "kn",
    c_dtype: str = "f32",
    order: Optional[m.TileOrder] = None,
    persistent: Optional[int] = None,
    xcd: Optional[m.XcdRemap] = None,
    edge: str = "refuse",
) -> m.Kernel:
    """4 waves in 2 x 2, one 32 x 32 accumulator each, inside the output-tile loop (so a
    persistent launch strides over tiles and re-zeroes the accumulator for each)."""
    k = tg.Kernel(
        "tiled", warps=4, block=(BLOCK, BLOCK), k_step=K_STEP, b_layout=b_layout, c_dtype=c_dtype,  # type: ignore[arg-type]
        order=order, persistent=persistent, xcd=xcd, edge=edge,  # type: ignore[arg-type]
    )
    As = k.shared("As", BLOCK, K_STEP)
    nk = b_layout == "nk"
    Bs = k.shared("Bs", BLOCK, K_STEP) if nk else k.shared("Bs", K_STEP, BLOCK)
    acc = k.accumulator("acc", REG, REG)
    a = k.register("a", REG, K_STEP)
    b = k.register("b", REG, K_STEP) if nk else k.register("b", K_STEP, REG, layout="col")
    warp_row, warp_col = k.warp_grid(2, 2)
    with k.tiles():
        k.zero(acc)
        with k.k_loop() as kt:
            k.load_tile(As, "A", kt)
            k.load_tile(Bs, "B", kt)
            k.sync()
            k.load(a, As, row=warp_row)
            k.load(b, Bs, **({"row": warp_col} if nk else {"col": warp_col}))
            k.mma(acc, a, b)
            k.sync()
        k.store(acc, row=warp_row, col=warp_col)
    return k.build()


def integer_problem(m_: int, n_: int, k_: int, b_layout: str, seed: int) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(seed)
    a = torch.randint(-3, 4, (m_, k_), generator=gen).float()
    b = torch.randint(-3, 4, (k_, n_) if b_layout == "kn" else (n_, k_), generator=gen).float()
    c = torch.randint(-8, 9, (m_, n_), generator=gen).float()
    return a, b, c


def exact_result(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor, alpha: float, beta: float, b_layout: str,
                 c_dtype: str) -> torch.Tensor:
    product = a.double() @ (b.double() if b_layout == "kn" else b.double().t())
    result = (alpha * product + beta * c.double()).float()
    return result.to(torch.bfloat16).float() if c_dtype == "bf16" else result


@settings(max_examples=30, deadline=None)
@given(
    b_layout=st.sampled_from(["kn", "nk"]),
    c_dtype=st.sampled_from(["f32", "bf16"]),
    alpha=st.sampled_from([1.0, -2.0, 0.5, 3.0]),
    beta=st.sampled_from([0.0, 1.0, -0.5, 2.0]),
    tiles=st.tuples(st.integers(1, 2), st.integers(1, 2), st.integers(1, 3)),
    seed=st.integers(0, 2**16),
)
def test_exact_gemm_for_both_layouts_dtypes_and_epilogues(
    b_layout: str, c_dtype: str, alpha: float, beta: float, tiles: tuple[int, int, int], seed: int
) -> None:
    m_, n_, k_ = tiles[0] * BLOCK, tiles[1] * BLOCK, tiles[2] * K_STEP
    a, b, c = integer_problem(m_, n_, k_, b_layout, seed)
    got = simulate(tiled_gemm(b_layout=b_layout, c_dtype=c_dtype), a, b, c, alpha=alpha, beta=beta)
    assert got.dtype == torch.float32 and got.shape == (m_, n_)
    assert torch.equal(got, exact_result(a, b, c, alpha, beta, b_layout, c_dtype))


def test_bf16_c_is_rounded_and_f32_c_is_not() -> None:
    """1 + 2^-9 per element of A @ B: representable in f32, rounded away in bf16."""
    a = torch.zeros(BLOCK, K_STEP)
    a[:, 0] = 1.0
    a[:, 1] = 2.0**-9
    b = torch.ones(K_STEP, BLOCK)
    f32 = simulate(tiled_gemm(c_dtype="f32"), a, b)
    bf16 = simulate(tiled_gemm(c_dtype="bf16"), a, b)
    assert torch.all(f32 == 1 + 2.0**-9) and torch.all(bf16 == 1.0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_operands_are_read_as_bf16(dtype: torch.dtype) -> None:
    """1 + 3 * 2^-9 is not a bf16 number; the kernel sees it as 1 + 2^-7 (nearest), exactly as
    ``tensor.to(torch.bfloat16)`` converts it for the GPU."""
    x = 1 + 3 * 2.0**-9
    a = torch.full((BLOCK, K_STEP), x, dtype=dtype)
    b = torch.zeros(K_STEP, BLOCK, dtype=dtype)
    b[0, :] = 1.0
    got = simulate(tiled_gemm(), a, b)
    assert float(a[0, 0].to(torch.bfloat16)) == 1 + 2.0**-7
    assert torch.all(got == 1 + 2.0**-7)


def test_beta_zero_never_reads_c_and_a_missing_c_counts_as_zero() -> None:
    a, b, c = integer_problem(BLOCK, BLOCK, K_STEP, "kn", seed=5)
    kernel = tiled_gemm()
    expected = exact_result(a, b, c, 1.0, 0.0, "kn", "f32")
    assert torch.equal(simulate(kernel, a, b, torch.full_like(c, float("nan"))), expected)
    assert torch.equal(simulate(kernel, a, b, None, beta=0.5), expected)


def test_inputs_are_left_untouched() -> None:
    a, b, c = integer_problem(BLOCK, BLOCK, 2 * K_STEP, "kn", seed=6)
    copies = [t.clone() for t in (a, b, c)]
    simulate(tiled_gemm(), a, b, c, beta=1.0)
    assert all(torch.equal(t, copy) for t, copy in zip((a, b, c), copies, strict=True))


orders = st.one_of(
    st.just(m.TileOrder(kind="row_major")),
    st.just(m.TileOrder(kind="column_major")),
    st.integers(1, 4).map(lambda g: m.TileOrder(kind="grouped", group_m=g)),
)


@settings(max_examples=40, deadline=None)
@given(
    order=orders,
    persistent=st.one_of(st.none(), st.integers(1, 5)),
    xcd=st.one_of(st.none(), st.tuples(st.integers(1, 4), st.integers(1, 3))),
    tiles=st.tuples(st.integers(1, 3), st.integers(1, 3)),
)
def test_every_block_order_covers_c_exactly_once(
    order: m.TileOrder, persistent: Optional[int], xcd: Optional[tuple[int, int]], tiles: tuple[int, int]
) -> None:
    """Persistent, grouped, column-major, XCD-remapped launches: the simulator's coverage check
    passes (each element written once) and every tile holds its own product."""
    remap = m.XcdRemap(num_xcds=xcd[0], chunk=xcd[1]) if xcd else None
    kernel = tiled_gemm(order=order, persistent=persistent, xcd=remap)
    m_, n_ = tiles[0] * BLOCK, tiles[1] * BLOCK
    a, b, c = integer_problem(m_, n_, 2 * K_STEP, "kn", seed=tiles[0] * 7 + tiles[1])
    if persistent is not None:
        assert num_blocks(kernel.launch, m_, n_) == min(persistent, tiles[0] * tiles[1])
    assert torch.equal(simulate(kernel, a, b), exact_result(a, b, c, 1.0, 0.0, "kn", "f32"))


@settings(max_examples=20, deadline=None)
@given(m_=st.integers(1, 2 * BLOCK), n_=st.integers(1, 2 * BLOCK), k_=st.integers(1, 3 * K_STEP),
       b_layout=st.sampled_from(["kn", "nk"]))
def test_padded_edges_give_the_exact_product(m_: int, n_: int, k_: int, b_layout: str) -> None:
    a, b, c = integer_problem(m_, n_, k_, b_layout, seed=m_ + n_ + k_)
    got = simulate(tiled_gemm(b_layout=b_layout, edge="pad"), a, b, c, alpha=2.0, beta=-1.0)
    assert got.shape == (m_, n_)
    assert torch.equal(got, exact_result(a, b, c, 2.0, -1.0, b_layout, "f32"))


def test_sizes_the_kernel_refuses() -> None:
    a, b, _ = integer_problem(BLOCK + 1, BLOCK, K_STEP, "kn", seed=0)
    with pytest.raises(ValueError, match="M = 65 is not a multiple of block_m = 64"):
        simulate(tiled_gemm(), a, b)


@pytest.mark.parametrize(
    ("b_layout", "b_shape", "c_shape", "message"),
    [
        ("kn", (K_STEP, BLOCK), (BLOCK, BLOCK + 1), "C must be M x N = 64 x 64"),
        ("kn", (BLOCK, K_STEP), None, r"B must be K x N \(b_layout='kn'\) with K = 16"),
        ("nk", (K_STEP, BLOCK), None, r"B must be N x K \(b_layout='nk'\) with K = 16"),
    ],
)
def test_operand_shapes_are_checked(
    b_layout: str, b_shape: tuple[int, int], c_shape: Optional[tuple[int, int]], message: str
) -> None:
    a = torch.zeros(BLOCK, K_STEP)
    c = torch.zeros(c_shape) if c_shape else None
    with pytest.raises(ValueError, match=message):
        simulate(tiled_gemm(b_layout=b_layout), a, torch.zeros(b_shape), c)


def test_unknown_target_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown target `gfx1100`"):
        simulate(tiled_gemm(), torch.zeros(BLOCK, K_STEP), torch.zeros(K_STEP, BLOCK), target="gfx1100")


def test_simulate_restores_torchs_thread_count() -> None:
    """The simulator runs its tile ops on one thread but must leave the caller's setting alone,
    also when the schedule is refused."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        simulate(tiled_gemm(), torch.zeros(BLOCK, K_STEP), torch.zeros(K_STEP, BLOCK))
        assert torch.get_num_threads() == 2
        with pytest.raises(ValueError):
            simulate(tiled_gemm(), torch.zeros(BLOCK + 1, K_STEP), torch.zeros(K_STEP, BLOCK))
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
