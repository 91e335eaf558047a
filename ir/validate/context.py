"""What every rule reads: the kernel, the target, and per-wave traces of representative problems.

Traces are taken lazily, once, for the problems ``ir.validate.sizes.checked_sizes`` chooses from
the index expressions: a 2 x 2 grid of output tiles with every K tile count from 1 past the
pipeline depth and the periods of the K indices, and a larger grid when block indices divide or a
persistent launch must wrap. A persistent launch is traced with at most 2 blocks so each block
runs several output tiles (the body cannot observe the block count, only the tiles it is given).

When the blocks can only differ in where they load and store (each block computes one tile and
``block_row`` / ``block_col`` appear in nothing but global coordinates), one block per problem is
traced (``samples``) and the other blocks' global loads and stores are derived from it
(``blocks``): validation stays well under a second for every example.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Optional, TypeVar

from ir import models as m
from ir.block_order import num_blocks, tiles_of_block
from ir.diagnostics import Diagnostic
from ir.expr import BLOCK_COL, BLOCK_ROW, NUM_K_TILES, WARP, Const, Expr, evaluate, free_vars
from ir.plan import Plan, plan, splits_waves
from ir.semantics import OpEffects, Semantics
from ir.targets import Target
from ir.trace import Event, Problem, iter_wave, split_phases
from ir.validate.describe import describe
from ir.validate.sizes import CheckedSizes, capped_kernel, checked_sizes

T = TypeVar("T")

#: A wave running more ops than this on a representative problem has a runaway loop bound.
MAX_TRACED_OPS_PER_WAVE = 100_000


class TraceFailure(Exception):
    """The schedule cannot be run on a representative problem; carries the diagnostic."""

    def __init__(self, diagnostic: Diagnostic):
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


@dataclass
class Sample:
    """One block of one representative problem: every wave's trace."""

    problem: Problem
    block: int
    tiles: tuple[tuple[int, int], ...]
    traces: dict[int, list[Event]]
    k_step: int
    _phases: Optional[dict[int, list[list[Event]]]] = field(default=None, repr=False)

    @property
    def k_tiles(self) -> int:
        return self.problem.k // self.k_step

    @property
    def phases(self) -> dict[int, list[list[Event]]]:
        if self._phases is None:
            self._phases = {w: split_phases(events) for w, events in self.traces.items()}
        return self._phases

    def label(self) -> str:
        p = self.problem
        k_tiles = "K tile" if self.k_tiles == 1 else "K tiles"
        return f"M={p.m}, N={p.n}, K={p.k} ({self.k_tiles} {k_tiles}), block {self.block}"

    def instance(self, event: Event) -> str:
        """Where an event ran, in words: the problem, the block, the output tile and loop values."""
        parts = [self.label()]
        if BLOCK_ROW in event.env:
            parts.append(f"output tile ({event.env[BLOCK_ROW]}, {event.env[BLOCK_COL]})")
        builtins = (WARP, NUM_K_TILES, BLOCK_ROW, BLOCK_COL)
        loops = [f"{name}={value}" for name, value in event.env.items() if name not in builtins]
        if loops:
            parts.append(", ".join(loops))
        return "; ".join(parts)


def _moved(event: Event, row: int, col: int) -> Event:
    """``event`` as the block computing output tile (row, col) runs it."""
    if BLOCK_ROW not in event.env:
        return event
    env = dict(event.env)
    env[BLOCK_ROW], env[BLOCK_COL] = row, col
    return Event(event.op, env, event.branches, event.tile_iter)


