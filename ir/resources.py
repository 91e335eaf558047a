"""Register and shared-memory estimates of a schedule: pure functions of the IR and a target.

The validator checks these figures against the target; the emitter uses the same functions for
the launch (``dynamic_shared_memory``) so the number the kernel requests is derived, never typed.

Register model (per lane, 32-bit registers):

* a register tile ``R x C`` spreads ``R * C / wave_size`` elements over each lane; bf16 packs two
  elements per register, f32 takes one; an array of ``count`` tiles takes ``count`` times that;
* a stage buffer ``R x C`` loaded by ``group_size`` warps holds ``R * C / (group_size *
  wave_size)`` bf16 elements per lane;
* plus ``FIXED_OVERHEAD_REGISTERS`` for lane-dependent addresses, loop counters and indices;
* on AMD every wave of a kernel gets the same VGPR allocation, so the kernel's figure is the
  largest over its roles of (kernel-scope tiles + that role's tiles + overhead).

The estimate counts what the schedule *must* hold; the compiler may need more (temporaries) and
``tilegen.resources`` reports what it really allocated.
"""

from __future__ import annotations

from typing import Optional, Union

from pydantic import BaseModel, ConfigDict

from ir import models as m
from ir.targets import Target, get_target

#: Registers per lane for what every schedule needs besides its tiles: base addresses of the
#: lane's share of A/B/C, loop counters, warp / lane indices. A deliberately low figure so the
#: estimate stays close to a lower bound (a kernel over the limit by this estimate must spill).
FIXED_OVERHEAD_REGISTERS = 16

#: AMD CDNA: a compute unit has 4 SIMDs; the waves of a block are spread over them and the waves
#: sharing a SIMD split its ``max_registers`` (512 VGPR+AGPR per lane on CDNA3) between them.
AMD_SIMDS_PER_CU = 4
#: AMD allocates VGPRs in blocks of 8 per lane.
AMD_REGISTER_GRANULE = 8
#: NVIDIA: 64K 32-bit registers per SM, allocated per warp in blocks of 8 per thread.
NVIDIA_REGISTERS_PER_SM = 65536
NVIDIA_REGISTER_GRANULE = 8

DTYPE_BYTES: dict[str, int] = {"bf16": 2, "f32": 4}

TargetLike = Union[Target, str]


class _Data(BaseModel):
    model_config = ConfigDict(frozen=True)


class TileRegisters(_Data):
    """Registers per lane one declared register tile (array) or stage buffer takes."""

    name: str
    kind: str  # "register tile" or "stage buffer"
    scope: str
    registers: int


class RoleRegisters(_Data):
    """Registers per lane one role's waves need: kernel-scope tiles + the role's own + overhead."""

    role: str  # a role name, "kernel" when the kernel has no roles, "(no role)" for unassigned warps
    warps: tuple[int, ...]
    tiles: tuple[str, ...]
    registers: int
    budget: Optional[int] = None  # the role's ``max_registers``


class RegisterEstimate(_Data):
    wave_size: int
    overhead: int
    tiles: tuple[TileRegisters, ...]
    roles: tuple[RoleRegisters, ...]
    #: Registers per lane the whole kernel is allocated (every wave gets the same on AMD).
    kernel: int
    #: Most registers per lane a wave may use at this launch's occupancy.
    limit: int
    limit_reason: str


class SharedAllocation(_Data):
    name: str
    offset: int
    bytes: int  # rows * cols * dtype bytes * buffers
    padded_bytes: int  # rounded up to the target's shared alignment


class SharedFootprint(_Data):
    allocations: tuple[SharedAllocation, ...]
    total_bytes: int
    limit_bytes: int
    align: int


def _target(target: TargetLike) -> Target:
    return target if isinstance(target, Target) else get_target(target)


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def register_tile_registers(tile: m.RegisterTile, target: TargetLike) -> int:
    """Registers per lane of a register tile (all ``count`` of an array)."""
    t = _target(target)
    elements = _ceil_div(tile.rows * tile.cols, t.wave_size)
    return _ceil_div(elements * DTYPE_BYTES[tile.dtype], 4) * tile.count


def stage_buffer_registers(stage: m.StageBuffer, target: TargetLike) -> int:
    """Registers per lane of a stage buffer: the lane's share of a tile loaded by ``group_size`` warps."""
    t = _target(target)
    elements = _ceil_div(stage.rows * stage.cols, stage.group_size * t.wave_size)
    return _ceil_div(elements * DTYPE_BYTES["bf16"], 4)


def _role_groups(kernel: m.Kernel) -> list[tuple[str, tuple[int, ...], Optional[str], Optional[int]]]:
    """(label, warps, scope name or None for kernel-only, budget) for every kind of wave."""
    warps = range(kernel.launch.num_warps)
    if not kernel.roles:
        return [("kernel", tuple(warps), None, None)]
    groups = [(r.name, tuple(w for w in r.warps if w in warps), r.name, r.max_registers) for r in kernel.roles]
    unassigned = tuple(w for w in warps if kernel.role_of_warp(w) is None)
    if unassigned:
        groups.append(("(no role)", unassigned, None, None))
    return groups


