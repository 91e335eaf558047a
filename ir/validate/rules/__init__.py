"""Every rule, in the order it runs and reports. One small function per rule; a module per family.

``gate`` rules check that the schedule is well formed enough to trace (names, roles, variables,
the tile loop); when one fails, the others do not run. ``needs_trace`` rules run on the traces of
the representative problems; the rest read the IR only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ir.diagnostics import Diagnostic
from ir.validate.context import ValidationContext
from ir.validate.rules import (
    accumulators,
    barriers,
    bounds,
    clusters,
    collectives,
    coverage,
    index_form,
    mbarriers,
    races,
    reachability,
    registers,
    runtime_shapes,
    shapes,
    shared_memory,
    structure,
)


@dataclass(frozen=True)
class Rule:
    name: str
    check: Callable[[ValidationContext], list[Diagnostic]]
    needs_trace: bool = False
    gate: bool = False

    @property
    def doc(self) -> str:
        return (self.check.__doc__ or "").strip()


RULES: list[Rule] = [
    # structure (gate)
    Rule("structure.references", structure.check_references, gate=True),
    Rule("structure.roles", structure.check_roles, gate=True),
    Rule("structure.launch", structure.check_launch, gate=True),
    Rule("structure.tile-loop", structure.check_tile_loop, gate=True),
    Rule("structure.variables", structure.check_variables, gate=True),
    Rule("structure.cluster-barrier", clusters.check_cluster_barriers),
    Rule("structure.names", structure.check_names),
    # shapes and types, from the IR
    Rule("shapes.tile-dims", shapes.check_tile_dims),
    Rule("shapes.block-dims", shapes.check_block_dims),
    Rule("shapes.mma-shape", shapes.check_mma_shapes),
    Rule("shapes.mma-layout", shapes.check_mma_layouts),
    Rule("shapes.mma-dtype", shapes.check_mma_dtypes),
    Rule("shapes.load-dtype", shapes.check_register_moves),
    Rule("shapes.operand-tile", shapes.check_operand_tiles),
    Rule("collectives.group-shape", collectives.check_group_shape),
    Rule("collectives.group-store-share", collectives.check_group_store_share),
    Rule("registers.scope", registers.check_scope),
    Rule("registers.budget", registers.check_budget),
    Rule("registers.budget-warpgroups", registers.check_budget_warpgroups),
    Rule("shared-memory.capacity", shared_memory.check_capacity),
    Rule("structure.unreachable", reachability.check_unreachable),
    Rule("structure.index-form", index_form.check_index_form),
    Rule("shapes.index-growth", index_form.check_index_growth),
    Rule("accumulators.shared-matrix", accumulators.check_shared_matrix),
    Rule("accumulators.operand-matrix", accumulators.check_operand_matrix),
    # with concrete values, on the representative problems
    Rule("shapes.register-index", bounds.check_register_index, needs_trace=True),
    Rule("shapes.buffer-index", bounds.check_buffer_index, needs_trace=True),
    Rule("shapes.subtile-bounds", bounds.check_subtile_bounds, needs_trace=True),
    Rule("shapes.global-bounds", bounds.check_global_bounds, needs_trace=True),
    Rule("shapes.store-coverage", coverage.check_store_coverage, needs_trace=True),
    Rule("runtime-shapes.k-coverage", runtime_shapes.check_k_coverage, needs_trace=True),
    Rule("barriers.divergent", barriers.check_barrier_counts, needs_trace=True),
    Rule("barriers.aligned", barriers.check_aligned, needs_trace=True),
    Rule("collectives.incomplete-group", collectives.check_complete_groups, needs_trace=True),
    Rule("races.shared-race", races.check_shared_races, needs_trace=True),
    Rule("races.buffer-overwrite", races.check_buffer_overwrite, needs_trace=True),
    Rule("races.uninitialised-read", races.check_uninitialised_reads, needs_trace=True),
    Rule("races.async-incomplete", races.check_async_completion, needs_trace=True),
    Rule("registers.read-before-write", registers.check_read_before_write, needs_trace=True),
    Rule("registers.scaled-in-place", registers.check_scaled_in_place, needs_trace=True),
    Rule("accumulators.operand-k", accumulators.check_operand_k, needs_trace=True),
    Rule("accumulators.foreign-sums", accumulators.check_foreign_sums, needs_trace=True),
    Rule("accumulators.missing-k", accumulators.check_missing_k, needs_trace=True),
    Rule("accumulators.store-position", accumulators.check_store_position, needs_trace=True),
    Rule("registers.wasted", registers.check_wasted, needs_trace=True),
    # Hopper: TMA, mbarriers, wgmma (ir/validate/rules/mbarriers.py)
    Rule("hopper.target", mbarriers.check_target),
    Rule("hopper.operands", mbarriers.check_operands),
    Rule("hopper.warpgroup", mbarriers.check_warpgroups, needs_trace=True),
    Rule("mbarrier.hang", mbarriers.check_hang, needs_trace=True),
    Rule("mbarrier.expect-bytes", mbarriers.check_expect_bytes, needs_trace=True),
    Rule("mbarrier.read-before-wait", mbarriers.check_read_before_wait, needs_trace=True),
    Rule("mbarrier.refill-before-release", mbarriers.check_refill_before_release, needs_trace=True),
    Rule("mbarrier.release-before-complete", mbarriers.check_release_before_complete, needs_trace=True),
    Rule("hopper.proxy-fence", mbarriers.check_proxy_fence, needs_trace=True),
]
