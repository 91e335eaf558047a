"""tilegen: write a GEMM schedule in Python, prove it safe, emit HipKittens-style HIP, run it.

The user-facing API. Data flows one way: builder -> IR -> validate -> emit / simulate -> build
-> load -> call; each entry point below is a thin door into one of those layers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ir.diagnostics import Diagnostic, ScheduleError, SimulationError
from ir.models import Kernel as KernelIR
from tilegen.builder import (
    BuildError,
    Kernel,
    column_major,
    grouped,
    row_major,
    xcd_remap,
)

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = [
    "BuildError",
    "Diagnostic",
    "Kernel",
    "KernelIR",
    "ScheduleError",
    "SimulationError",
    "column_major",
    "compile",
    "emit",
    "grouped",
    "resources",
    "row_major",
    "simulate",
    "tune",
    "validate",
    "xcd_remap",
]

__version__ = "0.1.0"


def validate(kernel: KernelIR, target: str = "gfx942") -> Any:
    """Check ``kernel`` against every rule for ``target``; return the report (errors, warnings,
    resource estimates) or raise ``ScheduleError`` naming the op, wave, buffer and line."""
    from ir.validate import validate as _validate

    return _validate(kernel, target=target)


def simulate(
    kernel: KernelIR,
    a: torch.Tensor,
    b: torch.Tensor,
    c: torch.Tensor | None = None,
    alpha: float = 1.0,
    beta: float = 0.0,
    target: str = "gfx942",
    progress: Callable[[int, int], None] | None = None,
) -> torch.Tensor:
    """Run ``kernel`` on the CPU, wave by wave and phase by phase, enforcing the hazard model;
    return C (float32). ``progress(done, total)`` is called after each block."""
    from backends.simulator import simulate as _simulate
    from tilegen.callable import scalar_argument

    alpha = scalar_argument(kernel.name, "alpha", alpha)
    beta = scalar_argument(kernel.name, "beta", beta)
    try:
        return _simulate(kernel, a, b, c, alpha=alpha, beta=beta, target=target, progress=progress)
    except KeyError as error:
        # A structurally broken schedule (a name nothing declares): the validator's structure
        # rules say which op, wave and line, and how to fix it; never a bare KeyError.
        from ir.validate import validate as _validate

        _validate(kernel, target=target)  # raises ScheduleError for any structural fault
        raise SimulationError(
            [Diagnostic(rule="structure", severity="error", message=f"the schedule refers to {error.args[0]}",
                        fix="declare it before using it (see tilegen.validate)")]
        ) from None


def emit(kernel: KernelIR, target: str = "gfx942") -> str:
    """HIP source (HipKittens style) of a validated kernel."""
    from backends.hip.emitter import emit as _emit

    return _emit(kernel, target=target)


def resources(kernel: KernelIR, target: str = "gfx942") -> Any:
    """Registers, spills and shared memory as the real compiler reports them for ``target``."""
    from backends.drivers.resources import resources as _resources

    return _resources(kernel, target=target)


def compile(kernel: KernelIR, target: str | None = None, **kwargs: Any) -> Any:
    """Validate, emit, build (cached) and load ``kernel``; return a callable on torch tensors."""
    from tilegen.compiler import compile as _compile

    return _compile(kernel, target=target, **kwargs)


def tune(factory: Any, space: Any, shapes: Any, **kwargs: Any) -> Any:
    """Prune (validate), build, time and rank every configuration of ``space`` for each shape;
    returns a ``tilegen.tuner.TuneTable`` (``tilegen.compile(table)`` dispatches by shape)."""
    from tilegen.tuner import tune as _tune

    return _tune(factory, space, shapes, **kwargs)
