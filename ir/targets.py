"""Facts about each target the validator checks against (see docs/rules.md for sources)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Target:
    name: str
    vendor: Literal["amd", "nvidia"]
    wave_size: int
    #: Shared memory (LDS) one block may use, in bytes.
    shared_bytes: int
    #: Registers (32-bit) one lane/thread may use at most (VGPR+AGPR on CDNA).
    max_registers: int
    #: Side of the square base tile register tiles are built from.
    base_tile: int
    #: Alignment of each shared allocation, in bytes.
    shared_align: int
    #: Most threads per block.
    max_threads: int
    description: str
    #: CUs (AMD) or SMs (NVIDIA): how many blocks run at once, for the block-order reuse report.
    compute_units: int = 0
    #: Most blocks along the grid's x and y (a 2d launch puts block rows on y): CUDA's
    #: 2^31 - 1 x 65535; HIP reports the same and HSA also caps x blocks times threads below 2^32.
    max_grid: tuple[int, int] = (2**31 - 1, 65_535)
    #: Most threads along x (grid x times block size), where the platform caps it (HSA: 2^32 - 1).
    max_grid_threads: int = 2**32 - 1

    @property
    def is_amd(self) -> bool:
        return self.vendor == "amd"


_KIB = 1024

TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target("gfx942", "amd", 64, 64 * _KIB, 512, 16, 16, 1024, "MI300X / MI325X (CDNA3)", compute_units=304),
        Target(
            "gfx940",
            "amd",
            64,
            64 * _KIB,
            512,
            16,
            16,
            1024,
            "MI300A-class CDNA3 (Debian hipcc builds it)",
            compute_units=228,
        ),
        Target("gfx90a", "amd", 64, 64 * _KIB, 512, 16, 16, 1024, "MI200 (CDNA2)", compute_units=110),
        Target("gfx950", "amd", 64, 160 * _KIB, 512, 16, 16, 1024, "MI350X / MI355X (CDNA4)", compute_units=256),
        # NVIDIA shared tiles start on 1024-byte boundaries: the bundled runtime's swizzle repeats
        # every 8 rows of 128 bytes (docs/nvidia.md).
        Target("sm_90a", "nvidia", 32, 227 * _KIB, 255, 16, 1024, 1024, "H100 / H200 (Hopper)", compute_units=132),
        Target("sm_80", "nvidia", 32, 163 * _KIB, 255, 16, 1024, 1024, "A100 (Ampere)", compute_units=108),
    )
}


def get_target(name: str) -> Target:
    try:
        return TARGETS[name]
    except KeyError:
        raise ValueError(f"unknown target `{name}`; known targets: {', '.join(TARGETS)}") from None
