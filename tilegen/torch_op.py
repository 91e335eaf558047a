"""A tilegen kernel as a PyTorch custom op, so it works inside ``torch.compile``d models and in
whatever runs exported programs (``torch.export``, AOTInductor, inference engines that call
custom ops).

    op = tilegen.torch_op.register(kernel)          # torch.ops.tilegen.<kernel name>
    y = op(x, w)                                    # C = A @ B (alpha=1, beta=0)
    y = torch.ops.tilegen.baseline_4wave(x, w, c, 1.0, 0.5)

The op is functional: ``(Tensor a, Tensor b, Tensor? c=None, float alpha=1.0, float beta=0.0)
-> Tensor`` returns a new C and never writes the caller's ``c`` (it is read when beta != 0). Its
fake (meta) implementation gives the result's shape, dtype and device from A and B and checks
what the kernel checks about them (2-D, bf16, K matching, the layout of B), so a model using it
traces with fake tensors and no GPU. The real implementation compiles the kernel (through the
cache) on its first real call, for ``target`` or the GPU torch sees. Inference only: the op has
no autograd formula.
"""

from __future__ import annotations

import re
import threading
from typing import Any, Optional, Union

import torch

from ir.models import Kernel as KernelIR

__all__ = ["register"]

_LOCK = threading.Lock()
#: Ops registered in this process: qualified name -> (the kernel's JSON, the op).
_REGISTERED: dict[str, tuple[str, Any]] = {}

_TORCH_DTYPES = {"f32": torch.float32, "bf16": torch.bfloat16}


def register(
    kernel: Union[KernelIR, Any],
    name: Optional[str] = None,
    *,
    namespace: str = "tilegen",
    target: Optional[str] = None,
    **compile_options: Any,
) -> Any:
    """Register ``kernel`` (a ``tilegen.KernelIR``, or a compiled kernel from ``tilegen.compile``)
    as the custom op ``torch.ops.<namespace>.<name>`` (``name`` defaults to the kernel's) and
    return it. Registering the same kernel under the same name again returns the same op; another
    kernel under a taken name is refused (pass ``name=``). ``compile_options`` go to
    ``tilegen.compile`` when a KernelIR is compiled at the first real call.
    """
    compiled = None if isinstance(kernel, KernelIR) else kernel
    ir: KernelIR = kernel if compiled is None else compiled.kernel
    op_name = name or ir.name
    for part, what in ((namespace, "namespace"), (op_name, "name")):
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", part):
            raise ValueError(f"op {what} `{part}` must be a Python identifier (letters, digits, underscores)")
    qualified = f"{namespace}::{op_name}"
    fingerprint = ir.model_dump_json()
    with _LOCK:
        if qualified in _REGISTERED:
            known, op = _REGISTERED[qualified]
            if known != fingerprint:
                raise ValueError(
                    f"the torch op {qualified} is already registered for another kernel in this process; "
                    "register this one under another name, e.g. register(kernel, name=...)"
                )
            return op
        op = _define(qualified, ir, compiled, target, compile_options)
        _REGISTERED[qualified] = (fingerprint, op)
        return op


def _define(
    qualified: str, ir: KernelIR, compiled: Any, target: Optional[str], compile_options: dict[str, Any]
) -> Any:
    c_dtype = _TORCH_DTYPES[ir.globals.c_dtype]
    b_kn = ir.globals.b_layout == "kn"
    state: dict[str, Any] = {"fn": compiled}
    build_lock = threading.Lock()

    def kernel_fn() -> Any:
        with build_lock:
            if state["fn"] is None:
                from tilegen.compiler import compile as tilegen_compile

                state["fn"] = tilegen_compile(ir, target, **compile_options)
            return state["fn"]

    @torch.library.custom_op(qualified, mutates_args=())
    def op(
        a: torch.Tensor,
        b: torch.Tensor,
        c: Optional[torch.Tensor] = None,
        alpha: float = 1.0,
        beta: float = 0.0,
    ) -> torch.Tensor:
        fn = kernel_fn()
        out = c.clone() if (c is not None and beta != 0.0) else None  # the caller's C stays as it was
        return fn(a, b, out, alpha=alpha, beta=beta)

    @op.register_fake
    def _(
        a: torch.Tensor,
        b: torch.Tensor,
        c: Optional[torch.Tensor] = None,
        alpha: float = 1.0,
        beta: float = 0.0,
    ) -> torch.Tensor:
        name = ir.name
        torch._check(a.dim() == 2 and b.dim() == 2, lambda: f"{name}: A and B must be 2-D")
        torch._check(
            a.dtype == torch.bfloat16 and b.dtype == torch.bfloat16,
            lambda: f"{name}: A and B must be bfloat16, got {a.dtype} and {b.dtype}",
        )
        k = a.shape[1]
        k_of_b, n = (b.shape[0], b.shape[1]) if b_kn else (b.shape[1], b.shape[0])
        layout = "K x N" if b_kn else "N x K"
        shapes = f"A is {tuple(a.shape)}, B is {tuple(b.shape)}"
        torch._check(k_of_b == k, lambda: f"{name}: B must be {layout} with K = {k} ({shapes})")
        if c is not None:
            torch._check(
                c.dim() == 2 and c.shape[0] == a.shape[0] and c.shape[1] == n,
                lambda: f"{name}: C must be M x N = ({a.shape[0]}, {n}), got {tuple(c.shape)}",
            )
        torch._check(beta == 0.0 or c is not None, lambda: f"{name}: beta != 0 needs C")
        return a.new_empty((a.shape[0], n), dtype=c_dtype)

    return op
