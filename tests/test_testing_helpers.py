"""tilegen.testing: the strategies, check_indexing, error_bound, run_example and the mutations."""

from __future__ import annotations

import k01_baseline_4wave
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tilegen as tg
from ir import models as m
from ir.diagnostics import SimulationError
from ir.expr import WARP, Arith, Cmp, Const, Var
from ir.validate import check_problem
from tilegen.testing import (
    MUTATIONS,
    MutationError,
    check_indexing,
    error_bound,
    gemm_shapes,
    run_example,
)

kernel = k01_baseline_4wave.kernel


# The README's three lines (with a small example budget to keep the suite fast).
@settings(max_examples=10, deadline=None)
@given(shape=gemm_shapes(kernel()))
def test_readme_property(shape: tuple[int, int, int]) -> None:
    check_indexing(kernel(), *shape)


def _padding_kernel() -> m.Kernel:
    return kernel().model_copy(update={"edge": "pad"})


@settings(max_examples=50, deadline=None)
@given(data=st.data(), pad=st.booleans(), max_tiles=st.integers(1, 3), max_k_tiles=st.integers(1, 4))
def test_gemm_shapes_are_accepted_and_bounded(data: st.DataObject, pad: bool, max_tiles: int, max_k_tiles: int) -> None:
    k = _padding_kernel() if pad else kernel(block=64, k_step=16)
    launch = k.launch
    m_, n_, k_ = data.draw(gemm_shapes(k, max_tiles=max_tiles, max_k_tiles=max_k_tiles))
    check_problem(k, m_, n_, k_)  # raises if the kernel refuses it
    assert 1 <= m_ <= max_tiles * launch.block_m and 1 <= n_ <= max_tiles * launch.block_n
    assert 1 <= k_ <= max_k_tiles * launch.k_step
    if not pad:
        assert (m_ % launch.block_m, n_ % launch.block_n, k_ % launch.k_step) == (0, 0, 0)


@settings(max_examples=20, deadline=None)
@given(shape=gemm_shapes(_padding_kernel(), max_tiles=2, max_k_tiles=2, min_k_tiles=2))
def test_min_k_tiles_is_respected_for_padded_kernels(shape: tuple[int, int, int]) -> None:
    assert shape[2] > kernel().launch.k_step


def test_check_indexing_reports_what_it_measured() -> None:
    report = check_indexing(kernel(c_dtype="bf16"), 256, 128, 96, seed=3)
    assert report.shape == (256, 128, 96) and len(report.variants) == 2
    assert "C poisoned with NaN" in report.variants[0] and "beta=0.5" in report.variants[1]
    assert 0 < report.max_abs_error and 0 < report.worst_bound_ratio <= 1
    assert "C written exactly once" in str(report)


def test_check_indexing_runs_one_variant_when_given_alpha_and_beta() -> None:
    report = check_indexing(kernel(), 128, 128, 64, alpha=2.0, beta=-1.0)
    assert report.variants == ("alpha=2, beta=-1",)


def test_check_indexing_turns_simulator_hazards_into_assertion_errors() -> None:
    broken = MUTATIONS["barrier_removed"](kernel(), 0)
    expected = r"(?s)`baseline_4wave` at M x N x K = 128 x 128 x 64.*races.shared-race"
    with pytest.raises(AssertionError, match=expected) as info:
        check_indexing(broken, 128, 128, 64)
    assert isinstance(info.value.__cause__, SimulationError)


def test_check_indexing_catches_wrong_data_that_breaks_no_rule() -> None:
    """Shifting b_reg[0] one subtile down stays inside Bs (it reads the K rows of a neighbour's
    columns): no hazard, wrong numbers, and the message points at the tiles."""
    k = kernel(block=128, k_step=64)
    shifted = k.model_copy(
        update={"body": [_shift_first_b_load(k.body[0])]},  # type: ignore[list-item]
    )
    with pytest.raises(AssertionError) as info:
        check_indexing(shifted, 256, 128, 64)
    message = str(info.value)
    assert "C differs from the float64 reference beyond the bf16/f32 error bound" in message
    assert "in 2 of the 2 output tiles ((0, 0), (1, 0))" in message
    assert info.value.__cause__ is None


