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


# ================================================================================================
# The instruction stream: functions, basic blocks, loops, instructions (a reusable reader)
# ================================================================================================
#
# parse_assembly(text) -> [AsmFunction]: every function LLVM wrote into a ``.s`` (kernels and device
# functions), cut into basic blocks at labels (``.LBB0_3:``) and at LLVM's ``; %bb.N:`` markers,
# with each block's successors from its branches (``s_branch``, ``s_cbranch_*``) and fall-through.
# ``AsmFunction.loops()`` finds the loops from their back edges (a branch to a block at or before
# its own); ``Loop.instructions`` is what one trip of the loop body issues in program order.
# ``Instruction`` keeps the line number, the mnemonic, the operands and the registers it names, and
# whether it came from inline asm (``;;#ASMSTART`` ... ``;;#ASMEND``).

_FUNCTION_TYPE = re.compile(r"^\s*\.type\s+([^,\s]+)\s*,\s*@function")
_LABEL = re.compile(r"^([A-Za-z_.$][\w.$]*):")
_BB_MARKER = re.compile(r"^;\s*%bb\.(\d+):")
_REGISTER_RANGE = re.compile(r"(?<![\w.])([vsa])\[(\d+):(\d+)\]")
_REGISTER_ONE = re.compile(r"(?<![\w.])([vsa])(\d+)(?![\w\[])")

#: A register: ("v" | "a" | "s", index).
Register = tuple[str, int]


@dataclass(frozen=True)
class Instruction:
    line: int  # 1-based line in the .s file
    mnemonic: str
    operands: tuple[str, ...]  # comma-separated operands; modifiers (offset:16, glc) stay on the last
    text: str  # the instruction as written, comment removed
    inline_asm: bool = False

    @property
    def registers(self) -> frozenset[Register]:
        """Every VGPR, AGPR and SGPR the instruction names, ranges expanded."""
        return _registers(",".join(self.operands))

    @property
    def destination(self) -> frozenset[Register]:
        """The registers of the first operand (the destination of loads and ALU ops; a store's
        first operand is a source: callers decide which instructions have a destination)."""
        return _registers(self.operands[0]) if self.operands else frozenset()

    @property
    def is_branch(self) -> bool:
        return self.mnemonic == "s_branch" or self.mnemonic.startswith("s_cbranch_")

    @property
    def branch_target(self) -> Optional[str]:
        return self.operands[0].split()[0] if self.is_branch and self.operands else None

    @property
    def ends_flow(self) -> bool:
        """No fall-through: an unconditional branch, the end of the program or a return."""
        return self.mnemonic in ("s_branch", "s_endpgm", "s_setpc_b64")


def _registers(text: str) -> frozenset[Register]:
    found: set[Register] = set()
    for kind, lo, hi in _REGISTER_RANGE.findall(text):
        found.update((kind, i) for i in range(int(lo), int(hi) + 1))
    without_ranges = _REGISTER_RANGE.sub(" ", text)
    for kind, index in _REGISTER_ONE.findall(without_ranges):
        found.add((kind, int(index)))
    return frozenset(found)


def _split_operands(text: str) -> tuple[str, ...]:
    parts, depth, current = [], 0, ""
    for ch in text:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += ch
    if current.strip():
        parts.append(current.strip())
    return tuple(parts)


@dataclass
class Block:
    label: str  # its label, or "%bb.N" / the function name for blocks without one
    instructions: list[Instruction] = field(default_factory=list)
    successors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Loop:
    """Blocks ``blocks`` (in layout order) from the loop header to the block with the back edge."""

    header: str
    blocks: tuple[Block, ...]

    @property
    def instructions(self) -> list[Instruction]:
        return [ins for block in self.blocks for ins in block.instructions]


@dataclass
class AsmFunction:
    name: str  # mangled, as in the assembly
    blocks: list[Block] = field(default_factory=list)

    @property
    def plain_name(self) -> str:
        return demangle_name(self.name)

    @property
    def instructions(self) -> list[Instruction]:
        return [ins for block in self.blocks for ins in block.instructions]

    def block(self, label: str) -> Block:
        return next(b for b in self.blocks if b.label == label)

    def loops(self) -> list[Loop]:
        """One loop per back edge: a branch whose target block is at or before the branching block."""
        index = {b.label: i for i, b in enumerate(self.blocks)}
        loops = []
        for i, block in enumerate(self.blocks):
            for ins in block.instructions:
                target = ins.branch_target
                if target in index and index[target] <= i:
                    loops.append(Loop(target, tuple(self.blocks[index[target] : i + 1])))
        return loops