class ValidationContext:
    """The kernel, the target and lazily computed traces shared by every rule."""

    def __init__(self, kernel: m.Kernel, target: Target):
        self.kernel = kernel
        self.target = target
        self._memo: dict[str, Any] = {}
        self._values: dict[tuple[int, ...], int] = {}
        self._free: dict[int, tuple[str, ...]] = {}
        self.semantics = Semantics(kernel)
        #: What an op does (``ir.semantics``), memoised: ``ctx.effects(op) -> OpEffects``.
        self.effects: Callable[[m.Stmt], OpEffects] = self.semantics.of

    def value(self, event: Event, expr: Expr) -> int:
        """``expr`` with ``event``'s variables, memoised on the values of its free variables:
        the same index is evaluated for every wave, block and problem, mostly with repeats."""
        if isinstance(expr, Const):
            return expr.value
        names = self._free.get(id(expr))
        if names is None:
            names = self._free[id(expr)] = tuple(sorted(free_vars(expr)))
        env = event.env
        # id(expr) is stable: the kernel, which holds every expression, outlives the context.
        key = (id(expr), *(env[name] for name in names))
        result = self._values.get(key)
        if result is None:
            result = self._values[key] = evaluate(expr, env)  # type: ignore[arg-type]
        return result

    def memo(self, name: str, compute: Callable[[], T]) -> T:
        """``compute()`` once per context: for results several rules share (e.g. the hazard pass)."""
        if name not in self._memo:
            self._memo[name] = compute()
        return self._memo[name]

    # -- static views ----------------------------------------------------------------------------
    @cached_property
    def ancestors(self) -> dict[int, tuple[m.Stmt, ...]]:
        """id(op) -> its enclosing ops (For / If / RoleBranch / ForTiles), outermost first."""
        result: dict[int, tuple[m.Stmt, ...]] = {}

        def visit(body: list[m.Stmt], outer: tuple[m.Stmt, ...]) -> None:
            for op in body:
                result[id(op)] = outer
                for child in m.children(op):
                    visit(child, (*outer, op))

        visit(self.kernel.body, ())
        return result

    @cached_property
    def ops(self) -> list[m.Stmt]:
        return list(m.walk(self.kernel.body))

    def describe(self, op: m.Stmt) -> str:
        return describe(op, self.kernel)

    def divergence_site(self, op: m.Stmt) -> Optional[m.Stmt]:
        """The enclosing branch (or loop) most likely to make waves disagree about ``op``: the
        innermost role branch, ``if`` on the warp, or loop whose bounds depend on the warp."""
        outer = self.ancestors.get(id(op), ())
        for parent in reversed(outer):
            if splits_waves(parent):
                return parent
        for parent in reversed(outer):
            if isinstance(parent, (m.If, m.RoleBranch)):
                return parent
        return None

    def site_text(self, op: m.Stmt) -> str:
        site = self.divergence_site(op)
        if site is None:
            return ""
        return f" inside `{self.describe(site)}` ({site.loc})"

    @cached_property
    def plan(self) -> Plan:
        """The decisions the emitted code embodies (``ir.plan``); rules check them."""
        return plan(self.kernel, self.semantics)

    def touches_global(self, op: m.Stmt) -> bool:
        """Ops that touch global memory: the only ones whose values differ between blocks of a
        block-invariant schedule."""
        return self.semantics.of(op).global_use is not None

    # -- traces ----------------------------------------------------------------------------------
    @cached_property
    def block_invariant(self) -> bool:
        """True when every block computes one tile and the blocks' traces differ only in the
        global coordinates of loads and stores."""
        if self.kernel.launch.persistent_blocks is not None:
            return False
        block_vars = {BLOCK_ROW, BLOCK_COL}
        for op in self.ops:
            effects = self.effects(op)
            exprs = list(effects.exprs)
            if effects.global_use is not None:
                coordinates = {id(effects.global_use.row), id(effects.global_use.col)}
                exprs = [e for e in exprs if id(e) not in coordinates]
            if any(free_vars(e) & block_vars for e in exprs):
                return False
        return True

    @cached_property
    def traced_kernel(self) -> m.Kernel:
        """The kernel with a persistent launch capped to a few blocks (same op objects)."""
        return capped_kernel(self.kernel)

    @cached_property
    def sizes(self) -> CheckedSizes:
        """The problems traced, chosen from the index expressions (``ir.validate.sizes``)."""
        return checked_sizes(self.kernel)

    @cached_property
    def problems(self) -> list[Problem]:
        return list(self.sizes.problems)

    @cached_property
    def samples(self) -> list[Sample]:
        """Traced blocks of every representative problem: all blocks, or block 0 only when the
        schedule is block-invariant. Raises ``TraceFailure``."""
        kernel = self.traced_kernel
        samples = []
        for problem in self.problems:
            blocks = num_blocks(kernel.launch, problem.m, problem.n)
            for block in range(1 if self.block_invariant else blocks):
                tiles = tuple(tiles_of_block(kernel.launch, block, problem.m, problem.n))
                traces = {w: self._trace(kernel, w, block, problem) for w in range(kernel.launch.num_warps)}
                samples.append(Sample(problem, block, tiles, traces, kernel.launch.k_step))
        return samples

    @cached_property
    def blocks(self) -> list[Sample]:
        """Every block of every representative problem, each wave's trace holding only its global
        loads and stores (``touches_global``): derived from block 0 when the schedule is
        block-invariant."""
        launch = self.traced_kernel.launch
        result = []
        for sample in self.samples:
            if not self.block_invariant:
                traces = {
                    w: [e for e in events if self.touches_global(e.op)] for w, events in sample.traces.items()
                }
                result.append(Sample(sample.problem, sample.block, sample.tiles, traces, sample.k_step))
                continue
            problem = sample.problem
            for block in range(num_blocks(launch, problem.m, problem.n)):
                tiles = tuple(tiles_of_block(launch, block, problem.m, problem.n))
                row, col = tiles[0]
                traces = {
                    w: [_moved(e, row, col) for e in events if self.touches_global(e.op)]
                    for w, events in sample.traces.items()
                }
                result.append(Sample(problem, block, tiles, traces, sample.k_step))
        return result

    def _trace(self, kernel: m.Kernel, warp: int, block: int, problem: Problem) -> list[Event]:
        events: list[Event] = []
        where = f"wave {warp} of block {block} for M={problem.m}, N={problem.n}, K={problem.k}"
        try:
            for event in iter_wave(kernel, warp, block, problem):
                events.append(event)
                if len(events) > MAX_TRACED_OPS_PER_WAVE:
                    raise TraceFailure(
                        Diagnostic(
                            rule="structure.traceable",
                            severity="error",
                            message=f"{where} runs more than {MAX_TRACED_OPS_PER_WAVE} ops; a loop bound is "
                            "likely wrong (a constant where num_k_tiles was meant, or a loop that never ends)",
                            op=describe(event.op, self.kernel),
                            waves=(warp,),
                            loc=event.op.loc,
                            fix="bound the loops by num_k_tiles or small constants",
                        )
                    )
        except (KeyError, ZeroDivisionError, ValueError) as error:
            last = events[-1].op if events else None
            text = error.args[0] if error.args else str(error)
            raise TraceFailure(
                Diagnostic(
                    rule="structure.traceable",
                    severity="error",
                    message=f"{where} cannot be run: {text}",
                    op=describe(last, self.kernel) if last is not None else None,
                    waves=(warp,),
                    loc=last.loc if last is not None else self.kernel.loc,
                    fix="check the expressions of the ops after this one (loop bounds, branch conditions)",
                )
            ) from None
        return events