def _shift_first_b_load(tiles: m.ForTiles) -> m.ForTiles:
    """Bs is 64 x 128 with 64 x 32 subtiles: column offset +1 stays in bounds for warp_col 0."""
    at = next(i for i, op in enumerate(tiles.body) if isinstance(op, m.For))
    loop: m.For = tiles.body[at]  # type: ignore[assignment]
    body = list(loop.body)
    index = next(i for i, op in enumerate(body) if isinstance(op, m.LoadShared) and op.src.tile == "Bs")
    body[index] = body[index].model_copy(update={"col": body[index].col + 1})  # type: ignore[union-attr]
    outer = list(tiles.body)
    outer[at] = loop.model_copy(update={"body": body})
    return tiles.model_copy(update={"body": outer})


@settings(max_examples=25, deadline=None)
@given(
    shape=st.tuples(st.integers(1, 16), st.integers(1, 16), st.integers(1, 300)),
    alpha=st.floats(-4, 4, allow_nan=False),
    beta=st.floats(-4, 4, allow_nan=False),
    c_dtype=st.sampled_from(["f32", "bf16"]),
    b_layout=st.sampled_from(["kn", "nk"]),
    seed=st.integers(0, 1000),
)
def test_error_bound_holds_for_f32_accumulation_and_is_tight(
    shape: tuple[int, int, int], alpha: float, beta: float, c_dtype: str, b_layout: str, seed: int
) -> None:
    """An f32 GEMM in any summation order (here: K one term at a time, in reverse) stays inside
    the bound, and the bound is a tiny fraction of |alpha| |A| @ |B| + |beta C| (so a wrong tile
    cannot hide in it)."""
    m_, n_, k_ = shape
    gen = torch.Generator().manual_seed(seed)
    a = torch.randn((m_, k_), generator=gen).to(torch.bfloat16)
    b = torch.randn((k_, n_) if b_layout == "kn" else (n_, k_), generator=gen).to(torch.bfloat16)
    c = torch.randn((m_, n_), generator=gen)
    exact, bound = error_bound(a, b, c, alpha=alpha, beta=beta, c_dtype=c_dtype, b_layout=b_layout)
    b_kn = b.float() if b_layout == "kn" else b.float().t()
    acc = torch.zeros(m_, n_)
    for i in reversed(range(k_)):
        acc = acc + a.float()[:, i : i + 1] * b_kn[i : i + 1, :]
    c_old = c.to(torch.bfloat16).float() if c_dtype == "bf16" else c
    result = torch.tensor(alpha, dtype=torch.float32) * acc + torch.tensor(beta, dtype=torch.float32) * c_old
    result = result.to(torch.bfloat16).float() if c_dtype == "bf16" else result
    assert bool(((result.double() - exact).abs() <= bound).all())
    scale = abs(alpha) * (a.double().abs() @ b_kn.double().abs()) + abs(beta) * c_old.double().abs()
    relative = 2 * (k_ + 8) * 2**-24 * (1 + 2**-7) + (2**-7 if c_dtype == "bf16" else 0)
    subnormal = 2 * (abs(alpha) * k_ + 4) * 2**-149 * (1 + 2**-7) + (2**-132 if c_dtype == "bf16" else 0)
    assert bool((bound <= 1.001 * relative * scale + subnormal).all())


def test_run_example_prints_the_report_and_ok(capsys: pytest.CaptureFixture[str]) -> None:
    report = run_example(kernel())
    out = capsys.readouterr().out
    assert "baseline_4wave on gfx942: valid" in out and "shared memory: 16384 of 65536 bytes" in out
    assert "validated at 4 problems: output-tile grids 2 x 2, K tiles 1-4" in out
    assert "simulated baseline_4wave: 256 x 256 x 128" in out and out.rstrip().endswith("ok")
    assert report.shape == (256, 256, 128)  # the covering problem: the most K tiles the validator checks


