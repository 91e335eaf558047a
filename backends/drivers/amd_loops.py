"""Per-loop structure of AMDGPU assembly: what one trip of a kernel's main loop issues.

The resource report (``amd_asm``) says how many registers a kernel takes; this module says what
its hot loop does, per trip: instructions by class, MFMAs by kind, ``s_waitcnt`` counters,
``s_barrier``, ``s_setprio``, ``sched_barrier`` fences, global / buffer loads (into registers or
straight into LDS), LDS reads and writes. It reads the ``.s`` text of
``clang --cuda-device-only -S`` and relies only on what LLVM prints there:

* a kernel's code runs from its ``name:`` label to ``.Lfunc_endN``;
* a basic block starts at a ``.LBBn_m:`` label or a ``; %bb.n:`` comment;
* a block of a loop carries ``; in Loop: Header=BBn_m Depth=d``, the header
  ``; =>This Inner Loop Header: Depth=d`` (or ``; =>This Loop Header``);
* ``__builtin_amdgcn_sched_barrier(mask)`` leaves the comment ``; sched_barrier mask(0x...)``.

A trip counts every block of the loop once: with a guarded part inside (an ``if`` in the loop), that
is the trip that takes it. ``main_loop`` picks the innermost loop with the most MFMAs.

Clusters: the loop is cut at its ``s_barrier`` instructions into segments, in issue order (the
code before the first barrier of the trip is joined to the code after the last, since the loop
wraps). ``segments`` lists them with their MFMAs, loads and LDS writes, which is what the cluster
checks of ``tests/test_amd_hipkittens.py`` read.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Optional

_LABEL = re.compile(r"^(\.LBB\d+_\d+):")
_FALLTHROUGH = re.compile(r"^; %bb\.(\d+):")
_IN_LOOP = re.compile(r"in Loop: Header=(BB\d+_\d+) Depth=(\d+)")
_HEADER = re.compile(r"=>This (Inner )?Loop Header: Depth=(\d+)")
_SCHED_BARRIER = re.compile(r"^\s*;\s*sched_barrier mask\((0x[0-9a-fA-F]+)\)")
_WAIT_FIELD = re.compile(r"(vmcnt|lgkmcnt|expcnt)\((\d+)\)")


@dataclass(frozen=True)
class Instruction:
    """One machine instruction (or a ``sched_barrier`` fence, mnemonic ``sched_barrier``)."""

    mnemonic: str
    operands: str
    line: int  # 1-based line in the .s file

    @property
    def kind(self) -> str:
        """The instruction's class (see ``classify``)."""
        return classify(self.mnemonic, self.operands)

    def wait_counts(self) -> dict[str, int]:
        """``s_waitcnt vmcnt(2) lgkmcnt(0)`` -> ``{"vmcnt": 2, "lgkmcnt": 0}``."""
        return {name: int(value) for name, value in _WAIT_FIELD.findall(self.operands)}


def classify(mnemonic: str, operands: str = "") -> str:
    """A coarse class for counting: ``mfma``, ``buffer_load_lds`` (global -> LDS direct),
    ``buffer_load``, ``global_load``, ``global_store``/``buffer_store``, ``lds_read``, ``lds_write``,
    ``waitcnt``, ``barrier``, ``setprio``, ``sched_barrier``, ``salu``, ``valu``, ``branch``, ``other``."""
    if mnemonic == "sched_barrier":
        return "sched_barrier"
    if mnemonic.startswith("v_mfma"):
        return "mfma"
    if mnemonic.startswith(("buffer_load", "global_load")) and re.search(r"\blds\b", operands):
        return "buffer_load_lds"
    if mnemonic.startswith("global_load_lds"):
        return "buffer_load_lds"
    if mnemonic.startswith("buffer_load"):
        return "buffer_load"
    if mnemonic.startswith("global_load"):
        return "global_load"
    if mnemonic.startswith(("global_store", "buffer_store")):
        return "global_store"
    if mnemonic.startswith(("ds_read", "ds_load")):
        return "lds_read"
    if mnemonic.startswith(("ds_write", "ds_store")):
        return "lds_write"
    if mnemonic == "s_waitcnt":
        return "waitcnt"
    if mnemonic == "s_barrier":
        return "barrier"
    if mnemonic == "s_setprio":
        return "setprio"
    if mnemonic.startswith(("s_cbranch", "s_branch")):
        return "branch"
    if mnemonic.startswith("s_"):
        return "salu"
    if mnemonic.startswith("v_"):
        return "valu"
    return "other"


#: Classes that are memory loads from global memory (into registers or into LDS).
GLOBAL_LOADS = ("buffer_load", "global_load", "buffer_load_lds")