def parse_assembly(assembly: str) -> list[AsmFunction]:
    """The functions of an AMDGPU ``.s`` file with their blocks and instructions."""
    lines = assembly.splitlines()
    function_names = {m.group(1) for m in map(_FUNCTION_TYPE.match, lines) if m}
    functions: list[AsmFunction] = []
    current: Optional[AsmFunction] = None
    inline = False
    for number, raw in enumerate(lines, start=1):
        stripped = raw.strip()
        label = _LABEL.match(raw)
        if label and label.group(1) in function_names:
            current = AsmFunction(label.group(1), [Block(label.group(1))])
            functions.append(current)
            continue
        if current is None:
            continue
        if label and label.group(1).startswith(".Lfunc_end"):
            current = None
            continue
        if label:
            current.blocks.append(Block(label.group(1)))
            continue
        marker = _BB_MARKER.match(stripped)
        if marker:
            # LLVM marks blocks nothing branches to; one right after a label names the same block.
            if current.blocks[-1].instructions:
                current.blocks.append(Block(f"%bb.{marker.group(1)}"))
            continue
        if stripped.startswith(";;#ASMSTART"):
            inline = True
            continue
        if stripped.startswith(";;#ASMEND"):
            inline = False
            continue
        code = stripped.split(";", 1)[0].strip() if not stripped.startswith(";") else ""
        if not code or code.startswith("."):
            continue
        mnemonic, _, rest = code.partition(" ")
        ins = Instruction(number, mnemonic, _split_operands(rest.strip()), code, inline)
        current.blocks[-1].instructions.append(ins)
    for function in functions:
        _link_blocks(function)
    return functions


def _link_blocks(function: AsmFunction) -> None:
    blocks = function.blocks
    for i, block in enumerate(blocks):
        last = block.instructions[-1] if block.instructions else None
        # A block's branches can sit before its last instruction only in inline asm; take them all.
        for ins in block.instructions:
            if ins.branch_target is not None:
                block.successors.append(ins.branch_target)
        if (last is None or not last.ends_flow) and i + 1 < len(blocks):
            block.successors.append(blocks[i + 1].label)


# ================================================================================================
# Static LDS-wait check
# ================================================================================================
#
# An LDS read (ds_read*, ds_bpermute, ds_*_rtn ...) writes its destination registers some cycles
# after it issues; ``s_waitcnt lgkmcnt(N)`` stalls until at most N LGKM operations of the wave are
# outstanding. LDS (DS) operations decrement the counter in issue order; SMEM (s_load*), FLAT and
# message operations count in it too but may complete in any order (AMD CDNA3 ISA, section 4.4
# "Data dependency resolution": "LDS ... return in order"; scalar memory reads "can return out of
# order"). So after lgkmcnt(N) the DS operations that are certainly complete are exactly those with
# at least N later DS operations: the N outstanding ones could all be the newest DS operations
# (whatever the SMEM operations did), and outstanding DS operations are always the newest ones.
# The compiler inserts these waits for LDS reads it generated itself; it knows nothing of an LDS
# read written in inline asm, and HipKittens' cdna3 ``load(rt, st)`` is one.
#
# check_lds_waits walks every function's control-flow graph to a fixed point, tracking for every
# register an LDS read may still be writing the fewest DS operations issued since that read (over
# all paths), and reports every instruction that reads or writes such a register.

_AGE_CAP = 64


def is_lds_op(ins: Instruction) -> bool:
    return ins.mnemonic.startswith("ds_")


def lds_destination(ins: Instruction) -> frozenset[Register]:
    """Registers an LDS operation writes when it completes (empty for LDS stores and plain atomics)."""
    if not is_lds_op(ins):
        return frozenset()
    name = ins.mnemonic
    returns = (
        "read" in name
        or "load" in name
        or "_rtn" in name
        or "permute" in name
        or "swizzle" in name
        or name in ("ds_append", "ds_consume")
    )
    return ins.destination if returns else frozenset()


