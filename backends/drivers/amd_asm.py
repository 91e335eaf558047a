"""Per-kernel resources from AMDGPU assembly (``hipcc --cuda-device-only -S``).

LLVM writes two reports into the ``.s`` file, and both are read:

* after each function, a comment block (``; Kernel info:`` for kernels, ``; Function info:`` for
  device functions) with ``NumVgprs`` (architectural VGPRs), ``NumAgprs`` (accumulation VGPRs),
  ``TotalNumVgprs`` (the unified register file footprint on gfx90a / gfx94x: arch VGPRs rounded
  up to 4, then the AGPRs), ``NumSgprs``, ``ScratchSize``, ``LDSByteSize`` and ``Occupancy``
  (waves per SIMD);
* the ``.amdgpu_metadata`` YAML document, with one entry per kernel: ``.name`` (mangled),
  ``.vgpr_count`` (on gfx90a / gfx94x this is ``TotalNumVgprs``, not the arch VGPRs),
  ``.agpr_count``, ``.sgpr_count``, ``.vgpr_spill_count``, ``.sgpr_spill_count``,
  ``.group_segment_fixed_size`` (static LDS) and ``.private_segment_fixed_size`` (scratch).

The YAML is parsed line by line (the keys needed are flat scalars), so PyYAML is not required.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

from backends.drivers.common import Resources

_COMMENT_FIELD = re.compile(r"^;\s*(\w+)\s*:\s*(-?\d+)")
_KERNEL_DIRECTIVE = re.compile(r"^\s*\.amdhsa_kernel\s+(\S+)")
_YAML_ENTRY = re.compile(r"^(\s*)-\s+(\.[\w]+):\s*(.*)$")
_YAML_FIELD = re.compile(r"^(\s*)(\.[\w]+):\s*(.*)$")


@dataclass
class KernelReport:
    """Everything the assembly says about one kernel, before it becomes ``Resources``."""

    mangled: str
    comment: dict[str, int] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)

    def comment_int(self, key: str) -> Optional[int]:
        return self.comment.get(key)

    def metadata_int(self, key: str) -> Optional[int]:
        value = self.metadata.get(key)
        if value is None:
            return None
        try:
            return int(value)
        except ValueError:
            return None


def demangle_name(mangled: str) -> str:
    """The plain name of a kernel from its Itanium mangled name: ``_Z6gemm_k10gemm_k_glb`` ->
    ``gemm_k``, ``_ZN2ns4kernEv`` -> ``ns::kern``, template arguments dropped. Names that are not
    mangled (``extern "C"``) come back unchanged."""
    if not mangled.startswith("_Z"):
        return mangled
    rest = mangled[2:]
    nested = rest.startswith("N")
    if nested:
        rest = rest[1:]
        # cv-qualifiers of member functions come before the first name
        while rest and rest[0] in "rVK":
            rest = rest[1:]
    parts: list[str] = []
    while rest and rest[0].isdigit():
        digits = re.match(r"\d+", rest)
        assert digits is not None
        length = int(digits.group(0))
        start = len(digits.group(0))
        parts.append(rest[start : start + length])
        rest = rest[start + length :]
        if not nested:
            break
    return "::".join(parts) if parts else mangled


def _comment_blocks(lines: list[str]) -> dict[str, dict[str, int]]:
    """``; Kernel info:`` blocks keyed by the kernel named in the nearest preceding
    ``.amdhsa_kernel`` directive (LLVM writes the descriptor, then the info block)."""
    blocks: dict[str, dict[str, int]] = {}
    current_kernel: Optional[str] = None
    index = 0
    while index < len(lines):
        line = lines[index]
        directive = _KERNEL_DIRECTIVE.match(line)
        if directive:
            current_kernel = directive.group(1)
        elif line.strip() == "; Kernel info:" and current_kernel is not None:
            fields: dict[str, int] = {}
            index += 1
            while index < len(lines) and lines[index].startswith(";"):
                hit = _COMMENT_FIELD.match(lines[index])
                if hit:
                    fields.setdefault(hit.group(1), int(hit.group(2)))
                index += 1
            blocks[current_kernel] = fields
            current_kernel = None
            continue
        index += 1
    return blocks


def _metadata_entries(lines: list[str]) -> list[dict[str, str]]:
    """Kernel entries of the ``amdhsa.kernels`` list in the ``.amdgpu_metadata`` document: the
    scalar fields at the entry's own indentation (nested ``.args`` lists are skipped)."""
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == ".amdgpu_metadata")
    except StopIteration:
        return []
    entries: list[dict[str, str]] = []
    in_kernels = False
    entry_indent: Optional[int] = None
    current: Optional[dict[str, str]] = None
    for line in lines[start + 1 :]:
        stripped = line.strip()
        if stripped == ".end_amdgpu_metadata":
            break
        if not line.startswith((" ", "-")) and stripped:
            in_kernels = stripped.startswith("amdhsa.kernels:")
            continue
        if not in_kernels:
            continue
        entry = _YAML_ENTRY.match(line)
        if entry and (entry_indent is None or len(entry.group(1)) == entry_indent):
            entry_indent = len(entry.group(1))
            current = {entry.group(2): entry.group(3).strip()}
            entries.append(current)
            continue
        scalar = _YAML_FIELD.match(line)
        # Fields of the kernel entry sit two columns right of its "- ".
        if scalar and current is not None and entry_indent is not None and len(scalar.group(1)) == entry_indent + 2:
            current[scalar.group(2)] = scalar.group(3).strip()
    return entries


