"""Shared memory: the derived footprint fits the target (and, as a warning, the blocks per CU the
launch asks the compiler to fit)."""

from __future__ import annotations

from ir.diagnostics import Diagnostic
from ir.resources import shared_footprint
from ir.validate.context import ValidationContext
from ir.validate.findings import Findings


def _kib(size: int) -> str:
    return f"{size / 1024:g} KiB"


def check_capacity(ctx: ValidationContext) -> list[Diagnostic]:
    """Footprint = sum over shared tiles of rows * cols * dtype bytes * buffers, each allocation
    aligned to the target's alignment; more than the target's shared memory per block is an error."""
    found = Findings("shared-memory.capacity", ctx.kernel)
    kernel, target = ctx.kernel, ctx.target
    footprint = shared_footprint(kernel, target)
    if not footprint.allocations:
        return []
    largest = max(footprint.allocations, key=lambda a: a.padded_bytes)
    parts = ", ".join(
        f"{a.name} {_kib(a.padded_bytes)}" for a in sorted(footprint.allocations, key=lambda a: -a.padded_bytes)
    )
    if footprint.total_bytes > footprint.limit_bytes:
        found.error(
            f"shared tiles need {footprint.total_bytes} bytes ({_kib(footprint.total_bytes)}: {parts}), more than "
            f"the {_kib(target.shared_bytes)} of shared memory (LDS) a block can have on {target.name}",
            key="capacity",
            buffer=largest.name,
            loc=kernel.shared_tile(largest.name).loc,
            fix="use fewer pipeline buffers, a smaller k_step or block tile, or stage C through registers instead "
            "of a shared tile",
        )
    blocks = kernel.launch.min_blocks_per_cu
    fits_one = footprint.total_bytes <= footprint.limit_bytes
    if blocks > 1 and fits_one and blocks * footprint.total_bytes > target.shared_bytes:
        found.warning(
            f"min_blocks_per_cu = {blocks} asks for {blocks} blocks per CU, but {blocks} x "
            f"{_kib(footprint.total_bytes)} "
            f"of shared memory exceeds the {_kib(target.shared_bytes)} a CU has, so at most "
            f"{target.shared_bytes // footprint.total_bytes} fit",
            key="occupancy",
            buffer=largest.name,
            loc=kernel.loc,
            fix=f"lower min_blocks_per_cu to {max(1, target.shared_bytes // footprint.total_bytes)} or shrink the "
            "shared tiles",
        )
    return found.diagnostics()
