"""Correctness tolerances, GEMM operands and GPU timing: the benchmark harness.

Shared by ``tilegen bench``, ``benchmarks/gemm.py``, the GPU tests and the scripts (they import it
from here, not from the command line module). Everything that touches torch imports it lazily, so
importing this module is cheap.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Optional

from ir.models import Kernel as KernelIR
from ir.semantics import b_shape

__all__ = [
    "TOLERANCE",
    "BenchResult",
    "bench_kernel",
    "environment_line",
    "gemm_operands",
    "markdown_table",
    "rotating_sets",
    "time_gpu",
    "torch_reference_call",
]

#: Relative error (||out - ref|| / ||ref|| against float64) a correct kernel stays under: f32
#: accumulation of bf16 products is good to ~1e-6; a bf16 C adds its own rounding (~1e-3).
TOLERANCE = {"f32": 1e-4, "bf16": 1e-2}




def gemm_operands(
    kernel: KernelIR, m: int, n: int, k: int, *, device: Any = "cpu", seed: Optional[int] = None
) -> tuple[Any, Any, Any]:
    """Fresh random (A, B, C) for ``kernel``: bf16 A and B (B in the kernel's layout), C in its dtype."""
    import torch

    from tilegen.callable import TORCH_DTYPES

    generator = torch.Generator(device=device)
    generator.manual_seed(seed if seed is not None else int(time.time_ns() % (1 << 62)))
    a = torch.randn((m, k), generator=generator, device=device).to(torch.bfloat16)
    b = torch.randn(b_shape(kernel.globals.b_layout, k, n), generator=generator, device=device).to(torch.bfloat16)
    c = torch.randn((m, n), generator=generator, device=device).to(TORCH_DTYPES[kernel.globals.c_dtype])
    return a, b, c


def torch_reference_call(kernel: KernelIR) -> Callable[..., Any]:
    """torch.matmul (cuBLAS / hipBLASLt) on the same operands, bf16 out, for speed comparisons."""
    import torch

    def run(a: Any, b: Any, out: Any) -> Any:
        return torch.matmul(a, b if kernel.globals.b_layout == "kn" else b.t(), out=out)

    return run


def time_gpu(run: Callable[[int], Any], *, sets: int, warmup: int = 10, repeats: int = 50) -> list[float]:
    """Milliseconds of each of ``repeats`` calls ``run(i % sets)``, measured with CUDA events.

    Calls are queued back to back with no synchronisation in between, so the GPU never waits for
    the host and each event pair measures GPU time; rotating over ``sets`` input sets keeps the
    inputs from sitting in L2 between calls.
    """
    import torch

    for i in range(warmup):
        run(i % sets)
    starts = [torch.cuda.Event(enable_timing=True) for _ in range(repeats)]
    ends = [torch.cuda.Event(enable_timing=True) for _ in range(repeats)]
    for i in range(repeats):
        starts[i].record()
        run(i % sets)
        ends[i].record()
    torch.cuda.synchronize()
    return [start.elapsed_time(end) for start, end in zip(starts, ends, strict=True)]


def rotating_sets(bytes_per_set: int) -> int:
    """How many input sets to rotate over so that together they are at least twice the L2."""
    import torch

    l2 = getattr(torch.cuda.get_device_properties(torch.cuda.current_device()), "L2_cache_size", 0) or (64 << 20)
    return max(2, min(8, math.ceil(2 * l2 / max(1, bytes_per_set))))


@dataclass
class BenchResult:
    kernel: str
    target: str
    m: int
    n: int
    k: int
    ms: float
    tflops: float
    torch_ms: float
    torch_tflops: float
    ratio: float
    rel_error: float
    correct: bool
    sets: int
    repeats: int


def bench_kernel(
    fn: Any, sizes: Sequence[tuple[int, int, int]], *, warmup: int = 10, repeats: int = 50
) -> list[BenchResult]:
    """Check ``fn`` (a CompiledKernel) against float64 at each size, then time it and torch.matmul
    on the same rotating inputs."""
    return [_bench_size(fn, m, n, k, warmup=warmup, repeats=repeats) for m, n, k in sizes]


def _bench_size(fn: Any, m: int, n: int, k: int, *, warmup: int, repeats: int) -> BenchResult:
    import torch

    from tilegen.callable import reference_gemm, relative_error

    kernel = fn.kernel
    a, b, c = gemm_operands(kernel, m, n, k, device="cuda")
    c.fill_(float("nan"))  # beta = 0: nothing of the old C may leak into the result
    error = relative_error(fn(a, b, c), reference_gemm(kernel.globals.b_layout, a, b))
    bytes_per_set = (a.numel() + b.numel()) * a.element_size() + c.numel() * c.element_size()
    sets = rotating_sets(bytes_per_set)
    inputs = [(a, b, c)] + [gemm_operands(kernel, m, n, k, device="cuda") for _ in range(sets - 1)]
    torch_out = [torch.empty((m, n), dtype=torch.bfloat16, device="cuda") for _ in range(sets)]
    reference_call = torch_reference_call(kernel)

    def run_kernel(i: int) -> Any:
        return fn(*inputs[i])

    def run_torch(i: int) -> Any:
        return reference_call(inputs[i][0], inputs[i][1], torch_out[i])

    ms = statistics.median(time_gpu(run_kernel, sets=sets, warmup=warmup, repeats=repeats))
    torch_ms = statistics.median(time_gpu(run_torch, sets=sets, warmup=warmup, repeats=repeats))
    flops = 2.0 * m * n * k
    return BenchResult(
        kernel=kernel.name,
        target=fn.target,
        m=m,
        n=n,
        k=k,
        ms=ms,
        tflops=flops / ms / 1e9,
        torch_ms=torch_ms,
        torch_tflops=flops / torch_ms / 1e9,
        ratio=torch_ms / ms,
        rel_error=error,
        correct=error < TOLERANCE[kernel.globals.c_dtype],
        sets=sets,
        repeats=repeats,
    )


def markdown_table(results: Sequence[BenchResult]) -> str:
    lines = [
        "| kernel | M x N x K | ms | TFLOP/s | torch.matmul ms | torch.matmul TFLOP/s | ratio | rel. error | correct |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in results:
        lines.append(
            f"| {r.kernel} | {r.m} x {r.n} x {r.k} | {r.ms:.3f} | {r.tflops:.1f} | {r.torch_ms:.3f} | "
            f"{r.torch_tflops:.1f} | {r.ratio:.2f} | {r.rel_error:.2e} | {'yes' if r.correct else 'NO'} |"
        )
    return "\n".join(lines)


def environment_line() -> str:
    """Date, GPU, torch and CUDA / ROCm versions: the header every benchmark table carries."""
    import torch

    gpu = torch.cuda.get_device_name(torch.cuda.current_device()) if torch.cuda.is_available() else "no GPU"
    runtime = f"HIP {torch.version.hip}" if getattr(torch.version, "hip", None) else f"CUDA {torch.version.cuda}"
    return f"{time.strftime('%Y-%m-%d %H:%M %Z')}, {gpu}, torch {torch.__version__}, {runtime}"