@dataclass
class Block:
    name: str
    instructions: list[Instruction] = field(default_factory=list)
    loop: Optional[str] = None  # header block of the innermost loop this block is in
    depth: int = 0
    header: bool = False
    innermost: bool = False  # a header of an innermost loop


@dataclass
class Segment:
    """The instructions between two ``s_barrier`` of a loop trip (the barrier closes it)."""

    index: int
    instructions: list[Instruction]

    def count(self, kind: str) -> int:
        return sum(1 for inst in self.instructions if inst.kind == kind)

    @property
    def mfmas(self) -> int:
        return self.count("mfma")

    @property
    def global_loads(self) -> int:
        return sum(1 for inst in self.instructions if inst.kind in GLOBAL_LOADS)


@dataclass
class LoopReport:
    """What one trip of a loop issues."""

    header: str
    blocks: list[str]
    instructions: list[Instruction]

    def count(self, kind: str) -> int:
        return sum(1 for inst in self.instructions if inst.kind == kind)

    @property
    def size(self) -> int:
        """Machine instructions per trip (``sched_barrier`` fences are not instructions)."""
        return sum(1 for inst in self.instructions if inst.kind != "sched_barrier")

    @property
    def by_class(self) -> dict[str, int]:
        return dict(sorted(Counter(inst.kind for inst in self.instructions).items()))

    @property
    def mfma_kinds(self) -> dict[str, int]:
        return dict(Counter(inst.mnemonic for inst in self.instructions if inst.kind == "mfma"))

    @property
    def waits(self) -> dict[str, int]:
        """``{"vmcnt(2)": 3, "lgkmcnt(0)": 5, ...}``: every counter each ``s_waitcnt`` names."""
        found: Counter[str] = Counter()
        for inst in self.instructions:
            if inst.kind == "waitcnt":
                for name, value in inst.wait_counts().items():
                    found[f"{name}({value})"] += 1
        return dict(sorted(found.items()))

    def segments(self) -> list[Segment]:
        """The trip cut at its barriers; the part before the first barrier wraps onto the last."""
        cuts: list[list[Instruction]] = [[]]
        for inst in self.instructions:
            cuts[-1].append(inst)
            if inst.kind == "barrier":
                cuts.append([])
        if len(cuts) > 1:
            head = cuts.pop(0)
            cuts[-1].extend(head)
        return [Segment(i, insts) for i, insts in enumerate(cuts) if insts]

    def summary(self) -> str:
        """One line of figures, as NOTES and docs quote them."""
        kinds = ", ".join(f"{n} {k}" for k, n in sorted(self.mfma_kinds.items()))
        loads = self.count("buffer_load") + self.count("global_load")
        return (
            f"{self.size} instructions; MFMAs: {kinds or 'none'}; s_barrier {self.count('barrier')}, "
            f"s_setprio {self.count('setprio')}, sched_barrier {self.count('sched_barrier')}; "
            f"loads to VGPRs {loads} (buffer {self.count('buffer_load')}, global {self.count('global_load')}), "
            f"to LDS {self.count('buffer_load_lds')}; LDS reads {self.count('lds_read')}, "
            f"writes {self.count('lds_write')}; s_waitcnt {self.count('waitcnt')} {self.waits}"
        )


def function_lines(assembly: str, kernel: Optional[str] = None) -> list[tuple[int, str]]:
    """(line number, text) of one kernel's code: the first kernel, or the one whose (mangled)
    name contains ``kernel``."""
    lines = assembly.splitlines()
    start: Optional[int] = None
    for index, line in enumerate(lines):
        hit = re.match(r"^\s*\.type\s+([\w.$]+),@function", line)
        if hit and (kernel is None or kernel in hit.group(1)):
            name = hit.group(1)
            start = next(i for i in range(index, len(lines)) if lines[i].startswith(name + ":"))
            break
    if start is None:
        raise KeyError(f"no kernel {'matching ' + repr(kernel) if kernel else ''} in the assembly")
    end = next((i for i in range(start, len(lines)) if lines[i].startswith(".Lfunc_end")), len(lines))
    return [(i + 1, lines[i]) for i in range(start + 1, end)]


def blocks(assembly: str, kernel: Optional[str] = None) -> list[Block]:
    """The kernel's basic blocks in layout order, with their loop membership."""
    found: list[Block] = [Block("entry")]
    for number, text in function_lines(assembly, kernel):
        label = _LABEL.match(text)
        fall = _FALLTHROUGH.match(text)
        if label or fall:
            name = label.group(1)[1:] if label else f"bb.{fall.group(1)}"  # type: ignore[union-attr]
            block = Block(name)
            in_loop = _IN_LOOP.search(text)
            header = _HEADER.search(text)
            if header:
                block.loop, block.depth, block.header = name.lstrip("L"), int(header.group(2)), True
                block.innermost = header.group(1) is not None
            elif in_loop:
                block.loop, block.depth = in_loop.group(1), int(in_loop.group(2))
            found.append(block)
            continue
        fence = _SCHED_BARRIER.match(text)
        if fence:
            found[-1].instructions.append(Instruction("sched_barrier", fence.group(1), number))
            continue
        stripped = text.split(";", 1)[0].strip()
        if not stripped or stripped.startswith(".") or stripped.endswith(":"):
            continue
        mnemonic, _, operands = stripped.partition(" ")
        found[-1].instructions.append(Instruction(mnemonic, operands.strip(), number))
    return found


