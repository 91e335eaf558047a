"""Performance findings: choices that cost speed, each with the figure behind it.

Beside its errors and warnings, ``validate`` reports these in ``ValidationReport.performance``
(``tilegen check`` prints them). None makes a schedule invalid; each says what it costs and what
to change. One small function per finding, like the rules:

* ``performance.occupancy``: shared memory or registers keep too few waves on a CU / SM to hide
  memory latency (figures: blocks per CU by each resource, waves per SIMD / warps per SM).
* ``performance.narrow-lds-reads``: a register tile the runtime can only fill with 2-byte LDS
  reads (a col-layout bf16 tile on AMD: the B operand of ``mma_AB``).
* ``performance.no-overlap``: a K loop whose global loads all complete before its MMAs run, in
  the same waves, into single-buffered shared tiles: nothing is in flight while the MMAs run.

(The block order's cache reuse is reported by ``tilegen check``'s block-order line.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Union

from ir import models as m
from ir.diagnostics import Diagnostic
from ir.resources import dynamic_shared_memory, register_estimate
from ir.targets import Target, get_target

#: Per-CU / per-SM resources the occupancy figures need (not per block, unlike ``Target``).
#: AMD CDNA: 4 SIMDs per CU, 512 VGPRs per SIMD lane (VGPR+AGPR), at most 8 waves per SIMD,
#: allocated in granules of 8. NVIDIA: a 64 K register file per SM (granules of 8 per thread),
#: 64 warps per SM; shared memory per SM (Hopper 228 KiB, Ampere 164 KiB) with 1 KiB per block
#: reserved by the driver.
AMD_SIMDS_PER_CU = 4
AMD_VGPRS_PER_SIMD_LANE = 512
AMD_MAX_WAVES_PER_SIMD = 8
NVIDIA_REGISTERS_PER_SM = 65_536
NVIDIA_MAX_WARPS_PER_SM = 64
NVIDIA_SHARED_PER_SM = {"sm_90a": 228 * 1024, "sm_80": 164 * 1024}
NVIDIA_RESERVED_SHARED_PER_BLOCK = 1024
#: How a lane of the bundled AMD runtime fills a 16 x 16 base tile from shared memory
#: (backends/runtime/include/kittens/amd/memory.cuh, load_shared_lane): a row-layout tile of the
#: shared tile's type with one 8-byte ds_read_b64, any other with one 2-byte read per element (4).
AMD_ELEMENTS_PER_LANE = 4

#: Fewer waves than this per SIMD (AMD) / warps per SM scheduler (NVIDIA, 4 per SM) hide little
#: latency.
LOW_WAVES_PER_SIMD = 2


@dataclass(frozen=True)
class Occupancy:
    """Blocks one CU / SM holds at once, and what each resource alone would allow."""

    blocks: int
    by_registers: int
    by_shared: int
    by_waves: int
    waves_per_simd: float  # AMD: waves per SIMD; NVIDIA: warps per scheduler (4 per SM)
    registers: int
    shared_bytes: int

    @property
    def limiter(self) -> str:
        limits = {"registers": self.by_registers, "shared memory": self.by_shared, "the wave limit": self.by_waves}
        return min(limits, key=lambda name: limits[name])


def occupancy(kernel: m.Kernel, target: Union[str, Target]) -> Occupancy:
    """Blocks per CU / SM from the register estimate, the dynamic shared memory and the wave limit."""
    spec = target if isinstance(target, Target) else get_target(target)
    warps, wanted = kernel.launch.num_warps, max(1, kernel.launch.min_blocks_per_cu)
    # The compiler holds the kernel to what its launch bounds leave per lane (setmaxnreg budgets
    # move registers between warps later, within the same pool).
    if spec.is_amd:
        cap = AMD_VGPRS_PER_SIMD_LANE // -(-wanted * warps // AMD_SIMDS_PER_CU)
    else:
        cap = min(spec.max_registers, NVIDIA_REGISTERS_PER_SM // (wanted * warps * spec.wave_size))
    registers = min(cap // 8 * 8, -(-register_estimate(kernel, spec).kernel // 8) * 8)
    shared = dynamic_shared_memory(kernel, spec)
    if spec.is_amd:
        waves_by_registers = min(AMD_MAX_WAVES_PER_SIMD, AMD_VGPRS_PER_SIMD_LANE // max(1, registers))
        by_registers = waves_by_registers * AMD_SIMDS_PER_CU // warps
        by_shared = spec.shared_bytes // shared if shared else 1 << 30
        by_waves = AMD_MAX_WAVES_PER_SIMD * AMD_SIMDS_PER_CU // warps
        blocks = min(by_registers, by_shared, by_waves)
        per_simd = blocks * warps / AMD_SIMDS_PER_CU
    else:
        by_registers = NVIDIA_REGISTERS_PER_SM // (registers * warps * spec.wave_size)
        per_sm = NVIDIA_SHARED_PER_SM.get(spec.name, spec.shared_bytes)
        by_shared = per_sm // (shared + NVIDIA_RESERVED_SHARED_PER_BLOCK) if shared else 1 << 30
        by_waves = NVIDIA_MAX_WARPS_PER_SM // warps
        blocks = min(by_registers, by_shared, by_waves)
        per_simd = blocks * warps / 4
    return Occupancy(blocks, by_registers, by_shared, by_waves, per_simd, registers, shared)


def check_occupancy(kernel: m.Kernel, target: Target) -> list[Diagnostic]:
    """Too few waves per SIMD (AMD) or warps per scheduler (NVIDIA) to hide memory latency,
    and which resource keeps it there."""
    occ = occupancy(kernel, target)
    if occ.waves_per_simd >= LOW_WAVES_PER_SIMD or occ.blocks == 0:
        return []
    unit, lanes = ("CU", "wave(s) per SIMD") if target.is_amd else ("SM", "warp(s) per scheduler")
    figures = (
        f"registers ({occ.registers} per lane, estimated) allow {occ.by_registers} block(s), shared memory "
        f"({occ.shared_bytes} bytes per block) {occ.by_shared}, the wave limit {occ.by_waves}"
    )
    limiter = occ.limiter
    fix = (
        "fewer or smaller shared buffers (stages, block tile)"
        if limiter == "shared memory"
        else "smaller register tiles (block tile, accumulators)"
        if limiter == "registers"
        else "more waves per block"
    )
    return [
        Diagnostic(
            rule="performance.occupancy",
            severity="warning",
            message=(
                f"{occ.blocks} block(s) of {kernel.launch.num_warps} waves fit on a {target.name} {unit}: "
                f"{occ.waves_per_simd:g} {lanes}, too few to hide memory latency unless the schedule overlaps "
                f"loads itself; {limiter} limit it: {figures}"
            ),
            loc=kernel.loc,
            fix=f"to fit more blocks, use {fix}; a deliberately low occupancy (ping-pong, warp specialisation) "
            "can ignore this",
        )
    ]


def check_narrow_lds_reads(kernel: m.Kernel, target: Target) -> list[Diagnostic]:
    """AMD: a col-layout register tile (or one of another type than its shared tile) is filled
    with one 2-byte LDS read per element instead of one 8-byte read per 4 elements."""
    if not target.is_amd:
        return []
    registers = {t.name: t for t in kernel.registers}
    shared = {t.name: t for t in kernel.shared}
    found: list[Diagnostic] = []
    seen: set[str] = set()
    for op in m.walk(kernel.body):
        if not isinstance(op, m.LoadShared) or op.dst.tile in seen:
            continue
        tile, source = registers.get(op.dst.tile), shared.get(op.src.tile)
        if tile is None or source is None or (tile.layout == "row" and tile.dtype == source.dtype):
            continue
        seen.add(op.dst.tile)
        base = target.base_tile
        base_tiles = (tile.rows // base) * (tile.cols // base)
        narrow = base_tiles * AMD_ELEMENTS_PER_LANE
        why = "col layout" if tile.layout != "row" else f"{tile.dtype} from {source.dtype} shared memory"
        fix = (
            "store B as N x K (b_layout='nk') and multiply with mma_ABt, whose B is a row-layout tile"
            if tile.layout != "row"
            else "load into a tile of the shared tile's dtype"
        )
        found.append(
            Diagnostic(
                rule="performance.narrow-lds-reads",
                severity="warning",
                message=(
                    f"`{tile.name}` ({tile.rows} x {tile.cols} {tile.dtype}, {why}) is read from `{source.name}` with "
                    f"{narrow} two-byte LDS reads per lane per load, where a row-layout tile of the same type takes "
                    f"{base_tiles} eight-byte reads ({AMD_ELEMENTS_PER_LANE}x the LDS instructions)"
                ),
                op=f"load({tile.name}, {source.name})",
                buffer=source.name,
                loc=op.loc,
                fix=fix,
            )
        )
    return found


def _k_loops(body: list[m.Stmt], role: str = "") -> list[tuple[str, m.For]]:
    """Loops that run MMAs directly or in their body (outermost such loops), with their role."""
    loops: list[tuple[str, m.For]] = []
    for op in body:
        if isinstance(op, m.For) and any(isinstance(inner, m.Mma) for inner in m.walk(op.body)):
            loops.append((role, op))
        else:
            inner = op.role if isinstance(op, m.RoleBranch) else role
            for child in m.children(op):
                loops += _k_loops(child, inner)
    return loops


def _by_role(body: list[m.Stmt], role: str = "") -> list[tuple[str, m.Stmt]]:
    """Every op of ``body`` with the role branch it runs in ("" outside any)."""
    found: list[tuple[str, m.Stmt]] = []
    for op in body:
        found.append((role, op))
        inner = op.role if isinstance(op, m.RoleBranch) else role
        for child in m.children(op):
            found += _by_role(child, inner)
    return found


def check_no_overlap(kernel: m.Kernel, target: Target) -> list[Diagnostic]:
    """A K loop whose waves load their operands synchronously into single-buffered shared tiles
    and then run the MMAs, with no other role to run meanwhile: no load is in flight while the
    MMAs run."""
    shared = {t.name: t for t in kernel.shared}
    found: list[Diagnostic] = []
    for role, loop in _k_loops(kernel.body):
        if role and len(kernel.roles) > 1:
            continue  # other roles run while this one waits (ping-pong, producer / consumer)
        ops = _by_role(loop.body)
        if any(isinstance(op, (m.StageLoad, m.AsyncWait)) for _, op in ops):
            continue  # staged or asynchronous loads: something can be in flight
        loads = [(role, op) for role, op in ops if isinstance(op, m.GroupLoad)]
        mma_roles = {role for role, op in ops if isinstance(op, m.Mma)}
        if not loads or any(op.is_async for _, op in loads):
            continue
        if any(role not in mma_roles and role for role, _ in loads):
            continue  # other waves load while these compute (warp specialisation)
        if any(shared[op.dst.tile].buffers > 1 for _, op in loads if op.dst.tile in shared):
            continue  # a second buffer lets the next load go while this one is read
        if any(isinstance(op, m.Copy) for _, op in ops):
            continue  # register double buffering (the next tile held in registers)
        per_step = sum(
            shared[op.dst.tile].rows * shared[op.dst.tile].cols * (2 if shared[op.dst.tile].dtype == "bf16" else 4)
            for _, op in loads
            if op.dst.tile in shared
        )
        mmas = sum(isinstance(op, m.Mma) for _, op in ops)
        found.append(
            Diagnostic(
                rule="performance.no-overlap",
                severity="warning",
                message=(
                    f"the loop over `{loop.var}` loads {per_step} bytes of operands per step with synchronous loads "
                    f"into single-buffered shared tiles, then runs {mmas} MMA op(s) in the same waves: the loads "
                    "and the MMAs never overlap, so each step pays the full memory latency"
                ),
                op=f"for {loop.var}",
                loc=loop.loc,
                fix="double-buffer the shared tiles with asynchronous loads (is_async / stage loads) issued a step "
                "ahead, or give the loads to a producer role",
            )
        )
    return found


FINDINGS: list[tuple[str, Callable[[m.Kernel, Target], list[Diagnostic]]]] = [
    ("performance.occupancy", check_occupancy),
    ("performance.narrow-lds-reads", check_narrow_lds_reads),
    ("performance.no-overlap", check_no_overlap),
]


def findings(kernel: m.Kernel, target: Union[str, Target]) -> list[Diagnostic]:
    """Every performance finding for ``kernel`` on ``target`` (warnings, rule ``performance.*``)."""
    spec = target if isinstance(target, Target) else get_target(target)
    return [d for _, check in FINDINGS for d in check(kernel, spec)]