def launch_register_share(threads: int, min_blocks: int = 1) -> int:
    """Registers per thread an NVIDIA launch gives each warp before any ``setmaxnreg``: the SM's
    file split over the resident threads, rounded down to 8, at most 255 (the bundled runtime's
    ``tg::launch_registers``)."""
    return min(NVIDIA_REGISTERS_PER_SM // (threads * min_blocks) // 8 * 8, 255)


def register_limit(kernel: m.Kernel, target: TargetLike) -> tuple[int, str]:
    """(registers per lane a wave may use, why) at this launch's waves per block and blocks per CU."""
    t = _target(target)
    launch = kernel.launch
    if t.is_amd:
        waves_per_simd = _ceil_div(launch.num_warps, AMD_SIMDS_PER_CU) * launch.min_blocks_per_cu
        share = t.max_registers // waves_per_simd
        limit = min(t.max_registers, share // AMD_REGISTER_GRANULE * AMD_REGISTER_GRANULE)
        reason = (
            f"{t.name} has {t.max_registers} registers per lane per SIMD; {launch.num_warps} waves x "
            f"{launch.min_blocks_per_cu} block(s) per CU over {AMD_SIMDS_PER_CU} SIMDs put {waves_per_simd} "
            f"wave(s) on a SIMD, {limit} registers each"
        )
        return limit, reason
    threads = launch.num_warps * t.wave_size * launch.min_blocks_per_cu
    share = NVIDIA_REGISTERS_PER_SM // threads
    limit = min(t.max_registers, share // NVIDIA_REGISTER_GRANULE * NVIDIA_REGISTER_GRANULE)
    reason = (
        f"{t.name} has {NVIDIA_REGISTERS_PER_SM} registers per SM and at most {t.max_registers} per thread; "
        f"{threads} threads per SM leave {limit} each"
    )
    return limit, reason


def register_estimate(kernel: m.Kernel, target: TargetLike) -> RegisterEstimate:
    """Registers per lane per role and for the whole kernel (see the module docstring)."""
    t = _target(target)
    tiles = [
        TileRegisters(name=r.name, kind="register tile", scope=r.scope, registers=register_tile_registers(r, t))
        for r in kernel.registers
    ] + [
        TileRegisters(name=s.name, kind="stage buffer", scope=s.scope, registers=stage_buffer_registers(s, t))
        for s in kernel.stages
    ]
    roles = []
    for label, warps, scope, budget in _role_groups(kernel):
        held = [tile for tile in tiles if tile.scope == "kernel" or tile.scope == scope]
        roles.append(
            RoleRegisters(
                role=label,
                warps=warps,
                tiles=tuple(tile.name for tile in held),
                registers=sum(tile.registers for tile in held) + FIXED_OVERHEAD_REGISTERS,
                budget=budget,
            )
        )
    limit, reason = register_limit(kernel, t)
    return RegisterEstimate(
        wave_size=t.wave_size,
        overhead=FIXED_OVERHEAD_REGISTERS,
        tiles=tuple(tiles),
        roles=tuple(roles),
        kernel=max((r.registers for r in roles), default=FIXED_OVERHEAD_REGISTERS),
        limit=limit,
        limit_reason=reason,
    )


#: One mbarrier (tg::mbarrier, a 64-bit word in shared memory).
MBARRIER_BYTES = 8


def shared_tile_bytes(tile: m.SharedTile) -> int:
    return tile.rows * tile.cols * DTYPE_BYTES[tile.dtype] * tile.buffers


def shared_footprint(kernel: m.Kernel, target: TargetLike) -> SharedFootprint:
    """Shared tiles laid out in declaration order, each allocation aligned to ``target.shared_align``."""
    t = _target(target)
    allocations = []
    offset = 0
    for tile in kernel.shared:
        size = shared_tile_bytes(tile)
        padded = _ceil_div(size, t.shared_align) * t.shared_align
        allocations.append(SharedAllocation(name=tile.name, offset=offset, bytes=size, padded_bytes=padded))
        offset += padded
    for ring in kernel.mbarriers:  # after the tiles, as the emitter allocates them
        size = MBARRIER_BYTES * ring.count
        padded = _ceil_div(size, t.shared_align) * t.shared_align
        allocations.append(SharedAllocation(name=ring.name, offset=offset, bytes=size, padded_bytes=padded))
        offset += padded
    return SharedFootprint(
        allocations=tuple(allocations), total_bytes=offset, limit_bytes=t.shared_bytes, align=t.shared_align
    )


def dynamic_shared_memory(kernel: m.Kernel, target: TargetLike) -> int:
    """Bytes of dynamic shared memory the launch requests: the derived footprint, never typed by hand."""
    return shared_footprint(kernel, target).total_bytes