def test_run_example_exits_non_zero_with_the_diagnostics(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        run_example(MUTATIONS["barrier_in_branch"](kernel(), 0))
    assert info.value.code == 1
    assert "barriers.divergent" in capsys.readouterr().err


# -- mutations -----------------------------------------------------------------------------------


def _ops(k: m.Kernel, kind: type) -> list[m.Stmt]:
    return [op for op in m.walk(k.body) if isinstance(op, kind)]


def _warp_eq(cond: m.Expr, value: int, modulo: int | None = None) -> bool:  # type: ignore[name-defined]
    lhs = Var(name=WARP) if modulo is None else Arith(op="%", lhs=Var(name=WARP), rhs=Const(value=modulo))
    return cond == Cmp(op="==", lhs=lhs, rhs=Const(value=value))


def test_barrier_in_branch_wraps_exactly_one_barrier() -> None:
    k = kernel()
    for site in range(MUTATIONS["barrier_in_branch"].sites(k)):
        mutant = MUTATIONS["barrier_in_branch"](k, site)
        wrapped = [op for op in _ops(mutant, m.If) if _warp_eq(op.cond, 0)]  # type: ignore[attr-defined]
        assert len(wrapped) == 1 and wrapped[0].then == [_ops(k, m.Barrier)[site]]  # type: ignore[attr-defined]
        assert len(_ops(mutant, m.Barrier)) == len(_ops(k, m.Barrier))


def test_group_load_by_one_warp_guards_it_by_its_group() -> None:
    k = kernel()
    mutant = MUTATIONS["group_load_by_one_warp"](k, 1)
    (guard,) = _ops(mutant, m.If)
    assert _warp_eq(guard.cond, 0, modulo=4)  # type: ignore[attr-defined]
    assert guard.then == [_ops(k, m.GroupLoad)[1]]  # type: ignore[attr-defined]


def test_subtile_shifted_moves_one_load_down_one_subtile() -> None:
    k = kernel()
    load = _ops(k, m.LoadShared)[2]
    assert _ops(MUTATIONS["subtile_shifted"](k, 2), m.LoadShared)[2].row == load.row + 1  # type: ignore[attr-defined]


def test_store_in_elements_scales_coordinates_by_the_tile() -> None:
    k = kernel()
    store = _ops(k, m.Store)[3]
    moved = _ops(MUTATIONS["store_in_elements"](k, 3), m.Store)[3]
    assert (moved.row, moved.col) == (store.row * 32, store.col * 32)  # type: ignore[attr-defined]


@pytest.mark.parametrize(("name", "kind"), [("zero_dropped", m.Zero), ("store_dropped", m.Store),
                                             ("barrier_removed", m.Barrier)])
def test_removals_drop_exactly_one_op(name: str, kind: type) -> None:
    k = kernel()
    for site in range(MUTATIONS[name].sites(k)):
        mutant = MUTATIONS[name](k, site)
        remaining = _ops(mutant, kind)
        assert remaining == [op for i, op in enumerate(_ops(k, kind)) if i != site]


def test_buffer_rotation_removed_pins_one_reference_to_buffer_0() -> None:
    k = _double_buffered()
    pinned = MUTATIONS["buffer_rotation_removed"](k, 0)
    refs = [op.dst for op in _ops(pinned, m.GroupLoad)]  # type: ignore[attr-defined]
    assert refs[0].buffer == Const(value=0) and refs[1] == _ops(k, m.GroupLoad)[1].dst  # type: ignore[attr-defined]


def _double_buffered() -> m.Kernel:
    k = tg.Kernel("db", warps=4, block=(64, 64), k_step=16)
    As, Bs = k.shared("As", 64, 16, buffers=2), k.shared("Bs", 16, 64, buffers=2)
    with k.k_loop() as kt:
        k.load_tile(As[kt % 2], "A", kt)
        k.load_tile(Bs[kt % 2], "B", kt)
        k.sync()
    return k.build()


def test_mutations_leave_the_original_alone_and_stay_valid_ir() -> None:
    k = kernel()
    before = k.model_dump_json()
    for mutation in MUTATIONS.values():
        for site in range(mutation.sites(k)):
            mutant = mutation(k, site)
            assert m.Kernel.model_validate_json(mutant.model_dump_json()) == mutant
            assert mutant != k
    assert k.model_dump_json() == before


def test_a_mutation_without_a_site_says_so() -> None:
    with pytest.raises(MutationError, match=r"`buffer_rotation_removed` .* has 0 site\(s\) in kernel `baseline_4wave`"):
        MUTATIONS["buffer_rotation_removed"](kernel(), 0)
    with pytest.raises(MutationError, match="site 9 does not exist"):
        MUTATIONS["barrier_removed"](kernel(), 9)