def lgkm_wait(ins: Instruction) -> Optional[int]:
    """The N of an ``s_waitcnt`` that waits for lgkmcnt <= N, or None if it does not wait on it."""
    if ins.mnemonic == "s_waitcnt_lgkmcnt" and len(ins.operands) == 2:
        return _int(ins.operands[1])
    if ins.mnemonic != "s_waitcnt":
        return None
    text = " ".join(ins.operands)
    hit = re.search(r"lgkmcnt\((\d+)\)", text)
    if hit:
        return int(hit.group(1))
    value = _int(text.strip())
    if value is None:
        return None  # symbolic, without lgkmcnt: vmcnt / expcnt only
    return (value >> 8) & 0xF  # gfx9 encoding (gfx90a, gfx94x, gfx950): lgkmcnt in bits [11:8]


def _int(text: str) -> Optional[int]:
    try:
        return int(text, 0)
    except ValueError:
        return None


@dataclass(frozen=True)
class Pending:
    age: int  # fewest DS operations issued after the read, over all paths here
    read: Instruction


@dataclass(frozen=True)
class LdsWaitFinding:
    """``instruction`` touches ``registers``, which the LDS read ``read`` may still be writing."""

    function: str
    instruction: Instruction
    registers: tuple[Register, ...]
    read: Instruction

    def __str__(self) -> str:
        regs = ", ".join(f"{k}{i}" for k, i in self.registers)
        where = "inline asm" if self.read.inline_asm else "compiler"
        return (
            f"{demangle_name(self.function)}: line {self.instruction.line} `{self.instruction.text}` uses {regs} "
            f"before an s_waitcnt lgkmcnt covers the LDS read at line {self.read.line} `{self.read.text}` ({where})"
        )


State = dict[Register, Pending]


def _transfer(
    state: State, ins: Instruction, function: str, findings: Optional[list[LdsWaitFinding]] = None
) -> State:
    wait = lgkm_wait(ins)
    if wait is not None:
        return {reg: p for reg, p in state.items() if p.age < wait}
    touched = ins.registers & state.keys()
    destination = lds_destination(ins)
    if is_lds_op(ins):
        touched -= destination  # DS operations complete in order: a later read may overwrite an earlier one's
    if touched and findings is not None:
        by_read: dict[Instruction, list[Register]] = {}
        for reg in sorted(touched):
            by_read.setdefault(state[reg].read, []).append(reg)
        for read, regs in by_read.items():
            findings.append(LdsWaitFinding(function, ins, tuple(regs), read))
    if not is_lds_op(ins):
        return state
    aged = {reg: Pending(min(p.age + 1, _AGE_CAP), p.read) for reg, p in state.items()}
    for reg in destination:
        aged[reg] = Pending(0, ins)
    return aged


def _merge(a: State, b: State) -> State:
    merged = dict(a)
    for reg, p in b.items():
        if reg not in merged or p.age < merged[reg].age:
            merged[reg] = p
    return merged


def check_function_lds_waits(function: AsmFunction) -> list[LdsWaitFinding]:
    """Every instruction of ``function`` that touches a register an LDS read may still be writing."""
    if not function.blocks:
        return []
    entry: dict[str, State] = {function.blocks[0].label: {}}
    labels = {b.label for b in function.blocks}
    work = [function.blocks[0].label]
    while work:
        label = work.pop()
        state = entry[label]
        for ins in function.block(label).instructions:
            state = _transfer(state, ins, function.name)
        for successor in function.block(label).successors:
            if successor not in labels:
                continue
            merged = _merge(entry[successor], state) if successor in entry else state
            if successor not in entry or merged != entry[successor]:
                entry[successor] = merged
                work.append(successor)
    findings: list[LdsWaitFinding] = []
    for block in function.blocks:
        state = entry.get(block.label, {})
        for ins in block.instructions:
            state = _transfer(state, ins, function.name, findings)
    return findings


def check_lds_waits(assembly: str) -> list[LdsWaitFinding]:
    """The static LDS-wait check over every function of an AMDGPU ``.s`` file (docs/amd.md)."""
    return [finding for function in parse_assembly(assembly) for finding in check_function_lds_waits(function)]
