"""The Python side of a compiled kernel: check every argument, then launch.

The C++ ``dispatch`` trusts what it is given (it reads raw pointers and runtime sizes), so
everything that could make it touch memory outside a tensor is refused here first, with what was
expected and what was passed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, Optional

import torch

from backends.drivers.common import Resources
from ir.models import Kernel as KernelIR
from ir.semantics import b_k_n, b_shape, b_text
from ir.validate.launch_size import check_launch_size
from tilegen.cache import CacheEntry

TORCH_DTYPES: dict[str, torch.dtype] = {"bf16": torch.bfloat16, "f32": torch.float32}
#: Global tiles are moved 16 bytes at a time, so each operand must start on a 16-byte boundary.
_ALIGNMENT_BYTES = 16

ProblemCheck = Callable[[KernelIR, int, int, int], None]


class LaunchError(RuntimeError):
    """The kernel's C++ dispatch refused or failed to launch (it threw); the message names the
    kernel, its target and the device."""


class CompiledKernel:
    """A built, loaded kernel: ``fn(a, b, c=None, *, alpha=1.0, beta=0.0) -> c``.

    Computes C = alpha * A @ B + beta * C (A M x K bf16; B K x N for ``b_layout="kn"`` or
    N x K for ``"nk"``, bf16; C M x N in the kernel's ``c_dtype``) on the current torch stream of
    the tensors' GPU. C is allocated when not given, and written in place when it is.
    """

    def __init__(
        self,
        kernel: KernelIR,
        target: str,
        module: ModuleType | Any,
        entry: CacheEntry,
        *,
        check_problem: ProblemCheck,
        device_type: str = "cuda",
    ) -> None:
        self.kernel = kernel
        self.target = target
        self._module = module
        self._entry = entry
        self._check_problem = check_problem
        # Tests run the argument checks and padding on CPU tensors with a fake module; real
        # kernels always run on "cuda" devices (ROCm torch calls its GPUs "cuda" too).
        self._device_type = device_type
        self._device_targets: dict[int, str] = {}

    # ----------------------------------------------------------------------------------------
    # What the build produced
    # ----------------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.kernel.name

    @property
    def module(self) -> ModuleType | Any:
        """The imported extension (``module.dispatch(a, b, c, alpha, beta, stream)`` checks nothing)."""
        return self._module

    @property
    def cache_entry(self) -> CacheEntry:
        return self._entry

    @property
    def cache_path(self) -> Path:
        return self._entry.path

    @property
    def source_path(self) -> Path:
        return self._entry.source_path

    @property
    def source(self) -> str:
        return self._entry.source_path.read_text()

    @property
    def library_path(self) -> Path:
        return self._entry.library_path

    @property
    def build_log(self) -> str:
        return self._entry.log_path.read_text()

    @property
    def build_command(self) -> list[str]:
        return list(self._entry.build.get("command", []))

    @property
    def resources(self) -> tuple[Resources, ...]:
        """Per-kernel resources as the compiler reported them (empty if the driver reports none)."""
        known = {f.name for f in dataclasses.fields(Resources)}
        return tuple(
            Resources(**{k: v for k, v in record.items() if k in known})
            for record in self._entry.build.get("resources", [])
        )

    def __repr__(self) -> str:
        launch, glob = self.kernel.launch, self.kernel.globals
        registers = ""
        resources = self.resources
        if resources and resources[0].registers is not None:
            registers = f", registers={resources[0].registers}, spills={resources[0].spills}"
        return (
            f"CompiledKernel(name={self.name!r}, target={self.target!r}, "
            f"block={launch.block_m}x{launch.block_n}, k_step={launch.k_step}, warps={launch.num_warps}, "
            f"b_layout={glob.b_layout!r}, c_dtype={glob.c_dtype!r}, edge={self.kernel.edge!r}{registers}, "
            f"cache={str(self.cache_path)!r})"
        )

    # ----------------------------------------------------------------------------------------
    # The call
    # ----------------------------------------------------------------------------------------

    def __call__(
        self,
        a: torch.Tensor,
        b: torch.Tensor,
        c: Optional[torch.Tensor] = None,
        *,
        alpha: float = 1.0,
        beta: float = 0.0,
    ) -> torch.Tensor:
        alpha, beta = scalar_argument(self.name, "alpha", alpha), scalar_argument(self.name, "beta", beta)
        m, n, k = self._check_arguments(a, b, c, beta)
        launch = self.kernel.launch
        padded = (_round_up(m, launch.block_m), _round_up(n, launch.block_n), _round_up(k, launch.k_step))
        if padded != (m, n, k):
            if self.kernel.edge != "pad":
                # check_problem accepted sizes the launch would not cover: never launch past C.
                raise ValueError(
                    f"{self.name}: M={m}, N={n}, K={k} are not multiples of the block tile "
                    f"{launch.block_m} x {launch.block_n} x {launch.k_step} and the kernel does not pad "
                    "(edge='refuse'); pad the operands, or build it with edge='pad'"
                )
            return self._call_padded(a, b, c, (m, n, k), padded, alpha, beta)
        if c is None:
            c = torch.empty((m, n), dtype=self.c_dtype, device=a.device)
        self._launch(a, b, c, alpha, beta)
        return c

    @property
    def c_dtype(self) -> torch.dtype:
        return TORCH_DTYPES[self.kernel.globals.c_dtype]

    def _call_padded(
        self,
        a: torch.Tensor,
        b: torch.Tensor,
        c: Optional[torch.Tensor],
        size: tuple[int, int, int],
        padded: tuple[int, int, int],
        alpha: float,
        beta: float,
    ) -> torch.Tensor:
        """Zero-pad to whole block tiles, run, and copy the M x N corner back. Zero rows and
        columns of K add nothing to the products, and padded C rows are never read back."""
        (m, n, _), (mp, np_, kp) = size, padded
        b_rows, b_cols = b_shape(self.kernel.globals.b_layout, kp, np_)
        a_run = _zero_padded(a, mp, kp)
        b_run = _zero_padded(b, b_rows, b_cols)
        if beta != 0.0:
            assert c is not None  # _check_arguments refuses beta != 0 without C
            c_run = _zero_padded(c, mp, np_)
        else:
            c_run = torch.empty((mp, np_), dtype=self.c_dtype, device=a.device)
        self._launch(a_run, b_run, c_run, alpha, beta)
        result = c_run[:m, :n]
        if c is None:
            return result.contiguous()
        c.copy_(result)
        return c

    def _launch(self, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor, alpha: float, beta: float) -> None:
        try:
            if self._device_type == "cuda":
                with torch.cuda.device(a.device):
                    stream = torch.cuda.current_stream().cuda_stream
                    self._module.dispatch(a, b, c, alpha, beta, stream)
            else:
                self._module.dispatch(a, b, c, alpha, beta, 0)
        except Exception as error:
            raise LaunchError(
                f"kernel {self.name} ({self.target}) failed to launch on {a.device} "
                f"(M={a.shape[0]}, N={c.shape[1]}, K={a.shape[1]}): {error}"
            ) from error

    # ----------------------------------------------------------------------------------------
    # Argument checks
    # ----------------------------------------------------------------------------------------

    def _check_arguments(
        self, a: torch.Tensor, b: torch.Tensor, c: Optional[torch.Tensor], beta: float
    ) -> tuple[int, int, int]:
        glob = self.kernel.globals
        operands = [("A", a, TORCH_DTYPES[glob.a_dtype]), ("B", b, TORCH_DTYPES[glob.b_dtype])]
        if c is not None:
            operands.append(("C", c, self.c_dtype))
        elif beta != 0.0:
            raise ValueError(
                f"{self.name}: beta={beta} scales the old C, but no C was passed; pass c= (an M x N "
                f"{self.c_dtype} tensor) or leave beta=0"
            )
        for role, tensor, dtype in operands:
            self._check_matrix(role, tensor, dtype)
        self._check_same_device(operands)

        m, k = a.shape
        k_of_b, n = b_k_n(glob.b_layout, *b.shape)
        b_expected = b_text(glob.b_layout).replace(" (", f" with K = {k} (", 1)
        if k_of_b != k:
            other = "nk" if glob.b_layout == "kn" else "kn"
            raise ValueError(
                f"{self.name}: B must be {b_expected}, got {_shape(b)} for A {_shape(a)}; if B is stored the "
                f"other way round, build the kernel with b_layout='{other}' or pass b.t().contiguous()"
            )
        if c is not None and tuple(c.shape) != (m, n):
            raise ValueError(
                f"{self.name}: C must be M x N = {m} x {n} (from A {_shape(a)} and B {_shape(b)}), got {_shape(c)}"
            )
        if min(m, n, k) < 1:
            raise ValueError(f"{self.name}: empty problem M={m}, N={n}, K={k}; every size must be at least 1")

        for role, tensor, _ in operands:
            _check_layout(self.name, role, tensor)
        if c is not None:
            for role, tensor in (("A", a), ("B", b)):
                if _overlaps(c, tensor):
                    raise ValueError(
                        f"{self.name}: C shares memory with {role}; the kernel writes C while other blocks still "
                        f"read {role}, so pass a separate output tensor"
                    )
        try:
            self._check_problem(self.kernel, m, n, k)
        except ValueError as error:
            text = str(error)  # check_problem's message already names the kernel and the sizes
            said = f"`{self.kernel.name}` cannot run" in text
            raise ValueError(text if said else f"{self.name} cannot run M={m}, N={n}, K={k}: {text}") from error
        check_launch_size(self.kernel, self.target, m, n)  # grid limits (issue 9), before any launch
        return m, n, k

    def _check_matrix(self, role: str, tensor: Any, dtype: torch.dtype) -> None:
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"{self.name}: {role} must be a torch.Tensor, got {type(tensor).__name__}")
        if tensor.dtype != dtype:
            raise TypeError(
                f"{self.name}: {role} must be {dtype}, got {tensor.dtype}; convert it with {role.lower()}.to({dtype})"
            )
        if tensor.dim() != 2:
            raise ValueError(f"{self.name}: {role} must be a 2-D matrix, got {tensor.dim()}-D shape {_shape(tensor)}")
        if tensor.device.type != self._device_type:
            raise ValueError(
                f"{self.name}: {role} is on {tensor.device}, but the kernel runs on the GPU ({self.target}); "
                f"move it with {role.lower()}.cuda()"
            )

    def _check_same_device(self, operands: list[tuple[str, torch.Tensor, torch.dtype]]) -> None:
        devices = {tensor.device for _, tensor, _ in operands}
        if len(devices) > 1:
            where = ", ".join(f"{role} on {tensor.device}" for role, tensor, _ in operands)
            raise ValueError(f"{self.name}: A, B and C must be on one GPU, got {where}")
        device = operands[0][1].device
        if self._device_type != "cuda":
            return
        index = device.index if device.index is not None else torch.cuda.current_device()
        if index not in self._device_targets:
            from tilegen.device import device_target

            self._device_targets[index] = device_target(index)
        found = self._device_targets[index]
        if found != self.target:
            raise ValueError(
                f"{self.name} was built for {self.target}, but {device} is a {found} GPU; "
                f"compile it for that GPU: tilegen.compile(kernel, target={found!r})"
            )


# --------------------------------------------------------------------------------------------
# Helpers (also used by the GPU tests and the benchmarks)
# --------------------------------------------------------------------------------------------


def _shape(tensor: torch.Tensor) -> str:
    return " x ".join(str(s) for s in tensor.shape)


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def _check_layout(name: str, role: str, tensor: torch.Tensor) -> None:
    # A contiguous tensor can differ from strides (cols, 1) only in a size-1 dimension; sizes
    # that small are never whole block tiles, so such a tensor reaches the kernel only as a
    # freshly padded copy.
    rows, cols = tensor.shape
    if not tensor.is_contiguous():
        hint = ".contiguous()"
        if tensor.stride() == (1, rows):
            hint = ".contiguous() (it is a transposed, column-major view)"
        raise ValueError(
            f"{name}: {role} must be row-major with packed rows (stride ({cols}, 1)), got stride "
            f"{tensor.stride()} for shape {_shape(tensor)}; pass {role.lower()}{hint}"
        )
    if tensor.data_ptr() % _ALIGNMENT_BYTES:
        raise ValueError(
            f"{name}: {role} starts at an address that is not {_ALIGNMENT_BYTES}-byte aligned (a view at an "
            f"element offset); the kernel moves {_ALIGNMENT_BYTES} bytes at a time, so pass {role.lower()}.clone()"
        )


def _zero_padded(tensor: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
    if tuple(tensor.shape) == (rows, cols):
        return tensor
    out = tensor.new_zeros((rows, cols))
    out[: tensor.shape[0], : tensor.shape[1]] = tensor
    return out


def _overlaps(x: torch.Tensor, y: torch.Tensor) -> bool:
    if x.device != y.device:
        return False
    x_start, y_start = x.data_ptr(), y.data_ptr()
    x_end = x_start + x.numel() * x.element_size()
    y_end = y_start + y.numel() * y.element_size()
    return x_start < y_end and y_start < x_end


def reference_gemm(
    b_layout: str,
    a: torch.Tensor,
    b: torch.Tensor,
    c: Optional[torch.Tensor] = None,
    *,
    alpha: float = 1.0,
    beta: float = 0.0,
) -> torch.Tensor:
    """alpha * A @ B + beta * C in float64 from the same (bf16-rounded) inputs the kernel reads;
    ``b_layout`` says whether B is K x N ("kn") or N x K ("nk")."""
    b64 = b.double() if b_layout == "kn" else b.double().t()
    out = alpha * (a.double() @ b64)
    if beta != 0.0:
        if c is None:
            raise ValueError("beta != 0 needs the old C")
        out = out + beta * c.double()
    return out


def relative_error(out: torch.Tensor, ref: torch.Tensor) -> float:
    """||out - ref|| / ||ref|| (Frobenius); inf if ``out`` has a NaN or inf anywhere."""
    out64 = out.double()
    if not bool(torch.isfinite(out64).all()):
        return float("inf")
    denominator = float(torch.linalg.vector_norm(ref))
    numerator = float(torch.linalg.vector_norm(out64 - ref))
    return numerator / denominator if denominator else numerator


def scalar_argument(kernel: str, name: str, value: object) -> float:
    """``alpha`` / ``beta`` as a float, or a TypeError that names the argument and what it got."""
    import numbers

    if isinstance(value, bool) or not isinstance(value, (numbers.Real, torch.Tensor)):
        raise TypeError(f"{kernel}: {name} must be a real number (e.g. {name}=1.0), got {value!r}")
    if isinstance(value, torch.Tensor) and value.numel() != 1:
        shape = tuple(value.shape)
        raise TypeError(f"{kernel}: {name} must be a real number or a one-element tensor, got shape {shape}")
    return float(value)
