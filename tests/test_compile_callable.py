"""The callable's argument checks, padding and result handling, on CPU tensors with a Python
stand-in for the C++ dispatch that fails loudly on anything the real kernel could not survive
(sizes that are not whole block tiles, strides other than (cols, 1), misaligned pointers)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from test_cache import fake_builder

from ir.models import Kernel as KernelIR
from tilegen import cache
from tilegen.callable import CompiledKernel, LaunchError, reference_gemm, relative_error

BLOCK_M, BLOCK_N, K_STEP = 32, 48, 16


class StrictDispatch:
    """What the C++ dispatch may assume, asserted; computes the GEMM in float32."""

    def __init__(self, kernel: KernelIR) -> None:
        self.kernel = kernel
        self.calls: list[tuple[tuple[int, ...], ...]] = []
        self.fail_with: Exception | None = None

    def dispatch(self, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor, alpha: float, beta: float, stream: int):
        if self.fail_with is not None:
            raise self.fail_with
        launch, glob = self.kernel.launch, self.kernel.globals
        for t in (a, b, c):
            assert t.stride() == (t.shape[1], 1), f"unpacked stride {t.stride()} reached the kernel"
            assert t.data_ptr() % 16 == 0, "misaligned pointer reached the kernel"
        m, k = a.shape
        n = c.shape[1]
        assert m % launch.block_m == 0 and n % launch.block_n == 0 and k % launch.k_step == 0, (m, n, k)
        assert tuple(b.shape) == ((k, n) if glob.b_layout == "kn" else (n, k))
        assert isinstance(alpha, float) and isinstance(beta, float) and stream == 0
        self.calls.append((tuple(a.shape), tuple(b.shape), tuple(c.shape)))
        product = a.float() @ (b.float() if glob.b_layout == "kn" else b.float().t())
        out = alpha * product + (beta * c.float() if beta != 0.0 else 0.0)
        c.copy_(out.to(c.dtype))


def make_kernel(b_layout: str = "kn", c_dtype: str = "f32", edge: str = "refuse") -> KernelIR:
    import tilegen as tg

    k = tg.Kernel(
        "tiny", warps=1, block=(BLOCK_M, BLOCK_N), k_step=K_STEP, b_layout=b_layout, c_dtype=c_dtype, edge=edge
    )
    acc = k.accumulator("acc", BLOCK_M, BLOCK_N)
    k.zero(acc)
    k.store(acc)
    return k.build()


def multiples_only(kernel: KernelIR, m: int, n: int, k: int) -> None:
    launch = kernel.launch
    if kernel.edge == "pad":
        return
    if m % launch.block_m or n % launch.block_n or k % launch.k_step:
        raise ValueError(f"needs multiples of {launch.block_m} x {launch.block_n} x {launch.k_step}")


def make_callable(tmp_path: Path, check_problem: Any = multiples_only, **kernel_args: str) -> CompiledKernel:
    kernel = make_kernel(**kernel_args)

    key = cache.cache_key({"kernel": kernel.model_dump_json(), "dir": str(tmp_path)})
    entry, _ = cache.get_or_build(tmp_path, key, fake_builder([]))
    return CompiledKernel(
        kernel, "gfx942", StrictDispatch(kernel), entry, check_problem=check_problem, device_type="cpu"
    )


def operands(m: int, n: int, k: int, b_layout: str = "kn", c_dtype: torch.dtype = torch.float32):
    a = torch.randn(m, k).to(torch.bfloat16)
    b = torch.randn(*((k, n) if b_layout == "kn" else (n, k))).to(torch.bfloat16)
    c = torch.randn(m, n).to(c_dtype)
    return a, b, c


@pytest.fixture
def fn(tmp_path: Path) -> CompiledKernel:
    return make_callable(tmp_path)


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    tiles=st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 4)),
    b_layout=st.sampled_from(["kn", "nk"]),
    c_dtype=st.sampled_from(["f32", "bf16"]),
    alpha=st.sampled_from([1.0, -0.5, 2.0]),
    beta=st.sampled_from([0.0, 1.0, 0.25]),
    pass_c=st.booleans(),
)
def test_whole_tiles_run_in_place_and_match_float64(
    tmp_path_factory: pytest.TempPathFactory,
    tiles: tuple[int, int, int],
    b_layout: str,
    c_dtype: str,
    alpha: float,
    beta: float,
    pass_c: bool,
) -> None:
    fn = make_callable(tmp_path_factory.mktemp("c"), b_layout=b_layout, c_dtype=c_dtype)
    m, n, k = tiles[0] * BLOCK_M, tiles[1] * BLOCK_N, tiles[2] * K_STEP
    a, b, c = operands(m, n, k, b_layout, fn.c_dtype)
    if not pass_c:
        beta = 0.0
    expected = reference_gemm(b_layout, a, b, c, alpha=alpha, beta=beta)
    out = fn(a, b, c if pass_c else None, alpha=alpha, beta=beta)
    assert out.dtype == fn.c_dtype and tuple(out.shape) == (m, n)
    if pass_c:
        assert out is c
    assert relative_error(out, expected) < (1e-5 if c_dtype == "f32" else 1e-2)
    assert len(fn.module.calls) == 1


@settings(max_examples=40, deadline=None)
@given(
    size=st.tuples(st.integers(1, 3 * BLOCK_M), st.integers(1, 3 * BLOCK_N), st.integers(1, 4 * K_STEP)),
    b_layout=st.sampled_from(["kn", "nk"]),
    beta=st.sampled_from([0.0, 0.5]),
    pass_c=st.booleans(),
)
def test_padding_kernels_take_any_size_and_never_run_past_a_tile(
    tmp_path_factory: pytest.TempPathFactory, size: tuple[int, int, int], b_layout: str, beta: float, pass_c: bool
) -> None:
    fn = make_callable(tmp_path_factory.mktemp("p"), b_layout=b_layout, edge="pad")
    m, n, k = size
    a, b, c = operands(m, n, k, b_layout)
    c_before = c.clone()
    if not pass_c:
        beta = 0.0
    expected = reference_gemm(b_layout, a, b, c_before, alpha=1.0, beta=beta)
    out = fn(a, b, c if pass_c else None, beta=beta)
    assert tuple(out.shape) == (m, n) and out.is_contiguous()
    assert (out is c) == pass_c
    assert relative_error(out, expected) < 1e-5
    (a_shape, _, c_shape) = fn.module.calls[0]
    assert c_shape[0] % BLOCK_M == 0 and c_shape[1] % BLOCK_N == 0 and a_shape[1] % K_STEP == 0


def test_a_refusing_kernel_never_launches_a_partial_tile(tmp_path: Path) -> None:
    fn = make_callable(tmp_path, check_problem=lambda *args: None)  # a size check that lets everything through
    a, b, _ = operands(BLOCK_M + 1, BLOCK_N, K_STEP)
    with pytest.raises(ValueError, match=r"M=33, N=48, K=16 are not multiples of the block tile 32 x 48 x 16"):
        fn(a, b)
    assert fn.module.calls == []


def test_sizes_the_schedule_cannot_run_are_refused_with_the_reason(fn: CompiledKernel) -> None:
    a, b, _ = operands(BLOCK_M, BLOCK_N, K_STEP + 8)
    with pytest.raises(ValueError, match=r"tiny cannot run M=32, N=48, K=24: needs multiples of 32 x 48 x 16"):
        fn(a, b)
    assert fn.module.calls == []


# --------------------------------------------------------------------------------------------
# Refusals: each names what was expected and what was passed
# --------------------------------------------------------------------------------------------


def test_refusals(fn: CompiledKernel) -> None:
    m, n, k = BLOCK_M, BLOCK_N, K_STEP
    a, b, c = operands(m, n, k)
    cases: list[tuple[tuple, dict, type, str]] = [
        ((a.float(), b), {}, TypeError, r"A must be torch\.bfloat16, got torch\.float32; convert it with a\.to"),
        ((a, b.half()), {}, TypeError, r"B must be torch\.bfloat16, got torch\.float16"),
        ((a, b, c.to(torch.bfloat16)), {}, TypeError, r"C must be torch\.float32, got torch\.bfloat16"),
        (([[1.0]], b), {}, TypeError, r"A must be a torch\.Tensor, got list"),
        ((a[None], b), {}, ValueError, r"A must be a 2-D matrix, got 3-D shape 1 x 32 x 16"),
        ((a, b.t().contiguous()), {}, ValueError, r"B must be K x N with K = 16 \(b_layout='kn'\), got 48 x 16"),
        ((a, b, c[:, :-1]), {}, ValueError, r"C must be M x N = 32 x 48"),
        ((a, b.t().contiguous().t()), {}, ValueError, r"B must be row-major .* transposed, column-major view"),
        ((a, b), {"beta": 0.5}, ValueError, r"beta=0\.5 scales the old C, but no C was passed"),
        ((a[:0], b), {}, ValueError, r"empty problem M=0, N=48, K=16"),
    ]
    for args, kwargs, error, pattern in cases:
        with pytest.raises(error, match=pattern):
            fn(*args, **kwargs)
    assert fn.module.calls == []


def test_a_misaligned_view_is_refused(fn: CompiledKernel) -> None:
    storage = torch.randn(BLOCK_M * K_STEP + 1).to(torch.bfloat16)
    a = storage[1:].view(BLOCK_M, K_STEP)  # contiguous, but 2 bytes past an aligned address
    b = torch.randn(K_STEP, BLOCK_N).to(torch.bfloat16)
    with pytest.raises(ValueError, match=r"A starts at an address that is not 16-byte aligned.*a\.clone\(\)"):
        fn(a, b)
    assert fn.module.calls == []


def test_c_sharing_memory_with_an_input_is_refused(tmp_path: Path) -> None:
    fn = make_callable(tmp_path, c_dtype="bf16")
    storage = torch.randn(BLOCK_M * BLOCK_N).to(torch.bfloat16)
    a = storage[: BLOCK_M * K_STEP].view(BLOCK_M, K_STEP)
    c = storage.view(BLOCK_M, BLOCK_N)  # the output would overwrite A while the kernel reads it
    with pytest.raises(ValueError, match="C shares memory with A"):
        fn(a, torch.randn(K_STEP, BLOCK_N).to(torch.bfloat16), c)
    assert fn.module.calls == []


def test_tensors_must_be_on_the_gpu(tmp_path: Path) -> None:
    fn = make_callable(tmp_path)
    gpu_kernel = CompiledKernel(
        fn.kernel, fn.target, fn.module, fn.cache_entry, check_problem=multiples_only, device_type="cuda"
    )
    a, b, _ = operands(BLOCK_M, BLOCK_N, K_STEP)
    with pytest.raises(
        ValueError, match=r"A is on cpu, but the kernel runs on the GPU \(gfx942\); move it with a\.cuda"
    ):
        gpu_kernel(a, b)


def test_a_launch_failure_names_the_kernel_and_keeps_the_cause(fn: CompiledKernel) -> None:
    fn.module.fail_with = RuntimeError("hipErrorInvalidConfiguration")
    a, b, _ = operands(BLOCK_M, BLOCK_N, K_STEP)
    with pytest.raises(LaunchError, match=r"kernel tiny \(gfx942\) failed to launch on cpu .*hipErrorInvalidConfig"):
        fn(a, b)


def test_repr_and_build_facts(fn: CompiledKernel) -> None:
    text = repr(fn)
    for part in ("name='tiny'", "target='gfx942'", "block=32x48", "k_step=16", "warps=1", str(fn.cache_path)):
        assert part in text
    assert fn.source == "// source\n" and fn.build_log == "$ cc ...\n" and fn.build_command == ["cc", "kernel.cpp"]
    assert fn.resources == ()


def test_the_size_message_says_it_once(tmp_path: Path) -> None:
    """The validator's message already names the kernel and the sizes: the callable passes it on
    instead of wrapping it in a second "X cannot run M=..." (issue 13)."""
    from ir.validate import check_problem

    fn = make_callable(tmp_path, check_problem=check_problem)
    a, b, _ = operands(BLOCK_M, BLOCK_N, K_STEP + 8)
    with pytest.raises(ValueError) as info:
        fn(a, b)
    assert str(info.value).count("cannot run") == 1 and "M=32, N=48, K=24" in str(info.value)


def test_alpha_none_names_alpha(fn: CompiledKernel) -> None:
    a, b, _ = operands(BLOCK_M, BLOCK_N, K_STEP)
    with pytest.raises(TypeError, match=r"tiny.*: alpha must be a real number \(e.g. alpha=1.0\), got None"):
        fn(a, b, alpha=None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="beta must be a real number"):
        fn(a, b, beta="0.5")  # type: ignore[arg-type]
