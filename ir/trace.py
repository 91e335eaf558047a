"""Per-wave execution traces: the control flow of a schedule, run with concrete values.

For one block of an M x N x K problem and one wave, ``iter_wave`` yields every leaf op the wave
executes, in program order, with the variable values it runs with and the branches it is
inside. Barriers appear as ordinary events; the validator and the simulator split the stream into
phases at them. Nothing here touches data: it is the shared "abstract machine" of both.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Optional

from ir import models as m
from ir.block_order import tiles_of_block
from ir.expr import BLOCK_COL, BLOCK_ROW, K_DONE, NUM_K_TILES, WARP, evaluate

#: A wave that executes more ops than this is assumed to loop forever.
MAX_EVENTS_PER_WAVE = 2_000_000


@dataclass(frozen=True)
class Problem:
    """GEMM sizes a trace is taken for."""

    m: int
    n: int
    k: int

    @staticmethod
    def smallest(kernel: m.Kernel, k_tiles: int = 2, tiles: tuple[int, int] = (1, 1)) -> Problem:
        launch = kernel.launch
        return Problem(launch.block_m * tiles[0], launch.block_n * tiles[1], launch.k_step * k_tiles)


@dataclass(frozen=True)
class Event:
    """One leaf op executed by one wave."""

    op: m.Stmt
    env: Mapping[str, int]
    #: Enclosing ``If`` / ``RoleBranch`` ops whose taken branch contains this op, outermost first.
    branches: tuple[m.Stmt, ...] = field(default=())
    #: Which of the block's output tiles (0, 1, ... for persistent kernels) this op belongs to.
    tile_iter: int = 0
    #: The scheduling cluster whose body holds this op (its closing barrier included), if any.
    cluster: Optional[m.Cluster] = None


class TraceLimitError(RuntimeError):
    pass


def iter_wave(kernel: m.Kernel, warp: int, block_id: int, problem: Problem) -> Iterator[Event]:
    """Every leaf op wave ``warp`` of block ``block_id`` executes, in order."""
    env: dict[str, int] = {WARP: warp, NUM_K_TILES: problem.k // kernel.launch.k_step}
    tiles = tiles_of_block(kernel.launch, block_id, problem.m, problem.n)
    counter = [0]
    yield from _run(kernel, kernel.body, env, (), tiles, counter, [0])


def wave_trace(kernel: m.Kernel, warp: int, block_id: int, problem: Problem) -> list[Event]:
    return list(iter_wave(kernel, warp, block_id, problem))


def _run(
    kernel: m.Kernel,
    body: list[m.Stmt],
    env: dict[str, int],
    branches: tuple[m.Stmt, ...],
    tiles: list[tuple[int, int]],
    counter: list[int],
    tile_iter: list[int],
    cluster: Optional[m.Cluster] = None,
) -> Iterator[Event]:
    for op in body:
        if isinstance(op, m.For):
            start, stop = evaluate(op.start, env), evaluate(op.stop, env)
            saved = env.get(op.var)
            for value in range(start, stop):
                env[op.var] = value
                yield from _run(kernel, op.body, env, branches, tiles, counter, tile_iter, cluster)
            if saved is None:
                env.pop(op.var, None)
            else:
                env[op.var] = saved
        elif isinstance(op, m.If):
            taken = op.then if evaluate(op.cond, env) else op.orelse
            yield from _run(kernel, taken, env, (*branches, op), tiles, counter, tile_iter, cluster)
        elif isinstance(op, m.RoleBranch):
            if env[WARP] in kernel.role(op.role).warps:
                yield from _run(kernel, op.body, env, (*branches, op), tiles, counter, tile_iter, cluster)
        elif isinstance(op, m.Cluster):
            # The body, then the barrier that closes the cluster (an ordinary barrier here).
            yield from _run(kernel, [*op.body, op.closing], env, branches, tiles, counter, tile_iter, op)
        elif isinstance(op, m.ForTiles):
            for index, (row, col) in enumerate(tiles):
                env[BLOCK_ROW], env[BLOCK_COL] = row, col
                env[K_DONE] = index * env[NUM_K_TILES]
                tile_iter[0] = index
                yield from _run(kernel, op.body, env, branches, tiles, counter, tile_iter, cluster)
            env.pop(BLOCK_ROW, None)
            env.pop(BLOCK_COL, None)
            env.pop(K_DONE, None)
        elif isinstance(op, m.OneThread):
            # One thread of the first wave of the enclosing role (of the block outside roles).
            roles = [b for b in branches if isinstance(b, m.RoleBranch)]
            first = kernel.role(roles[-1].role).first if roles else 0
            if env[WARP] == first:
                yield from _run(kernel, op.body, env, (*branches, op), tiles, counter, tile_iter)
        else:
            counter[0] += 1
            if counter[0] > MAX_EVENTS_PER_WAVE:
                raise TraceLimitError(
                    f"wave {env[WARP]} executed more than {MAX_EVENTS_PER_WAVE} ops; a loop bound is likely wrong"
                )
            yield Event(op=op, env=dict(env), branches=branches, tile_iter=tile_iter[0], cluster=cluster)


def split_phases(events: list[Event]) -> list[list[Event]]:
    """Split a wave's trace at its barriers: phase i holds the ops between barrier i-1 and i.
    A trace with b barriers has b + 1 phases; barrier events themselves are dropped."""
    phases: list[list[Event]] = [[]]
    for event in events:
        if isinstance(event.op, m.Barrier):
            phases.append([])
        else:
            phases[-1].append(event)
    return phases