def parse_reports(assembly: str) -> list[KernelReport]:
    """Every kernel the assembly defines, with its comment block and metadata entry."""
    lines = assembly.splitlines()
    blocks = _comment_blocks(lines)
    reports: dict[str, KernelReport] = {}
    for entry in _metadata_entries(lines):
        name = entry.get(".name")
        if name:
            reports[name] = KernelReport(mangled=name, metadata=entry)
    for name, fields in blocks.items():
        reports.setdefault(name, KernelReport(mangled=name)).comment = fields
    return list(reports.values())


def to_resources(report: KernelReport, target: str) -> Resources:
    """``Resources`` of one kernel: comment-block figures first (they split arch VGPRs and AGPRs),
    metadata where the comments say nothing (spill counts exist only there)."""
    vgprs = report.comment_int("NumVgprs")
    agprs = report.comment_int("NumAgprs")
    if agprs is None:
        agprs = report.metadata_int(".agpr_count")
    if vgprs is None:
        total = report.metadata_int(".vgpr_count")
        # Without the comments only the unified total is known; take the AGPRs out of it.
        vgprs = None if total is None else total - (agprs or 0)
    sgprs = report.comment_int("NumSgprs")
    if sgprs is None:
        sgprs = report.metadata_int(".sgpr_count")
    spills = (report.metadata_int(".vgpr_spill_count") or 0) + (report.metadata_int(".sgpr_spill_count") or 0)
    scratch = report.metadata_int(".private_segment_fixed_size")
    if scratch is None:
        scratch = report.comment_int("ScratchSize") or 0
    lds = report.metadata_int(".group_segment_fixed_size")
    if lds is None:
        lds = report.comment_int("LDSByteSize") or 0
    return Resources(
        target=target,
        kernel=demangle_name(report.mangled),
        vgprs=vgprs,
        agprs=agprs,
        sgprs=sgprs,
        spills=spills,
        scratch_bytes=scratch,
        shared_bytes=lds,
        occupancy=report.comment_int("Occupancy"),
    )


def parse_resources(assembly: str, target: str) -> list[Resources]:
    """Resources of every kernel in an AMDGPU ``.s`` file, in the order the metadata lists them."""
    return [to_resources(report, target) for report in parse_reports(assembly)]


def find_kernel(resources: list[Resources], name: str) -> Resources:
    """The entry for kernel ``name`` (plain or mangled); ``KeyError`` lists what the object holds."""
    wanted = demangle_name(name)
    for entry in resources:
        if entry.kernel == wanted or entry.kernel.split("::")[-1] == wanted:
            return entry
    known = ", ".join(entry.kernel for entry in resources) or "no kernels"
    raise KeyError(f"kernel `{name}` is not in the compiled object (it holds: {known})")
