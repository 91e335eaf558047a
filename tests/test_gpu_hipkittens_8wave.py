"""The HipKittens-class 8-wave schedule (examples/hipkittens_8wave.py) run on the GPU torch sees:
our only execution of its semantics (clusters, graded waits, K-slice rings, the ping-pong halves
one barrier apart), since nothing runs on AMD here. On NVIDIA the AMD-only instruments lower to
nothing (priority) or the plain barrier (cluster fence), and the block is 128 x 128
(``TARGET_PARAMS``). Marked ``gpu``: skipped without one.

Checked against the float64 product of the same bf16 inputs at 4096^3, 8192^3 and odd sizes
through the padding variant (``edge="pad"``), for f32 and bf16 C.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tilegen.callable import reference_gemm, relative_error
from tilegen.cli import TOLERANCE, gemm_operands, load_schedule

pytestmark = pytest.mark.gpu

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "hipkittens_8wave.py"
SHAPES = [(4096, 4096, 4096), (8192, 8192, 8192)]
ODD_SHAPES = [(1000, 1000, 1000), (2049, 1537, 1031)]


@pytest.fixture(scope="module", params=["f32", "bf16"])
def compiled(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    from tilegen.compiler import compile, detect_target

    target = detect_target()
    kernel = load_schedule(EXAMPLE, [f"c_dtype={request.param}"], target)
    return request.param, compile(kernel, target), compile(kernel.model_copy(update={"edge": "pad"}), target)


def _check(c_dtype: str, case: str, out: torch.Tensor, ref: torch.Tensor) -> None:
    torch.cuda.synchronize()
    error = relative_error(out, ref)
    assert error < TOLERANCE[c_dtype], f"hipkittens_8wave ({c_dtype} C) {case}: relative error {error:.3e}"


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_whole_tiles_match_float64(compiled, shape: tuple[int, int, int]) -> None:  # type: ignore[no-untyped-def]
    c_dtype, fn, _ = compiled
    m, n, k = shape
    a, b, c = gemm_operands(fn.kernel, m, n, k, device="cuda", seed=m + k)
    c.fill_(float("nan"))  # beta = 0: the old C must not be read, and every element must be written
    out = fn(a, b, c)
    _check(c_dtype, f"{m}x{n}x{k}", out, reference_gemm(fn.kernel.globals.b_layout, a, b))


@pytest.mark.parametrize("shape", ODD_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_odd_sizes_through_padding(compiled, shape: tuple[int, int, int]) -> None:  # type: ignore[no-untyped-def]
    c_dtype, fn, padded = compiled
    m, n, k = shape
    a, b, c = gemm_operands(fn.kernel, m, n, k, device="cuda", seed=m)
    with pytest.raises(ValueError, match=f"cannot run M={m}, N={n}, K={k}"):
        fn(a, b, c)
    expected = reference_gemm(padded.kernel.globals.b_layout, a, b, c, alpha=1.5, beta=0.5)
    out = padded(a, b, c, alpha=1.5, beta=0.5)
    _check(c_dtype, f"padded {m}x{n}x{k}, alpha=1.5, beta=0.5", out, expected)
