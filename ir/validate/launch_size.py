"""The grid a launch needs for M x N, against the target's grid limits: refused before launch.

The emitted ``grid()`` (backends/hip/templates/module.cpp.j2) is ``dim3(N / block_n, M / block_m)``
for a 2d grid, ``dim3(tiles)`` for a linear one and ``dim3(min(blocks, tiles))`` for a persistent
one; ``ir.block_order.tile_grid`` gives the tiles. A grid past the limit fails at launch with
"invalid argument" and nothing else, so the compiled function and ``tilegen check`` call
``check_launch_size`` first.
"""

from __future__ import annotations

from typing import Union

from ir import models as m
from ir.targets import Target, get_target


def launch_grid(kernel: m.Kernel, M: int, N: int) -> tuple[int, int]:
    """(x, y) blocks of the launch for an M x N problem (padded to whole tiles)."""
    launch = kernel.launch
    rows, cols = -(-M // launch.block_m), -(-N // launch.block_n)
    if launch.grid == "2d":
        return cols, rows
    tiles = rows * cols
    return (tiles if launch.persistent_blocks is None else min(launch.persistent_blocks, tiles)), 1


def check_launch_size(kernel: m.Kernel, target: Union[str, Target], M: int, N: int) -> None:
    """Raise ``ValueError`` naming the size that breaks the target's grid limits; None if it fits."""
    resolved = target if isinstance(target, Target) else get_target(target)
    launch = kernel.launch
    x, y = launch_grid(kernel, M, N)
    max_x, max_y = resolved.max_grid
    threads = launch.num_warps * resolved.wave_size
    problems = []
    if y > max_y:
        problems.append(
            f"M = {M} needs {y} block rows (M / block_m = {M} / {launch.block_m}) on the grid's y axis, "
            f"more than the {max_y} {resolved.name} allows (M <= {max_y * launch.block_m})"
        )
    if x > max_x:
        what = "block columns" if launch.grid == "2d" else "blocks"
        problems.append(
            f"the launch needs {x} {what} on the grid's x axis, more than the {max_x} {resolved.name} allows"
        )
    elif resolved.is_amd and x * threads > resolved.max_grid_threads:
        problems.append(
            f"the launch needs {x} blocks of {threads} threads on x, {x * threads} threads, more than the "
            f"{resolved.max_grid_threads} {resolved.name} allows"
        )
    if problems:
        fix = (
            "use a linear grid (`grid=\"linear\"`, or a tile order / persistent launch, which use one) or a "
            "larger block_m"
            if launch.grid == "2d"
            else "use a persistent launch (`persistent=<blocks>`) or larger block tiles"
        )
        raise ValueError(
            f"kernel `{kernel.name}` cannot launch M={M}, N={N} on {resolved.name}: " + "; ".join(problems)
            + f". Fix: {fix}."
        )