def loops(assembly: str, kernel: Optional[str] = None) -> list[LoopReport]:
    """Every innermost loop of the kernel, one trip each."""
    all_blocks = blocks(assembly, kernel)
    reports: list[LoopReport] = []
    for block in all_blocks:
        if not (block.header and block.innermost):
            continue
        header = block.loop
        members = [b for b in all_blocks if b.loop == header]
        # Issue order of a trip starts at the header (blocks laid out before it are its latches).
        first = all_blocks.index(block)
        ordered = [b for b in members if all_blocks.index(b) >= first] + [
            b for b in members if all_blocks.index(b) < first
        ]
        instructions = [inst for b in ordered for inst in b.instructions]
        reports.append(LoopReport(header=str(header), blocks=[b.name for b in ordered], instructions=instructions))
    return reports


def main_loop(assembly: str, kernel: Optional[str] = None) -> LoopReport:
    """The innermost loop with the most MFMAs (the K loop of a GEMM)."""
    found = loops(assembly, kernel)
    if not found:
        raise ValueError("the kernel has no loop")
    return max(found, key=lambda report: (report.count("mfma"), report.size))


def clusters_before_write(report: LoopReport) -> Optional[int]:
    """How many MFMA segments at least separate a global load from the next LDS write after it
    (counting the load's own segment, cyclically over the trip): 0 when some load is written to
    LDS in the very segment that issued it with no MFMA segment between; None when the trip
    has no global load or no LDS write."""
    segments = report.segments()
    loads = [s.index for s in segments if s.global_loads]
    writes = {s.index for s in segments if s.count("lds_write")}
    if not loads or not writes:
        return None
    gaps: list[int] = []
    for start in loads:
        mfma_segments = 0
        for step in range(len(segments)):
            segment = segments[(start + step) % len(segments)]
            if step > 0 and segment.index in writes:
                break
            if step == 0:
                # a write in the load's own segment, after the load, with no MFMA between
                after = segment.instructions[
                    next(i for i, inst in enumerate(segment.instructions) if inst.kind in GLOBAL_LOADS) :
                ]
                kinds = [inst.kind for inst in after]
                if "lds_write" in kinds and "mfma" not in kinds[: kinds.index("lds_write")]:
                    break
            if segment.mfmas:
                mfma_segments += 1
        gaps.append(mfma_segments)
    return min(gaps)


_REGS = re.compile(r"\b([va])(?:\[(\d+):(\d+)\]|(\d+))")


def _registers(text: str) -> set[str]:
    found: set[str] = set()
    for kind, lo, hi, single in _REGS.findall(text):
        if single:
            found.add(f"{kind}{single}")
        else:
            found.update(f"{kind}{i}" for i in range(int(lo), int(hi) + 1))
    return found


def uncovered_lds_reads(report: LoopReport) -> list[Instruction]:
    """LDS reads whose destination is used before an ``s_waitcnt lgkmcnt(N)`` that covers them.

    LDS reads (and scalar memory ops) return in issue order for this counter, so a read is
    covered by ``lgkmcnt(N)`` once fewer than N + 1 LGKM ops were issued after it. The trip is
    read twice in a row so that reads issued at its end are followed into the next trip."""
    lgkm = ("lds_read", "lds_write")
    sequence = report.instructions + report.instructions
    half = len(report.instructions)
    bad: list[Instruction] = []
    for index in range(half):
        read = sequence[index]
        if read.kind != "lds_read":
            continue
        dest = _registers(read.operands.split(",", 1)[0])
        issued_after = 0
        for later in sequence[index + 1 :]:
            if later.kind == "waitcnt":
                counts = later.wait_counts()
                if "lgkmcnt" in counts and counts["lgkmcnt"] <= issued_after:
                    break
                continue
            operands = later.operands.split(",", 1)
            sources = operands[1] if len(operands) > 1 else ""
            if later.kind != "lds_read" and dest & _registers(sources if later.kind != "lds_write" else later.operands):
                bad.append(read)
                break
            if later.kind in lgkm or later.mnemonic.startswith("s_load"):
                issued_after += 1
    return bad
