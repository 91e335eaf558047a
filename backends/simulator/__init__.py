"""The CPU simulator: runs a schedule on torch tensors, block by block, wave by wave and barrier
phase by barrier phase, and enforces the hazard model of docs/architecture.md at run time.

``simulate`` returns C as the GPU would compute it (bf16 operands, f32 accumulation, the
alpha/beta epilogue, bf16 rounding for a bf16 C) or raises ``SimulationError`` whose diagnostics
name the rule (``RULES``), the op, the wave(s), the buffer and the user's line.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Optional

import torch

from backends.simulator.hazards import RULES
from backends.simulator.machine import Run
from ir import models as m
from ir.semantics import b_shape, b_text, problem_n
from ir.targets import get_target
from ir.validate import check_problem

__all__ = ["RULES", "as_f32", "padded_problem", "simulate", "single_threaded"]


@contextlib.contextmanager
def single_threaded() -> Iterator[None]:
    """Run torch on one thread inside the block, restoring the thread count after.

    The simulator's tensors are single tiles; threads gain nothing on them, and on a busy machine
    each parallel region can wait milliseconds for a descheduled peer (10-30x slower overall)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@single_threaded()
def simulate(
    kernel: m.Kernel,
    a: torch.Tensor,
    b: torch.Tensor,
    c: Optional[torch.Tensor] = None,
    *,
    alpha: float = 1.0,
    beta: float = 0.0,
    target: str = "gfx942",
    progress: Optional[Callable[[int, int], None]] = None,
) -> torch.Tensor:
    """C = alpha * A @ B + beta * C computed by ``kernel``'s schedule on the CPU (float32 tensor).
    ``progress(done, total)`` is called after each block (large problems take a while).

    A is M x K; B is K x N (``b_layout="kn"``) or N x K (``"nk"``); C, if given, M x N. Any float
    dtype is accepted and read as bf16 like the GPU reads it. As in BLAS, C is not read when
    ``beta == 0`` (so it may hold NaN). M, N, K must suit the kernel (``ir.validate.check_problem``
    raises ValueError otherwise): multiples of its block tile, unless ``kernel.edge == "pad"``, in
    which case the operands are zero-padded, simulated and the result sliced, as the compiled
    kernel does.
    """
    get_target(target)  # an unknown target is a caller error, whatever the simulator needs of it
    m_, n_, k_ = _problem_of(kernel, a, b, c)
    check_problem(kernel, m_, n_, k_)
    mp, np_, kp = padded_problem(kernel, m_, n_, k_)
    b_dims = b_shape(kernel.globals.b_layout, kp, np_)
    c_old = None
    if beta != 0.0:
        c_old = _as_stored(c, (mp, np_), kernel.globals.c_dtype) if c is not None else torch.zeros(mp, np_)
    run = Run(
        kernel,
        _as_stored(a, (mp, kp), "bf16"),
        _as_stored(b, b_dims, "bf16"),
        c_old,
        alpha=as_f32(alpha),
        beta=as_f32(beta),
    )
    out = run.execute(progress)
    return out[:m_, :n_].contiguous() if (mp, np_) != (m_, n_) else out


def padded_problem(kernel: m.Kernel, m_: int, n_: int, k_: int) -> tuple[int, int, int]:
    """The M, N, K the schedule runs on: the problem itself, or rounded up to whole block tiles
    and K steps for an ``edge="pad"`` kernel."""
    launch = kernel.launch
    if kernel.edge != "pad":
        return m_, n_, k_
    return (_round_up(m_, launch.block_m), _round_up(n_, launch.block_n), _round_up(k_, launch.k_step))


def as_f32(x: float) -> float:
    """``x`` as the kernel's ``float alpha`` / ``float beta`` argument holds it."""
    return float(torch.tensor(x, dtype=torch.float32))


def _problem_of(
    kernel: m.Kernel, a: torch.Tensor, b: torch.Tensor, c: Optional[torch.Tensor]
) -> tuple[int, int, int]:
    if a.dim() != 2 or b.dim() != 2:
        raise ValueError(f"A and B must be matrices; got A of shape {tuple(a.shape)} and B of {tuple(b.shape)}")
    m_, k_ = a.shape
    layout = kernel.globals.b_layout
    n_ = problem_n(layout, *b.shape)
    if tuple(b.shape) != b_shape(layout, k_, n_):
        raise ValueError(
            f"A is {m_} x {k_}, so B must be {b_text(layout)} with K = {k_}; got B of shape {tuple(b.shape)}"
        )
    if c is not None and tuple(c.shape) != (m_, n_):
        raise ValueError(f"C must be M x N = {m_} x {n_}; got {tuple(c.shape)}")
    return m_, n_, k_


def _as_stored(x: torch.Tensor, shape: tuple[int, int], dtype: str) -> torch.Tensor:
    """``x`` as the GPU holds it (rounded straight to bf16 when ``dtype`` is bf16), as float32,
    zero-padded to ``shape``."""
    x = x.detach().to("cpu")
    if dtype == "bf16":
        x = x.to(torch.bfloat16)
    x = x.to(torch.float32)
    if tuple(x.shape) == shape:
        return x.contiguous()
    out = torch.zeros(shape)
    out[: x.shape[0], : x.shape[1]] = x
    return out


def _round_up(x: int, unit: int) -> int:
    return -(-x // unit) * unit
