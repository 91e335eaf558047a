"""Every example under examples/, compiled for the GPU torch sees, against torch in float64.

Marked ``gpu`` (skipped without one); ``scripts/device_check.sh`` runs it on the device machine.
Each example is compiled once per C dtype (all in parallel, module-scoped), then called once per
shape: 8192^3, 4096 x 4096 x 8192, the LLM shape 16384 x 4096 x 14336, odd sizes (refused with
the reason, or correct through the padding variant), alpha / beta with C read back, a fresh C, and
a non-default stream. Inputs are fresh random bf16 each call; C is poisoned with NaN whenever the
kernel must not read it. Error = ||out - ref|| / ||ref|| with ref the float64 product of the same
bf16 inputs. Set TILEGEN_GPU_REPORT=path to also get the table of results as markdown.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pytest
import torch

from ir.diagnostics import ScheduleError
from tilegen.bench import TOLERANCE, gemm_operands
from tilegen.callable import CompiledKernel, reference_gemm, relative_error
from tilegen.schedule import ScheduleFileError as CliError
from tilegen.schedule import load_schedule

pytestmark = pytest.mark.gpu

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p for p in (ROOT / "examples").glob("*.py") if not p.name.startswith("_"))
C_DTYPES = ("f32", "bf16")
BIG_SHAPES = [(8192, 8192, 8192), (4096, 4096, 8192), (16384, 4096, 14336)]
ODD_SHAPES = [(1000, 1000, 1000), (2049, 1537, 1031), (1, 4096, 64)]
REPORT_ENV = "TILEGEN_GPU_REPORT"


@dataclass
class Variant:
    """One example at one C dtype, compiled (or why it cannot be)."""

    example: str
    c_dtype: str
    fn: Optional[CompiledKernel] = None
    padded: Optional[CompiledKernel] = None  # the same kernel with edge="pad" (same binary)
    not_applicable: str = ""  # a reason to skip: the schedule does not fit this target
    error: Optional[BaseException] = None  # a real failure (emit / compile / load)


@dataclass
class Row:
    example: str
    c_dtype: str
    case: str
    rel_error: float
    passed: bool


RESULTS: list[Row] = []


def _compile_variant(example: Path, c_dtype: str, target: str) -> Variant:
    from tilegen.compiler import compile, schedule_options

    variant = Variant(example.stem, c_dtype)
    try:
        kernel = load_schedule(example, [f"c_dtype={c_dtype}"], target)
    except CliError as error:
        variant.not_applicable = f"kernel() of {example.name} has no c_dtype parameter: {error}"
        return variant
    try:
        options = schedule_options(example)  # e.g. allow_spills, with the reason in the example
        variant.fn = compile(kernel, target, **options)
        variant.padded = compile(kernel.model_copy(update={"edge": "pad"}), target, **options)
    except ScheduleError as error:
        rules = ", ".join(sorted(error.rules))
        variant.not_applicable = f"{example.stem} ({c_dtype} C) is not valid for {target} ({rules}):\n{error}"
    except Exception as error:
        variant.error = error
    return variant


@pytest.fixture(scope="module")
def variants() -> Iterator[dict[tuple[str, str], Variant]]:
    from tilegen.compiler import detect_target

    target = detect_target()
    jobs = [(example, c_dtype) for example in EXAMPLES for c_dtype in C_DTYPES]
    # nvcc / hipcc runs in a subprocess, so threads compile the variants in parallel.
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        built = list(pool.map(lambda job: _compile_variant(job[0], job[1], target), jobs))
    yield {(v.example, v.c_dtype): v for v in built}
    _write_report(target)


def _runnable(variants: dict[tuple[str, str], Variant], example: Path, c_dtype: str) -> Variant:
    variant = variants[(example.stem, c_dtype)]
    if variant.error is not None:
        pytest.fail(f"{example.stem} ({c_dtype} C) did not build: {type(variant.error).__name__}: {variant.error}")
    if variant.not_applicable:
        pytest.skip(variant.not_applicable)
    return variant


def _check(variant: Variant, case: str, out: torch.Tensor, ref: torch.Tensor) -> None:
    torch.cuda.synchronize()
    error = relative_error(out, ref)
    tolerance = TOLERANCE[variant.c_dtype]
    RESULTS.append(Row(variant.example, variant.c_dtype, case, error, error < tolerance))
    assert error < tolerance, (
        f"{variant.example} ({variant.c_dtype} C), {case}: relative error {error:.3e} >= {tolerance:.0e} "
        f"(max |out - ref| = {float((out.double() - ref).abs().max()):.3e}; NaN means an output was never written)"
    )


def _whole_tiles(fn: CompiledKernel, m: int, n: int, k: int) -> bool:
    launch = fn.kernel.launch
    return m % launch.block_m == 0 and n % launch.block_n == 0 and k % launch.k_step == 0


def _fits(m: int, n: int, k: int, c_bytes: int) -> bool:
    """Operands, C and the float64 reference (inputs, product, difference) fit in free memory."""
    free, _ = torch.cuda.mem_get_info()
    needed = 2 * (m * k + k * n) + c_bytes * m * n + 8 * (m * k + k * n) + 8 * 3 * m * n
    return needed < 0.8 * free


def _ids(shape: tuple[int, int, int]) -> str:
    return "x".join(map(str, shape))


example_param = pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
dtype_param = pytest.mark.parametrize("c_dtype", C_DTYPES)


@example_param
@dtype_param
@pytest.mark.parametrize("shape", BIG_SHAPES, ids=_ids)
def test_big_shapes_match_float64(
    variants: dict[tuple[str, str], Variant], example: Path, c_dtype: str, shape: tuple[int, int, int]
) -> None:
    variant = _runnable(variants, example, c_dtype)
    m, n, k = shape
    fn = variant.fn if _whole_tiles(variant.fn, m, n, k) else variant.padded
    if not _fits(m, n, k, 4):
        pytest.skip(f"{_ids(shape)} with a float64 reference does not fit in this GPU's free memory")
    a, b, c = gemm_operands(fn.kernel, m, n, k, device="cuda")
    c.fill_(float("nan"))  # beta = 0: the old C must not be read
    out = fn(a, b, c)
    assert out is c
    _check(variant, _ids(shape), out, reference_gemm(fn.kernel.globals.b_layout, a, b))


def _moderate_shape(fn: CompiledKernel) -> tuple[int, int, int]:
    launch = fn.kernel.launch
    return 4 * launch.block_m, 3 * launch.block_n, 5 * launch.k_step


@example_param
@dtype_param
def test_alpha_beta_and_a_fresh_c(variants: dict[tuple[str, str], Variant], example: Path, c_dtype: str) -> None:
    variant = _runnable(variants, example, c_dtype)
    fn = variant.fn
    m, n, k = _moderate_shape(fn)
    a, b, c = gemm_operands(fn.kernel, m, n, k, device="cuda")
    layout = fn.kernel.globals.b_layout
    expected = reference_gemm(layout, a, b, c, alpha=1.5, beta=-0.75)
    out = fn(a, b, c, alpha=1.5, beta=-0.75)
    assert out is c
    _check(variant, f"alpha=1.5 beta=-0.75 {m}x{n}x{k}", out, expected)

    fresh = fn(a, b, alpha=0.5)
    assert fresh.dtype == fn.c_dtype and tuple(fresh.shape) == (m, n) and fresh.device == a.device
    _check(variant, f"alpha=0.5, C allocated {m}x{n}x{k}", fresh, reference_gemm(layout, a, b, alpha=0.5))


@example_param
def test_odd_sizes_are_refused_or_padded(variants: dict[tuple[str, str], Variant], example: Path) -> None:
    variant = _runnable(variants, example, "f32")
    for m, n, k in ODD_SHAPES:
        a, b, c = gemm_operands(variant.fn.kernel, m, n, k, device="cuda")
        if variant.fn.kernel.edge == "refuse" and not _whole_tiles(variant.fn, m, n, k):
            poisoned = torch.full_like(c, float("nan"))
            with pytest.raises(ValueError, match=f"cannot run M={m}, N={n}, K={k}"):
                variant.fn(a, b, poisoned)
            torch.cuda.synchronize()
            assert bool(torch.isnan(poisoned).all()), "a refused call wrote to C"
        expected = reference_gemm(variant.padded.kernel.globals.b_layout, a, b, c, beta=0.5)
        out = variant.padded(a, b, c, beta=0.5)
        _check(variant, f"padded {m}x{n}x{k}, beta=0.5", out, expected)


@example_param
def test_runs_on_the_current_stream(variants: dict[tuple[str, str], Variant], example: Path) -> None:
    variant = _runnable(variants, example, "f32")
    fn = variant.fn
    m, n, k = _moderate_shape(fn)
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):
        a, b, c = gemm_operands(fn.kernel, m, n, k, device="cuda")
        c.fill_(float("nan"))
        out = fn(a, b, c)
    stream.synchronize()
    _check(variant, f"side stream {m}x{n}x{k}", out, reference_gemm(fn.kernel.globals.b_layout, a, b))


def test_the_examples_cover_both_b_layouts(variants: dict[tuple[str, str], Variant]) -> None:
    layouts = {v.fn.kernel.globals.b_layout for v in variants.values() if v.fn is not None}
    assert layouts == {"kn", "nk"}, f"the examples that run here only use b_layout {layouts}"


def _write_report(target: str) -> None:
    if not RESULTS:
        return
    lines = [
        f"GPU correctness on {torch.cuda.get_device_name()} ({target}), torch {torch.__version__}",
        "",
        "| example | C | case | rel. error | result |",
        "| --- | --- | --- | ---: | --- |",
    ]
    lines += [
        f"| {r.example} | {r.c_dtype} | {r.case} | {r.rel_error:.2e} | {'ok' if r.passed else 'FAIL'} |"
        for r in RESULTS
    ]
    text = "\n".join(lines) + "\n"
    path = os.environ.get(REPORT_ENV)
    if path:
        Path(path).write_text(text)
    print("\n" + text, file=sys.stderr)
