"""Test a schedule the way tilegen tests its own: property-based, against a float64 reference.

Property-test a schedule in three lines::

    @given(shape=gemm_shapes(kernel()))
    def test_indexing(shape):
        check_indexing(kernel(), *shape)

* ``gemm_shapes`` / ``schedule_params`` / ``schedule_cases``: Hypothesis strategies for problem
  sizes a kernel accepts and for valid parameters of the example families in ``examples/``.
* ``check_indexing``: simulate on random bf16 inputs and assert that every element of C is
  written exactly once, nothing is read or written out of bounds, and C matches
  ``a.double() @ b.double()`` within a proven bf16-input / f32-accumulation error bound.
* ``run_example``: what ``python examples/<x>.py`` does: validate, simulate, print, exit non-zero
  on failure.
* ``MUTATIONS``: plant one bug of each class the user has lost days to into a valid schedule;
  ``detect`` says which check catches it.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Optional, Union

import torch
from hypothesis import strategies as st

from backends.simulator import as_f32, simulate, single_threaded
from ir import models as m
from ir.diagnostics import ScheduleError, SimulationError
from ir.expr import WARP, Const, Var
from ir.resources import shared_footprint
from ir.semantics import b_shape
from ir.validate import check_problem, validate
from ir.validate.sizes import capped_kernel, checked_sizes, covering_problem
from tilegen import examples as _registry

__all__ = [
    "EXAMPLE_FAMILIES",
    "MUTATIONS",
    "IndexingReport",
    "Mutation",
    "MutationError",
    "accepted_mutant_simulates",
    "check_indexing",
    "covered_sizes",
    "detect",
    "error_bound",
    "example_names",
    "gemm_shapes",
    "load_example",
    "mutants",
    "run_example",
    "schedule_cases",
    "schedule_params",
]

#: Where the shipped examples are (a checkout's examples/ or the installed wheel's; tilegen.examples).
EXAMPLES_DIR = _registry.examples_dir() or Path(__file__).resolve().parent.parent / "examples"

#: Unit roundoff of float32 and of bfloat16 (8 significant bits), and their subnormal spacings.
F32_UNIT = 2.0**-24
BF16_UNIT = 2.0**-8
F32_SUBNORMAL = 2.0**-149
BF16_SUBNORMAL = 2.0**-133


# ------------------------------------------------------------------------------------------------
# Problem sizes
# ------------------------------------------------------------------------------------------------


def problem_fits(kernel: m.Kernel, m_: int, n_: int, k_: int) -> bool:
    """Whether ``kernel`` accepts an M x N x K problem (sizes, and the validator's conditions)."""
    try:
        check_problem(kernel, m_, n_, k_)
    except ValueError:
        return False
    return True


def covered_sizes(kernel: m.Kernel) -> str:
    """What the default sizes of ``gemm_shapes`` / ``check_indexing`` / ``tilegen check`` cover,
    in words (the validator's own choice, ``ir.validate.sizes.checked_sizes``)."""
    return checked_sizes(kernel).describe()


def gemm_shapes(
    kernel: m.Kernel,
    *,
    max_tiles: Optional[int] = None,
    max_k_tiles: Optional[int] = None,
    min_k_tiles: int = 1,
) -> st.SearchStrategy[tuple[int, int, int]]:
    """(M, N, K) the kernel accepts. By default the sizes the validator checks
    (``covered_sizes``): grids that exercise every residue of the block indices and persistent
    wrap-around, every K tile count past the pipeline depth; any sizes up to those bounds for a
    kernel that pads its edges. ``max_tiles`` / ``max_k_tiles`` bound the draw instead (up to
    ``max_tiles`` block tiles along M and N, ``min_k_tiles`` to ``max_k_tiles`` K steps)."""
    launch = kernel.launch
    if max_tiles is None and max_k_tiles is None and kernel.edge != "pad":
        problems = [(p.m, p.n, p.k) for p in checked_sizes(kernel).problems if p.k >= min_k_tiles * launch.k_step]
        return st.sampled_from(problems).filter(lambda shape: problem_fits(kernel, *shape))
    if max_tiles is None and max_k_tiles is None:  # a padding kernel: up to the checked sizes
        sizes_ = checked_sizes(kernel)
        max_tiles = max(max(grid) for grid in sizes_.grids)
        max_k_tiles = max(sizes_.k_tiles[-1], min_k_tiles)
    # One bound given: the other keeps its old default (2 block tiles, 3 K steps).
    max_tiles = 2 if max_tiles is None else max_tiles
    max_k_tiles = max(3, min_k_tiles) if max_k_tiles is None else max_k_tiles
    # (unit, fewest units, most units) along M, N and K.
    axes = [(launch.block_m, 1, max_tiles), (launch.block_n, 1, max_tiles), (launch.k_step, min_k_tiles, max_k_tiles)]
    if kernel.edge == "pad":  # any size that needs at least the fewest units once padded
        sizes = [st.integers((low - 1) * unit + 1, high * unit) for unit, low, high in axes]
    else:
        sizes = [st.integers(low, high).map(lambda n, unit=unit: n * unit) for unit, low, high in axes]
    return st.tuples(*sizes).filter(lambda shape: problem_fits(kernel, *shape))


# ------------------------------------------------------------------------------------------------
# Example families
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Family:
    """Valid parameters of one example's ``kernel(**params)``: a choice per parameter and a
    condition tying them together (read off each example's code: tile sides that divide, warp
    tiles that are multiples of 16)."""

    choices: dict[str, tuple[Any, ...]]
    valid: Callable[[dict[str, Any]], bool] = field(default=lambda params: True)


_C_DTYPES = ("f32", "bf16")
_SQUARE_4WAVE = Family({"block": (64, 128), "k_step": (16, 32, 64), "c_dtype": _C_DTYPES})

#: Parameter spaces of the examples in ``examples/``, by module name.
EXAMPLE_FAMILIES: dict[str, Family] = {
    "k01_baseline_4wave": _SQUARE_4WAVE,
    "k02_producer_consumer": _SQUARE_4WAVE,
    "k03_register_prefetch": _SQUARE_4WAVE,
    "k05_subtile_16x16": Family(
        {"block": (32, 64, 128), "k_step": (16, 32, 64), "sub": (16, 32), "c_dtype": _C_DTYPES},
        valid=lambda p: p["block"] % (2 * p["sub"]) == 0 and p["k_step"] % p["sub"] == 0,
    ),
    "k06_async_staging": Family(
        {
            "block": (64, 128),
            "k_step": (64, 128, 256),
            "shared_slice": (32, 64),
            "dot_slice": (16, 32),
            "c_dtype": _C_DTYPES,
        },
        valid=lambda p: p["k_step"] % p["shared_slice"] == 0 and p["shared_slice"] % p["dot_slice"] == 0,
    ),
    "pingpong_8wave": Family({"block": (64, 128, 256), "k_step": (32, 64), "c_dtype": _C_DTYPES}),
    "h100_producer_consumer": Family(
        {
            "block": ((64, 128), (128, 128), (128, 256)),
            "k_step": (32, 64),
            "stages": (2, 3),
            "dot_slice": (16, 32),
            "super_m": (1, 2, 8),
            "blocks": (1, 3, 132),
            "c_dtype": _C_DTYPES,
        },
        valid=lambda p: p["k_step"] % p["dot_slice"] == 0,
    ),
    # Two or three stages, or one block walking every tile: the 4 K steps of a mutant's problem
    # refill each stage, so a broken release shows.
    "hopper_tma_wgmma": Family(
        {
            "block_n": (128, 256),
            "stages": (2, 3, 4),
            "super_m": (1, 8),
            "blocks": (1, 132),
            "c_dtype": _C_DTYPES,
            "b_layout": ("kn", "nk"),
        },
        valid=lambda p: p["stages"] < 4 or p["blocks"] == 1,
    ),
}


def example_names() -> list[str]:
    """Module names of the examples shipped with tilegen (those with a ``kernel()``)."""
    return _registry.example_names() or sorted(EXAMPLE_FAMILIES)


def load_example(example: Union[str, ModuleType]) -> ModuleType:
    """The example module ``<name>`` from the example registry (imported once), or ``example``
    itself; works from a checkout and from an installed wheel (tilegen.examples)."""
    if isinstance(example, ModuleType):
        return example
    return _registry.load_example(example)


def _family(module: ModuleType) -> Family:
    name = Path(module.__file__ or module.__name__).stem
    family = EXAMPLE_FAMILIES.get(name)
    if family is not None:
        return family
    # An example without a declared space: its defaults, in both C dtypes if it takes one.
    signature = inspect.signature(module.kernel)
    choices = {p.name: (p.default,) for p in signature.parameters.values() if p.default is not p.empty}
    if "c_dtype" in choices:
        choices["c_dtype"] = _C_DTYPES
    return Family(choices)


def example_target(example: Union[str, ModuleType]) -> str:
    """The target an example family is checked on: the first of its module's ``TARGETS`` (an
    example written for some targets only, e.g. sm_90a's TMA / wgmma), else gfx942."""
    targets = getattr(load_example(example), "TARGETS", None)
    return targets[0] if targets else "gfx942"


def example_runs_on(example: Union[str, ModuleType], target: str) -> bool:
    """Whether an example is written for ``target`` (no ``TARGETS`` in its module: every target)."""
    targets = getattr(load_example(example), "TARGETS", None)
    return targets is None or target in targets


def schedule_params(
    example: Union[str, ModuleType], *, target: Optional[str] = None
) -> st.SearchStrategy[dict[str, Any]]:
    """Valid ``kernel(**params)`` arguments of an example family whose tiles fit ``target``'s
    shared memory (default: ``example_target``)."""
    module = load_example(example)
    target = target or example_target(module)
    family = _family(module)

    def fits(params: dict[str, Any]) -> bool:
        footprint = shared_footprint(module.kernel(**params), target)
        return footprint.total_bytes <= footprint.limit_bytes

    return (
        st.fixed_dictionaries({name: st.sampled_from(values) for name, values in family.choices.items()})
        .filter(family.valid)
        .filter(fits)
    )


@st.composite
def schedule_cases(
    draw: st.DrawFn,
    example: Union[str, ModuleType],
    *,
    target: Optional[str] = None,
    max_tiles: Optional[int] = None,
    max_k_tiles: Optional[int] = None,
    min_k_tiles: int = 1,
) -> tuple[dict[str, Any], m.Kernel, tuple[int, int, int]]:
    """(params, kernel, (M, N, K)): a valid schedule of the family and a problem it accepts
    (``gemm_shapes``: by default one of the sizes the validator checks)."""
    module = load_example(example)
    params = draw(schedule_params(module, target=target))
    kernel = module.kernel(**params)
    shape = draw(gemm_shapes(kernel, max_tiles=max_tiles, max_k_tiles=max_k_tiles, min_k_tiles=min_k_tiles))
    return params, kernel, shape


# ------------------------------------------------------------------------------------------------
# Numerics
# ------------------------------------------------------------------------------------------------


def error_bound(
    a: torch.Tensor,
    b: torch.Tensor,
    c_old: Optional[torch.Tensor],
    *,
    alpha: float,
    beta: float,
    c_dtype: str,
    b_layout: str = "kn",
) -> tuple[torch.Tensor, torch.Tensor]:
    """(exact, bound): the float64 result of alpha * A @ B + beta * C on the values the GPU sees
    (A, B rounded to bf16; C to its dtype; alpha, beta to f32), and a per-element bound on the
    error of any kernel that accumulates in f32 and rounds C to ``c_dtype``.

    A K-term f32 dot product is within gamma_K * (|A| @ |B|) of exact, gamma_K = K u / (1 - K u),
    u = 2^-24, whatever the order of the additions; the epilogue adds three roundings, a bf16 C
    one more of 2^-8 relative; underflow adds at most one subnormal spacing per operation. The
    bound is doubled for margin: a wrong tile, subtile or K step moves an element by about
    |A| @ |B| itself, far beyond it.
    """
    alpha, beta = as_f32(alpha), as_f32(beta)
    a64 = a.to(torch.bfloat16).double()
    b64 = b.to(torch.bfloat16).double()
    if b_layout == "nk":
        b64 = b64.t()
    k = a64.shape[1]
    gamma = k * F32_UNIT / (1 - k * F32_UNIT)
    magnitude = a64.abs() @ b64.abs()
    exact = alpha * (a64 @ b64)
    bound = abs(alpha) * ((gamma + 6 * F32_UNIT) * magnitude + k * F32_SUBNORMAL) + 3 * F32_SUBNORMAL
    if beta != 0.0 and c_old is not None:
        c64 = (c_old.to(torch.bfloat16) if c_dtype == "bf16" else c_old.float()).double()
        exact = exact + beta * c64
        bound = bound + 3 * F32_UNIT * abs(beta) * c64.abs()
    if c_dtype == "bf16":
        bound = bound + BF16_UNIT * (exact.abs() + bound) + BF16_SUBNORMAL
    return exact, 2 * bound


@dataclass(frozen=True)
class IndexingReport:
    """What ``check_indexing`` measured, over every variant it ran."""

    kernel: str
    shape: tuple[int, int, int]
    max_abs_error: float
    #: Largest error relative to its element's bound (at most 1 when the check passes).
    worst_bound_ratio: float
    variants: tuple[str, ...]
    #: How the launch was simulated, when it differs from the kernel's (a capped persistent grid).
    notes: str = ""

    def __str__(self) -> str:
        m_, n_, k_ = self.shape
        notes = f"; {self.notes}" if self.notes else ""
        return (
            f"{self.kernel}: {m_} x {n_} x {k_}, C written exactly once, max abs error {self.max_abs_error:.3g} "
            f"({self.worst_bound_ratio:.2f} of the bf16/f32 error bound) over {', '.join(self.variants)}{notes}"
        )


@single_threaded()
def check_indexing(
    kernel: m.Kernel,
    M: Optional[int] = None,
    N: Optional[int] = None,
    K: Optional[int] = None,
    *,
    seed: int = 0,
    alpha: Optional[float] = None,
    beta: Optional[float] = None,
    a: Optional[torch.Tensor] = None,
    b: Optional[torch.Tensor] = None,
    c: Optional[torch.Tensor] = None,
    target: str = "gfx942",
) -> IndexingReport:
    """Simulate ``kernel`` on an M x N x K problem and assert that it computes the GEMM: every
    element of C written exactly once, no access out of bounds (the simulator's hazard checks
    all pass) and C within ``error_bound`` of the float64 reference. Raises AssertionError with
    the simulator's diagnostics or the worst elements.

    By default two variants run on fresh random inputs (``seed``): alpha = 1, beta = 0 with C
    poisoned by NaN (a kernel must not read C when beta is 0), and alpha = -1.5, beta = 0.5 with
    a random C. Passing ``alpha``/``beta`` runs that one variant; ``a``/``b``/``c`` replace the
    random inputs.

    Without sizes it runs ``covering_problem(kernel)``: the largest grid the validator checks
    with the most K tiles (block-index residues, persistent wrap-around, K past the pipeline).
    A persistent launch is simulated with its blocks capped as the validator traces it
    (``ir.validate.sizes.capped_kernel``: the body sees tiles, never the block count), so blocks
    walk several tiles even on small problems; the report says so.
    """
    if M is None or N is None or K is None:
        if (M, N, K) != (None, None, None):
            raise ValueError("check_indexing: pass all of M, N, K, or none for the covering default")
        default = covering_problem(kernel)
        M, N, K = default.m, default.n, default.k
        covered = f"the covering problem of the validator's {checked_sizes(kernel).describe()}"
    else:
        covered = ""
    capped = capped_kernel(kernel)
    capping = (
        f"persistent launch capped to {capped.launch.persistent_blocks} blocks (each walks several tiles)"
        if capped is not kernel
        else ""
    )
    notes = "; ".join(part for part in (capping, covered) if part)
    kernel_run = capped
    gen = torch.Generator().manual_seed(seed)
    a = a if a is not None else torch.randn((M, K), generator=gen).to(torch.bfloat16)
    b = b if b is not None else torch.randn(b_shape(kernel.globals.b_layout, K, N), generator=gen).to(torch.bfloat16)
    random_c = c if c is not None else torch.randn((M, N), generator=gen)
    if alpha is None and beta is None:
        variants = [(1.0, 0.0, torch.full((M, N), float("nan"))), (-1.5, 0.5, random_c)]
    else:
        variants = [(1.0 if alpha is None else alpha, 0.0 if beta is None else beta, random_c)]
    where = f"kernel `{kernel.name}` at M x N x K = {M} x {N} x {K}"
    worst_error, worst_ratio, names = 0.0, 0.0, []
    for alpha_, beta_, c_in in variants:
        name = f"alpha={alpha_:g}, beta={beta_:g}" + (" (C poisoned with NaN)" if bool(c_in.isnan().any()) else "")
        names.append(name)
        try:
            got = simulate(kernel_run, a, b, c_in, alpha=alpha_, beta=beta_, target=target)
        except SimulationError as error:
            raise AssertionError(f"{where}, {name}: {error}") from error
        exact, bound = error_bound(
            a, b, c_in, alpha=alpha_, beta=beta_, c_dtype=kernel.globals.c_dtype, b_layout=kernel.globals.b_layout
        )
        error = (got.double() - exact).abs()
        bad = ~(error <= bound)  # NaN counts as bad
        if bool(bad.any()):
            raise AssertionError(f"{where}, {name}: {_numerics_message(kernel, got, exact, bound, bad)}")
        worst_error = max(worst_error, float(error.max()))
        worst_ratio = max(worst_ratio, float((error / bound.clamp_min(1e-300)).max()))
    return IndexingReport(kernel.name, (M, N, K), worst_error, worst_ratio, tuple(names), notes)


def _numerics_message(
    kernel: m.Kernel, got: torch.Tensor, exact: torch.Tensor, bound: torch.Tensor, bad: torch.Tensor
) -> str:
    launch = kernel.launch
    excess = torch.where(bad, (got.double() - exact).abs().nan_to_num(float("inf")) - bound, -1.0)
    row, col = divmod(int(excess.argmax()), got.shape[1])
    rows, cols = -(-got.shape[0] // launch.block_m), -(-got.shape[1] // launch.block_n)
    tiles = sorted({(r // launch.block_m, c // launch.block_n) for r, c in bad.nonzero().tolist()})
    nan_note = (
        " C holds NaN: the kernel read C although beta = 0, or stored values read from uninitialised memory."
        if bool(got.isnan().any())
        else ""
    )
    shown = ", ".join(str(t) for t in tiles[:6]) + (" ..." if len(tiles) > 6 else "")
    return (
        f"C differs from the float64 reference beyond the bf16/f32 error bound at {int(bad.sum())} of {bad.numel()} "
        f"elements, in {len(tiles)} of the {rows * cols} output tiles ({shown}). Worst at row {row}, col {col} "
        f"(tile ({row // launch.block_m}, {col // launch.block_n})): got {float(got[row, col]):.6g}, expected "
        f"{float(exact[row, col]):.6g} (bound {float(bound[row, col]):.3g}).{nan_note} A wrong tile, subtile or "
        "K step reads the wrong data: check load coordinates (tiles of the moved tile) and subtile offsets "
        "(subtiles of the register tile)."
    )


# ------------------------------------------------------------------------------------------------
# Running an example
# ------------------------------------------------------------------------------------------------


def run_example(kernel: m.Kernel, *, target: str = "gfx942") -> IndexingReport:
    """What ``python examples/<x>.py`` does: validate for ``target`` and print the report (resources,
    warnings) and the sizes it covered, then simulate the covering problem (``covering_problem``)
    and print the error and "ok". Exits with status 1, after printing the diagnostics, on any failure."""
    try:
        print(validate(kernel, target=target).summary())
    except ScheduleError as error:
        print(error, file=sys.stderr)
        raise SystemExit(1) from None
    shape = covering_problem(kernel)
    print(f"validated at {covered_sizes(kernel)}")
    try:
        report = check_indexing(kernel, shape.m, shape.n, shape.k, target=target)
    except (AssertionError, ValueError) as error:
        print(error, file=sys.stderr)
        raise SystemExit(1) from None
    print(f"simulated {report}")
    print("ok")
    return report


# ------------------------------------------------------------------------------------------------
# Mutations: one planted bug per class
# ------------------------------------------------------------------------------------------------


class MutationError(ValueError):
    """The kernel has no place to plant this bug (e.g. no multi-buffered tile to un-rotate)."""


@dataclass(frozen=True)
class Mutation:
    """A bug class: which ops are places for it (``site``) and how one is broken (``apply``)."""

    name: str
    description: str
    site: Callable[[m.Kernel, m.Stmt], bool]
    apply: Callable[[m.Kernel, m.Stmt], list[m.Stmt]]

    def sites(self, kernel: m.Kernel) -> int:
        """How many places in ``kernel`` this bug can be planted at."""
        return sum(1 for op in m.walk(kernel.body) if self.site(kernel, op))

    def __call__(self, kernel: m.Kernel, which: int = 0) -> m.Kernel:
        """``kernel`` with the bug planted at its ``which``-th site (source order)."""
        count = self.sites(kernel)
        if not 0 <= which < count:
            raise MutationError(
                f"`{self.name}` ({self.description}) has {count} site(s) in kernel `{kernel.name}`; "
                f"site {which} does not exist"
            )
        seen = [0]

        def rewrite(body: list[m.Stmt]) -> list[m.Stmt]:
            out: list[m.Stmt] = []
            for op in body:
                if self.site(kernel, op):
                    seen[0] += 1
                    if seen[0] - 1 == which:
                        out.extend(self.apply(kernel, op))
                        continue
                if isinstance(op, m.If):
                    op = op.model_copy(update={"then": rewrite(op.then), "orelse": rewrite(op.orelse)})
                elif isinstance(op, (m.For, m.RoleBranch, m.ForTiles, m.Cluster, m.OneThread)):
                    op = op.model_copy(update={"body": rewrite(op.body)})
                out.append(op)
            return out

        return kernel.model_copy(update={"body": rewrite(kernel.body)})


def _is_(*kinds: type) -> Callable[[m.Kernel, m.Stmt], bool]:
    return lambda kernel, op: isinstance(op, kinds)


def _only_on(cond: m.Expr, op: m.Stmt) -> list[m.Stmt]:  # type: ignore[name-defined]
    return [m.If(cond=cond, then=[op], loc=op.loc)]


def _rotating_ref(op: m.Stmt) -> Optional[str]:
    """The field of ``op`` holding a shared reference whose buffer index varies, if any."""
    for name in ("dst", "src"):
        ref = getattr(op, name, None)
        if isinstance(ref, m.SharedRef) and ref.buffer is not None and not isinstance(ref.buffer, Const):
            return name
    return None


def _pin_buffer(op: m.Stmt) -> list[m.Stmt]:
    name = _rotating_ref(op)
    ref: m.SharedRef = getattr(op, name)  # type: ignore[arg-type]
    return [op.model_copy(update={name: ref.model_copy(update={"buffer": Const(value=0)})})]


def _store_in_elements(kernel: m.Kernel, op: m.Stmt) -> list[m.Stmt]:
    assert isinstance(op, m.Store)
    tile = kernel.register_tile(op.src.tile)
    return [op.model_copy(update={"row": op.row * tile.rows, "col": op.col * tile.cols})]


def _shift_subtile(op: m.Stmt) -> list[m.Stmt]:
    assert isinstance(op, m.LoadShared)
    return [op.model_copy(update={"row": op.row + 1})]


def _wait_one_higher(op: m.Stmt) -> list[m.Stmt]:
    assert isinstance(op, m.AsyncWait)
    return [op.model_copy(update={"pending": op.pending + 1})]


def _barrier_inside(op: m.Stmt) -> list[m.Stmt]:
    assert isinstance(op, m.Cluster)
    half = len(op.body) // 2
    return [op.model_copy(update={"body": [*op.body[:half], m.Barrier(loc=op.loc), *op.body[half:]]})]


def _ring_operand(kernel: m.Kernel, op: m.Stmt) -> Optional[str]:
    """The mma operand (``a`` first, else ``b``) read from a K-slice ring (``k.ring``) at a fixed
    slot."""
    if not isinstance(op, m.Mma):
        return None
    for name in ("a", "b"):
        ref: m.RegRef = getattr(op, name)
        tile = kernel.register_tile(ref.tile)
        if isinstance(ref.index, Const) and tile.ring and tile.count > 1:
            return name
    return None


def _rotate_ring(kernel: m.Kernel, op: m.Stmt) -> list[m.Stmt]:
    name = _ring_operand(kernel, op)
    assert name is not None
    ref: m.RegRef = getattr(op, name)
    count = kernel.register_tile(ref.tile).count
    slot = Const(value=(ref.index.value + 1) % count)  # type: ignore[union-attr]
    return [op.model_copy(update={name: ref.model_copy(update={"index": slot})})]


_WARP = Var(name=WARP)

#: One planted bug per class the user has lost days to, by name.
MUTATIONS: dict[str, Mutation] = {
    mutation.name: mutation
    for mutation in (
        Mutation(
            "barrier_in_branch",
            "a barrier moved inside `if warp == 0`",
            _is_(m.Barrier),
            lambda kernel, op: _only_on(_WARP.eq(0), op),
        ),
        Mutation(
            "group_load_by_one_warp",
            "a group load run by one warp of its group only",
            _is_(m.GroupLoad),
            lambda kernel, op: _only_on((_WARP % op.group_size).eq(0), op),  # type: ignore[attr-defined]
        ),
        Mutation(
            "subtile_shifted",
            "a shared -> register load one subtile further down",
            _is_(m.LoadShared),
            lambda kernel, op: _shift_subtile(op),
        ),
        Mutation(
            "buffer_rotation_removed",
            "a pipeline buffer index replaced by buffer 0",
            lambda kernel, op: _rotating_ref(op) is not None,
            lambda kernel, op: _pin_buffer(op),
        ),
        Mutation("zero_dropped", "an accumulator's zero() removed", _is_(m.Zero), lambda kernel, op: []),
        Mutation("store_dropped", "one store of C removed", _is_(m.Store, m.GroupStore), lambda kernel, op: []),
        Mutation("barrier_removed", "one barrier removed", _is_(m.Barrier), lambda kernel, op: []),
        Mutation(
            "cluster_spans_barrier",
            "a barrier inside a scheduling cluster",
            _is_(m.Cluster),
            lambda kernel, op: _barrier_inside(op),
        ),
        Mutation(
            "ring_rotated",
            "an mma reading the next slot of a register ring (the K slice one off)",
            lambda kernel, op: _ring_operand(kernel, op) is not None,
            _rotate_ring,
        ),
        Mutation(
            "store_in_elements",
            "store coordinates in elements instead of tiles",
            _is_(m.Store),
            _store_in_elements,
        ),
    )
}


# -- Hopper (sm_90a) mutations: mbarrier / TMA / wgmma protocol bugs (issue 11) --------------------


def _flip_parity(op: m.Stmt) -> list[m.Stmt]:
    assert isinstance(op, m.WaitBarrier)
    return [op.model_copy(update={"parity": (op.parity + 1) % 2})]


def _expect_more(op: m.Stmt) -> list[m.Stmt]:
    assert isinstance(op, m.Arrive)
    return [op.model_copy(update={"expect_bytes": op.expect_bytes + 512})]


def _split_warpgroup(op: m.Stmt) -> list[m.Stmt]:
    return [m.If(cond=(_WARP % 4).ne(3), then=[op], loc=op.loc)]


HOPPER_MUTATIONS: dict[str, Mutation] = {
    mutation.name: mutation
    for mutation in (
        Mutation(
            "mbarrier_parity_flipped",
            "an mbarrier wait on the other phase parity",
            _is_(m.WaitBarrier),
            lambda kernel, op: _flip_parity(op),
        ),
        Mutation(
            "mbarrier_wait_dropped",
            "an mbarrier wait left out (a consumer reading a stage before its full barrier, or a producer "
            "refilling one before its empty barrier)",
            _is_(m.WaitBarrier),
            lambda kernel, op: [],
        ),
        Mutation(
            "mbarrier_arrive_dropped",
            "an mbarrier arrival left out (the arrival count is never reached)",
            _is_(m.Arrive),
            lambda kernel, op: [],
        ),
        Mutation(
            "expect_bytes_off",
            "an arrival announcing more transaction bytes than its TMA loads bring",
            lambda kernel, op: isinstance(op, m.Arrive) and op.expect_bytes > 0,
            lambda kernel, op: _expect_more(op),
        ),
        Mutation(
            "wgmma_wait_dropped",
            "a wgmma wait left out (the stage is released while the wgmma still reads it)",
            _is_(m.WgmmaWait),
            lambda kernel, op: [],
        ),
        Mutation(
            "proxy_fence_dropped",
            "the proxy fence after ordinary shared writes that wgmma / TMA read left out",
            _is_(m.ProxyFence),
            lambda kernel, op: [],
        ),
        Mutation(
            "wgmma_by_part_of_a_warpgroup",
            "a wgmma run by 3 of its warpgroup's 4 waves",
            _is_(m.Wgmma),
            lambda kernel, op: _split_warpgroup(op),
        ),
    )
}
MUTATIONS.update(HOPPER_MUTATIONS)


#: Bugs only where the planted site is tight: a wait that leaves one more load in flight is wrong
#: where the wait was exact (the examples' graded waits), harmless where it had slack (a wait(1)
#: where wait(2) would do). Tests plant them at the sites they know are tight.
TIGHT_SITE_MUTATIONS: dict[str, Mutation] = {
    "wait_count_too_high": Mutation(
        "wait_count_too_high",
        "an async wait that leaves one more load in flight than the schedule allows",
        _is_(m.AsyncWait),
        lambda kernel, op: _wait_one_higher(op),
    ),
}


def detect(
    kernel: m.Kernel, M: int, N: int, K: int, *, target: str = "gfx942", validator: bool = True
) -> Optional[str]:
    """Which check rejects ``kernel`` on M x N x K: ``"validator: <rules>"``, ``"simulator:
    <rules>"``, ``"numerics"``, or None if it passes them all. ``validator=False`` asks the
    simulator alone (the run-time checks, on this one problem)."""
    if validator:
        try:
            validate(kernel, target=target)
        except ScheduleError as error:
            return f"validator: {', '.join(sorted(error.rules))}"
    try:
        check_indexing(kernel, M, N, K, target=target)
    except AssertionError as error:
        cause = error.__cause__
        if isinstance(cause, SimulationError):
            return f"simulator: {', '.join(sorted(cause.rules))}"
        return "numerics"
    return None


# ------------------------------------------------------------------------------------------------
# Random mutants: keep the validator sound (issue 9)
# ------------------------------------------------------------------------------------------------

def _is_control(op: m.Stmt) -> bool:
    return bool(m.children(op))
_COORDINATED = (m.GroupLoad, m.StageLoad, m.LoadShared, m.StoreShared, m.Store, m.GroupStore)


def _replace_at(kernel: m.Kernel, index: int, make: Callable[[m.Stmt], list[m.Stmt]]) -> m.Kernel:
    """``kernel`` with the ``index``-th op of ``m.walk`` order replaced by ``make(op)``."""
    seen = [0]

    def rewrite(body: list[m.Stmt]) -> list[m.Stmt]:
        out: list[m.Stmt] = []
        for op in body:
            position = seen[0]
            seen[0] += 1
            if position == index:
                out.extend(make(op))
                seen[0] += sum(1 for _ in m.walk([op])) - 1  # skip its children's positions
                continue
            if isinstance(op, m.If):
                op = op.model_copy(update={"then": rewrite(op.then), "orelse": rewrite(op.orelse)})
            elif m.children(op):
                op = op.model_copy(update={"body": rewrite(op.body)})  # type: ignore[union-attr]
            out.append(op)
        return out

    return kernel.model_copy(update={"body": rewrite(kernel.body)})


def _sites(kernel: m.Kernel, want: Callable[[m.Stmt], bool]) -> list[int]:
    return [i for i, op in enumerate(m.walk(kernel.body)) if want(op)]


def _shared_refs(op: m.Stmt) -> list[str]:
    return [name for name in ("dst", "src") if isinstance(getattr(op, name, None), m.SharedRef)]


def _reg_refs(op: m.Stmt) -> list[str]:
    return [name for name in ("dst", "src", "a", "b", "c", "d") if isinstance(getattr(op, name, None), m.RegRef)]


@st.composite
def mutants(draw: st.DrawFn, kernel: m.Kernel) -> tuple[str, m.Kernel]:
    """(what was changed, the mutant): one random edit of ``kernel`` of the kinds a hurried user
    makes: an op removed or duplicated, an offset or a loop bound off by one, a barrier moved into
    a branch, a shared or register tile swapped for another of the same shape, a pipeline buffer
    index rotated, a role's warp range changed. Many mutants are still correct schedules; the
    property is that every mutant ``validate`` accepts computes the GEMM."""
    ops = list(m.walk(kernel.body))
    # Duplicates are drawn more often: most are still valid schedules, so the property's
    # "accepted => computes the GEMM" half runs often too.
    kinds = ["remove", "duplicate", "duplicate", "duplicate", "offset", "loop-bound", "barrier-branch",
             "swap-shared", "swap-register", "rotate-buffer", "role-range"]
    kind = draw(st.sampled_from(kinds))
    shared = {t.name: t for t in kernel.shared}
    regs = {t.name: t for t in kernel.registers}

    def pick(want: Callable[[m.Stmt], bool]) -> Optional[int]:
        sites = _sites(kernel, want)
        return draw(st.sampled_from(sites)) if sites else None

    if kind == "role-range" and kernel.roles:
        i = draw(st.integers(0, len(kernel.roles) - 1))
        role = kernel.roles[i]
        d_first, d_count = draw(st.sampled_from([(-1, 0), (1, 0), (0, -1), (0, 1), (-1, 1), (1, -1)]))
        first, count = max(0, role.first + d_first), max(1, role.count + d_count)
        if (first, count) != (role.first, role.count):
            roles = list(kernel.roles)
            roles[i] = role.model_copy(update={"first": first, "count": count})
            return f"role `{role.name}` warps {first}-{first + count - 1}", kernel.model_copy(update={"roles": roles})
    if kind == "remove":
        index = pick(lambda op: not _is_control(op))
        if index is not None:
            return f"removed `{ops[index].kind}` ({ops[index].loc})", _replace_at(kernel, index, lambda op: [])
    if kind == "duplicate":
        index = pick(lambda op: not _is_control(op))
        if index is not None:
            return f"duplicated `{ops[index].kind}` ({ops[index].loc})", _replace_at(kernel, index, lambda op: [op, op])
    if kind == "offset":
        index = pick(lambda op: isinstance(op, _COORDINATED))
        if index is not None:
            field_ = draw(st.sampled_from(["row", "col"]))
            delta = draw(st.sampled_from([-1, 1]))
            return (
                f"{field_} {delta:+d} on `{ops[index].kind}` ({ops[index].loc})",
                _replace_at(kernel, index, lambda op: [op.model_copy(update={field_: getattr(op, field_) + delta})]),
            )
    if kind == "loop-bound":
        index = pick(lambda op: isinstance(op, m.For))
        if index is not None:
            field_ = draw(st.sampled_from(["start", "stop"]))
            delta = draw(st.sampled_from([-1, 1]))
            return (
                f"loop {field_} {delta:+d} ({ops[index].loc})",
                _replace_at(kernel, index, lambda op: [op.model_copy(update={field_: getattr(op, field_) + delta})]),
            )
    if kind == "barrier-branch":
        index = pick(lambda op: isinstance(op, m.Barrier))
        if index is not None:
            half = max(1, kernel.launch.num_warps // 2)
            cond = draw(st.sampled_from([Var(name=WARP).eq(0), Var(name=WARP) < half]))
            return (
                f"barrier into `if ({cond})` ({ops[index].loc})",
                _replace_at(kernel, index, lambda op: [m.If(cond=cond, then=[op], loc=op.loc)]),
            )
    if kind == "swap-shared":
        index = pick(lambda op: any(
            (t.rows, t.cols) == (shared[getattr(op, f).tile].rows, shared[getattr(op, f).tile].cols)
            and t.name != getattr(op, f).tile
            for f in _shared_refs(op) for t in kernel.shared if getattr(op, f).tile in shared
        ))
        if index is not None:
            op = ops[index]
            field_ = next(f for f in _shared_refs(op) if getattr(op, f).tile in shared)
            here = shared[getattr(op, field_).tile]
            other = draw(st.sampled_from([
                t for t in kernel.shared if (t.rows, t.cols) == (here.rows, here.cols) and t.name != here.name
            ] or [here]))
            ref = m.SharedRef(tile=other.name, buffer=getattr(op, field_).buffer if other.buffers > 1 else None)
            if other.buffers > 1 and ref.buffer is None:
                ref = ref.model_copy(update={"buffer": Const(value=0)})
            return (
                f"`{here.name}` -> `{other.name}` in `{op.kind}` ({op.loc})",
                _replace_at(kernel, index, lambda o: [o.model_copy(update={field_: ref})]),
            )
    if kind == "swap-register":
        def same(t: m.RegisterTile, u: m.RegisterTile) -> bool:
            return (t.rows, t.cols, t.dtype, t.layout) == (u.rows, u.cols, u.dtype, u.layout) and t.name != u.name

        index = pick(lambda op: any(
            same(t, regs[getattr(op, f).tile]) for f in _reg_refs(op) for t in kernel.registers
            if getattr(op, f).tile in regs
        ))
        if index is not None:
            op = ops[index]
            fields = [f for f in _reg_refs(op) if any(same(t, regs[getattr(op, f).tile]) for t in kernel.registers)]
            field_ = draw(st.sampled_from(fields))
            here = regs[getattr(op, field_).tile]
            other = draw(st.sampled_from([t for t in kernel.registers if same(t, here)]))
            old = getattr(op, field_)
            index_expr = old.index if other.count > 1 and old.index is not None else (
                Const(value=0) if other.count > 1 else None
            )
            ref = m.RegRef(tile=other.name, index=index_expr)
            return (
                f"`{here.name}` -> `{other.name}` as {field_} of `{op.kind}` ({op.loc})",
                _replace_at(kernel, index, lambda o: [o.model_copy(update={field_: ref})]),
            )
    if kind == "rotate-buffer":
        index = pick(lambda op: any(
            getattr(op, f).buffer is not None and shared.get(getattr(op, f).tile) is not None
            and shared[getattr(op, f).tile].buffers > 1 for f in _shared_refs(op)
        ))
        if index is not None:
            op = ops[index]
            field_ = next(f for f in _shared_refs(op) if getattr(op, f).buffer is not None)
            ref = getattr(op, field_)
            count = shared[ref.tile].buffers
            rotated = ref.model_copy(update={"buffer": (ref.buffer + 1) % count})
            return (
                f"buffer of `{ref.tile}` rotated by one in `{op.kind}` ({op.loc})",
                _replace_at(kernel, index, lambda o: [o.model_copy(update={field_: rotated})]),
            )
    # No site for the drawn kind: an op removed (every schedule has one).
    index = pick(lambda op: not _is_control(op))
    assert index is not None
    return f"removed `{ops[index].kind}` ({ops[index].loc})", _replace_at(kernel, index, lambda op: [])


def accepted_mutant_simulates(kernel: m.Kernel, *, target: str = "gfx942", seed: int = 0) -> Optional[str]:
    """None if ``validate`` rejects ``kernel``; else simulate it at ``covering_problem`` (every
    residue the validator checks, persistent wrap-around, K past the pipeline) and return
    "ok", raising AssertionError with the simulator's message when the numbers are wrong.
    A validator crash (anything but ``ScheduleError``) propagates: validate must not crash."""
    try:
        validate(kernel, target=target)
    except ScheduleError:
        return None
    shape = covering_problem(kernel)
    check_indexing(kernel, shape.m, shape.n, shape.k, alpha=-1.5, beta=0.5, seed=seed, target=target)
    return "ok"
